package cluster

import (
	"sync"
	"time"

	"github.com/hashicorp/raft"
)

// lazyLogStore is the log store of --unsafe-no-fsync. It answers StoreLogs
// at once, holding the entries in memory, and hands them to the real store
// in the background every flushEvery. A crash loses what it still holds,
// exactly as a machine that lost power loses what a disk ignoring fsync
// had not written yet. (Turning off bolt's fsync alone would not do: a
// killed process leaves its writes in the page cache, so kill -9 could not
// show the difference.) Its only use is to prove that the crash tests see
// lost writes when durability is missing.
type lazyLogStore struct {
	store raft.LogStore

	mu      sync.Mutex
	pending []*raft.Log // consecutive indexes, ascending
	err     error       // the first failed flush, returned from then on

	stop chan struct{}
	done chan struct{}
}

// lazyFlushEvery is how long the lazy store may hold entries.
const lazyFlushEvery = 500 * time.Millisecond

var _ raft.LogStore = (*lazyLogStore)(nil)

func newLazyLogStore(store raft.LogStore) *lazyLogStore {
	s := &lazyLogStore{store: store, stop: make(chan struct{}), done: make(chan struct{})}
	go s.run()
	return s
}

func (s *lazyLogStore) run() {
	defer close(s.done)
	t := time.NewTicker(lazyFlushEvery)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
			s.mu.Lock()
			s.flushLocked()
			s.mu.Unlock()
		}
	}
}

// flushLocked writes the held entries to the real store.
func (s *lazyLogStore) flushLocked() {
	if len(s.pending) == 0 || s.err != nil {
		return
	}
	if err := s.store.StoreLogs(s.pending); err != nil {
		s.err = err
		return
	}
	s.pending = nil
}

// Close writes what is held and stops the background flushes: a clean
// shutdown loses nothing.
func (s *lazyLogStore) Close() error {
	close(s.stop)
	<-s.done
	s.mu.Lock()
	defer s.mu.Unlock()
	s.flushLocked()
	return s.err
}

func (s *lazyLogStore) FirstIndex() (uint64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	first, err := s.store.FirstIndex()
	if err == nil && first == 0 && len(s.pending) > 0 {
		first = s.pending[0].Index
	}
	return first, err
}

func (s *lazyLogStore) LastIndex() (uint64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if n := len(s.pending); n > 0 {
		return s.pending[n-1].Index, nil
	}
	return s.store.LastIndex()
}

func (s *lazyLogStore) GetLog(index uint64, log *raft.Log) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if n := len(s.pending); n > 0 && index >= s.pending[0].Index && index <= s.pending[n-1].Index {
		*log = *s.pending[index-s.pending[0].Index]
		return nil
	}
	return s.store.GetLog(index, log)
}

func (s *lazyLogStore) StoreLog(log *raft.Log) error {
	return s.StoreLogs([]*raft.Log{log})
}

func (s *lazyLogStore) StoreLogs(logs []*raft.Log) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return s.err
	}
	for _, l := range logs {
		if n := len(s.pending); n > 0 && l.Index != s.pending[n-1].Index+1 {
			// Not a continuation: write what is held first, so that the
			// held entries stay consecutive.
			s.flushLocked()
			if s.err != nil {
				return s.err
			}
		}
		c := *l
		s.pending = append(s.pending, &c)
	}
	return nil
}

func (s *lazyLogStore) DeleteRange(min, max uint64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.flushLocked()
	if s.err != nil {
		return s.err
	}
	return s.store.DeleteRange(min, max)
}
