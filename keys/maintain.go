package keys

import (
	"context"
	"log/slog"
	"time"
)

// Maintainer keeps one replica's keys current: it runs the rotator's pass
// on an interval and reloads the keyring on its own interval, after each
// local change, and (when the store is a Watcher) when another process
// changes the keys.
type Maintainer struct {
	Rotator *Rotator
	Keyring *Keyring
	// PassInterval is how often the rotation pass runs (a few seconds).
	PassInterval time.Duration
	// ReloadInterval is how often the keyring is reloaded.
	ReloadInterval time.Duration
	Logger         *slog.Logger
}

// Start does a first pass and load, so that a replica never serves without
// a signing key, then keeps the keys current in the background until ctx
// is done.
func (m *Maintainer) Start(ctx context.Context) error {
	if _, err := m.Rotator.Pass(ctx); err != nil {
		return err
	}
	// Listen before the first load, so that a change committed in between
	// is not missed until the reload interval.
	var notify <-chan struct{}
	if w, ok := m.Rotator.Store.(Watcher); ok {
		ch, err := w.WatchKeys(ctx)
		if err != nil {
			m.logger().Warn("key change notifications unavailable; relying on the reload interval", "error", err)
		} else {
			notify = ch
		}
	}
	if err := m.Keyring.Reload(ctx); err != nil {
		return err
	}
	go m.loop(ctx, notify)
	return nil
}

func (m *Maintainer) loop(ctx context.Context, notify <-chan struct{}) {
	pass := time.NewTicker(m.PassInterval)
	defer pass.Stop()
	reload := time.NewTicker(m.ReloadInterval)
	defer reload.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-pass.C:
			changed, err := m.Rotator.Pass(ctx)
			if err != nil && ctx.Err() == nil {
				m.logger().Error("key rotation pass failed", "error", err)
			}
			if changed {
				m.reload(ctx)
			}
		case <-reload.C:
			m.reload(ctx)
		case _, ok := <-notify:
			if !ok {
				notify = nil
				continue
			}
			m.reload(ctx)
		}
	}
}

func (m *Maintainer) reload(ctx context.Context) {
	if err := m.Keyring.Reload(ctx); err != nil && ctx.Err() == nil {
		m.logger().Error("key reload failed", "error", err)
	}
}

func (m *Maintainer) logger() *slog.Logger {
	if m.Logger != nil {
		return m.Logger
	}
	return slog.New(slog.DiscardHandler)
}
