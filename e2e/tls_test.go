package e2e

import (
	"bytes"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/prefsd/prefsd/internal/testbin"
	"github.com/prefsd/prefsd/internal/testnode"
)

// tlsDo makes one request over HTTPS with a client that trusts only ca.
func tlsDo(ca *testnode.CA, method, url string, body any) (int, []byte, *tls.ConnectionState, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return 0, nil, nil, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		return 0, nil, nil, err
	}
	req.Header.Set("Authorization", "Token "+adminToken)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	c := ca.Client()
	c.Transport.(*http.Transport).DisableKeepAlives = true
	res, err := c.Do(req)
	if err != nil {
		return 0, nil, nil, err
	}
	defer res.Body.Close()
	data, err := io.ReadAll(res.Body)
	return res.StatusCode, data, res.TLS, err
}

// Three prefsd processes configured for TLS through PREFSD_* variables:
// the API over HTTPS, raft and forwarding over mutual TLS; a write through
// a follower, a linearizable read on the other; SIGHUP reloads the served
// certificate.
func TestTLSCluster(t *testing.T) {
	testbin.Prefsd(t)
	ca := testnode.NewCA(t, "prefsd-e2e-ca")
	n1, n2, n3 := NewNode(t, "n1"), NewNode(t, "n2"), NewNode(t, "n3")
	nodes := []*Node{n1, n2, n3}
	files := map[*Node][2]string{}
	for _, n := range nodes {
		f := ca.PeerFiles(t, n.ID)
		files[n] = [2]string{f.CertFile, f.KeyFile}
		n.Env = append(clusterEnv(),
			"PREFSD_TLS_CERT_FILE="+f.CertFile, "PREFSD_TLS_KEY_FILE="+f.KeyFile,
			"PREFSD_PEER_CA_FILE="+f.PeerCAFile, "PREFSD_PEER_CERT_FILE="+f.PeerCertFile, "PREFSD_PEER_KEY_FILE="+f.PeerKeyFile)
	}
	https := func(n *Node, path string) string { return "https://" + n.HTTPAddr + path }
	n1.Start(n1.Flags("--bootstrap")...)
	n2.Start(n2.Flags("--join", n1.HTTPAddr)...)
	n3.Start(n3.Flags("--join", n1.HTTPAddr)...)

	var leaderID string
	testbin.Eventually(t, 30*time.Second, "a 3-node TLS cluster with one leader", func() error {
		leaderID = ""
		for _, n := range nodes {
			if err := n.checkAlive(); err != nil {
				return err
			}
			code, body, _, err := tlsDo(ca, http.MethodGet, https(n, "/api/cluster/status"), nil)
			if err != nil || code != http.StatusOK {
				return fmt.Errorf("node %s: status %d %s %v", n.ID, code, body, err)
			}
			var st clusterStatus
			if err := json.Unmarshal(body, &st); err != nil {
				return err
			}
			if len(st.Members) != 3 || st.LeaderID == "" || (leaderID != "" && st.LeaderID != leaderID) {
				return fmt.Errorf("node %s: leader %q, %d members", n.ID, st.LeaderID, len(st.Members))
			}
			leaderID = st.LeaderID
		}
		return nil
	})
	var followers []*Node
	for _, n := range nodes {
		if n.ID != leaderID {
			followers = append(followers, n)
		}
	}

	testbin.Eventually(t, 20*time.Second, "create a user through follower "+followers[0].ID, func() error {
		code, body, _, err := tlsDo(ca, http.MethodPost, https(followers[0], "/api/admin/users"), map[string]string{"username": "alice"})
		if err != nil || (code != http.StatusCreated && code != http.StatusConflict && code != http.StatusBadRequest) {
			return fmt.Errorf("status %d %s %v", code, body, err)
		}
		return nil
	})
	code, body, _, err := tlsDo(ca, http.MethodGet, https(followers[1], "/api/admin/users/alice?consistency=linearizable"), nil)
	if err != nil || code != http.StatusOK {
		t.Fatalf("read alice on %s: %d %s %v", followers[1].ID, code, body, err)
	}

	// Plain HTTP is not served.
	if res, err := http.Get("http://" + n1.HTTPAddr + "/healthz"); err == nil {
		res.Body.Close()
		if res.StatusCode == http.StatusOK {
			t.Fatal("plain HTTP answered 200 on a TLS node")
		}
	}

	// SIGHUP reloads the certificate.
	serial := func() (*big.Int, error) {
		_, _, cs, err := tlsDo(ca, http.MethodGet, https(n1, "/healthz"), nil)
		if err != nil {
			return nil, err
		}
		return cs.PeerCertificates[0].SerialNumber, nil
	}
	before, err := serial()
	if err != nil {
		t.Fatal(err)
	}
	cf, kf, want := ca.Issue(t, "n1")
	for i, src := range []string{cf, kf} {
		b, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		tmp := files[n1][i] + ".new"
		if err := os.WriteFile(tmp, b, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, files[n1][i]); err != nil {
			t.Fatal(err)
		}
	}
	if err := n1.current().cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	testbin.Eventually(t, 10*time.Second, "n1 to serve the new certificate after SIGHUP", func() error {
		got, err := serial()
		if err != nil {
			return err
		}
		if got.Cmp(want) != 0 {
			return fmt.Errorf("serves serial %v (before %v), want %v", got, before, want)
		}
		return nil
	})
	for _, n := range nodes {
		n.Stop()
	}
}

// TLS flags that do not go together, or files that do not load, stop
// prefsd at start with an error naming the flag.
func TestTLSBadFlags(t *testing.T) {
	testbin.Prefsd(t)
	ca := testnode.NewCA(t, "prefsd-e2e-ca")
	other := testnode.NewCA(t, "other-ca")
	cert, key, _ := ca.Issue(t, "n1")
	ocert, okey, _ := other.Issue(t, "n1")
	for _, tc := range []struct {
		name  string
		args  []string
		names []string
	}{
		{"cert without key", []string{"--tls-cert-file", cert}, []string{"--tls-key-file"}},
		{"peer CA alone", []string{"--peer-ca-file", ca.File}, []string{"--peer-cert-file", "--peer-key-file"}},
		{"missing CA file", []string{"--peer-ca-file", "/nonexistent/ca.pem", "--peer-cert-file", cert, "--peer-key-file", key}, []string{"--peer-ca-file"}},
		{"peer cert from another CA", []string{"--peer-ca-file", ca.File, "--peer-cert-file", ocert, "--peer-key-file", okey}, []string{"--peer-cert-file"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			addrs := testbin.FreeAddrs(t, 2)
			args := append([]string{"--data-dir", filepath.Join(dir, "data"), "--raft-addr", addrs[0], "--http-addr", addrs[1]}, tc.args...)
			res := runToExit(t, dir, nil, 20*time.Second, args...)
			if res.Code == 0 {
				t.Fatalf("prefsd %s exited with status 0", strings.Join(args, " "))
			}
			for _, name := range tc.names {
				if !strings.Contains(res.Stderr, name) {
					t.Errorf("prefsd %s: stderr does not name %s:\n%s", strings.Join(args, " "), name, res.Stderr)
				}
			}
		})
	}
}
