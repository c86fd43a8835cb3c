package issuer

import (
	"errors"
	"net/http"
	"strconv"
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

	// Requests counts HTTP requests by method, route pattern (never the
	// raw path: "unmatched" when no route matched) and status.
	Requests *prometheus.CounterVec
	// RequestDuration is the latency of HTTP requests, with the labels of
	// Requests.
	RequestDuration *prometheus.HistogramVec
	// Signins counts password sign-ins (/v1/signin and the password grant)
	// by outcome: success, invalid_credentials, throttled, unavailable (no
	// bcrypt slot in time) or error (the store failed).
	Signins *prometheus.CounterVec
	// Refreshes counts refresh-token presentations by outcome: rotated,
	// grace_replay (a repeat inside the reuse grace), reuse_detected (the
	// session was revoked), invalid (any other rejection), error, or
	// retry_replay (a retry after the grace whose successor was unused).
	Refreshes *prometheus.CounterVec
	// TokensIssued counts tokens handed out, by type (access, refresh, id).
	TokensIssued *prometheus.CounterVec

	// The hot path's counters, resolved once (a label lookup hashes the
	// labels on every call).
	rotated, accessIssued, refreshIssued prometheus.Counter
	// SigninBlocks counts sign-in blocks set by the brute-force control,
	// by key (account, ip, device).
	SigninBlocks *prometheus.CounterVec
	// BcryptQueueWait is how long requests waited for a bcrypt slot,
	// including those that gave up.
	BcryptQueueWait prometheus.Histogram
	// BcryptInFlight is the bcrypt computations running now.
	BcryptInFlight prometheus.Gauge
	// SigninRefusals counts sign-in attempts refused by the brute-force
	// control before any password check, by the key that refused
	// (account, ip, device).
	SigninRefusals *prometheus.CounterVec
	// AccountActions counts account-lifecycle requests by action (signup,
	// verify, verify_resend, password_forgot, password_reset,
	// password_change, email_change, email_confirm, email_cancel, delete)
	// and outcome (ok, refused, error).
	AccountActions *prometheus.CounterVec
	// MailDeliveries counts outbox delivery attempts by outcome: sent,
	// retry (failed, tried again later) or abandoned (past its expiry).
	MailDeliveries *prometheus.CounterVec
	// RevocationFeedWaiting is the feed requests waiting for an event now
	// (long-polls: about one per connected verifier).
	RevocationFeedWaiting prometheus.Gauge
	// RevocationFeedEvents counts revocation events served by the feed.
	RevocationFeedEvents prometheus.Counter
	// ClientAuth counts client authentications at the token endpoint by
	// method and outcome (success, failure).
	ClientAuth *prometheus.CounterVec
	// ClientKeyFetches counts fetches of clients' jwks_uri key sets by
	// outcome (ok, error); the cache keeps them rare.
	ClientKeyFetches *prometheus.CounterVec
	// Authorizations counts authorization requests (GET /oauth/authorize
	// and the sign-in page behind it) by outcome: code (a code was
	// issued), login (the sign-in page was shown), error_page (client or
	// redirect URI invalid), error_redirect (an error sent to the client).
	Authorizations *prometheus.CounterVec
	// CodeGrants counts authorization-code redemptions by outcome (ok,
	// invalid, replayed, error).
	CodeGrants *prometheus.CounterVec
	// Logouts counts RP-initiated logouts by outcome (ended, confirm, no
	// session).
	Logouts *prometheus.CounterVec
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
		Requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "signet_http_requests_total",
			Help: "HTTP requests by method, route pattern and status.",
		}, []string{"method", "route", "status"}),
		RequestDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "signet_http_request_duration_seconds",
			Help:    "HTTP request latency by method, route pattern and status.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
		}, []string{"method", "route", "status"}),
		Signins: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "signet_signins_total",
			Help: "Password sign-ins by outcome: success, invalid_credentials, throttled, unavailable, error.",
		}, []string{"outcome"}),
		Refreshes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "signet_refreshes_total",
			Help: "Refresh-token presentations by outcome: rotated, grace_replay, reuse_detected, invalid, error, retry_replay.",
		}, []string{"outcome"}),
		TokensIssued: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "signet_tokens_issued_total",
			Help: "Tokens issued, by type (access, refresh).",
		}, []string{"type"}),
		SigninBlocks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "signet_signin_blocks_total",
			Help: "Sign-in blocks set after repeated failures, by key (account, ip, device).",
		}, []string{"key"}),
		BcryptQueueWait: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "signet_bcrypt_queue_wait_seconds",
			Help:    "Time requests waited for a bcrypt slot, including those that gave up.",
			Buckets: []float64{.0005, .001, .005, .01, .025, .05, .1, .25, .5, 1, 2, 5},
		}),
		BcryptInFlight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "signet_bcrypt_in_flight",
			Help: "Bcrypt computations (sign-in, sign-up) running now.",
		}),
		SigninRefusals: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "signet_signin_refusals_total",
			Help: "Sign-in attempts refused before any password check, by the key that refused (account, ip, device).",
		}, []string{"key"}),
		AccountActions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "signet_account_actions_total",
			Help: "Account-lifecycle requests by action and outcome (ok, refused, error).",
		}, []string{"action", "outcome"}),
		MailDeliveries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "signet_mail_deliveries_total",
			Help: "Outbox delivery attempts by outcome: sent, retry, abandoned.",
		}, []string{"outcome"}),
		RevocationFeedWaiting: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "signet_revocation_feed_waiting",
			Help: "Revocation feed requests waiting for an event (long-polls).",
		}),
		RevocationFeedEvents: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "signet_revocation_feed_events_total",
			Help: "Revocation events served by the feed.",
		}),
		ClientAuth: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "signet_client_authentications_total",
			Help: "Client authentications at the token endpoint by method (private_key_jwt, client_secret_basic, none, multiple) and outcome (success, failure).",
		}, []string{"method", "outcome"}),
		ClientKeyFetches: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "signet_client_jwks_fetches_total",
			Help: "Fetches of clients' jwks_uri key sets by outcome: ok, error.",
		}, []string{"outcome"}),
		Authorizations: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "signet_authorizations_total",
			Help: "Authorization requests by outcome: code, login, error_page, error_redirect.",
		}, []string{"outcome"}),
		CodeGrants: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "signet_authorization_code_grants_total",
			Help: "Authorization-code redemptions at the token endpoint by outcome: ok, invalid, replayed, error.",
		}, []string{"outcome"}),
		Logouts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "signet_logouts_total",
			Help: "RP-initiated logouts by outcome: ended, confirm, no_session.",
		}, []string{"outcome"}),
	}
	for _, o := range []string{"code", "login", "error_page", "error_redirect"} {
		m.Authorizations.WithLabelValues(o)
	}
	for _, o := range []string{"ok", "invalid", "replayed", "error"} {
		m.CodeGrants.WithLabelValues(o)
	}
	for _, o := range []string{"ended", "confirm", "no_session"} {
		m.Logouts.WithLabelValues(o)
	}
	// Outcomes that exist from the start, so that rates are defined before
	// the first event.
	for _, o := range []string{"success", "invalid_credentials", "throttled", "unavailable", "error"} {
		m.Signins.WithLabelValues(o)
	}
	for _, o := range []string{"rotated", "grace_replay", "reuse_detected", "invalid", "error", "retry_replay"} {
		m.Refreshes.WithLabelValues(o)
	}
	m.rotated = m.Refreshes.WithLabelValues("rotated")
	m.accessIssued = m.TokensIssued.WithLabelValues("access")
	m.refreshIssued = m.TokensIssued.WithLabelValues("refresh")
	m.TokensIssued.WithLabelValues("id")
	for _, k := range []string{"account", "ip", "device"} {
		m.SigninBlocks.WithLabelValues(k)
		m.SigninRefusals.WithLabelValues(k)
	}
	m.Registry.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		m.KeyRotations, m.KeyRevocations,
		m.Requests, m.RequestDuration, m.Signins, m.Refreshes, m.TokensIssued,
		m.SigninBlocks, m.BcryptQueueWait, m.BcryptInFlight,
		m.AccountActions, m.MailDeliveries, m.ClientAuth, m.ClientKeyFetches,
		m.RevocationFeedWaiting, m.RevocationFeedEvents,
		m.Authorizations, m.CodeGrants, m.Logouts,
	)
	m.Registry.MustRegister(m.SigninRefusals)
	for _, o := range []string{"sent", "retry", "abandoned"} {
		m.MailDeliveries.WithLabelValues(o)
	}
	return m
}

