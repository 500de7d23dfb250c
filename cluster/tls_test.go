package cluster_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prefsd/prefsd/cluster"
	"github.com/prefsd/prefsd/config"
	"github.com/prefsd/prefsd/internal/testnode"
)

// A 3-node cluster with TLS end to end: raft over mutual TLS, forwarded
// writes and read-index calls over HTTPS with client certificates, and the
// API over HTTPS. Writes through a follower, linearizable reads on another,
// and a leader failover all work; an internal call without a cluster
// certificate is refused even with the right cluster key.
func TestTLSClusterEndToEnd(t *testing.T) {
	ca := testnode.NewCA(t, "prefsd-test-ca")
	nodes := testnode.StartTLSCluster(t, 3, ca)
	leader := testnode.WaitLeader(t, nodes)
	fs := testnode.Followers(nodes)
	if len(fs) != 2 {
		t.Fatalf("want 2 followers, got %d", len(fs))
	}
	for _, n := range nodes {
		if !strings.HasPrefix(n.URL, "https://") || !n.TLS.PeerEnabled() {
			t.Fatalf("node %s is not on TLS: %s", n.ID(), n.URL)
		}
	}

	uid := createUser(t, fs[0], "tls-user")
	setPref(t, fs[0], uid, "theme", "dark")
	st := readLinearizable(t, fs[1])
	if v, ok := st.Pref(uid, "theme"); !ok || v != "dark" {
		t.Fatalf("linearizable read on %s: theme = %q, %v", fs[1].ID(), v, ok)
	}

	// The API answers over HTTPS to a client that trusts the CA.
	res, err := ca.Client().Get(fs[1].URL + "/healthz")
	if err != nil {
		t.Fatalf("https healthz: %v", err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Fatalf("https healthz: %s", res.Status)
	}

	// Fail closed: the cluster key alone does not open the internal API.
	req, _ := http.NewRequest(http.MethodPost, leader.URL+cluster.PathApply, bytes.NewReader([]byte("x")))
	req.Header.Set(cluster.KeyHeader, testnode.ClusterKey)
	res, err = ca.Client().Do(req)
	if err != nil {
		t.Fatalf("internal call without client cert: %v", err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusForbidden {
		t.Fatalf("internal call without client cert: %s %s, want 403", res.Status, body)
	}

	// Leader failover, all over TLS.
	leader.Stop()
	survivors := without(nodes, leader)
	newLeader := testnode.WaitLeader(t, survivors)
	var follower *testnode.Node
	for _, n := range survivors {
		if n != newLeader {
			follower = n
		}
	}
	setPref(t, follower, uid, "theme", "light")
	st = readLinearizable(t, newLeader)
	if v, _ := st.Pref(uid, "theme"); v != "light" {
		t.Fatalf("after failover: theme = %q, want light", v)
	}
	back := leader.Restart(t)
	waitConverged(t, newLeader, []*testnode.Node{back, follower})
}

// raftProbe dials addr with TLS and the given client certificates, sends a
// byte, and reports whether the server kept the connection open (a read
// times out) or refused it (the handshake or the read fails).
func raftProbe(t *testing.T, addr string, cfg *tls.Config) (accepted bool, err error) {
	t.Helper()
	d := &net.Dialer{Timeout: 5 * time.Second}
	conn, err := tls.DialWithDialer(d, "tcp", addr, cfg)
	if err != nil {
		return false, err
	}
	defer conn.Close()
	// With TLS 1.3 the client's handshake ends before the server has
	// checked the client certificate; the server's verdict arrives on the
	// first read. A connection the server keeps waits for an RPC, so the
	// read deadline ends it.
	_ = conn.SetDeadline(time.Now().Add(500 * time.Millisecond))
	_, err = conn.Read(make([]byte, 1))
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return true, nil
	}
	return false, err
}

// Raft accepts only mutual-TLS connections with a certificate from the
// cluster CA: one from another CA, none at all, and plain TCP are refused.
func TestTLSRaftRefusesStrangers(t *testing.T) {
	ca := testnode.NewCA(t, "prefsd-test-ca")
	n := testnode.Start(t, testnode.Options{ID: "n1", TLS: ca.PeerFiles(t, "n1")})
	testnode.WaitLeader(t, []*testnode.Node{n})
	addr := n.RaftAddr()

	gcf, gkf, _ := ca.Issue(t, "client")
	good, err := tls.LoadX509KeyPair(gcf, gkf)
	if err != nil {
		t.Fatal(err)
	}
	if ok, err := raftProbe(t, addr, &tls.Config{RootCAs: ca.Pool(), Certificates: []tls.Certificate{good}}); !ok {
		t.Fatalf("a client with a cluster certificate was refused: %v", err)
	}

	other := testnode.NewCA(t, "other-ca")
	cf, kf, _ := other.Issue(t, "intruder")
	bad, err := tls.LoadX509KeyPair(cf, kf)
	if err != nil {
		t.Fatal(err)
	}
	// GetClientCertificate sends the certificate even though the server
	// names only the cluster CA as acceptable, as an attacker would.
	forced := func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &bad, nil }
	if ok, err := raftProbe(t, addr, &tls.Config{RootCAs: ca.Pool(), GetClientCertificate: forced}); ok {
		t.Fatal("a client certificate from another CA was accepted")
	} else {
		t.Logf("foreign CA refused: %v", err)
		if err == nil || !strings.Contains(err.Error(), "certificate") {
			t.Fatalf("foreign CA: want a certificate error, got %v", err)
		}
	}
	if ok, err := raftProbe(t, addr, &tls.Config{RootCAs: ca.Pool()}); ok {
		t.Fatal("a client without a certificate was accepted")
	} else {
		t.Logf("no certificate refused: %v", err)
	}
	// The node's own dialer would not trust a server from another CA.
	if _, err := raftProbe(t, addr, &tls.Config{RootCAs: other.Pool(), Certificates: []tls.Certificate{bad}}); err == nil {
		t.Fatal("a client trusting only another CA accepted the node's certificate")
	}

	// Plain TCP: raft's first byte is an RPC type; the TLS server reads it
	// as a broken handshake and closes the connection.
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.Write([]byte{0, 0x80, 0x80, 0x80, 0x80, 0x80}); err != nil {
		t.Fatal(err)
	}
	_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
	buf, err := io.ReadAll(conn)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatal("a plain TCP client's connection was kept open")
	}
	if len(buf) > 0 && buf[0] != 0x15 { // anything but a TLS alert record
		t.Fatalf("plain TCP client got a non-TLS answer %x", buf)
	}
	if !n.IsLeader() {
		t.Fatal("the node lost leadership to a stranger")
	}
}

