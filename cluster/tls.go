package cluster

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prefsd/prefsd/config"
)

// TLS holds a node's certificates: the HTTP API's, and the cluster CA and
// node certificate used for mutual TLS between nodes. Every handshake reads
// the current material, so Reload takes effect for new connections without
// a restart; a reload that fails keeps what was loaded before.
//
// It fails closed: with peer TLS on, raft accepts only TLS connections whose
// client certificate chains to the cluster CA, node-to-node calls verify the
// server's certificate against that CA and present this node's certificate,
// and the HTTP API refuses internal calls that present no such certificate.
type TLS struct {
	files config.TLSFiles
	api   atomic.Pointer[tls.Certificate]
	peer  atomic.Pointer[peerMaterial]
}

type peerMaterial struct {
	cert *tls.Certificate
	pool *x509.CertPool
}

// LoadTLS loads and checks the files cfg names. It returns nil, and no
// error, when cfg names none.
func LoadTLS(cfg config.Config) (*TLS, error) {
	f := cfg.TLS
	if !f.APIEnabled() && !f.PeerEnabled() {
		return nil, nil
	}
	t := &TLS{files: f}
	if err := t.Reload(); err != nil {
		return nil, err
	}
	return t, nil
}

// APIEnabled reports whether the HTTP API serves HTTPS. It does whenever
// any TLS is configured: with peer TLS alone it serves the node certificate,
// since other nodes call this one through it.
func (t *TLS) APIEnabled() bool { return t != nil }

// PeerEnabled reports whether node-to-node traffic uses mutual TLS.
func (t *TLS) PeerEnabled() bool { return t != nil && t.files.PeerEnabled() }

// Reload re-reads the certificate files. Each group (API, peer) is swapped
// only if it loads and checks; the errors name the flags at fault.
func (t *TLS) Reload() error {
	var errs []error
	var pm *peerMaterial
	if t.files.PeerEnabled() {
		var err error
		pm, err = loadPeer(t.files)
		if err != nil {
			errs = append(errs, err)
		} else {
			t.peer.Store(pm)
		}
	}
	if t.files.APIEnabled() {
		cert, err := loadPair("tls-cert-file", t.files.CertFile, "tls-key-file", t.files.KeyFile)
		if err == nil && t.files.PeerEnabled() {
			// Other nodes verify this certificate against the cluster CA
			// when they forward requests here.
			if cur := t.peer.Load(); cur != nil {
				if verr := verifyChain(cert, cur.pool); verr != nil {
					err = fmt.Errorf("--tls-cert-file %s: with --peer-ca-file set the HTTP API certificate must be signed by the cluster CA, since other nodes call this one through it: %w", t.files.CertFile, verr)
				}
			}
		}
		if err != nil {
			errs = append(errs, err)
		} else {
			t.api.Store(cert)
		}
	}
	return errors.Join(errs...)
}

func loadPeer(f config.TLSFiles) (*peerMaterial, error) {
	pemCA, err := os.ReadFile(f.PeerCAFile)
	if err != nil {
		return nil, fmt.Errorf("--peer-ca-file: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pemCA) {
		return nil, fmt.Errorf("--peer-ca-file %s: no PEM certificate found", f.PeerCAFile)
	}
	cert, err := loadPair("peer-cert-file", f.PeerCertFile, "peer-key-file", f.PeerKeyFile)
	if err != nil {
		return nil, err
	}
	if err := verifyChain(cert, pool); err != nil {
		return nil, fmt.Errorf("--peer-cert-file %s: not signed by --peer-ca-file %s: %w", f.PeerCertFile, f.PeerCAFile, err)
	}
	return &peerMaterial{cert: cert, pool: pool}, nil
}

// loadPair loads a certificate and key and checks that the certificate is
// valid now.
func loadPair(certFlag, certFile, keyFlag, keyFile string) (*tls.Certificate, error) {
	if _, err := os.Stat(certFile); err != nil {
		return nil, fmt.Errorf("--%s: %w", certFlag, err)
	}
	if _, err := os.Stat(keyFile); err != nil {
		return nil, fmt.Errorf("--%s: %w", keyFlag, err)
	}
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("--%s %s, --%s %s: %w", certFlag, certFile, keyFlag, keyFile, err)
	}
	now := time.Now()
	if now.Before(cert.Leaf.NotBefore) || now.After(cert.Leaf.NotAfter) {
		return nil, fmt.Errorf("--%s %s: certificate is valid only from %s to %s", certFlag, certFile,
			cert.Leaf.NotBefore.Format(time.RFC3339), cert.Leaf.NotAfter.Format(time.RFC3339))
	}
	return &cert, nil
}

