package client_test

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prefsd/prefsd/client"
	"github.com/prefsd/prefsd/internal/testnode"
)

func ctxT(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

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

// TestAgainstNode drives a real node through the client: reads, writes,
// and the typed errors of refusals.
func TestAgainstNode(t *testing.T) {
	n := testnode.Start(t, testnode.Options{})
	testnode.WaitLeader(t, []*testnode.Node{n})
	testnode.Eventually(t, 20*time.Second, func() error {
		if _, ok := n.FSM().State().UserByName("admin"); !ok {
			return errors.New("no superuser yet")
		}
		return nil
	})
	ctx := ctxT(t)
	c, err := client.New([]string{closedAddr(t), n.Addr}, client.Options{Token: testnode.AdminToken})
	if err != nil {
		t.Fatal(err)
	}

	st, err := c.Status(ctx)
	if err != nil || st.NodeID != "n1" || st.State != "Leader" || len(st.Members) != 1 || !st.Members[0].Leader {
		t.Fatalf("status %+v, %v", st, err)
	}
	d, err := c.Digest(ctx)
	if err != nil || d.NodeID != "n1" || len(d.SHA256) != 64 {
		t.Fatalf("digest %+v, %v", d, err)
	}
	u, err := c.CreateUser(ctx, client.NewUser{Username: "erin", Email: "erin@example.com", IsStaff: true})
	if err != nil || u.Username != "erin" || !u.IsStaff || u.ID == 0 {
		t.Fatalf("create user %+v, %v", u, err)
	}
	tok, err := c.CreateToken(ctx, "erin", "laptop")
	if err != nil || tok.Name != "laptop" || len(tok.Secret) != 40 {
		t.Fatalf("create token %+v, %v", tok, err)
	}
	toks, err := c.Tokens(ctx, "erin")
	if err != nil || len(toks) != 1 || toks[0].Secret != "" || toks[0].ID != tok.ID {
		t.Fatalf("tokens %+v, %v", toks, err)
	}
	count := int64(7)
	q, err := c.SetUserQuota(ctx, "erin", client.QuotaPatch{MaxPreferences: &count})
	if err != nil || q.MaxPreferences != 7 || q.MaxKeyLength == 0 {
		t.Fatalf("set quota %+v, %v", q, err)
	}
	if q, err = c.ResetUserQuota(ctx, "erin"); err != nil || q.MaxPreferences == 7 {
		t.Fatalf("reset quota %+v, %v", q, err)
	}
	cat, err := c.Catalog(ctx)
	if err != nil || cat.Version == 0 || len(cat.Settings) == 0 {
		t.Fatalf("catalog version %d, %d settings, %v", cat.Version, len(cat.Settings), err)
	}
	if err := c.DeleteToken(ctx, "erin", tok.ID); err != nil {
		t.Fatal(err)
	}
	if err := c.DeleteUser(ctx, "erin"); err != nil {
		t.Fatal(err)
	}

	refusals := []struct {
		name    string
		call    func(*client.Client) error
		token   string
		want    error
		status  int
		message string
	}{
		{"unknown user", func(c *client.Client) error { _, err := c.User(ctx, "erin"); return err }, testnode.AdminToken, client.ErrNotFound, 404, "Not found."},
		{"unknown node", func(c *client.Client) error { return c.Remove(ctx, "n9") }, testnode.AdminToken, client.ErrNotFound, 404, `cluster: no such node: "n9"`},
		{"duplicate user", func(c *client.Client) error {
			_, err := c.CreateUser(ctx, client.NewUser{Username: "admin"})
			return err
		}, testnode.AdminToken, client.ErrBadRequest, 400, "username: A user with that username already exists."},
		{"bad quota", func(c *client.Client) error {
			neg := int64(-1)
			_, err := c.SetDefaultQuota(ctx, client.QuotaPatch{MaxTotalBytes: &neg})
			return err
		}, testnode.AdminToken, client.ErrBadRequest, 400, "max_total_bytes: Ensure this value is greater than or equal to 0."},
		{"no token", func(c *client.Client) error { _, err := c.Users(ctx); return err }, "", client.ErrUnauthorized, 401, "Authentication credentials were not provided."},
		{"wrong token", func(c *client.Client) error { _, err := c.Status(ctx); return err }, "wrong", client.ErrForbidden, 403, "cluster: bad cluster key"},
	}
	for _, tt := range refusals {
		t.Run(tt.name, func(t *testing.T) {
			c, err := client.New([]string{n.URL}, client.Options{Token: tt.token})
			if err != nil {
				t.Fatal(err)
			}
			err = tt.call(c)
			var ce *client.Error
			if !errors.As(err, &ce) || !errors.Is(err, tt.want) {
				t.Fatalf("error %v, want an *Error matching %v", err, tt.want)
			}
			if ce.Status != tt.status || ce.Message != tt.message {
				t.Fatalf("status %d message %q, want %d %q", ce.Status, ce.Message, tt.status, tt.message)
			}
		})
	}
}

// TestErrorMessages checks the message taken from each shape of error
// body, and that an unreachable cluster is ErrUnreachable.
func TestErrorMessages(t *testing.T) {
	tests := []struct {
		name, body string
		status     int
		code, msg  string
	}{
		{"cluster error", `{"code":"no_leader","message":"cluster: no leader"}`, 503, "no_leader", "cluster: no leader"},
		{"detail", `{"detail":"Not found."}`, 404, "", "Not found."},
		{"field errors", `{"username":["Taken."],"email":["Bad.","Worse."]}`, 400, "", "email: Bad. Worse.; username: Taken."},
		{"plain text", "upstream went away\n", 502, "", "upstream went away"},
		{"empty", "", 500, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(tt.status)
				_, _ = io.WriteString(w, tt.body)
			}))
			defer srv.Close()
			c, err := client.New([]string{srv.URL}, client.Options{})
			if err != nil {
				t.Fatal(err)
			}
			_, err = c.Status(ctxT(t))
			var ce *client.Error
			if !errors.As(err, &ce) {
				t.Fatalf("error %v, want an *Error", err)
			}
			if ce.Status != tt.status || ce.Code != tt.code || ce.Message != tt.msg {
				t.Fatalf("got %d %q %q, want %d %q %q", ce.Status, ce.Code, ce.Message, tt.status, tt.code, tt.msg)
			}
			if !strings.HasPrefix(ce.Error(), "GET /api/cluster/status: ") {
				t.Fatalf("Error() = %q", ce.Error())
			}
		})
	}

	c, err := client.New([]string{closedAddr(t), "http://" + closedAddr(t)}, client.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Status(ctxT(t)); !errors.Is(err, client.ErrUnreachable) {
		t.Fatalf("error %v, want ErrUnreachable", err)
	}
}

func TestNewAddresses(t *testing.T) {
	tests := []struct {
		addrs []string
		want  string // joined base URLs, or the error's text
		ok    bool
	}{
		{[]string{"127.0.0.1:8080"}, "http://127.0.0.1:8080", true},
		{[]string{" https://a.example:8443/ ", "b:1"}, "https://a.example:8443 http://b:1", true},
		{[]string{"", "  "}, "no address", false},
		{[]string{"ftp://x:1"}, "only http and https", false},
		{[]string{"http://x:1/api"}, "without a path", false},
	}
	for _, tt := range tests {
		c, err := client.New(tt.addrs, client.Options{})
		if tt.ok {
			if err != nil || strings.Join(c.Addrs(), " ") != tt.want {
				t.Errorf("New(%q): %v, %v; want %s", tt.addrs, c, err, tt.want)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("New(%q): error %v, want one containing %q", tt.addrs, err, tt.want)
		}
	}
}