// servedSerial returns the serial of the certificate url's server presents.
func servedSerial(t *testing.T, ca *testnode.CA, url string) *big.Int {
	t.Helper()
	c := ca.Client() // a new client: a new connection, a new handshake
	res, err := c.Get(url + "/healthz")
	if err != nil {
		t.Fatalf("get %s: %v", url, err)
	}
	res.Body.Close()
	c.CloseIdleConnections()
	return res.TLS.PeerCertificates[0].SerialNumber
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// Reload swaps the served certificate for new connections, for the API and
// for raft, and keeps the old one when the new files do not load.
func TestTLSReload(t *testing.T) {
	ca := testnode.NewCA(t, "prefsd-test-ca")
	files := ca.PeerFiles(t, "n1")
	n := testnode.Start(t, testnode.Options{ID: "n1", TLS: files})
	testnode.WaitLeader(t, []*testnode.Node{n})
	first := servedSerial(t, ca, n.URL)

	cf, kf, second := ca.Issue(t, "n1")
	if first.Cmp(second) == 0 {
		t.Fatal("the test issued the same serial twice")
	}
	copyFile(t, cf, files.CertFile)
	copyFile(t, kf, files.KeyFile)
	if got := servedSerial(t, ca, n.URL); got.Cmp(first) != 0 {
		t.Fatalf("served serial changed before the reload: %v", got)
	}
	if err := n.TLS.Reload(); err != nil {
		t.Fatalf("reload: %v", err)
	}
	if got := servedSerial(t, ca, n.URL); got.Cmp(second) != 0 {
		t.Fatalf("after reload the API serves serial %v, want %v", got, second)
	}
	gcf, gkf, _ := ca.Issue(t, "client")
	good, err := tls.LoadX509KeyPair(gcf, gkf)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := tls.Dial("tcp", n.RaftAddr(), &tls.Config{RootCAs: ca.Pool(), Certificates: []tls.Certificate{good}})
	if err != nil {
		t.Fatalf("raft dial after reload: %v", err)
	}
	if got := conn.ConnectionState().PeerCertificates[0].SerialNumber; got.Cmp(second) != 0 {
		t.Fatalf("after reload raft serves serial %v, want %v", got, second)
	}
	conn.Close()

	// A broken file: the reload fails, naming the flag, and the node keeps
	// serving the certificate it had.
	if err := os.WriteFile(files.CertFile, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	err = n.TLS.Reload()
	if err == nil || !strings.Contains(err.Error(), "--tls-cert-file") || !strings.Contains(err.Error(), "--peer-cert-file") {
		t.Fatalf("reload of a broken certificate: %v, want an error naming --tls-cert-file and --peer-cert-file", err)
	}
	if got := servedSerial(t, ca, n.URL); got.Cmp(second) != 0 {
		t.Fatalf("after a failed reload the API serves serial %v, want %v", got, second)
	}
	setPref(t, n, createUser(t, n, "after-reload"), "k", "v")
}

// LoadTLS checks the files at start and its errors name the flag at fault.
func TestLoadTLSErrors(t *testing.T) {
	ca := testnode.NewCA(t, "prefsd-test-ca")
	other := testnode.NewCA(t, "other-ca")
	cert, key, _ := ca.Issue(t, "n1")
	ocert, okey, _ := other.Issue(t, "n1")
	cases := []struct {
		name  string
		files config.TLSFiles
		want  string
	}{
		{"missing API cert", config.TLSFiles{CertFile: "/nonexistent.pem", KeyFile: key}, "--tls-cert-file"},
		{"missing API key", config.TLSFiles{CertFile: cert, KeyFile: "/nonexistent.pem"}, "--tls-key-file"},
		{"key of another cert", config.TLSFiles{CertFile: cert, KeyFile: okey}, "--tls-cert-file"},
		{"CA not PEM", config.TLSFiles{PeerCAFile: key, PeerCertFile: cert, PeerKeyFile: key}, "--peer-ca-file"},
		{"peer cert from another CA", config.TLSFiles{PeerCAFile: ca.File, PeerCertFile: ocert, PeerKeyFile: okey}, "--peer-cert-file"},
		{"API cert from another CA", config.TLSFiles{CertFile: ocert, KeyFile: okey, PeerCAFile: ca.File, PeerCertFile: cert, PeerKeyFile: key}, "--tls-cert-file"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg := config.Default()
			cfg.TLS = c.files
			_, err := cluster.LoadTLS(cfg)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("LoadTLS: %v, want an error naming %s", err, c.want)
			}
		})
	}
	cfg := config.Default()
	if tl, err := cluster.LoadTLS(cfg); tl != nil || err != nil {
		t.Fatalf("LoadTLS without files: %v, %v", tl, err)
	}
	cfg.TLS = config.TLSFiles{CertFile: cert, KeyFile: key, PeerCAFile: ca.File, PeerCertFile: cert, PeerKeyFile: key}
	if tl, err := cluster.LoadTLS(cfg); err != nil || !tl.APIEnabled() || !tl.PeerEnabled() {
		t.Fatalf("LoadTLS: %v", err)
	}
}

