package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Sign-out reach: drivers, beside the load workers, each with an account
// of its own, repeat a cycle: sign in, get an access token per target,
// check that every target accepts its token, sign out (POST /v1/signout,
// 204), then call every target with its token until it answers 401, and
// time that from the 204. The time is how long a sign-out takes to reach
// each resource server through the revocation feed.

// reachPolls is how often a target is asked again, by time since the
// sign-out: often at first, where most sign-outs land, less later.
func reachPoll(since time.Duration) time.Duration {
	switch {
	case since < 200*time.Millisecond:
		return 2 * time.Millisecond
	case since < 2*time.Second:
		return 10 * time.Millisecond
	}
	return 50 * time.Millisecond
}

// reachStats is the record of the sign-outs.
type reachStats struct {
	started    atomic.Int64 // cycles that took a slot of --signouts
	signedOut  atomic.Int64 // 204s
	measured   atomic.Int64 // sign-outs every target refused in time
	notReached atomic.Int64 // a target still accepted the token at --reach-timeout
	wrongKind  atomic.Int64 // a target's first refusal was not 401 revoked
	failures   kindCounts   // cycles given up before the sign-out, by step and kind
	perTarget  []histogram  // by target index
	slowest    histogram    // the last target reached, per sign-out

	mu  sync.Mutex
	out []signedOut // for the feed check at the end
	log *accountLog // --signouts-out
}

type signedOut struct {
	sid string
	at  time.Time
}

// reachDriver is one driver: its account and client.
type reachDriver struct {
	r     *runner
	id    int
	email string
}

func (r *runner) runReach(stop, reqCtx context.Context) {
	var wg sync.WaitGroup
	for i := range r.cfg.signoutWorkers {
		d := &reachDriver{r: r, id: i, email: fmt.Sprintf("%s-signout%d@load.example", r.runID, i)}
		wg.Go(func() { d.run(stop, reqCtx) })
	}
	wg.Wait()
}

func (d *reachDriver) run(stop, reqCtx context.Context) {
	rs := d.r.reach
	// The driver's account; a failure here is retried, bounded by stop.
	for stop.Err() == nil {
		resp := send(reqCtx, d.r.client, http.MethodPost, d.r.issuer()+"/v1/signup", map[string]string{"email": d.email, "password": d.r.password}, nil)
		if resp.err == nil && (resp.status == http.StatusCreated || resp.status == http.StatusConflict) {
			break
		}
		rs.failures.add("signup " + failureOf(resp, http.StatusCreated))
		if sleepCtx(stop, 200*time.Millisecond) != nil {
			return
		}
	}
	for stop.Err() == nil {
		if rs.started.Add(1) > int64(d.r.cfg.signouts) {
			return
		}
		if step, failure := d.cycle(reqCtx); failure != "" {
			rs.started.Add(-1) // not a sign-out: the slot goes back
			rs.failures.add(step + " " + failure)
			if sleepCtx(stop, 100*time.Millisecond) != nil {
				return
			}
		}
		if rs.measured.Load()+rs.notReached.Load()+rs.wrongKind.Load() >= int64(d.r.cfg.signouts) {
			d.r.stopEarly()
		}
	}
}

