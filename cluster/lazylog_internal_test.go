package cluster

import (
	"errors"
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/hashicorp/raft"
)

func lazyEntries(from, to uint64) []*raft.Log {
	var out []*raft.Log
	for i := from; i <= to; i++ {
		out = append(out, &raft.Log{Index: i, Term: 1, Type: raft.LogCommand, Data: []byte(fmt.Sprint(i))})
	}
	return out
}

func TestLazyLogStoreHoldsWritesUntilFlushed(t *testing.T) {
	under := raft.NewInmemStore()
	if err := under.StoreLogs(lazyEntries(1, 3)); err != nil {
		t.Fatal(err)
	}
	s := newLazyLogStore(under)
	// Stop the background flushes, so the test decides when entries move.
	close(s.stop)
	<-s.done

	if err := s.StoreLogs(lazyEntries(4, 6)); err != nil {
		t.Fatal(err)
	}
	if last, _ := s.LastIndex(); last != 6 {
		t.Errorf("LastIndex = %d, want 6", last)
	}
	if last, _ := under.LastIndex(); last != 3 {
		t.Errorf("the store below holds up to %d before a flush, want 3 (writes must be held)", last)
	}
	for _, idx := range []uint64{2, 5} {
		var l raft.Log
		if err := s.GetLog(idx, &l); err != nil || string(l.Data) != fmt.Sprint(idx) {
			t.Errorf("GetLog(%d) = %q, %v", idx, l.Data, err)
		}
	}
	if first, _ := s.FirstIndex(); first != 1 {
		t.Errorf("FirstIndex = %d, want 1", first)
	}

	// A write that does not continue the held run writes the run first.
	if err := s.StoreLogs(lazyEntries(10, 10)); err != nil {
		t.Fatal(err)
	}
	if last, _ := under.LastIndex(); last != 6 {
		t.Errorf("after a non-consecutive write the store below holds up to %d, want 6", last)
	}

	// DeleteRange works on the real store after a flush.
	if err := s.DeleteRange(5, 10); err != nil {
		t.Fatal(err)
	}
	var l raft.Log
	if err := s.GetLog(10, &l); !errors.Is(err, raft.ErrLogNotFound) {
		t.Errorf("GetLog(10) after DeleteRange: %v, want ErrLogNotFound", err)
	}
	if last, _ := s.LastIndex(); last != 4 {
		t.Errorf("LastIndex after DeleteRange = %d, want 4", last)
	}

	// Close writes what is held.
	if err := s.StoreLogs(lazyEntries(5, 7)); err != nil {
		t.Fatal(err)
	}
	s.mu.Lock()
	s.flushLocked()
	s.mu.Unlock()
	if last, _ := under.LastIndex(); last != 7 {
		t.Errorf("after a flush the store below holds up to %d, want 7", last)
	}
}

func TestLazyLogStoreEmptyFirstIndex(t *testing.T) {
	s := newLazyLogStore(raft.NewInmemStore())
	defer s.Close()
	if first, _ := s.FirstIndex(); first != 0 {
		t.Errorf("FirstIndex of an empty store = %d, want 0", first)
	}
	if err := s.StoreLog(&raft.Log{Index: 1, Term: 1}); err != nil {
		t.Fatal(err)
	}
	if first, _ := s.FirstIndex(); first != 1 {
		t.Errorf("FirstIndex = %d, want 1", first)
	}
}

// The raft stream layer and the node-to-node HTTP client both dial from
// --peer-source-ip.
func TestPeerDialerSourceIP(t *testing.T) {
	const source = "127.0.0.77"
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Addr, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			accepted <- nil
			return
		}
		accepted <- c.RemoteAddr()
		c.Close()
	}()
	s, err := newTCPStreamLayer("127.0.0.1:0", nil, peerDialer(source, time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	c, err := s.Dial(raft.ServerAddress(ln.Addr().String()), 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	select {
	case a := <-accepted:
		if tcp, ok := a.(*net.TCPAddr); !ok || tcp.IP.String() != source {
			t.Errorf("connection came from %v, want %s", a, source)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no connection accepted within 5s")
	}
}
