package main

import (
	"testing"
	"time"
)

type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time { return c.t }

// Simulated time: a consumer that always waits for its slot gets exactly
// rate × seconds slots, whatever the number of callers.
func TestPacerCountsOverSimulatedTime(t *testing.T) {
	for _, rate := range []float64{1, 50, 1000} {
		clk := &fakeClock{t: time.Unix(1000, 0)}
		p := newPacer(rate, clk.now)
		end := clk.t.Add(5 * time.Second)
		n := 0
		for {
			w := p.reserve()
			if !clk.t.Add(w).Before(end) {
				break
			}
			clk.t = clk.t.Add(w)
			n++
		}
		if want := int(rate * 5); n != want {
			t.Errorf("rate %v: %d slots in 5s, want %d", rate, n, want)
		}
	}
}

// Many callers at one instant are spread out: no two share a slot.
func TestPacerSpreadsConcurrentCallers(t *testing.T) {
	clk := &fakeClock{t: time.Unix(1000, 0)}
	p := newPacer(100, clk.now)
	within := 0
	for range 1000 {
		if p.reserve() < time.Second {
			within++
		}
	}
	if within != 100 {
		t.Errorf("%d of 1000 simultaneous callers go within 1s at 100/s, want 100", within)
	}
}

// After a stall, missed slots are not made up: one request goes at once,
// the next waits a full interval.
func TestPacerNoCatchUpBurst(t *testing.T) {
	clk := &fakeClock{t: time.Unix(1000, 0)}
	p := newPacer(10, clk.now)
	p.reserve()
	clk.t = clk.t.Add(30 * time.Second) // nobody asked for 300 slots
	immediate := 0
	for range 50 {
		if p.reserve() == 0 {
			immediate++
		}
	}
	if immediate != 1 {
		t.Errorf("%d requests go at once after a stall, want 1", immediate)
	}
	if w := p.reserve(); w != 50*100*time.Millisecond {
		t.Errorf("52nd slot waits %v, want 5s", w)
	}
}
