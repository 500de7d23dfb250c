package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prefsd/prefsd/internal/testnode"
)

// cliResult is what one prefsd command line printed and its exit status.
type cliResult struct {
	code           int
	stdout, stderr string
}

// prefsd runs a command line as main does, with env as the environment.
func prefsd(t *testing.T, env map[string]string, args ...string) cliResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var out, errs bytes.Buffer
	code := exitCode(&errs, dispatch(ctx, args, func(k string) string { return env[k] }, &out, &errs))
	return cliResult{code: code, stdout: out.String(), stderr: errs.String()}
}

// startNode starts a node and waits until the first leader has installed
// the default catalogue and the superuser. It returns the environment
// that points the commands at it.
func startNode(t *testing.T) (*testnode.Node, map[string]string) {
	t.Helper()
	n := testnode.Start(t, testnode.Options{})
	testnode.WaitLeader(t, []*testnode.Node{n})
	testnode.Eventually(t, 20*time.Second, func() error {
		st := n.FSM().State()
		if _, ok := st.UserByName("admin"); !ok || st.CatalogVersion() == 0 {
			return errors.New("no default catalogue or superuser yet")
		}
		return nil
	})
	return n, map[string]string{"PREFSD_ADDR": n.URL, "PREFSD_TOKEN": testnode.AdminToken}
}

// closedAddr returns a loopback address nothing listens on.
func closedAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// TestUsageErrors checks that command lines prefsd cannot run exit 2 with
// a message, and that help exits 0, all without a node.
func TestUsageErrors(t *testing.T) {
	tests := []struct {
		args    []string
		code    int
		wantOut string // in stdout
		wantErr string // in stderr
	}{
		{[]string{"help"}, 0, "transfer-leadership", ""},
		{[]string{"-h"}, 0, "node flags", ""},
		{[]string{"--help"}, 0, "-data-dir", ""},
		{[]string{"help", "status"}, 0, "", "usage: prefsd status"},
		{[]string{"status", "-h"}, 0, "", "-timeout duration"},
		{[]string{"snapshot", "save", "--help"}, 0, "", "-consistency"},
		{[]string{"snapshot", "help"}, 0, "save", ""},
		{[]string{"frobnicate"}, 2, "", `unknown command "frobnicate"`},
		{[]string{"status", "extra"}, 2, "", `unexpected argument "extra"`},
		{[]string{"status", "--bogus"}, 2, "", "flag provided but not defined: -bogus"},
		{[]string{"members", "--timeout", "soon"}, 2, "", "invalid value"},
		{[]string{"snapshot"}, 2, "", "snapshot: missing verb"},
		{[]string{"snapshot", "take"}, 2, "", `unknown verb "take"`},
		{[]string{"snapshot", "save"}, 2, "", "missing arguments"},
		{[]string{"snapshot", "save", "a", "b"}, 2, "", `unexpected argument "b"`},
		{[]string{"snapshot", "save", "-", "--json"}, 2, "", "--json needs standard output"},
		{[]string{"snapshot", "restore"}, 2, "", "missing arguments"},
		{[]string{"join", "n4", "127.0.0.1:1"}, 2, "", "missing arguments"},
		{[]string{"remove"}, 2, "", "missing arguments"},
		{[]string{"user", "add"}, 2, "", "missing arguments"},
		{[]string{"token", "delete", "bob", "seven"}, 2, "", `TOKEN_ID "seven" is not a number`},
		{[]string{"quota", "set"}, 2, "", "give at least one of"},
		{[]string{"quota", "set", "--count", "-3"}, 2, "", "--count"},
		{[]string{"quota", "set", "--bytes", "12 parsecs"}, 2, "", "--bytes"},
		{[]string{"quota", "reset"}, 2, "", "missing arguments"},
		{[]string{"catalog", "apply"}, 2, "", "missing arguments"},
		{[]string{"completion"}, 2, "", "completion: missing verb"},
		{[]string{"completion", "tcsh"}, 2, "", `unknown verb "tcsh"`},
		{[]string{"completion", "bash", "extra"}, 2, "", `unexpected argument "extra"`},
		{[]string{"status", "--addr", "ftp://example.com"}, 2, "", "only http and https"},
		{[]string{"--no-such-node-flag"}, 2, "", "flag provided but not defined"},
		{[]string{"--http-addr", "nowhere"}, 2, "", "--http-addr"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			res := prefsd(t, nil, tt.args...)
			if res.code != tt.code {
				t.Fatalf("exit %d, want %d; stderr:\n%s", res.code, tt.code, res.stderr)
			}
			if !strings.Contains(res.stdout, tt.wantOut) {
				t.Errorf("stdout %q, want it to contain %q", res.stdout, tt.wantOut)
			}
			if !strings.Contains(res.stderr, tt.wantErr) {
				t.Errorf("stderr %q, want it to contain %q", res.stderr, tt.wantErr)
			}
		})
	}
}

