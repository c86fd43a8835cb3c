package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/signet-auth/signet/cmd/internal/httprun"
	"github.com/signet-auth/signet/issuer"
	"github.com/signet-auth/signet/issuer/store"
	"github.com/signet-auth/signet/keys"
)

// rotationPassInterval is how often each replica runs the rotation pass.
const rotationPassInterval = 5 * time.Second

func runServe(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	src := addSettings(fs, getenv)
	commandUsage(fs, "signet serve [flags]", "Run the issuer. Flags override their SIGNET_* environment variables.")
	if err := parseFlags(fs, args, stdout, stderr); err != nil {
		return err
	}
	cfg, err := loadConfig(src)
	if err != nil {
		return err
	}
	log := newLogger(cfg, stderr)
	if cfg.BcryptCost < 10 {
		log.Warn("SIGNET_BCRYPT_COST is below 10: passwords are cheap to guess if hashes leak", "cost", cfg.BcryptCost)
	}

	db, sealer, err := openStore(ctx, cfg, log, cfg.AutoMigrate)
	if err != nil {
		return err
	}
	defer db.Close()

	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", cfg.Addr, err)
	}
	defer ln.Close()
	cfg.finishAddr(ln.Addr().String())

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	pol := cfg.policy()
	log.Info("key timing", "rotation_period", pol.RotationPeriod.String(), "publish_lead", pol.PublishLead().String(), "retention", pol.Retention().String())
	metrics := issuer.NewMetrics()
	if err := metrics.WatchDB(db.SQL().DB); err != nil {
		return err
	}
	ring := keys.NewKeyring(db, sealer, cfg.policy(), nil)
	m := &keys.Maintainer{
		Rotator:        &keys.Rotator{Store: db, Sealer: sealer, Policy: cfg.policy(), Logger: log, OnChange: metrics.KeyChanged},
		Keyring:        ring,
		PassInterval:   min(rotationPassInterval, cfg.KeyReloadInterval),
		ReloadInterval: cfg.KeyReloadInterval,
		Logger:         log,
	}
	if err := m.Start(ctx); err != nil {
		return fmt.Errorf("keys: %w", err)
	}

	icfg := cfg.issuerConfig(log)
	icfg.Metrics = metrics
	srv, err := issuer.NewServer(icfg, db, ring, sealer)
	if err != nil {
		return err
	}
	hs := &http.Server{
		Handler:           srv.Handler(),
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       15 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    32 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	hs.RegisterOnShutdown(func() { log.Info("shutting down") })
	go runJanitor(ctx, db, log)
	log.Info("serving", "addr", ln.Addr().String(), "issuer", cfg.IssuerURL, "store", db.Dialect(), "signing_alg", cfg.SigningAlg, "version", version)
	return httprun.Serve(ctx, hs, ln, 15*time.Second)
}

// issuerConfig is the HTTP server's share of the configuration.
func (c *config) issuerConfig(log *slog.Logger) issuer.Config {
	return issuer.Config{
		IssuerURL:           c.IssuerURL,
		Audience:            c.Audience,
		AccessTokenTTL:      c.AccessTokenTTL,
		BcryptCost:          c.BcryptCost,
		RefreshTokenTTL:     c.RefreshTokenTTL,
		SessionMaxAge:       c.SessionMaxAge,
		RefreshReuseGrace:   c.RefreshReuseGrace,
		TrustedProxies:      c.TrustedProxies,
		CORSOrigins:         c.CORSOrigins,
		SignupLimit:         c.SignupLimit,
		RefreshFailureLimit: c.RefreshLimit,
		Logger:              log,
	}
}

// openStore connects to the configured database, applies migrations when
// asked, and returns it with the sealer for its private keys.
func openStore(ctx context.Context, cfg *config, log *slog.Logger, migrate bool) (*store.DB, *keys.Sealer, error) {
	db, err := store.Open(ctx, cfg.DatabaseURL)
	if err != nil {
		return nil, nil, err
	}
	kek, err := cfg.keyEncryptionKey(log, db.Dialect())
	if err != nil {
		db.Close()
		return nil, nil, err
	}
	sealer, err := kekSealer(cfg, log, kek)
	if err != nil {
		db.Close()
		return nil, nil, err
	}
	if migrate {
		if err := db.MigrateUp(); err != nil {
			db.Close()
			return nil, nil, err
		}
	}
	return db, sealer, nil
}
