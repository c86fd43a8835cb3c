package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// configError is a command line that parsed but cannot be used.
type configError struct{ err error }

func (e configError) Error() string { return e.err.Error() }
func (e configError) Unwrap() error { return e.err }

// errThresholds reports a run that broke --fail-on-verify-errors or
// --max-error-rate; the report has been printed.
var errThresholds = errors.New("thresholds not met")

// run is the whole program; main only wires the process to it.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cfg, err := parseArgs(args, stdout, stderr)
	switch {
	case errors.Is(err, errHelp):
		return nil
	case errors.Is(err, errUsage):
		return err
	case err != nil:
		return configError{err}
	}
	r, err := newRunner(cfg)
	if err != nil {
		return err
	}
	if cfg.followers > 0 {
		fr, err := r.runFollowers(ctx, stderr)
		if err != nil {
			return err
		}
		return fr.write(stdout, cfg.jsonOut)
	}
	rep := r.execute(ctx, stderr)
	if err := r.accounts.close(); err != nil {
		return fmt.Errorf("accounts-out: %w", err)
	}
	if r.reach != nil {
		if err := r.reach.log.close(); err != nil {
			return fmt.Errorf("signouts-out: %w", err)
		}
	}
	if cfg.jsonOut {
		err = rep.writeJSON(stdout)
	} else {
		err = rep.writeText(stdout)
	}
	if err != nil {
		return err
	}
	if len(rep.Violations) > 0 {
		return fmt.Errorf("%w: %s", errThresholds, strings.Join(rep.Violations, "; "))
	}
	return nil
}

// runner is the state shared by the workers of one run.
type runner struct {
	cfg      config
	client   *http.Client
	stats    *stats
	pacer    *pacer // nil without --rate
	accounts *accountLog
	now      func() time.Time
	runID    string // makes this run's emails unique
	password string
	seed     uint64

	sent        atomic.Int64 // requests started, against --requests
	measureFrom time.Time    // requests that end earlier are not recorded (--warmup)
	issuerRR    atomic.Uint64
	apiRR       atomic.Uint64
	stopEarly   context.CancelFunc

	reach     *reachStats   // with --signouts
	feed      *feedFollower // with --feed-issuer
	feedReach *histogram
	feedMiss  int64
}

func newRunner(cfg config) (*runner, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return nil, err
	}
	r := &runner{
		cfg:      cfg,
		client:   newHTTPClient(cfg),
		stats:    &stats{},
		now:      time.Now,
		runID:    "load-" + hex.EncodeToString(b[:4]),
		password: "pw-" + hex.EncodeToString(b[4:]),
		seed:     uint64(b[0])<<8 | uint64(b[1]),
	}
	if cfg.rate > 0 {
		r.pacer = newPacer(cfg.rate, r.now)
	}
	var err error
	if cfg.signouts > 0 {
		r.reach = &reachStats{perTarget: make([]histogram, len(cfg.targets))}
		if r.reach.log, err = openAccountLog(cfg.signoutsOut); err != nil {
			return nil, fmt.Errorf("signouts-out: %w", err)
		}
	}
	if len(cfg.feedIssuers) > 0 {
		r.feed = newFeedFollower(cfg.feedIssuers, r.now)
	}
	if r.accounts, err = openAccountLog(cfg.accountsOut); err != nil {
		return nil, fmt.Errorf("accounts-out: %w", err)
	}
	return r, nil
}

func (r *runner) issuer() string {
	return r.cfg.issuers[(r.issuerRR.Add(1)-1)%uint64(len(r.cfg.issuers))]
}

// target is the next resource server, round-robin.
func (r *runner) target() target {
	return r.cfg.targets[(r.apiRR.Add(1)-1)%uint64(len(r.cfg.targets))]
}

// takeRequest reserves one request of the --requests budget; when it is
// spent the run stops.
func (r *runner) takeRequest() bool {
	if r.cfg.requests == 0 {
		return true
	}
	if r.sent.Add(1) > r.cfg.requests {
		r.stopEarly()
		return false
	}
	return true
}

