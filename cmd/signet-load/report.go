package main

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

// report is the result of a run; its JSON form is what scripts read.
type report struct {
	Mode           string   `json:"mode"` // "rate" or "concurrency"
	TargetRate     float64  `json:"target_rate,omitempty"`
	Concurrency    int      `json:"concurrency"`
	Issuers        []string `json:"issuers"`
	APIs           []string `json:"apis"`
	Mix            string   `json:"mix"`
	Interrupted    bool     `json:"interrupted"`
	ElapsedSeconds float64  `json:"elapsed_seconds"` // after the warm-up
	WarmupSeconds  float64  `json:"warmup_seconds"`
	Requests       int64    `json:"requests"`
	OK             int64    `json:"ok"`
	Failed         int64    `json:"failed"`
	FailedRatio    float64  `json:"failed_ratio"`
	MaxFailed      float64  `json:"max_failed"` // -1: no limit
	PerSecond      float64  `json:"per_second"`

	Operations     map[string]opReport `json:"operations"`
	FailuresByKind map[string]int64    `json:"failures_by_kind"`

	// Access tokens a resource server refused: "expired" can happen in a
	// healthy system, anything else means a token the issuer just handed
	// out did not verify.
	VerificationFailuresExpired int64            `json:"verification_failures_expired"`
	VerificationFailuresOther   int64            `json:"verification_failures_other"`
	VerificationFailuresByKind  map[string]int64 `json:"verification_failures_by_kind"`
	IdentityMismatches          int64            `json:"identity_mismatches"`

	AccountsCreated int64 `json:"accounts_created"`
	SessionsStarted int64 `json:"sessions_started"`
	Refreshes       int64 `json:"refreshes"`
	JWKSFull        int64 `json:"jwks_full"`
	JWKSNotModified int64 `json:"jwks_not_modified"`

	Rotations *rotationReport `json:"rotations,omitempty"`
	// Signouts is the sign-out reach (--signouts).
	Signouts *reachReport `json:"signouts,omitempty"`

	Violations []string `json:"threshold_violations"`
	Passed     bool     `json:"passed"`
}

type opReport struct {
	Requests  int64            `json:"requests"`
	OK        int64            `json:"ok"`
	Failed    int64            `json:"failed"`
	PerSecond float64          `json:"per_second"`
	ErrorRate float64          `json:"error_rate"`
	LatencyMS latencyReport    `json:"latency_ms"`
	Failures  map[string]int64 `json:"failures"`
}

type latencyReport struct {
	P50  float64 `json:"p50"`
	P95  float64 `json:"p95"`
	P99  float64 `json:"p99"`
	Max  float64 `json:"max"`
	Mean float64 `json:"mean"`
}

// reachReport is the sign-out reach: for each sign-out, the time from its
// 204 to the first 401 (kind revoked) at each target.
type reachReport struct {
	Requested  int   `json:"requested"`
	SignedOut  int64 `json:"signed_out"`
	Measured   int64 `json:"measured"`
	NotReached int64 `json:"not_reached"` // a target still accepted the token at the timeout
	WrongKind  int64 `json:"wrong_kind"`  // a target refused it for another reason
	// Failures are cycles given up before the sign-out (sign-in, token,
	// first call or sign-out failed): not counted as sign-outs.
	Failures       map[string]int64         `json:"failures"`
	TimeoutSeconds float64                  `json:"reach_timeout_seconds"`
	ReachMS        map[string]latencyReport `json:"reach_ms"`          // per target
	SlowestMS      latencyReport            `json:"slowest_target_ms"` // the last target, per sign-out
	Feed           *feedReport              `json:"feed,omitempty"`
}

// feedReport is what the tool's own feed follower saw (--feed-issuer).
type feedReport struct {
	Issuers []string `json:"issuers"`
	Answers []int64  `json:"answers"` // per issuer
	Errors  int64    `json:"errors"`
	// Failovers counts answers from another issuer than the previous
	// answer; ResumedWithCursor those that continued from the cursor.
	Failovers         int64         `json:"failovers"`
	Switches          []feedSwitch  `json:"switches"`
	ResumedWithCursor int64         `json:"resumed_with_cursor"`
	Events            int64         `json:"events"`
	Missed            int64         `json:"missed"` // sign-outs the feed never served
	ReachMS           latencyReport `json:"reach_ms"`
}

