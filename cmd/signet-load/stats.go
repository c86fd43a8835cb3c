package main

import (
	"sync"
	"sync/atomic"
	"time"
)

// maxKinds bounds the number of distinct failure kinds kept per map, since
// error codes come from the servers under test.
const maxKinds = 64

// kindCounts counts by kind, safe for concurrent use.
type kindCounts struct {
	mu sync.Mutex
	m  map[string]int64
}

func (k *kindCounts) add(kind string) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.m == nil {
		k.m = make(map[string]int64)
	}
	if _, ok := k.m[kind]; !ok && len(k.m) >= maxKinds {
		kind = "other"
	}
	k.m[kind]++
}

func (k *kindCounts) snapshot() map[string]int64 {
	k.mu.Lock()
	defer k.mu.Unlock()
	out := make(map[string]int64, len(k.m))
	for kind, n := range k.m {
		out[kind] = n
	}
	return out
}

type opStats struct {
	requests atomic.Int64
	failed   atomic.Int64
	latency  histogram
	failures kindCounts
}

// stats is the run's shared record; every field is safe for concurrent use.
type stats struct {
	ops [numOps]opStats

	requests atomic.Int64 // completed requests, for the progress line
	failed   atomic.Int64
	failures kindCounts // every failure by kind, for the progress line

	verifyExpired      atomic.Int64
	verifyOther        atomic.Int64
	verifyKinds        kindCounts
	identityMismatches atomic.Int64

	accountsCreated atomic.Int64
	sessionsStarted atomic.Int64
	refreshed       atomic.Int64
	jwksFull        atomic.Int64
	jwksNotModified atomic.Int64

	rotationsOK     atomic.Int64
	rotationsFailed atomic.Int64
	rotationMu      sync.Mutex
	rotationLastErr string
}

// record counts one completed request of o; failure is "" on success.
func (s *stats) record(o op, latency time.Duration, failure string) {
	st := &s.ops[o]
	st.requests.Add(1)
	st.latency.record(latency)
	if failure != "" {
		st.failed.Add(1)
		st.failures.add(failure)
		s.failures.add(failure)
		s.failed.Add(1)
	}
	s.requests.Add(1)
}

// verifyFailed counts an access token a resource server rejected.
func (s *stats) verifyFailed(kind string) {
	if kind == "" {
		kind = "unknown"
	}
	if kind == "expired" {
		s.verifyExpired.Add(1)
	} else {
		s.verifyOther.Add(1)
	}
	s.verifyKinds.add(kind)
}

func (s *stats) rotation(output string, err error) {
	if err == nil {
		s.rotationsOK.Add(1)
		return
	}
	s.rotationsFailed.Add(1)
	s.rotationMu.Lock()
	defer s.rotationMu.Unlock()
	s.rotationLastErr = err.Error()
	if output != "" {
		s.rotationLastErr += ": " + output
	}
}
