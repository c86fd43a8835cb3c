// Package httprun runs the commands' HTTP servers: serve on a listener
// until the context ends, drain, then shut down gracefully.
package httprun

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync/atomic"
	"time"
)

// Options says how a server stops.
type Options struct {
	// Drain is how long the server goes on serving once the context ends,
	// with Draining set, so that load balancers that poll readiness take
	// it out of rotation before its listener closes. Zero closes at once.
	Drain time.Duration
	// Draining, if not nil, is set when the drain starts. A readiness
	// check must fail while it is set (NotReadyWhileDraining does so).
	Draining *atomic.Bool
	// EndDrain, if not nil, ends the drain early when it is closed.
	EndDrain <-chan struct{}
	// Grace is how long requests in flight get once the listener is
	// closed.
	Grace time.Duration
}

// Serve serves hs on ln until ctx is done, then shuts it down, giving the
// requests in flight up to grace to finish. It returns the error that
// stopped the server early, or the shutdown's error.
func Serve(ctx context.Context, hs *http.Server, ln net.Listener, grace time.Duration) error {
	return Run(ctx, hs, ln, Options{Grace: grace})
}

// Run serves hs on ln until ctx is done. Then it drains: Draining is set
// and the server goes on accepting and serving for opt.Drain, without
// keep-alive, so that clients move to other replicas connection by
// connection. Then the listener closes and the requests in flight get
// opt.Grace to finish.
func Run(ctx context.Context, hs *http.Server, ln net.Listener, opt Options) error {
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	if opt.Draining != nil {
		opt.Draining.Store(true)
	}
	if opt.Drain > 0 {
		hs.SetKeepAlivesEnabled(false)
		t := time.NewTimer(opt.Drain)
		select {
		case <-t.C:
		case <-opt.EndDrain:
			t.Stop()
		case err := <-errc:
			t.Stop()
			return fmt.Errorf("serve: %w", err)
		}
	}
	shut, cancel := context.WithTimeout(context.Background(), opt.Grace)
	defer cancel()
	if err := hs.Shutdown(shut); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("shutdown: %w", err)
	}
	return nil
}

// NotReadyWhileDraining answers GET path (the readiness check) with 503
// while draining is set, and passes everything else to h.
func NotReadyWhileDraining(h http.Handler, path string, draining *atomic.Bool) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == path && draining.Load() {
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("Cache-Control", "no-store")
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = w.Write([]byte(`{"status":"unavailable","checks":{"shutdown":"draining"}}` + "\n"))
			return
		}
		h.ServeHTTP(w, r)
	})
}