func latencyOf(h *histogram) latencyReport {
	return latencyReport{P50: ms(h.percentile(50)), P95: ms(h.percentile(95)), P99: ms(h.percentile(99)), Max: ms(h.maxDuration()), Mean: ms(h.mean())}
}

func (r *runner) reachReport() *reachReport {
	rs := r.reach
	rep := &reachReport{Requested: r.cfg.signouts, SignedOut: rs.signedOut.Load(), Measured: rs.measured.Load(),
		NotReached: rs.notReached.Load(), WrongKind: rs.wrongKind.Load(), Failures: rs.failures.snapshot(),
		TimeoutSeconds: r.cfg.reachTimeout.Seconds(), ReachMS: map[string]latencyReport{}, SlowestMS: latencyOf(&rs.slowest)}
	for i, t := range r.cfg.targets {
		rep.ReachMS[t.String()] = latencyOf(&rs.perTarget[i])
	}
	if f := r.feed; f != nil {
		fr := &feedReport{Issuers: r.cfg.feedIssuers, Errors: f.errors.Load(), Failovers: f.failovers.Load(),
			ResumedWithCursor: f.resumed.Load(), Events: f.events.Load(), Missed: r.feedMiss, ReachMS: latencyOf(r.feedReach)}
		for i := range f.answers {
			fr.Answers = append(fr.Answers, f.answers[i].Load())
		}
		f.mu.Lock()
		fr.Switches = append([]feedSwitch{}, f.switches...)
		f.mu.Unlock()
		rep.Feed = fr
	}
	return rep
}

type rotationReport struct {
	OK        int64  `json:"ok"`
	Failed    int64  `json:"failed"`
	LastError string `json:"last_error,omitempty"`
}

