package store

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestSpendBatcherGroups drives the grouping alone, with a run that takes
// a moment (so that queues form), fails every fifth group and panics in
// every seventh: every call ends with the result of the one group it was
// in, a group never names a session twice and stays within
// spendBatchMax, at most spendBatchSlots groups run at once, and every
// slot is given back.
func TestSpendBatcherGroups(t *testing.T) {
	var (
		b                 spendBatcher
		out, maxOut, runs atomic.Int32
		grouped           atomic.Int32
		okGroups, okCalls atomic.Int32
		mu                sync.Mutex
		ranIn             = map[*spendCall]int{}
		problems          []string
	)
	b.run = func(group []*spendCall) error {
		n := out.Add(1)
		defer out.Add(-1)
		for m := maxOut.Load(); n > m && !maxOut.CompareAndSwap(m, n); m = maxOut.Load() {
		}
		r := runs.Add(1)
		ids := make([]string, len(group))
		for i, c := range group {
			ids[i] = c.id
		}
		mu.Lock()
		if len(group) == 0 || len(group) > spendBatchMax || len(slices.Compact(slices.Clone(ids))) != len(ids) {
			problems = append(problems, fmt.Sprintf("group %v", ids))
		}
		for _, c := range group {
			ranIn[c]++
		}
		mu.Unlock()
		if len(group) > 1 {
			grouped.Add(1)
		}
		time.Sleep(200 * time.Microsecond)
		switch {
		case r%7 == 0:
			panic("driver bug")
		case r%5 == 0:
			return errors.New("lost connection")
		}
		okGroups.Add(1)
		okCalls.Add(int32(len(group)))
		for _, c := range group {
			c.won = c.from%2 == 0
		}
		return nil
	}
	const workers, each, sessions = 64, 40, 30
	var wg sync.WaitGroup
	calls := make([][]*spendCall, workers)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				c := &spendCall{id: fmt.Sprintf("s%02d", (w*7+i)%sessions), from: int64(i)}
				b.spend(c)
				calls[w] = append(calls[w], c)
			}
		}()
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(time.Minute):
		t.Fatal("calls still waiting after a minute: a slot or a wake-up was lost")
	}
	if len(problems) > 0 {
		t.Fatalf("bad groups: %s", strings.Join(problems, "; "))
	}
	if m := maxOut.Load(); m > spendBatchSlots {
		t.Fatalf("%d groups ran at once, want at most %d", m, spendBatchSlots)
	}
	if grouped.Load() == 0 {
		t.Fatal("no group held more than one call")
	}
	var alone int
	for _, cs := range calls {
		for _, c := range cs {
			if !c.finished || ranIn[c] != 1 {
				t.Fatalf("call %s/%d: finished %v, ran in %d groups", c.id, c.from, c.finished, ranIn[c])
			}
			switch {
			case errors.Is(c.err, errSpendAlone):
				alone++
				if c.won {
					t.Fatalf("call %s/%d of a failed group won", c.id, c.from)
				}
			case c.err != nil || c.won != (c.from%2 == 0):
				t.Fatalf("call %s/%d: won %v, err %v", c.id, c.from, c.won, c.err)
			}
		}
	}
	if alone == 0 {
		t.Fatal("no call saw its group fail")
	}
	if b.running != 0 || len(b.queue) != 0 {
		t.Fatalf("after the calls: %d slots taken, %d calls queued", b.running, len(b.queue))
	}
	if g, c := b.groups.Load(), b.calls.Load(); g != uint64(okGroups.Load()) || c != uint64(okCalls.Load()) || c+uint64(alone) != workers*each {
		t.Fatalf("counted %d groups and %d calls, want the %d groups and %d calls that ran without error", g, c, okGroups.Load(), okCalls.Load())
	}
}
