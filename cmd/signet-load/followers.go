package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/signet-auth/signet/verifier"
)

// Idle verifiers: --followers N starts N real verifiers (package
// verifier, defaults but the HTTP client's timeout) against the first
// issuer, each connecting from its own loopback address (127.0.x.y, as N
// resource servers would from N hosts, so the feed's per-address limit
// sees N clients), and counts what they send and receive for --duration
// once they are all running. With --cpu-pid it reads that process's CPU
// time (Linux /proc) over the same window: the issuer's cost of N idle
// verifiers.

// followersReport is the idle-verifier figures.
type followersReport struct {
	Followers      int     `json:"followers"`
	ClientTimeout  float64 `json:"client_timeout_seconds"`
	WindowSeconds  float64 `json:"window_seconds"`
	FeedRequests   int64   `json:"feed_requests"`
	OtherRequests  int64   `json:"other_requests"` // discovery, JWKS
	BytesIn        int64   `json:"bytes_in"`       // on the wire, TCP payload
	BytesOut       int64   `json:"bytes_out"`
	FetchErrors    uint64  `json:"fetch_errors"`
	StartupSeconds float64 `json:"startup_seconds"`
	// Per follower and minute.
	RequestsPerMinute float64 `json:"requests_per_follower_minute"`
	BytesPerMinute    float64 `json:"bytes_per_follower_minute"` // in + out
	// The --cpu-pid process's CPU time over the window.
	CPUPid            int     `json:"cpu_pid,omitempty"`
	CPUSeconds        float64 `json:"cpu_seconds,omitempty"`
	CPUPercent        float64 `json:"cpu_percent,omitempty"`          // of one core
	CPUPercentPer1000 float64 `json:"cpu_percent_per_1000,omitempty"` // scaled linearly
}

// counting counts a follower's requests and wire bytes.
type counting struct {
	feed, other, in, out atomic.Int64
	measuring            atomic.Bool
}

type countingConn struct {
	net.Conn
	c *counting
}

func (c countingConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if c.c.measuring.Load() {
		c.c.in.Add(int64(n))
	}
	return n, err
}

func (c countingConn) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	if c.c.measuring.Load() {
		c.c.out.Add(int64(n))
	}
	return n, err
}

type countingTransport struct {
	http.RoundTripper
	c *counting
}

func (t countingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if t.c.measuring.Load() {
		if strings.HasSuffix(req.URL.Path, "/v1/revocations") {
			t.c.feed.Add(1)
		} else {
			t.c.other.Add(1)
		}
	}
	return t.RoundTripper.RoundTrip(req)
}

// followerAddr is the loopback address of follower i: 127.0.1.1, ...
func followerAddr(i int) net.IP {
	n := i + 1
	return net.IPv4(127, 0, byte(1+n/250), byte(1+n%250))
}

