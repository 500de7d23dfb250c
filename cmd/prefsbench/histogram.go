package main

import (
	"math"
	"math/bits"
)

// The histogram's layout. Values below subCount nanoseconds have a bucket
// each; above that, every power of two is split into subCount buckets of
// equal width, so a bucket is never wider than 1/subCount of its lower
// bound. Reporting a bucket's midpoint is therefore within 1/(2*subCount),
// about 0.4%, of any value recorded in it.
const (
	histSubBits  = 7
	histSubCount = 1 << histSubBits
	// histMaxExp bounds the recorded range to 2^histMaxExp nanoseconds
	// (about 68 seconds); longer values land in the last bucket, while
	// the exact maximum is still kept.
	histMaxExp  = 36
	histBuckets = (histMaxExp - histSubBits + 1) * histSubCount
)

// Histogram is a log-linear histogram of nanosecond durations with bounded
// memory and a relative error below 0.5%. It is not safe for concurrent
// use; each goroutine keeps its own, and the owner merges them.
type Histogram struct {
	counts []uint64
	total  uint64
	sum    float64
	min    int64
	max    int64
}

// NewHistogram returns an empty histogram.
func NewHistogram() *Histogram {
	return &Histogram{counts: make([]uint64, histBuckets)}
}

// bucketOf returns the index of the bucket holding v.
func bucketOf(v int64) int {
	if v < histSubCount {
		return int(v)
	}
	e := bits.Len64(uint64(v)) - 1
	if e >= histMaxExp {
		return histBuckets - 1
	}
	shift := e - histSubBits
	return (shift+1)*histSubCount + int(v>>shift) - histSubCount
}

// bucketBounds returns the smallest value a bucket holds and the smallest
// value of the next bucket.
func bucketBounds(i int) (lo, hi int64) {
	if i < histSubCount {
		return int64(i), int64(i) + 1
	}
	group, sub := i/histSubCount, i%histSubCount
	shift := group - 1
	lo = int64(histSubCount+sub) << shift
	return lo, lo + 1<<shift
}

// Record adds one value in nanoseconds; negative values count as zero.
func (h *Histogram) Record(v int64) {
	if v < 0 {
		v = 0
	}
	h.counts[bucketOf(v)]++
	if h.total == 0 || v < h.min {
		h.min = v
	}
	if v > h.max {
		h.max = v
	}
	h.total++
	h.sum += float64(v)
}

// Merge adds every value recorded in o to h.
func (h *Histogram) Merge(o *Histogram) {
	if o.total == 0 {
		return
	}
	for i, c := range o.counts {
		h.counts[i] += c
	}
	if h.total == 0 || o.min < h.min {
		h.min = o.min
	}
	if o.max > h.max {
		h.max = o.max
	}
	h.total += o.total
	h.sum += o.sum
}

// Sub removes from h the values of o, an earlier state of the same
// cumulative histogram, leaving the values recorded in between. The
// minimum and maximum of the result are bucket bounds rather than exact
// values.
func (h *Histogram) Sub(o *Histogram) {
	h.total -= o.total
	h.sum -= o.sum
	first, last := -1, -1
	for i := range h.counts {
		h.counts[i] -= o.counts[i]
		if h.counts[i] > 0 {
			if first < 0 {
				first = i
			}
			last = i
		}
	}
	if first < 0 {
		h.min, h.max, h.total, h.sum = 0, 0, 0, 0
		return
	}
	h.min, _ = bucketBounds(first)
	_, hi := bucketBounds(last)
	h.max = hi - 1
}

// Clone returns an independent copy of h.
func (h *Histogram) Clone() *Histogram {
	c := *h
	c.counts = append([]uint64(nil), h.counts...)
	return &c
}

// Count returns how many values were recorded.
func (h *Histogram) Count() uint64 { return h.total }

// Max returns the largest value recorded, 0 when there is none.
func (h *Histogram) Max() int64 { return h.max }

// Min returns the smallest value recorded, 0 when there is none.
func (h *Histogram) Min() int64 { return h.min }

// Mean returns the mean of the values recorded, 0 when there is none.
func (h *Histogram) Mean() float64 {
	if h.total == 0 {
		return 0
	}
	return h.sum / float64(h.total)
}

// Quantile returns an estimate of the q-quantile (0 <= q <= 1) of the
// values recorded: the midpoint of the bucket holding the value of rank
// ceil(q*count), kept within the recorded minimum and maximum. It returns
// 0 for an empty histogram.
func (h *Histogram) Quantile(q float64) int64 {
	if h.total == 0 {
		return 0
	}
	if q >= 1 {
		return h.max
	}
	rank := uint64(math.Ceil(q * float64(h.total)))
	if rank < 1 {
		rank = 1
	}
	var seen uint64
	for i, c := range h.counts {
		seen += c
		if seen < rank {
			continue
		}
		lo, hi := bucketBounds(i)
		return min(max(lo+(hi-lo)/2, h.min), h.max)
	}
	return h.max
}
