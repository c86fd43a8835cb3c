package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/signet-auth/signet/cmd/internal/httprun"
	"github.com/signet-auth/signet/issuer"
	"github.com/signet-auth/signet/issuer/httpapi"
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

	db, sealer, err := openStoreAs(ctx, cfg, log, createMissing, cfg.AutoMigrate)
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
	if err := metrics.Registry.Register(collectors.NewDBStatsCollector(db.SQL().DB, "signet")); err != nil {
		return err
	}
	if err := registerSpendGroups(metrics.Registry, db); err != nil {
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
		return err // already "keys: ..."
	}

	icfg := cfg.issuerConfig(log)
	icfg.Metrics = metrics
	if icfg.Lifecycle.MailSender, err = cfg.mailSender(log); err != nil {
		return err
	}
	if cfg.Lifecycle.SiteURL == "" {
		log.Warn("SIGNET_SITE_URL is not set: links in messages open the issuer's own pages, the token in the query string (keep it out of any proxy's access log); set it to send them to a client app instead")
	}
	iss, err := issuer.New(icfg, db, ring, sealer)
	if err != nil {
		return err
	}
	if err := applyRegistryFile(ctx, cfg, iss, log); err != nil {
		return err
	}
	hcfg := httpapi.Config{CORSOrigins: cfg.CORSOrigins, TrustedProxies: cfg.TrustedProxies}
	if cfg.PageTemplates != "" {
		hcfg.PageTemplates = os.DirFS(cfg.PageTemplates)
	}
	srv, err := httpapi.NewServer(iss, hcfg)
	if err != nil {
		return err
	}
	// While draining, /readyz answers 503 so that load balancers move
	// traffic away before the listener closes.
	var draining atomic.Bool
	hs := &http.Server{
		Handler:           httprun.NotReadyWhileDraining(srv.Handler(), "/readyz", &draining),
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       15 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    32 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	hs.RegisterOnShutdown(func() { log.Info("shutting down") })
	stopDrainLog := context.AfterFunc(ctx, func() {
		log.Info("draining: /readyz answers 503 until the listener closes", "drain", cfg.ShutdownDrain.String())
	})
	defer stopDrainLog() // no drain line when serve fails
	// Other replicas' revocations wake this one's feed (Postgres NOTIFY).
	if err := db.ListenRevocations(ctx); err != nil {
		return err
	}
	if iss.Revocations != nil {
		// Waiting long-polls end with the drain's start.
		stopFeed := context.AfterFunc(ctx, iss.Revocations.Stop)
		defer stopFeed()
	}
	go runJanitor(ctx, db, iss.Throttle, log, cfg.Throttle.Reset)
	go iss.Sessions.RunRefreshKeys(ctx, log.Warn)
	go iss.Outbox.Run(ctx)
	log.Info("serving", "addr", ln.Addr().String(), "issuer", cfg.IssuerURL, "store", db.Dialect(), "signing_alg", cfg.SigningAlg, "version", version)
	capped := httprun.LimitPerIP(ln, httprun.PerIP{Max: cfg.MaxConnsPerIP, Exempt: cfg.TrustedProxies, Log: log})
	return httprun.Run(ctx, hs, capped, httprun.Options{Drain: cfg.ShutdownDrain, Draining: &draining, Grace: 15 * time.Second})
}

// issuerConfig is the HTTP server's share of the configuration.
func (c *config) issuerConfig(log *slog.Logger) issuer.Config {
	return issuer.Config{
		IssuerURL:                c.IssuerURL,
		Audience:                 c.Audience,
		BcryptCost:               c.BcryptCost,
		BcryptConcurrency:        c.BcryptConcurrency,
		BcryptQueueWait:          c.BcryptQueueWait,
		Throttle:                 c.Throttle,
		RefreshTokenTTL:          c.RefreshTokenTTL,
		SessionMaxAge:            c.SessionMaxAge,
		RefreshReuseGrace:        c.RefreshReuseGrace,
		RefreshKeyRotationPeriod: c.RefreshKeyRotationPeriod,
		SignupLimit:              c.SignupLimit,
		IntrospectionToken:       c.IntrospectionToken,
		RefreshFailureLimit:      c.RefreshLimit,
		CodeLimit:                c.CodeLimit,
		BrowserSessionTTL:        c.BrowserSessionTTL,
		IPv6Prefix:               c.IPv6Prefix,
		Logger:                   log,
		Lifecycle:                c.issuerLifecycle(nil),
	}
}

// openStore opens the store of an administrative command: it must exist
// and have a schema (see existingStore); pending migrations are applied
// when migrate is set. It returns the store with the sealer for its
// private keys.
func openStore(ctx context.Context, cfg *config, log *slog.Logger, migrate bool) (*store.DB, *keys.Sealer, error) {
	return openStoreAs(ctx, cfg, log, existingStore, migrate)
}

// openStoreAs opens the store in the given mode; serve uses createMissing.
func openStoreAs(ctx context.Context, cfg *config, log *slog.Logger, mode storeMode, migrate bool) (*store.DB, *keys.Sealer, error) {
	db, err := openDB(ctx, cfg, mode)
	if err != nil {
		return nil, nil, err
	}
	kek, err := cfg.keyEncryptionKey(log, db.Dialect(), mode == createMissing)
	if err != nil {
		db.Close()
		return nil, nil, err
	}
	sealer, err := kekSealer(cfg, log, kek)
	if err != nil {
		db.Close()
		return nil, nil, err
	}
	if err := checkSchema(db, cfg, mode, migrate); err != nil {
		db.Close()
		return nil, nil, err
	}
	return db, sealer, nil
}

// registerSpendGroups exports how concurrent refreshes share statements
// on Postgres (see store.DB.SpendGroups).
func registerSpendGroups(r prometheus.Registerer, db *store.DB) error {
	for _, c := range []prometheus.Collector{
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "signet_db_refresh_statements_total",
			Help: "Statements that spent refresh tokens on Postgres; concurrent refreshes share one.",
		}, func() float64 { n, _ := db.SpendGroups(); return float64(n) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "signet_db_refresh_statement_rows_total",
			Help: "Refresh tokens those statements were asked to spend.",
		}, func() float64 { _, n := db.SpendGroups(); return float64(n) }),
	} {
		if err := r.Register(c); err != nil {
			return err
		}
	}
	return nil
}
