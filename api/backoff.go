package api

import (
	"container/list"
	"strings"
	"sync"
	"time"
)

// Failed-login back-off. After backoffMax failed logins within
// backoffWindow for one username, or from one client address, further
// attempts for that username or from that address are refused with 429
// until the oldest of those failures leaves the window. A successful login
// resets the username's count (not the address's).
//
// The counts are kept in memory on each node, not replicated: an attacker
// spreading guesses over n nodes gets n times the attempts, and a restart
// forgets the counts. The table is bounded (backoffCapacity keys, the least
// recently failed evicted first) and has no goroutine: entries expire lazily
// when touched or when they reach the front of the eviction list.
const (
	backoffMax      = 5
	backoffWindow   = 15 * time.Minute
	backoffCapacity = 100_000
)

type backoffEntry struct {
	key string
	// fails are the times of the most recent failures, oldest first, at
	// most backoffMax of them.
	fails []time.Time
}

type loginBackoff struct {
	now      func() time.Time
	capacity int

	mu      sync.Mutex
	entries map[string]*list.Element
	order   *list.List // of *backoffEntry, least recently failed first
}

func newLoginBackoff(now func() time.Time, capacity int) *loginBackoff {
	if now == nil {
		now = time.Now
	}
	return &loginBackoff{now: now, capacity: capacity, entries: map[string]*list.Element{}, order: list.New()}
}

func backoffUserKey(username string) string { return "u\x00" + strings.ToLower(username) }
func backoffAddrKey(addr string) string     { return "a\x00" + addr }

// prune drops the failures that left the window, and the entry if none is
// left. It reports whether the entry remains.
func (b *loginBackoff) prune(el *list.Element, now time.Time) bool {
	e := el.Value.(*backoffEntry)
	i := 0
	for i < len(e.fails) && !now.Before(e.fails[i].Add(backoffWindow)) {
		i++
	}
	e.fails = e.fails[i:]
	if len(e.fails) == 0 {
		b.order.Remove(el)
		delete(b.entries, e.key)
		return false
	}
	return true
}

// wait returns how long the caller must wait before trying again for this
// username from this address; zero means it may try now.
func (b *loginBackoff) wait(username, addr string) time.Duration {
	b.mu.Lock()
	defer b.mu.Unlock()
	now := b.now()
	var longest time.Duration
	for _, k := range []string{backoffUserKey(username), backoffAddrKey(addr)} {
		el, ok := b.entries[k]
		if !ok || !b.prune(el, now) {
			continue
		}
		e := el.Value.(*backoffEntry)
		if len(e.fails) >= backoffMax {
			if w := e.fails[0].Add(backoffWindow).Sub(now); w > longest {
				longest = w
			}
		}
	}
	return longest
}

// fail records a failed login for the username and the address.
func (b *loginBackoff) fail(username, addr string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	now := b.now()
	// Lazy expiry: forget stale entries at the old end of the list.
	for el := b.order.Front(); el != nil; el = b.order.Front() {
		if b.prune(el, now) {
			break
		}
	}
	for _, k := range []string{backoffUserKey(username), backoffAddrKey(addr)} {
		el, ok := b.entries[k]
		if ok && b.prune(el, now) {
			e := el.Value.(*backoffEntry)
			e.fails = append(e.fails, now)
			if len(e.fails) > backoffMax {
				e.fails = e.fails[len(e.fails)-backoffMax:]
			}
			b.order.MoveToBack(el)
			continue
		}
		b.entries[k] = b.order.PushBack(&backoffEntry{key: k, fails: []time.Time{now}})
		for b.order.Len() > b.capacity {
			old := b.order.Front()
			b.order.Remove(old)
			delete(b.entries, old.Value.(*backoffEntry).key)
		}
	}
}

// succeed resets the username's count.
func (b *loginBackoff) succeed(username string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	k := backoffUserKey(username)
	if el, ok := b.entries[k]; ok {
		b.order.Remove(el)
		delete(b.entries, k)
	}
}

// len returns how many keys the table holds.
func (b *loginBackoff) len() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.order.Len()
}
