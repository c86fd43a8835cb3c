package main

import (
	"math/bits"
	"sync/atomic"
	"time"
)

// histogram records latencies in microseconds in fixed memory, with
// log-linear buckets in the manner of HdrHistogram: values below 256 µs are
// exact, larger ones fall in buckets 1/128 of their power of two wide, so a
// percentile is off by less than 1%. It is safe for concurrent use.
type histogram struct {
	counts [histBuckets]atomic.Uint64
	n      atomic.Uint64
	sum    atomic.Uint64 // µs
	max    atomic.Uint64 // µs
}

const (
	histSubBits   = 7
	histSub       = 1 << histSubBits // buckets per power of two
	histExact     = 2 * histSub      // values below this are their own bucket
	histMaxExp    = 30               // values up to 2^37 µs (about 38 h)
	histBuckets   = histExact + histMaxExp*histSub
	histMaxMicros = uint64(1)<<(histMaxExp+histSubBits+1) - 1
)

func bucketOf(v uint64) int {
	if v < histExact {
		return int(v)
	}
	v = min(v, histMaxMicros)
	e := bits.Len64(v) - (histSubBits + 1) // v>>e is in [histSub, 2*histSub)
	return histExact + (e-1)*histSub + int(v>>e) - histSub
}

// bucketHigh is the largest value that lands in bucket i.
func bucketHigh(i int) uint64 {
	if i < histExact {
		return uint64(i)
	}
	k := i - histExact
	e := k/histSub + 1
	sub := uint64(k%histSub + histSub)
	return (sub+1)<<e - 1
}

func (h *histogram) record(d time.Duration) {
	v := uint64(max(d.Microseconds(), 0))
	h.counts[bucketOf(v)].Add(1)
	h.n.Add(1)
	h.sum.Add(v)
	for {
		m := h.max.Load()
		if v <= m || h.max.CompareAndSwap(m, v) {
			break
		}
	}
}

// percentile returns the value at or below which p percent of the recorded
// values fall (the highest value of that bucket, capped at the maximum).
func (h *histogram) percentile(p float64) time.Duration {
	n := h.n.Load()
	if n == 0 {
		return 0
	}
	rank := uint64(p / 100 * float64(n))
	if float64(rank) < p/100*float64(n) {
		rank++
	}
	rank = min(max(rank, 1), n)
	var cum uint64
	for i := range h.counts {
		cum += h.counts[i].Load()
		if cum >= rank {
			return time.Duration(min(bucketHigh(i), h.max.Load())) * time.Microsecond
		}
	}
	return h.maxDuration()
}

func (h *histogram) maxDuration() time.Duration {
	return time.Duration(h.max.Load()) * time.Microsecond
}

func (h *histogram) mean() time.Duration {
	n := h.n.Load()
	if n == 0 {
		return 0
	}
	return time.Duration(h.sum.Load()/n) * time.Microsecond
}
