package cluster

import (
	"net"
	"time"

	"github.com/hashicorp/raft"
)

// tcpStreamLayer is raft's plain TCP stream layer. Unlike raft's own, it
// dials through the node's peer dialer, so connections to other nodes come
// from --peer-source-ip when it is set.
type tcpStreamLayer struct {
	ln        net.Listener
	advertise net.Addr
	dialer    net.Dialer
}

var _ raft.StreamLayer = (*tcpStreamLayer)(nil)

func newTCPStreamLayer(bind string, advertise net.Addr, dialer net.Dialer) (*tcpStreamLayer, error) {
	ln, err := net.Listen("tcp", bind)
	if err != nil {
		return nil, err
	}
	if advertise == nil {
		advertise = ln.Addr()
	}
	return &tcpStreamLayer{ln: ln, advertise: advertise, dialer: dialer}, nil
}

func (s *tcpStreamLayer) Accept() (net.Conn, error) { return s.ln.Accept() }

func (s *tcpStreamLayer) Close() error { return s.ln.Close() }

// Addr returns the advertised address.
func (s *tcpStreamLayer) Addr() net.Addr { return s.advertise }

// Dial connects to another node's raft port.
func (s *tcpStreamLayer) Dial(address raft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	d := s.dialer
	d.Timeout = timeout
	return d.Dial("tcp", string(address))
}

// peerDialer returns the dialer for connections to other nodes: from
// sourceIP when it is set, with TCP keep-alives.
func peerDialer(sourceIP string, timeout time.Duration) net.Dialer {
	d := net.Dialer{Timeout: timeout, KeepAlive: 30 * time.Second}
	if ip := net.ParseIP(sourceIP); ip != nil {
		d.LocalAddr = &net.TCPAddr{IP: ip}
	}
	return d
}
