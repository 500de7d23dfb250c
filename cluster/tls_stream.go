package cluster

import (
	"context"
	"crypto/tls"
	"net"
	"time"

	"github.com/hashicorp/raft"
)

// tlsStreamLayer is raft's stream layer with mutual TLS: the listener
// accepts only connections that complete a TLS handshake with a client
// certificate from the cluster CA, and dials present this node's
// certificate and verify the peer's against the same CA. A plain TCP client
// never gets as far as raft's decoder: the TLS server reads its bytes as a
// malformed handshake and closes the connection.
type tlsStreamLayer struct {
	ln        net.Listener
	advertise net.Addr
	tls       *TLS
	dialer    net.Dialer
}

var _ raft.StreamLayer = (*tlsStreamLayer)(nil)

func newTLSStreamLayer(bind string, advertise net.Addr, t *TLS, dialer net.Dialer) (*tlsStreamLayer, error) {
	ln, err := net.Listen("tcp", bind)
	if err != nil {
		return nil, err
	}
	if advertise == nil {
		advertise = ln.Addr()
	}
	return &tlsStreamLayer{ln: ln, advertise: advertise, tls: t, dialer: dialer}, nil
}

// Accept returns the next connection wrapped in TLS. The handshake runs on
// the connection's first read, in raft's goroutine for that connection, so
// a slow or hostile client cannot hold up other peers; a failed handshake
// fails that read and raft closes the connection without decoding anything.
func (s *tlsStreamLayer) Accept() (net.Conn, error) {
	c, err := s.ln.Accept()
	if err != nil {
		return nil, err
	}
	return &handshakeDeadlineConn{Conn: tls.Server(c, s.tls.peerServerConfig())}, nil
}

func (s *tlsStreamLayer) Close() error { return s.ln.Close() }

// Addr returns the advertised address.
func (s *tlsStreamLayer) Addr() net.Addr { return s.advertise }

// Dial connects to another node's raft port over mutual TLS.
func (s *tlsStreamLayer) Dial(address raft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	d := s.dialer
	d.Timeout = timeout
	return s.tls.dialTLS(ctx, "tcp", string(address), d)
}

// handshakeDeadlineConn bounds the server-side handshake: the first Read
// or Write completes the handshake within 10 seconds or fails.
type handshakeDeadlineConn struct {
	*tls.Conn
}

func (c *handshakeDeadlineConn) handshake() error {
	if c.Conn.ConnectionState().HandshakeComplete {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return c.Conn.HandshakeContext(ctx)
}

func (c *handshakeDeadlineConn) Read(p []byte) (int, error) {
	if err := c.handshake(); err != nil {
		return 0, err
	}
	return c.Conn.Read(p)
}

func (c *handshakeDeadlineConn) Write(p []byte) (int, error) {
	if err := c.handshake(); err != nil {
		return 0, err
	}
	return c.Conn.Write(p)
}
