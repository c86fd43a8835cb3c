package issuer

import (
	"fmt"
	"sync"
	"testing"
	"time"
)

func TestLimiterKeepsAtMostMaxKeys(t *testing.T) {
	l := newLimiter(RateLimit{Burst: 1, Per: time.Hour}, RateLimit{})
	l.max = 3
	now := time.Unix(1_700_000_000, 0)
	for _, k := range []string{"a", "b", "c"} {
		if l.take(k, now) != 0 {
			t.Fatalf("%s refused on its first request", k)
		}
	}
	// a is used again (refused: its one token is spent), so b is now the
	// key used longest ago and the one a new key pushes out.
	if l.take("a", now) == 0 {
		t.Fatal("a's second request passed")
	}
	l.take("d", now)
	if _, ok := l.byKey["b"]; ok || len(l.byKey) != 3 || l.order.Len() != 3 {
		t.Fatalf("keys after eviction: %v", l.byKey)
	}
	if l.take("a", now) == 0 || l.take("c", now) == 0 {
		t.Fatal("a recently used key lost its bucket")
	}
	// A flood of new keys never grows the set past its bound.
	for i := range 1000 {
		l.take(fmt.Sprint("flood", i), now)
		if len(l.byKey) > 3 || l.order.Len() > 3 {
			t.Fatalf("%d keys after %d new ones", len(l.byKey), i+1)
		}
	}
}

func TestLimiterReserveHoldsTokens(t *testing.T) {
	l := newLimiter(RateLimit{Burst: 30, Per: time.Minute}, RateLimit{})
	now := time.Unix(1_700_000_000, 0)
	var (
		mu    sync.Mutex
		held  []reservation
		waits int
		wg    sync.WaitGroup
	)
	for range 200 {
		wg.Go(func() {
			r, _, settled := l.reserve("k", now)
			mu.Lock()
			defer mu.Unlock()
			if settled != nil {
				waits++
				return
			}
			held = append(held, r)
		})
	}
	wg.Wait()
	if len(held) != 30 || waits != 170 {
		t.Fatalf("%d reservations granted, %d refused; want 30 and 170", len(held), waits)
	}
	// Given back, the tokens are there again; spent, they are gone.
	for _, r := range held[:10] {
		r.settle(false, now)
	}
	for _, r := range held[10:] {
		r.settle(true, now)
	}
	granted := 0
	for range 20 {
		if r, wait, settled := l.reserve("k", now); wait == 0 && settled == nil {
			granted++
			r.settle(true, now)
		}
	}
	if granted != 10 {
		t.Fatalf("%d granted after 10 refunds and 20 charges, want 10", granted)
	}
	// 2s later one token has come back (30 a minute).
	if _, wait, _ := l.reserve("k", now.Add(time.Second)); wait != time.Second {
		t.Fatalf("wait %v after 1s, want 1s", wait)
	}
	r, wait, _ := l.reserve("k", now.Add(2*time.Second))
	if wait != 0 {
		t.Fatalf("wait %v after 2s, want none", wait)
	}
	// While that token is held, a request is told to wait for it to
	// settle; given back, it is there again.
	_, wait, settled := l.reserve("k", now.Add(2*time.Second))
	if wait != 0 || settled == nil {
		t.Fatalf("with the last token held: wait %v, settled %v", wait, settled)
	}
	r.settle(false, now.Add(2*time.Second))
	<-settled
	if _, wait, settled := l.reserve("k", now.Add(2*time.Second)); wait != 0 || settled != nil {
		t.Fatalf("after the refund: wait %v, settled %v", wait, settled)
	}
}

func TestLimiterOff(t *testing.T) {
	l := newLimiter(RateLimit{Burst: -1}, RateLimit{Burst: 1, Per: time.Second})
	now := time.Unix(1_700_000_000, 0)
	for range 5 {
		if l.take("k", now) != 0 {
			t.Fatal("an off limiter refused")
		}
		if r, wait, settled := l.reserve("k", now); wait != 0 || settled != nil {
			t.Fatal("an off limiter refused a reservation")
		} else {
			r.settle(true, now)
		}
	}
}
