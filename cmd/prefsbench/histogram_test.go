package main

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// exactQuantile returns the value of rank ceil(q*n) of sorted, the
// definition Histogram.Quantile estimates.
func exactQuantile(sorted []int64, q float64) int64 {
	rank := int(math.Ceil(q * float64(len(sorted))))
	rank = max(rank, 1)
	return sorted[rank-1]
}

func TestHistogramQuantiles(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	tests := []struct {
		name string
		gen  func(i int) int64
		n    int
	}{
		{"constant", func(int) int64 { return 1_234_567 }, 1000},
		{"small exact values", func(i int) int64 { return int64(i % 100) }, 10_000},
		{"uniform 1ms-100ms", func(int) int64 { return 1_000_000 + rng.Int64N(99_000_000) }, 100_000},
		{"exponential mean 2ms", func(int) int64 { return int64(rng.ExpFloat64() * 2e6) }, 100_000},
		{"lognormal around 500us", func(int) int64 { return int64(math.Exp(rng.NormFloat64()*1.5) * 5e5) }, 100_000},
		{"bimodal", func(i int) int64 {
			if i%10 == 0 {
				return 50_000_000 + rng.Int64N(1_000_000)
			}
			return 200_000 + rng.Int64N(50_000)
		}, 50_000},
	}
	quantiles := []float64{0, 0.01, 0.25, 0.5, 0.9, 0.99, 0.999, 1}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := NewHistogram()
			values := make([]int64, tc.n)
			for i := range values {
				values[i] = tc.gen(i)
				h.Record(values[i])
			}
			slices.Sort(values)
			if h.Count() != uint64(tc.n) {
				t.Fatalf("count = %d, want %d", h.Count(), tc.n)
			}
			if h.Min() != values[0] || h.Max() != values[len(values)-1] {
				t.Errorf("min, max = %d, %d, want %d, %d", h.Min(), h.Max(), values[0], values[len(values)-1])
			}
			for _, q := range quantiles {
				want := exactQuantile(values, q)
				got := h.Quantile(q)
				if diff := math.Abs(float64(got - want)); diff > 0.01*float64(want) {
					t.Errorf("q%.3f = %d, want %d within 1%% (off by %.3f%%)", q, got, want, 100*diff/float64(want))
				}
			}
		})
	}
}

func TestHistogramBucketsCoverRange(t *testing.T) {
	prev := -1
	for _, v := range []int64{0, 1, 127, 128, 129, 255, 256, 1000, 1 << 20, 1<<36 - 1, 1 << 36, math.MaxInt64} {
		i := bucketOf(v)
		if i < prev || i >= histBuckets {
			t.Fatalf("bucketOf(%d) = %d after %d (of %d)", v, i, prev, histBuckets)
		}
		prev = i
		if lo, hi := bucketBounds(i); v < 1<<histMaxExp && (v < lo || v >= hi) {
			t.Errorf("bucketOf(%d) = %d with bounds [%d, %d)", v, i, lo, hi)
		}
	}
	for i := histSubCount; i < histBuckets; i++ {
		lo, hi := bucketBounds(i)
		if bucketOf(lo) != i || bucketOf(hi-1) != i {
			t.Fatalf("bucket %d [%d, %d) does not map back", i, lo, hi)
		}
		if float64(hi-lo) > float64(lo)/histSubCount {
			t.Fatalf("bucket %d [%d, %d) wider than 1/%d", i, lo, hi, histSubCount)
		}
	}
}

func TestHistogramMerge(t *testing.T) {
	tests := []struct {
		name  string
		parts [][]int64
	}{
		{"both empty", [][]int64{nil, nil}},
		{"into empty", [][]int64{nil, {5, 6_000_000, 7}}},
		{"from empty", [][]int64{{5, 6_000_000, 7}, nil}},
		{"disjoint ranges", [][]int64{{1000, 2000, 3000}, {9_000_000, 8_000_000}}},
		{"many parts", [][]int64{{1}, {2_000}, {3_000_000}, {4_000_000_000}, {1, 1, 1}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			merged, whole := NewHistogram(), NewHistogram()
			for _, part := range tc.parts {
				h := NewHistogram()
				for _, v := range part {
					h.Record(v)
					whole.Record(v)
				}
				merged.Merge(h)
			}
			if merged.Count() != whole.Count() || merged.Min() != whole.Min() || merged.Max() != whole.Max() || merged.Mean() != whole.Mean() {
				t.Fatalf("merged count/min/max/mean = %d/%d/%d/%f, want %d/%d/%d/%f",
					merged.Count(), merged.Min(), merged.Max(), merged.Mean(), whole.Count(), whole.Min(), whole.Max(), whole.Mean())
			}
			if !slices.Equal(merged.counts, whole.counts) {
				t.Fatal("merged buckets differ from one histogram of every value")
			}
			for _, q := range []float64{0.5, 0.99, 1} {
				if merged.Quantile(q) != whole.Quantile(q) {
					t.Errorf("q%v = %d, want %d", q, merged.Quantile(q), whole.Quantile(q))
				}
			}
		})
	}
}

func TestHistogramSub(t *testing.T) {
	h := NewHistogram()
	for i := range 1000 {
		h.Record(int64(1_000_000 + i))
	}
	before := h.Clone()
	for range 1000 {
		h.Record(50_000_000)
	}
	delta := h.Clone()
	delta.Sub(before)
	if delta.Count() != 1000 {
		t.Fatalf("delta count = %d, want 1000", delta.Count())
	}
	if got := delta.Quantile(0.5); math.Abs(float64(got)-5e7) > 0.01*5e7 {
		t.Errorf("delta median = %d, want about 50ms", got)
	}
	if before.Count() != 1000 || before.Quantile(1) != 1_000_999 {
		t.Errorf("clone changed with the original: count %d, max %d", before.Count(), before.Quantile(1))
	}
	empty := h.Clone()
	empty.Sub(h)
	if empty.Count() != 0 || empty.Quantile(0.99) != 0 || empty.Max() != 0 {
		t.Errorf("self-difference = count %d, p99 %d, max %d, want zeros", empty.Count(), empty.Quantile(0.99), empty.Max())
	}
}