// cycle signs a session in and out and times the reach; it returns the
// step and failure that stopped it before the sign-out, if any.
func (d *reachDriver) cycle(ctx context.Context) (step, failure string) {
	r := d.r
	iss := r.issuer()
	// The default resource's token signs out; each target gets its own.
	resp := send(ctx, r.client, http.MethodPost, iss+"/v1/signin", map[string]string{"email": d.email, "password": r.password}, nil)
	failure, tok := tokenFailure(resp)
	if failure != "" {
		return "signin", failure
	}
	signOutToken, refresh := tok.AccessToken, tok.RefreshToken
	byKey := map[string]string{" ": tok.AccessToken}
	tokens := make([]string, len(r.cfg.targets))
	for i, t := range r.cfg.targets {
		if byKey[t.key()] == "" {
			resp := send(ctx, r.client, http.MethodPost, iss+"/v1/token/refresh", tokenRequest(map[string]string{"refresh_token": refresh}, t), nil)
			if failure, tok = tokenFailure(resp); failure != "" {
				return "refresh", failure
			}
			byKey[t.key()], refresh = tok.AccessToken, tok.RefreshToken
		}
		tokens[i] = byKey[t.key()]
	}
	for i, t := range r.cfg.targets {
		resp := send(ctx, r.client, http.MethodGet, t.url(), nil, http.Header{"Authorization": {"Bearer " + tokens[i]}})
		if failure := failureOf(resp, http.StatusOK); failure != "" {
			return "accept", failure
		}
	}
	sid := sessionID(signOutToken)
	resp = send(ctx, r.client, http.MethodPost, iss+"/v1/signout", nil, http.Header{"Authorization": {"Bearer " + signOutToken}})
	if failure := failureOf(resp, http.StatusNoContent); failure != "" {
		return "signout", failure
	}
	at := r.now()
	rs := r.reach
	rs.signedOut.Add(1)
	rs.mu.Lock()
	rs.out = append(rs.out, signedOut{sid: sid, at: at})
	rs.mu.Unlock()

	var wg sync.WaitGroup
	reached := make([]time.Duration, len(r.cfg.targets))
	kinds := make([]string, len(r.cfg.targets))
	for i, t := range r.cfg.targets {
		wg.Go(func() { reached[i], kinds[i] = d.untilRefused(ctx, t, tokens[i], at) })
	}
	wg.Wait()
	var slowest time.Duration
	outcome := "reached"
	for i, k := range kinds {
		slowest = max(slowest, reached[i])
		switch {
		case k == "revoked":
			rs.perTarget[i].record(reached[i])
		case k == "" && outcome == "reached":
			outcome = "not_reached"
		case k != "" && outcome == "reached":
			outcome = "refused:" + strings.ReplaceAll(k, " ", "_")
		}
	}
	rs.log.add(fmt.Sprintf("%d %s %.1f", at.UnixMilli(), outcome, float64(slowest.Microseconds())/1000))
	switch {
	case outcome == "reached":
		rs.slowest.record(slowest)
		rs.measured.Add(1)
	case outcome == "not_reached":
		rs.notReached.Add(1)
	default:
		rs.wrongKind.Add(1)
		rs.failures.add(outcome)
	}
	return "", ""
}

// untilRefused calls the target with the token until it answers other
// than 200, up to --reach-timeout after the sign-out at `at`; it returns
// the time from `at` and the refusal's kind ("revoked" for 401 revoked,
// "" when it never refused).
func (d *reachDriver) untilRefused(ctx context.Context, t target, token string, at time.Time) (time.Duration, string) {
	r := d.r
	h := http.Header{"Authorization": {"Bearer " + token}}
	for {
		resp := send(ctx, r.client, http.MethodGet, t.url(), nil, h)
		since := r.now().Sub(at)
		switch {
		case resp.err == nil && resp.status == http.StatusUnauthorized:
			k := parseError(resp.body).Kind
			if k == "" {
				k = "401"
			}
			return since, k
		case resp.err == nil && resp.status != http.StatusOK:
			return since, failureOf(resp, http.StatusOK)
		}
		if since >= r.cfg.reachTimeout || sleepCtx(ctx, reachPoll(since)) != nil {
			return since, ""
		}
	}
}

// sessionID reads the sid claim of an access token, unverified: the
// tool's own token, read only to find its session in the feed.
func sessionID(token string) string {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return ""
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return ""
	}
	var c struct {
		SID string `json:"sid"`
	}
	_ = json.Unmarshal(b, &c)
	return c.SID
}

// feedCheck waits, up to --reach-timeout, until the follower has seen
// every session signed out, and returns the time each took to reach it
// and how many it never saw.
func (r *runner) feedCheck(f *feedFollower) (reach *histogram, missed int64) {
	r.reach.mu.Lock()
	out := append([]signedOut(nil), r.reach.out...)
	r.reach.mu.Unlock()
	deadline := r.now().Add(r.cfg.reachTimeout)
	reach = &histogram{}
	for _, s := range out {
		for {
			if seen, ok := f.seenAt(s.sid); ok {
				reach.record(max(seen.Sub(s.at), 0))
				break
			}
			if !r.now().Before(deadline) {
				missed++
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	return reach, missed
}
