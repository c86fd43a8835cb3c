package main

import (
	"context"
	"sync"
	"time"
)

// pacer is a token bucket of depth one shared by every worker: each request
// takes the next slot, slots are 1/rate apart, and slots that pass while
// nobody is waiting are dropped, so a stall (a slow server, a paused
// process) is never followed by a catch-up burst.
type pacer struct {
	mu       sync.Mutex
	interval time.Duration
	next     time.Time
	now      func() time.Time
}

func newPacer(rate float64, now func() time.Time) *pacer {
	iv := time.Duration(float64(time.Second) / rate)
	return &pacer{interval: max(iv, 1), now: now}
}

// reserve takes the next slot and returns how long to wait for it.
func (p *pacer) reserve() time.Duration {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := p.now()
	if p.next.Before(now) {
		p.next = now
	}
	wait := p.next.Sub(now)
	p.next = p.next.Add(p.interval)
	return wait
}

// wait blocks until the caller's slot comes or ctx ends.
func (p *pacer) wait(ctx context.Context) error {
	return sleepCtx(ctx, p.reserve())
}

// sleepCtx sleeps for d or until ctx ends, and reports ctx's error.
func sleepCtx(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