func targetNames(ts []target) []string {
	out := make([]string, len(ts))
	for i, t := range ts {
		out[i] = t.String()
	}
	return out
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func (r *runner) buildReport(elapsed time.Duration, interrupted bool) *report {
	s := r.stats
	secs := max(elapsed.Seconds(), 1e-9)
	rep := &report{
		Mode:                        "concurrency",
		TargetRate:                  r.cfg.rate,
		Concurrency:                 r.cfg.concurrency,
		Issuers:                     r.cfg.issuers,
		APIs:                        targetNames(r.cfg.targets),
		Mix:                         r.cfg.mix.String(),
		Interrupted:                 interrupted,
		ElapsedSeconds:              elapsed.Seconds(),
		WarmupSeconds:               r.cfg.warmup.Seconds(),
		Requests:                    s.requests.Load(),
		Failed:                      s.failed.Load(),
		Operations:                  make(map[string]opReport),
		FailuresByKind:              s.failures.snapshot(),
		VerificationFailuresExpired: s.verifyExpired.Load(),
		VerificationFailuresOther:   s.verifyOther.Load(),
		VerificationFailuresByKind:  s.verifyKinds.snapshot(),
		IdentityMismatches:          s.identityMismatches.Load(),
		AccountsCreated:             s.accountsCreated.Load(),
		SessionsStarted:             s.sessionsStarted.Load(),
		Refreshes:                   s.refreshed.Load(),
		JWKSFull:                    s.jwksFull.Load(),
		JWKSNotModified:             s.jwksNotModified.Load(),
		Violations:                  []string{},
	}
	if r.cfg.rate > 0 {
		rep.Mode = "rate"
	}
	if rep.APIs == nil {
		rep.APIs = []string{}
	}
	rep.PerSecond = float64(rep.Requests) / secs
	rep.OK = rep.Requests - rep.Failed
	if rep.Requests > 0 {
		rep.FailedRatio = float64(rep.Failed) / float64(rep.Requests)
	}
	rep.MaxFailed = r.cfg.maxFailed
	for i := range s.ops {
		st := &s.ops[i]
		n, failed := st.requests.Load(), st.failed.Load()
		or := opReport{
			Requests:  n,
			OK:        n - failed,
			Failed:    failed,
			PerSecond: float64(n) / secs,
			Failures:  st.failures.snapshot(),
			LatencyMS: latencyReport{
				P50:  ms(st.latency.percentile(50)),
				P95:  ms(st.latency.percentile(95)),
				P99:  ms(st.latency.percentile(99)),
				Max:  ms(st.latency.maxDuration()),
				Mean: ms(st.latency.mean()),
			},
		}
		if n > 0 {
			or.ErrorRate = float64(failed) / float64(n)
		}
		rep.Operations[opNames[i]] = or
	}
	if r.cfg.rotateEvery > 0 {
		s.rotationMu.Lock()
		rep.Rotations = &rotationReport{OK: s.rotationsOK.Load(), Failed: s.rotationsFailed.Load(), LastError: s.rotationLastErr}
		s.rotationMu.Unlock()
	}
	if r.reach != nil {
		rep.Signouts = r.reachReport()
	}
	rep.Violations = r.cfg.violations(rep)
	rep.Passed = len(rep.Violations) == 0
	return rep
}

// violations lists the thresholds the report breaks.
func (cfg config) violations(rep *report) []string {
	v := []string{}
	if cfg.maxFailed >= 0 && rep.FailedRatio > cfg.maxFailed {
		v = append(v, fmt.Sprintf("%d of %d requests failed (%s > --max-failed %s)", rep.Failed, rep.Requests, percent(rep.FailedRatio), percent(cfg.maxFailed)))
	}
	if rep.Requests == 0 {
		v = append(v, "no request completed")
	}
	if cfg.failOnVerify {
		if rep.VerificationFailuresOther > 0 {
			v = append(v, fmt.Sprintf("verification_failures_other=%d", rep.VerificationFailuresOther))
		}
		if rep.IdentityMismatches > 0 {
			v = append(v, fmt.Sprintf("identity_mismatches=%d", rep.IdentityMismatches))
		}
	}
	if so := rep.Signouts; so != nil {
		if so.Measured == 0 {
			v = append(v, "no sign-out was measured")
		}
		if so.NotReached > 0 {
			v = append(v, fmt.Sprintf("%d sign-outs did not reach every target within %gs", so.NotReached, so.TimeoutSeconds))
		}
		if so.WrongKind > 0 {
			v = append(v, fmt.Sprintf("%d signed-out tokens were refused for another reason than revocation", so.WrongKind))
		}
		if so.Feed != nil && so.Feed.Missed > 0 {
			v = append(v, fmt.Sprintf("the revocation feed never served %d sign-outs", so.Feed.Missed))
		}
	}
	if cfg.maxErrorRate >= 0 {
		for _, name := range opNames {
			if o := rep.Operations[name]; o.Requests > 0 && o.ErrorRate > cfg.maxErrorRate {
				v = append(v, fmt.Sprintf("%s error rate %.4f > %g", name, o.ErrorRate, cfg.maxErrorRate))
			}
		}
	}
	return v
}

func sortedNames[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// percent formats a ratio as a percentage, keeping small ones visible.
func percent(r float64) string {
	return strconv.FormatFloat(r*100, 'g', 3, 64) + "%"
}

func (rep *report) writeJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(rep)
}

func (rep *report) writeText(w io.Writer) error {
	var b strings.Builder
	mode := fmt.Sprintf("concurrency %d", rep.Concurrency)
	if rep.Mode == "rate" {
		mode = fmt.Sprintf("rate %g/s over %d workers", rep.TargetRate, rep.Concurrency)
	}
	fmt.Fprintf(&b, "signet-load: %s, %.1fs, %d requests (%.1f/s), %d failed", mode, rep.ElapsedSeconds, rep.Requests, rep.PerSecond, rep.Failed)
	if rep.Interrupted {
		b.WriteString(", interrupted")
	}
	fmt.Fprintf(&b, "\nissuers: %s\n", strings.Join(rep.Issuers, " "))
	if len(rep.APIs) > 0 {
		fmt.Fprintf(&b, "apis:    %s\n", strings.Join(rep.APIs, " "))
	}
	fmt.Fprintf(&b, "mix:     %s\n\n", rep.Mix)

	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "operation\trequests\tok\tfailed\tper_s\tp50_ms\tp95_ms\tp99_ms\tmax_ms\t")
	for _, name := range opNames {
		o := rep.Operations[name]
		if o.Requests == 0 {
			continue
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%.1f\t%.2f\t%.2f\t%.2f\t%.2f\t\n",
			name, o.Requests, o.OK, o.Failed, o.PerSecond, o.LatencyMS.P50, o.LatencyMS.P95, o.LatencyMS.P99, o.LatencyMS.Max)
	}
	tw.Flush()

	if rep.Failed > 0 {
		b.WriteString("\nfailures:\n")
		for _, name := range opNames {
			f := rep.Operations[name].Failures
			for _, k := range sortedKinds(f) {
				fmt.Fprintf(&b, "  %-8s %-40s %d\n", name, k, f[k])
			}
		}
	}
	fmt.Fprintf(&b, "\naccess tokens refused by resource servers: expired %d, other %d",
		rep.VerificationFailuresExpired, rep.VerificationFailuresOther)
	if len(rep.VerificationFailuresByKind) > 0 {
		b.WriteString(topKinds(rep.VerificationFailuresByKind, len(rep.VerificationFailuresByKind)))
	}
	fmt.Fprintf(&b, "\nidentity mismatches: %d\n", rep.IdentityMismatches)
	fmt.Fprintf(&b, "accounts created %d, sessions started %d, refreshes %d, jwks 200 %d / 304 %d\n",
		rep.AccountsCreated, rep.SessionsStarted, rep.Refreshes, rep.JWKSFull, rep.JWKSNotModified)
	if rep.Rotations != nil {
		fmt.Fprintf(&b, "key rotations: %d ok, %d failed", rep.Rotations.OK, rep.Rotations.Failed)
		if rep.Rotations.LastError != "" {
			fmt.Fprintf(&b, " (last: %s)", rep.Rotations.LastError)
		}
		b.WriteString("\n")
	}
	if so := rep.Signouts; so != nil {
		fmt.Fprintf(&b, "sign-outs: %d of %d measured, %d signed out, %d not reached in %gs, %d refused otherwise\n",
			so.Measured, so.Requested, so.SignedOut, so.NotReached, so.TimeoutSeconds, so.WrongKind)
		for _, name := range sortedNames(so.ReachMS) {
			l := so.ReachMS[name]
			fmt.Fprintf(&b, "  reach %s: p50 %.1f ms, p99 %.1f ms, max %.1f ms\n", name, l.P50, l.P99, l.Max)
		}
		fmt.Fprintf(&b, "  reach, slowest target: p50 %.1f ms, p99 %.1f ms, max %.1f ms\n", so.SlowestMS.P50, so.SlowestMS.P99, so.SlowestMS.Max)
		if f := so.Feed; f != nil {
			fmt.Fprintf(&b, "  feed follower: answers %v from %v, %d errors, %d failovers (%d resumed from the cursor), %d missed; reach p50 %.1f ms, p99 %.1f ms\n",
				f.Answers, f.Issuers, f.Errors, f.Failovers, f.ResumedWithCursor, f.Missed, f.ReachMS.P50, f.ReachMS.P99)
		}
		if len(so.Failures) > 0 {
			fmt.Fprintf(&b, "  cycles given up before the sign-out:%s\n", topKinds(so.Failures, len(so.Failures)))
		}
	}
	fmt.Fprintf(&b, "outcomes: %d ok, %d failed (%s", rep.OK, rep.Failed, percent(rep.FailedRatio))
	if rep.MaxFailed >= 0 {
		fmt.Fprintf(&b, ", limit %s", percent(rep.MaxFailed))
	}
	b.WriteString(")\n")
	if rep.Passed {
		b.WriteString("result: pass\n")
	} else {
		fmt.Fprintf(&b, "result: FAIL (%s)\n", strings.Join(rep.Violations, "; "))
	}
	_, err := io.WriteString(w, b.String())
	return err
}
