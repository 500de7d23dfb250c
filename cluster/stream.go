package cluster

import (
	"errors"
	"fmt"
	"net"
	"strconv"
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

// hostPort is an advertised address kept as the operator wrote it, host
// name and all. Peers store it in the raft configuration and resolve it on
// every dial, so a node that comes back with a new IP under the same DNS
// name (a rescheduled Kubernetes pod) stays reachable.
type hostPort string

// Network returns "tcp".
func (a hostPort) Network() string { return "tcp" }

// String returns the address as written.
func (a hostPort) String() string { return string(a) }

// advertisedAddr checks an advertised host:port. It returns nil for port
// 0, which means the address the listener gets.
func advertisedAddr(s string) (net.Addr, error) {
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return nil, err
	}
	p, err := strconv.ParseUint(port, 10, 16)
	if err != nil {
		return nil, fmt.Errorf("port %q: want a number from 0 to 65535", port)
	}
	if host == "" {
		return nil, errors.New("no host: other nodes could not reach it")
	}
	if p == 0 {
		return nil, nil
	}
	return hostPort(s), nil
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
