package main

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// feedWait is the long-poll the follower asks for; its client waits a
// little longer.
const feedWait = 20 * time.Second

// feedFollower follows the revocation feed like a verifier does, but over
// several issuer replicas, as a verifier behind a load balancer would: it
// asks the first replica not marked down, marks one down for
// feedRetryAfter when a request to it fails, and resumes from its cursor
// on whichever answers (the replicas share the database, so a cursor
// means the same on each). It keeps when it first saw each hash.
type feedFollower struct {
	urls   []string // feed URLs, in order of preference
	client *http.Client
	now    func() time.Time

	mu        sync.Mutex
	salt      []byte
	seen      map[[16]byte]time.Time
	cursor    string
	switches  []feedSwitch
	downUntil []time.Time

	answers   []atomic.Int64 // per URL
	errors    atomic.Int64
	failovers atomic.Int64
	// resumed counts switches whose first answer from the other replica
	// continued from a cursor, rather than from the start.
	resumed atomic.Int64
	events  atomic.Int64
}

// feedRetryAfter is how long a replica whose request failed is passed
// over.
const feedRetryAfter = 3 * time.Second

// maxSwitches bounds the switches kept for the report.
const maxSwitches = 100

// feedSwitch is an answer from another replica than the previous answer.
type feedSwitch struct {
	AtMS  int64  `json:"at_unix_ms"`
	From  int    `json:"from"` // index in --feed-issuer
	To    int    `json:"to"`
	After string `json:"after"` // the cursor it resumed from
}

func newFeedFollower(issuers []string, now func() time.Time) *feedFollower {
	f := &feedFollower{client: &http.Client{Timeout: feedWait + 5*time.Second, Transport: &http.Transport{Proxy: nil}},
		now: now, seen: map[[16]byte]time.Time{}, answers: make([]atomic.Int64, len(issuers)), downUntil: make([]time.Time, len(issuers))}
	for _, u := range issuers {
		f.urls = append(f.urls, u+"/v1/revocations")
	}
	return f
}

// pick is the first replica not marked down, else the one that comes
// back first.
func (f *feedFollower) pick(now time.Time) int {
	best := 0
	for i, t := range f.downUntil {
		if !now.Before(t) {
			return i
		}
		if t.Before(f.downUntil[best]) {
			best = i
		}
	}
	return best
}

// feedPage is the feed's JSON.
type feedPage struct {
	Salt   string `json:"salt"`
	Cursor string `json:"cursor"`
	More   bool   `json:"more"`
	Events []struct {
		Hash string `json:"hash"`
	} `json:"events"`
}

// run follows the feed until ctx ends.
func (f *feedFollower) run(ctx context.Context) {
	last, backoff := -1, time.Duration(0)
	for ctx.Err() == nil {
		f.mu.Lock()
		cursor := f.cursor
		i := f.pick(f.now())
		f.mu.Unlock()
		q := url.Values{"wait": {strconv.Itoa(int(feedWait / time.Second))}}
		if cursor != "" {
			q.Set("after", cursor)
		}
		resp := send(ctx, f.client, http.MethodGet, f.urls[i]+"?"+q.Encode(), nil, nil)
		var p feedPage
		ok := resp.err == nil && resp.status == http.StatusOK && json.Unmarshal(resp.body, &p) == nil
		var salt []byte
		if ok {
			var err error
			salt, err = base64.RawURLEncoding.DecodeString(p.Salt)
			ok = err == nil && len(salt) > 0
		}
		if !ok {
			if ctx.Err() != nil {
				return
			}
			f.errors.Add(1)
			f.mu.Lock()
			f.downUntil[i] = f.now().Add(feedRetryAfter)
			f.mu.Unlock()
			backoff = min(max(2*backoff, 50*time.Millisecond), time.Second)
			if sleepCtx(ctx, backoff) != nil {
				return
			}
			continue
		}
		backoff = 0
		at := f.now()
		f.answers[i].Add(1)
		f.mu.Lock()
		if last >= 0 && i != last {
			f.failovers.Add(1)
			if cursor != "" && cursor != "0" {
				f.resumed.Add(1)
			}
			if len(f.switches) < maxSwitches {
				f.switches = append(f.switches, feedSwitch{AtMS: at.UnixMilli(), From: last, To: i, After: cursor})
			}
		}
		last = i
		f.salt = salt
		for _, e := range p.Events {
			b, err := base64.RawURLEncoding.DecodeString(e.Hash)
			if err != nil || len(b) != 16 {
				continue
			}
			if _, dup := f.seen[[16]byte(b)]; !dup {
				f.seen[[16]byte(b)] = at
			}
		}
		f.cursor = p.Cursor
		f.mu.Unlock()
		f.events.Add(int64(len(p.Events)))
	}
}

// seenAt returns when the follower first saw the session id; false when
// it has not.
func (f *feedFollower) seenAt(sid string) (time.Time, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.salt == nil {
		return time.Time{}, false
	}
	sum := sha256.Sum256(append(append([]byte{}, f.salt...), sid...))
	t, ok := f.seen[[16]byte(sum[:16])]
	return t, ok
}