// TestOperatorCommands runs the user, token, quota and cluster commands
// against a real node, in order, checking the table and the JSON each one
// prints and the state the node ends with.
func TestOperatorCommands(t *testing.T) {
	n, env := startNode(t)
	pwFile := filepath.Join(t.TempDir(), "pw")
	if err := os.WriteFile(pwFile, []byte("s3cret-pass\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	closed := closedAddr(t)

	tests := []struct {
		name string
		args []string
		code int
		// want must match stdout (a regular expression); with --json,
		// check also runs on the decoded output.
		want  string
		check func(t *testing.T, out []byte)
		err   string // in stderr
	}{
		{name: "status", args: []string{"status"}, want: `(?m)^node\s+n1$[\s\S]*^state\s+Leader$[\s\S]*^members\s+1 \(n1\)$`},
		{name: "status json", args: []string{"status", "--json"}, check: func(t *testing.T, out []byte) {
			var st struct {
				NodeID  string `json:"node_id"`
				State   string `json:"state"`
				Members []any  `json:"members"`
			}
			mustJSON(t, out, &st)
			if st.NodeID != "n1" || st.State != "Leader" || len(st.Members) != 1 {
				t.Fatalf("status %+v", st)
			}
		}},
		{name: "members", args: []string{"members"}, want: `(?m)^NODE\s+RAFT ADDRESS\s+API ADDRESS\s+SUFFRAGE\s+LEADER\n^n1\s+\S+\s+` + regexp.QuoteMeta(n.Addr) + `\s+Voter\s+\*$`},
		{name: "members through a dead address first", args: []string{"members", "--addr", closed + "," + n.URL}, want: `(?m)^n1\s`},
		{name: "every address dead", args: []string{"members", "--addr", closed}, code: 1, err: "no node reachable"},
		{name: "user add", args: []string{"user", "add", "bob", "--email", "bob@example.com", "--password-file", pwFile}, want: `^created user bob \(id \d+\)\n$`},
		{name: "user add again", args: []string{"user", "add", "bob"}, code: 1, err: "400 Bad Request: username: A user with that username already exists."},
		{name: "user add staff json", args: []string{"user", "add", "--staff", "carol", "--json"}, check: func(t *testing.T, out []byte) {
			var u struct {
				Username string `json:"username"`
				IsStaff  bool   `json:"is_staff"`
			}
			mustJSON(t, out, &u)
			if u.Username != "carol" || !u.IsStaff {
				t.Fatalf("user %+v", u)
			}
		}},
		{name: "user list", args: []string{"user", "list"}, want: `(?m)^ID\s+USERNAME\s+EMAIL\s+ROLES\s+PREFERENCES\s+BYTES\s+JOINED\n(?:.*\n)*^\d+\s+bob\s+bob@example\.com\s+-\s+0\s+0\s+\S+$`},
		{name: "user list json", args: []string{"user", "list", "--json"}, check: func(t *testing.T, out []byte) {
			var users []struct {
				Username string `json:"username"`
			}
			mustJSON(t, out, &users)
			var names []string
			for _, u := range users {
				names = append(names, u.Username)
			}
			if strings.Join(names, ",") != "admin,bob,carol" {
				t.Fatalf("users %v", names)
			}
		}},
		{name: "token create", args: []string{"token", "create", "bob", "--name", "ci"}, want: `(?m)^id\s+\d+\n^name\s+ci\n^user\s+bob\n^token\s+[0-9a-f]{40}$`},
		{name: "token create json", args: []string{"token", "create", "--json", "bob"}, check: func(t *testing.T, out []byte) {
			var tok struct {
				Name  string `json:"name"`
				Token string `json:"token"`
			}
			mustJSON(t, out, &tok)
			if tok.Name != "prefsd-cli" || len(tok.Token) != 40 {
				t.Fatalf("token %+v", tok)
			}
		}},
		{name: "token list", args: []string{"token", "list", "bob"}, want: `(?m)^ID\s+NAME\s+CREATED\n^\d+\s+ci\s+\S+\n^\d+\s+prefsd-cli\s+\S+$`},
		{name: "token list of nobody", args: []string{"token", "list", "nobody"}, code: 1, err: "404 Not Found"},
		{name: "quota set default", args: []string{"quota", "set", "--count", "500", "--bytes", "2MiB"}, want: `(?m)^preferences \(--count\)\s+500$[\s\S]*^total bytes \(--bytes\)\s+2097152 \(2\.0 MiB\)$`},
		{name: "quota set user", args: []string{"quota", "set", "bob", "--key-length", "64", "--json"}, check: func(t *testing.T, out []byte) {
			var q struct {
				MaxPreferences int64 `json:"max_preferences"`
				MaxKeyLength   int64 `json:"max_key_length"`
			}
			mustJSON(t, out, &q)
			if q.MaxPreferences != 500 || q.MaxKeyLength != 64 {
				t.Fatalf("quota %+v", q)
			}
		}},
		{name: "quota show user", args: []string{"quota", "show", "bob"}, want: `(?m)^key length \(--key-length\)\s+64$`},
		{name: "quota reset", args: []string{"quota", "reset", "bob"}, want: `(?m)^key length \(--key-length\)\s+255$`},
		{name: "quota show default", args: []string{"quota", "show"}, want: `(?m)^preferences \(--count\)\s+500$`},
		{name: "user delete", args: []string{"user", "delete", "carol"}, want: `^deleted user carol\n$`},
		{name: "user delete again", args: []string{"user", "delete", "carol"}, code: 1, err: "404 Not Found: Not found."},
		{name: "remove unknown node", args: []string{"remove", "n9"}, code: 1, err: `404 Not Found: cluster: no such node: "n9"`},
		{name: "wrong token", args: []string{"user", "list", "--token", "wrong"}, code: 1, err: "401 Unauthorized"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := prefsd(t, env, tt.args...)
			if res.code != tt.code {
				t.Fatalf("exit %d, want %d\nstdout: %s\nstderr: %s", res.code, tt.code, res.stdout, res.stderr)
			}
			if tt.want != "" && !regexp.MustCompile(tt.want).MatchString(res.stdout) {
				t.Errorf("stdout:\n%s\nwant a match for %s", res.stdout, tt.want)
			}
			if tt.check != nil {
				tt.check(t, []byte(res.stdout))
			}
			if !strings.Contains(res.stderr, tt.err) {
				t.Errorf("stderr %q, want it to contain %q", res.stderr, tt.err)
			}
		})
	}

	st := n.FSM().State()
	bob, ok := st.UserByName("bob")
	if !ok || bob.Email != "bob@example.com" || len(bob.PasswordHash) == 0 {
		t.Fatalf("bob = %+v, %v", bob, ok)
	}
	if _, ok := st.UserByName("carol"); ok {
		t.Fatal("carol is still there")
	}
	if q := st.DefaultQuota(); q.MaxPreferences != 500 || q.MaxTotalBytes != 2<<20 {
		t.Fatalf("default quota %+v", q)
	}
	if got := len(st.Tokens(bob.ID)); got != 2 {
		t.Fatalf("bob has %d tokens, want 2", got)
	}
}

// TestTokenDelete revokes a token by the id token list shows.
func TestTokenDelete(t *testing.T) {
	n, env := startNode(t)
	if res := prefsd(t, env, "user", "add", "dave"); res.code != 0 {
		t.Fatalf("user add: %+v", res)
	}
	res := prefsd(t, env, "token", "create", "dave", "--json")
	var tok struct {
		ID uint64 `json:"id"`
	}
	mustJSON(t, []byte(res.stdout), &tok)
	id := strconv.FormatUint(tok.ID, 10)
	if res := prefsd(t, env, "token", "delete", "dave", id); res.code != 0 || res.stdout != "revoked token "+id+" of dave\n" {
		t.Fatalf("token delete: %+v", res)
	}
	if res := prefsd(t, env, "token", "delete", "dave", id); res.code != 1 || !strings.Contains(res.stderr, "404") {
		t.Fatalf("token delete again: %+v", res)
	}
	u, _ := n.FSM().State().UserByName("dave")
	if got := len(n.FSM().State().Tokens(u.ID)); got != 0 {
		t.Fatalf("dave has %d tokens", got)
	}
}

func mustJSON(t *testing.T, data []byte, v any) {
	t.Helper()
	if err := json.Unmarshal(data, v); err != nil {
		t.Fatalf("output is not the JSON expected: %v\n%s", err, data)
	}
}