// ObserveRequest counts an HTTP request (the access log's hook).
func (m *Metrics) ObserveRequest(method, route string, status int, d time.Duration) {
	method = methodLabel(method)
	code := statusLabel(status)
	m.Requests.WithLabelValues(method, route, code).Inc()
	m.RequestDuration.WithLabelValues(method, route, code).Observe(d.Seconds())
}

// methodLabel keeps the method label to the standard methods: a client
// choosing the method name must not be able to create label series at will.
func methodLabel(method string) string {
	switch method {
	case http.MethodGet, http.MethodPost, http.MethodPut, http.MethodDelete,
		http.MethodPatch, http.MethodHead, http.MethodOptions:
		return method
	}
	return "other"
}

// statusLabel avoids an allocation for the common statuses.
func statusLabel(status int) string {
	switch status {
	case http.StatusOK:
		return "200"
	case http.StatusCreated:
		return "201"
	case http.StatusNoContent:
		return "204"
	case http.StatusNotModified:
		return "304"
	case http.StatusUnauthorized:
		return "401"
	}
	return strconv.Itoa(status)
}

// signin counts the outcome of a password sign-in from its error.
func (m *Metrics) signin(err error) {
	outcome := "error"
	switch KindOf(err) {
	case "":
		outcome = "success"
	case KindBadCredentials:
		outcome = "invalid_credentials"
	case KindRateLimited:
		outcome = "throttled"
	case KindUnavailable:
		if errors.Is(err, ErrBusy) {
			outcome = "unavailable"
		}
	}
	m.Signins.WithLabelValues(outcome).Inc()
}

// refreshFailed counts the failure of a refresh (nothing when err is
// nil). Successes and reuse_detected are counted where they happen.
func (m *Metrics) refreshFailed(err error) {
	var e *Error
	switch {
	case err == nil:
	case errors.As(err, &e) && e.Reason == ReasonReused:
	case errors.As(err, &e) && e.Reason != "":
		m.Refreshes.WithLabelValues("invalid").Inc()
	default:
		m.Refreshes.WithLabelValues("error").Inc()
	}
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
	reloadFailuresDesc = prometheus.NewDesc("signet_key_reload_failures_total",
		"Key reloads that found a key this replica cannot open (a wrong key-encryption key).", nil, nil)
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
	ch <- reloadFailuresDesc
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
	ch <- prometheus.MustNewConstMetric(reloadFailuresDesc, prometheus.CounterValue, float64(c.ring.ReloadFailures()))
}
