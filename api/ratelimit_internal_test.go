package api

import (
	"testing"
	"time"
)

// fakeClock is a settable clock.
type fakeClock struct{ t time.Time }

func (f *fakeClock) now() time.Time          { return f.t }
func (f *fakeClock) advance(d time.Duration) { f.t = f.t.Add(d) }

func TestRateLimiter(t *testing.T) {
	clock := &fakeClock{t: time.Unix(1_700_000_000, 0)}
	l := newRateLimiter(2, clock.now) // 2 a second, bursts of 4

	type step struct {
		advance  time.Duration
		key      string
		want     bool
		wantWait time.Duration
	}
	steps := []step{
		{0, "a", true, 0}, {0, "a", true, 0}, {0, "a", true, 0}, {0, "a", true, 0},
		{0, "a", false, 500 * time.Millisecond}, // the burst is spent
		{0, "b", true, 0},                       // another key has its own bucket
		{250 * time.Millisecond, "a", false, 250 * time.Millisecond},
		{250 * time.Millisecond, "a", true, 0}, // one token back
		{0, "a", false, 500 * time.Millisecond},
		{10 * time.Second, "a", true, 0}, // refilled
	}
	for i, s := range steps {
		clock.advance(s.advance)
		ok, wait := l.allow(s.key)
		if ok != s.want || wait != s.wantWait {
			t.Fatalf("step %d (%s): allow = %v, %v; want %v, %v", i, s.key, ok, wait, s.want, s.wantWait)
		}
	}
}

func TestRateLimiterOffAndBounded(t *testing.T) {
	if l := newRateLimiter(0, nil); l != nil {
		t.Fatal("a zero rate should mean no limiter")
	}
	var off *rateLimiter
	if ok, _ := off.allow("x"); !ok {
		t.Fatal("a nil limiter must allow everything")
	}
	clock := &fakeClock{t: time.Unix(1_700_000_000, 0)}
	l := newRateLimiter(1, clock.now)
	l.max = 3
	for _, k := range []string{"a", "b", "c", "d", "e"} {
		l.allow(k)
		if len(l.buckets) > l.max {
			t.Fatalf("%d buckets, more than the bound %d", len(l.buckets), l.max)
		}
	}
	// Idle buckets are dropped first once they have refilled.
	clock.advance(time.Minute)
	l.allow("f")
	if _, ok := l.buckets["f"]; !ok || len(l.buckets) > l.max {
		t.Fatalf("buckets after eviction: %v", len(l.buckets))
	}
}
