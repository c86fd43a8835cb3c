package main

import (
	"math"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"
)

func TestHistogramExactBelow256us(t *testing.T) {
	var h histogram
	for v := 1; v <= 100; v++ {
		h.record(time.Duration(v) * time.Microsecond)
	}
	for p, want := range map[float64]int{50: 50, 95: 95, 99: 99, 100: 100, 0: 1, 1: 1, 99.5: 100} {
		if got := h.percentile(p); got != time.Duration(want)*time.Microsecond {
			t.Errorf("p%v = %v, want %dµs", p, got, want)
		}
	}
	if h.maxDuration() != 100*time.Microsecond || h.mean() != 50*time.Microsecond {
		t.Errorf("max %v, mean %v", h.maxDuration(), h.mean())
	}
}

func TestHistogramEmpty(t *testing.T) {
	var h histogram
	if h.percentile(99) != 0 || h.maxDuration() != 0 || h.mean() != 0 {
		t.Error("an empty histogram reports non-zero values")
	}
}

// Against exact percentiles of a wide random sample, the error stays under
// 1/128 of the value.
func TestHistogramRelativeError(t *testing.T) {
	var h histogram
	rng := rand.New(rand.NewPCG(1, 2))
	vals := make([]time.Duration, 50000)
	for i := range vals {
		// log-uniform from 1µs to about 30s
		v := time.Duration(float64(time.Microsecond) * math.Exp2(rng.Float64()*25))
		vals[i] = v.Truncate(time.Microsecond)
		h.record(vals[i])
	}
	slices.Sort(vals)
	for _, p := range []float64{50, 90, 95, 99, 99.9} {
		exact := vals[int(p/100*float64(len(vals)))-1]
		got := h.percentile(p)
		if got < exact || float64(got-exact) > float64(exact)/128+float64(time.Microsecond) {
			t.Errorf("p%v = %v, exact %v: outside 1/128", p, got, exact)
		}
	}
	if h.maxDuration() != vals[len(vals)-1] {
		t.Errorf("max = %v, want %v", h.maxDuration(), vals[len(vals)-1])
	}
	if h.percentile(100) != h.maxDuration() {
		t.Errorf("p100 = %v, want the max %v", h.percentile(100), h.maxDuration())
	}
}

func TestHistogramBuckets(t *testing.T) {
	prev := -1
	for v := uint64(0); v < 1<<20; v += 7 {
		b := bucketOf(v)
		if b < prev {
			t.Fatalf("bucketOf not monotonic at %d", v)
		}
		prev = b
		if hi := bucketHigh(b); v > hi || (b > 0 && v <= bucketHigh(b-1)) {
			t.Fatalf("value %d outside its bucket %d (high %d)", v, b, hi)
		}
	}
	if b := bucketOf(1 << 62); b != histBuckets-1 {
		t.Errorf("a huge value lands in bucket %d, want the last (%d)", b, histBuckets-1)
	}
}

func TestHistogramConcurrent(t *testing.T) {
	var h histogram
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for v := range 1000 {
				h.record(time.Duration(v) * time.Millisecond)
			}
		})
	}
	wg.Wait()
	if n := h.n.Load(); n != 8000 {
		t.Errorf("count = %d, want 8000", n)
	}
	if h.maxDuration() != 999*time.Millisecond {
		t.Errorf("max = %v", h.maxDuration())
	}
}