// verifyChain checks that cert chains to pool, for use as client or server.
func verifyChain(cert *tls.Certificate, pool *x509.CertPool) error {
	inter := x509.NewCertPool()
	for _, der := range cert.Certificate[1:] {
		if c, err := x509.ParseCertificate(der); err == nil {
			inter.AddCert(c)
		}
	}
	_, err := cert.Leaf.Verify(x509.VerifyOptions{
		Roots:         pool,
		Intermediates: inter,
		KeyUsages:     []x509.ExtKeyUsage{x509.ExtKeyUsageAny},
	})
	return err
}

// ServerConfig returns the HTTP API's TLS configuration. With peer TLS on
// it asks for, and verifies, a client certificate from the cluster CA, which
// Handler then requires on node-to-node calls.
func (t *TLS) ServerConfig() *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) {
			c := &tls.Config{MinVersion: tls.VersionTLS12, NextProtos: []string{"http/1.1"}}
			if cert := t.api.Load(); cert != nil {
				c.Certificates = []tls.Certificate{*cert}
			}
			if pm := t.peer.Load(); pm != nil {
				if c.Certificates == nil {
					c.Certificates = []tls.Certificate{*pm.cert}
				}
				c.ClientCAs = pm.pool
				c.ClientAuth = tls.VerifyClientCertIfGiven
			}
			return c, nil
		},
	}
}

// Handler wraps the HTTP API: with peer TLS on, a node-to-node call (an
// /internal/ path, or any request carrying the cluster key) must come with
// a client certificate verified against the cluster CA.
func (t *TLS) Handler(h http.Handler) http.Handler {
	if !t.PeerEnabled() {
		return h
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		internal := strings.HasPrefix(r.URL.Path, "/internal/") || r.Header.Get(KeyHeader) != ""
		if internal && (r.TLS == nil || len(r.TLS.VerifiedChains) == 0) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusForbidden)
			_, _ = w.Write([]byte(`{"code":"peer_certificate_required","message":"node-to-node calls need a client certificate from the cluster CA"}` + "\n"))
			return
		}
		h.ServeHTTP(w, r)
	})
}

// peerClientConfig is the configuration for dialling another node at addr.
func (t *TLS) peerClientConfig(addr string) (*tls.Config, error) {
	pm := t.peer.Load()
	if pm == nil {
		return nil, errors.New("cluster: peer TLS material not loaded")
	}
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		host = addr
	}
	return &tls.Config{
		MinVersion:   tls.VersionTLS12,
		RootCAs:      pm.pool,
		ServerName:   host,
		Certificates: []tls.Certificate{*pm.cert},
	}, nil
}

// peerServerConfig is raft's listener configuration: a client certificate
// from the cluster CA is required.
func (t *TLS) peerServerConfig() *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) {
			pm := t.peer.Load()
			if pm == nil {
				return nil, errors.New("cluster: peer TLS material not loaded")
			}
			return &tls.Config{
				MinVersion:   tls.VersionTLS12,
				Certificates: []tls.Certificate{*pm.cert},
				ClientCAs:    pm.pool,
				ClientAuth:   tls.RequireAndVerifyClientCert,
			}, nil
		},
	}
}

// dialTLS dials addr over TCP with dialer and completes a TLS handshake as
// a peer.
func (t *TLS) dialTLS(ctx context.Context, network, addr string, dialer net.Dialer) (net.Conn, error) {
	cfg, err := t.peerClientConfig(addr)
	if err != nil {
		return nil, err
	}
	d := &tls.Dialer{NetDialer: &dialer, Config: cfg}
	return d.DialContext(ctx, network, addr)
}

// apiScheme is the scheme of other nodes' HTTP API.
func (t *TLS) apiScheme() string {
	if t.APIEnabled() {
		return "https://"
	}
	return "http://"
}
