package cluster

import (
	"slices"
	"testing"
)

func TestCallQueue(t *testing.T) {
	q := newCallQueue[int](2)
	for i := 1; i <= 6; i++ {
		q.push(i)
	}
	if got := len(q.kick); got != 2 {
		t.Errorf("%d wake-ups pending, want the capacity, 2", got)
	}
	if !q.withdraw(3) {
		t.Error("withdraw(3) = false for a queued call")
	}
	if q.withdraw(3) {
		t.Error("withdraw(3) = true twice")
	}
	upTo := func(n int) func([]int, int) bool {
		return func(taken []int, _ int) bool { return len(taken) < n }
	}
	if got := q.take(upTo(2)); !slices.Equal(got, []int{1, 2}) {
		t.Errorf("take 2 = %v, want [1 2]", got)
	}
	sum := 0
	got := q.take(func(_ []int, next int) bool { sum += next; return sum <= 9 })
	if !slices.Equal(got, []int{4, 5}) {
		t.Errorf("take while the sum is at most 9 = %v, want [4 5]", got)
	}
	if got := q.take(upTo(0)); got != nil {
		t.Errorf("take nothing = %v, want nil", got)
	}
	if got := q.drain(); !slices.Equal(got, []int{6}) {
		t.Errorf("drain = %v, want [6]", got)
	}
	if got := q.take(upTo(10)); got != nil {
		t.Errorf("take from an empty queue = %v", got)
	}
}