func (r *runner) runFollowers(ctx context.Context, stderr io.Writer) (*followersReport, error) {
	c := &counting{}
	iss := r.cfg.issuers[0]
	rep := &followersReport{Followers: r.cfg.followers, ClientTimeout: r.cfg.followerTimeout.Seconds(), CPUPid: r.cfg.cpuPID}
	vs := make([]*verifier.Verifier, r.cfg.followers)
	defer func() {
		for _, v := range vs {
			if v != nil {
				v.Close()
			}
		}
	}()
	start := r.now()
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelError}))
	var mu sync.Mutex
	var firstErr error
	var wg sync.WaitGroup
	sem := make(chan struct{}, 16) // start-up in small batches
	for i := range vs {
		d := &net.Dialer{Timeout: 5 * time.Second, LocalAddr: &net.TCPAddr{IP: followerAddr(i)}}
		tr := &http.Transport{Proxy: nil, MaxIdleConnsPerHost: 2, IdleConnTimeout: 90 * time.Second,
			DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
				conn, err := d.DialContext(ctx, network, addr)
				if err != nil {
					return nil, err
				}
				return countingConn{Conn: conn, c: c}, nil
			}}
		client := &http.Client{Timeout: r.cfg.followerTimeout, Transport: countingTransport{RoundTripper: tr, c: c}}
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			v, err := verifier.New(ctx, verifier.Config{Issuer: iss, Audience: "signet-load", HTTPClient: client, Logger: log})
			mu.Lock()
			defer mu.Unlock()
			if err != nil && firstErr == nil {
				firstErr = fmt.Errorf("follower %d: %w", i, err)
			}
			vs[i] = v
		})
	}
	wg.Wait()
	if firstErr != nil {
		return nil, firstErr
	}
	rep.StartupSeconds = r.now().Sub(start).Seconds()
	// Let the first long-polls settle before the window opens.
	if sleepCtx(ctx, 2*time.Second) != nil {
		return nil, ctx.Err()
	}
	cpu0, err := processCPU(r.cfg.cpuPID)
	if err != nil {
		return nil, err
	}
	winStart := r.now()
	c.measuring.Store(true)
	fmt.Fprintf(stderr, "signet-load: %d followers running; measuring for %s\n", r.cfg.followers, r.cfg.duration)
	_ = sleepCtx(ctx, r.cfg.duration)
	c.measuring.Store(false)
	window := r.now().Sub(winStart)
	cpu1, err := processCPU(r.cfg.cpuPID)
	if err != nil {
		return nil, err
	}
	rep.WindowSeconds = window.Seconds()
	rep.FeedRequests, rep.OtherRequests = c.feed.Load(), c.other.Load()
	rep.BytesIn, rep.BytesOut = c.in.Load(), c.out.Load()
	for _, v := range vs {
		rep.FetchErrors += v.RevocationStats().FetchErrors
	}
	perMin := float64(r.cfg.followers) * window.Minutes()
	rep.RequestsPerMinute = float64(rep.FeedRequests+rep.OtherRequests) / perMin
	rep.BytesPerMinute = float64(rep.BytesIn+rep.BytesOut) / perMin
	if r.cfg.cpuPID > 0 {
		rep.CPUSeconds = (cpu1 - cpu0).Seconds()
		rep.CPUPercent = 100 * rep.CPUSeconds / window.Seconds()
		rep.CPUPercentPer1000 = rep.CPUPercent * 1000 / float64(r.cfg.followers)
	}
	return rep, nil
}

// processCPU returns the user plus system CPU time of a process from
// /proc/PID/stat (in clock ticks of 1/100 s, Linux's USER_HZ); 0 when pid
// is 0.
func processCPU(pid int) (time.Duration, error) {
	if pid <= 0 {
		return 0, nil
	}
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, fmt.Errorf("cpu-pid: %w", err)
	}
	// The command name may hold spaces: the fields start after its ")".
	s := string(b)
	fields := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(fields) < 13 {
		return 0, fmt.Errorf("cpu-pid: /proc/%d/stat: too few fields", pid)
	}
	utime, err1 := strconv.ParseInt(fields[11], 10, 64) // field 14 of the file
	stime, err2 := strconv.ParseInt(fields[12], 10, 64) // field 15
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("cpu-pid: /proc/%d/stat: bad times", pid)
	}
	return time.Duration(utime+stime) * 10 * time.Millisecond, nil
}

func (fr *followersReport) write(w io.Writer, asJSON bool) error {
	if asJSON {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(fr)
	}
	_, err := fmt.Fprintf(w, `signet-load: %d idle verifiers (client timeout %gs) for %.1fs, started in %.1fs
  requests: %d feed, %d other; %.2f per verifier and minute
  bytes: %d in, %d out; %.0f per verifier and minute
  fetch errors: %d
`, fr.Followers, fr.ClientTimeout, fr.WindowSeconds, fr.StartupSeconds, fr.FeedRequests, fr.OtherRequests, fr.RequestsPerMinute,
		fr.BytesIn, fr.BytesOut, fr.BytesPerMinute, fr.FetchErrors)
	if err == nil && fr.CPUPid > 0 {
		_, err = fmt.Fprintf(w, "  process %d CPU: %.2fs (%.2f%% of a core), %.1f%% per 1,000 verifiers\n", fr.CPUPid, fr.CPUSeconds, fr.CPUPercent, fr.CPUPercentPer1000)
	}
	return err
}