// Node-to-node calls verify the server: a node on peer TLS will not send
// its join request (with the cluster key) to a server whose certificate
// comes from another CA.
func TestTLSCallsVerifyServer(t *testing.T) {
	ca := testnode.NewCA(t, "prefsd-test-ca")
	other := testnode.NewCA(t, "other-ca")
	ocf, okf, _ := other.Issue(t, "impostor")
	ocert, err := tls.LoadX509KeyPair(ocf, okf)
	if err != nil {
		t.Fatal(err)
	}
	var got atomic.Int32
	impostor := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got.Add(1)
	}))
	impostor.TLS = &tls.Config{Certificates: []tls.Certificate{ocert}}
	impostor.Config.ErrorLog = log.New(io.Discard, "", 0)
	impostor.StartTLS()
	defer impostor.Close()

	cfg := config.Default()
	cfg.NodeID = "n2"
	cfg.HTTPAddr = "127.0.0.1:0"
	cfg.AdvertiseHTTP = "127.0.0.1:1"
	cfg.RaftAddr = "127.0.0.1:0"
	cfg.DataDir = t.TempDir()
	cfg.ClusterKey = testnode.ClusterKey
	impAddr := strings.TrimPrefix(impostor.URL, "https://")
	cfg.Join = []string{impAddr}
	cfg.TLS = ca.PeerFiles(t, "n2")
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	node, err := cluster.Open(cfg, cluster.Options{RaftLogOutput: io.Discard})
	if err != nil {
		t.Fatal(err)
	}
	defer node.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	err = node.JoinCluster(ctx, cfg.Join)
	if err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("join through an impostor: %v, want a certificate error", err)
	}
	if n := got.Load(); n != 0 {
		t.Fatalf("the impostor received %d requests", n)
	}
}