// execute runs the workers until the duration passes, the request budget
// is spent or ctx ends, with the progress line and key rotation beside them.
func (r *runner) execute(ctx context.Context, stderr io.Writer) *report {
	stop, cancel := context.WithTimeout(ctx, r.cfg.duration)
	defer cancel()
	r.stopEarly = cancel
	start := r.now()
	r.measureFrom = start.Add(r.cfg.warmup)

	var bg sync.WaitGroup
	bgCtx, bgCancel := context.WithCancel(ctx)
	if r.cfg.progress {
		bg.Go(func() { r.progress(bgCtx, stderr, start) })
	}
	if r.cfg.rotateEvery > 0 {
		bg.Go(func() { r.rotate(stop, ctx) })
	}

	feedCtx, feedCancel := context.WithCancel(ctx)
	defer feedCancel()
	var feed sync.WaitGroup
	if r.feed != nil {
		feed.Go(func() { r.feed.run(feedCtx) })
	}
	var workers sync.WaitGroup
	for i := range r.cfg.concurrency {
		w := newWorker(i, r)
		workers.Go(func() { w.run(stop, ctx) })
	}
	if r.reach != nil {
		// The drivers start no cycle once stop ends; those under way
		// finish, each bounded by --reach-timeout.
		workers.Go(func() { r.runReach(stop, ctx) })
	}
	workers.Wait()
	elapsed := r.now().Sub(r.measureFrom)
	if r.feed != nil {
		r.feedReach, r.feedMiss = r.feedCheck(r.feed)
		feedCancel()
		feed.Wait()
	}
	bgCancel()
	bg.Wait()
	return r.buildReport(elapsed, ctx.Err() != nil)
}

// progress prints elapsed time, requests, failures by kind and the rate of
// the last second, rewriting one line on a terminal.
func (r *runner) progress(ctx context.Context, w io.Writer, start time.Time) {
	tty := isTerminal(w)
	t := time.NewTicker(time.Second)
	defer t.Stop()
	last, lastAt := int64(0), start
	for {
		select {
		case <-ctx.Done():
			if tty {
				fmt.Fprintln(w)
			}
			return
		case now := <-t.C:
			n := r.stats.requests.Load()
			rate := float64(n-last) / now.Sub(lastAt).Seconds()
			last, lastAt = n, now
			line := fmt.Sprintf("%6.0fs  requests %d  errors %d%s  rate %.0f/s",
				now.Sub(start).Seconds(), n, r.stats.failed.Load(), topKinds(r.stats.failures.snapshot(), 4), rate)
			if tty {
				fmt.Fprintf(w, "\r%s\x1b[K", line)
			} else {
				fmt.Fprintln(w, line)
			}
		}
	}
}

// topKinds formats the most frequent kinds: " (network 12, 429 slow_down 3)".
func topKinds(m map[string]int64, n int) string {
	if len(m) == 0 {
		return ""
	}
	kinds := sortedKinds(m)
	var parts []string
	for i, k := range kinds {
		if i == n {
			parts = append(parts, "...")
			break
		}
		parts = append(parts, fmt.Sprintf("%s %d", k, m[k]))
	}
	return " (" + strings.Join(parts, ", ") + ")"
}

// sortedKinds orders kinds by count, most first, then by name.
func sortedKinds(m map[string]int64) []string {
	kinds := make([]string, 0, len(m))
	for k := range m {
		kinds = append(kinds, k)
	}
	sort.Slice(kinds, func(i, j int) bool {
		if m[kinds[i]] != m[kinds[j]] {
			return m[kinds[i]] > m[kinds[j]]
		}
		return kinds[i] < kinds[j]
	})
	return kinds
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// rotate runs the rotation command every --rotate-every until stop ends.
// A command still running when the run ends is waited for (it is bounded by
// its own timeout) unless the whole program is interrupted.
func (r *runner) rotate(stop, ctx context.Context) {
	t := time.NewTicker(r.cfg.rotateEvery)
	defer t.Stop()
	for {
		select {
		case <-stop.Done():
			return
		case <-t.C:
			r.stats.rotation(runCommand(ctx, r.cfg.rotateCmd, max(r.cfg.rotateEvery, 30*time.Second)))
		}
	}
}

// runCommand runs argv with the current environment and returns, on
// failure, the tail of its combined output with the error.
func runCommand(ctx context.Context, argv []string, timeout time.Duration) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	out, err := exec.CommandContext(ctx, argv[0], argv[1:]...).CombinedOutput()
	if err == nil {
		return "", nil
	}
	s := strings.TrimSpace(string(out))
	if len(s) > 300 {
		s = "..." + s[len(s)-300:]
	}
	return s, err
}

// accountLog writes the email of every account created, one a line, as it
// goes, so memory stays bounded however long the run.
type accountLog struct {
	mu sync.Mutex
	f  *os.File
	w  *bufio.Writer
}

func openAccountLog(path string) (*accountLog, error) {
	if path == "" {
		return &accountLog{}, nil
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	return &accountLog{f: f, w: bufio.NewWriter(f)}, nil
}

func (a *accountLog) add(email string) {
	if a.f == nil {
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	a.w.WriteString(email + "\n")
}

func (a *accountLog) close() error {
	if a.f == nil {
		return nil
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	err := a.w.Flush()
	if cerr := a.f.Close(); err == nil {
		err = cerr
	}
	return err
}
