package issuer

import (
	"database/sql"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/signet-auth/signet/keys"
)

// Metrics owns the issuer's Prometheus registry and the metrics in it.
// Counters are per process; gauges about keys are computed at scrape time
// from the replica's keyring. Add new metrics as fields, created and
// registered in NewMetrics.
type Metrics struct {
	Registry *prometheus.Registry

	// KeyRotations counts promotions of a key to active made by this
	// process (scheduled, emergency, or replacing a revoked key), by alg.
	KeyRotations *prometheus.CounterVec
	// KeyRevocations counts keys revoked by this process, by alg.
	KeyRevocations *prometheus.CounterVec
}

// NewMetrics returns a registry with the Go runtime and process
// collectors and the issuer's own metrics.
func NewMetrics() *Metrics {
	m := &Metrics{
		Registry: prometheus.NewRegistry(),
		KeyRotations: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "signet_key_rotations_total",
			Help: "Signing keys promoted to active by this process, by algorithm.",
		}, []string{"alg"}),
		KeyRevocations: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "signet_key_revocations_total",
			Help: "Signing keys revoked by this process, by algorithm.",
		}, []string{"alg"}),
	}
	m.Registry.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		m.KeyRotations, m.KeyRevocations,
	)
	return m
}

// Handler serves the registry in the Prometheus exposition format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{Registry: m.Registry})
}

// KeyChanged counts a key state change; it is a keys.Rotator.OnChange.
func (m *Metrics) KeyChanged(event string, k keys.Key) {
	switch event {
	case "key_activated":
		m.KeyRotations.WithLabelValues(k.Alg).Inc()
	case "key_revoked":
		m.KeyRevocations.WithLabelValues(k.Alg).Inc()
	}
}

// WatchDB adds the connection pool's statistics (go_sql_* with
// db_name="signet").
func (m *Metrics) WatchDB(db *sql.DB) error {
	return m.Registry.Register(collectors.NewDBStatsCollector(db, "signet"))
}

// WatchKeys adds the key gauges, read from ring at each scrape.
func (m *Metrics) WatchKeys(ring *keys.Keyring, now func() time.Time) error {
	if now == nil {
		now = time.Now
	}
	return m.Registry.Register(&keyCollector{ring: ring, now: now})
}

var (
	keyAgeDesc = prometheus.NewDesc("signet_signing_key_age_seconds",
		"Seconds since the active signing key started signing, by algorithm.", []string{"alg"}, nil)
	nextRotationDesc = prometheus.NewDesc("signet_signing_key_next_rotation_seconds",
		"Seconds until the next key takes over signing, by algorithm (negative when overdue).", []string{"alg"}, nil)
	publishedDesc = prometheus.NewDesc("signet_jwks_keys",
		"Keys in the published JWK set (next, active and retired).", nil, nil)
)

// keyCollector reports the keyring's state as last loaded.
type keyCollector struct {
	ring *keys.Keyring
	now  func() time.Time
}

func (c *keyCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- keyAgeDesc
	ch <- nextRotationDesc
	ch <- publishedDesc
}

func (c *keyCollector) Collect(ch chan<- prometheus.Metric) {
	now := c.now()
	for _, s := range c.ring.Signing() {
		ch <- prometheus.MustNewConstMetric(keyAgeDesc, prometheus.GaugeValue, now.Sub(s.ActiveSince).Seconds(), s.Alg)
		if !s.NextRotation.IsZero() {
			ch <- prometheus.MustNewConstMetric(nextRotationDesc, prometheus.GaugeValue, s.NextRotation.Sub(now).Seconds(), s.Alg)
		}
	}
	ch <- prometheus.MustNewConstMetric(publishedDesc, prometheus.GaugeValue, float64(c.ring.Published()))
}
