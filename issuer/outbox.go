package issuer

import (
	"context"
	"log/slog"
	"time"
)

// Outbox is the worker every replica runs: it resolves queued account
// requests and delivers queued mail, with retries and exponential
// backoff. Rows are leased with a claim in the database, so a message is
// handed to the mail server by one replica at a time; a replica that
// dies after the server accepted a message but before marking it sent
// leaves it to be sent again when the lease ends (the Message-ID stays
// the same, so receivers can tell). An SMTP outage delays mail; it loses
// none, unless it outlasts the message's link.
type Outbox struct {
	store  Store
	life   *Lifecycle
	sender MailSender
	sealer sealer
	log    *slog.Logger
	m      *Metrics
	now    func() time.Time
	poll   time.Duration
	base   time.Duration
	max    time.Duration
}

const (
	// outboxLease is how long a claimed row stays invisible to the other
	// replicas: far longer than a delivery may take (sendTimeout).
	outboxLease = 2 * time.Minute
	sendTimeout = 30 * time.Second
	outboxBatch = 20
	// maxRequestAttempts bounds the tries at a request whose resolution
	// keeps failing (the database, or a bug); it is then dropped.
	maxRequestAttempts = 10
)

func newOutbox(cfg Config, store Store, sl sealer, life *Lifecycle) *Outbox {
	lc := cfg.Lifecycle
	return &Outbox{store: store, life: life, sender: lc.MailSender, sealer: sl, log: cfg.Logger, m: cfg.Metrics, now: cfg.Now,
		poll: lc.OutboxPoll, base: lc.RetryBase, max: lc.RetryMax}
}

// Run works until ctx is done: a pass at once, then one every poll
// interval or as soon as this replica queues something.
func (o *Outbox) Run(ctx context.Context) {
	t := time.NewTicker(o.poll)
	defer t.Stop()
	for {
		o.Pass(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-o.life.kick:
		}
	}
}

// Pass resolves the queued requests and delivers the mail due now, and
// returns how many messages were sent. Without a MailSender it only
// resolves requests.
func (o *Outbox) Pass(ctx context.Context) (sent int) {
	for range 50 { // bounded: at most 1,000 requests a pass
		n := o.resolveRequests(ctx)
		if n < outboxBatch {
			break
		}
	}
	if o.sender == nil {
		return 0
	}
	for range 50 {
		n, claimed := o.deliver(ctx)
		sent += n
		if claimed < outboxBatch {
			break
		}
	}
	return sent
}

func (o *Outbox) resolveRequests(ctx context.Context) int {
	now := o.now()
	reqs, err := o.store.ClaimAccountRequests(ctx, now, now.Add(outboxLease), outboxBatch)
	if err != nil {
		o.log.WarnContext(ctx, "outbox: claiming account requests failed", "error", err)
		return 0
	}
	for _, r := range reqs {
		if err := o.life.resolve(ctx, r); err != nil {
			o.log.ErrorContext(ctx, "outbox: account request failed; it will be tried again", "request_id", r.ID, "kind", string(r.Kind), "attempt", r.Attempts, "error", err)
			if r.Attempts >= maxRequestAttempts {
				o.log.ErrorContext(ctx, "outbox: account request dropped after repeated failures", "request_id", r.ID, "kind", string(r.Kind))
				_ = o.store.AccountTx(ctx, func(tx AccountTx) error { return tx.DeleteAccountRequest(ctx, r.ID) })
			}
		}
	}
	return len(reqs)
}

// deliver sends one batch and returns how many were sent and claimed.
func (o *Outbox) deliver(ctx context.Context) (sent, claimed int) {
	now := o.now()
	batch, err := o.store.ClaimMail(ctx, now, now.Add(outboxLease), outboxBatch)
	if err != nil {
		o.log.WarnContext(ctx, "outbox: claiming mail failed", "error", err)
		return 0, 0
	}
	for _, om := range batch {
		if o.deliverOne(ctx, om) {
			sent++
		}
	}
	return sent, len(batch)
}

func (o *Outbox) deliverOne(ctx context.Context, om OutboxMail) bool {
	// Never the message or its link in a line: only what identifies it.
	attrs := []any{"mail_id", om.ID, "kind", string(om.Kind), "user_id", om.UserID, "attempt", om.Attempts}
	now := o.now()
	if !now.Before(om.ExpiresAt) {
		o.m.MailDeliveries.WithLabelValues("abandoned").Inc()
		o.log.WarnContext(ctx, "outbox: mail abandoned: its link expired before it could be delivered", attrs...)
		if err := o.store.MailAbandoned(ctx, om.ID, now, "expired"); err != nil {
			o.log.WarnContext(ctx, "outbox: marking mail abandoned failed", "mail_id", om.ID, "error", err)
		}
		return false
	}
	m, err := openMail(o.sealer, om)
	if err == nil {
		sctx, cancel := context.WithTimeout(ctx, sendTimeout)
		err = o.sender.Send(sctx, m)
		cancel()
	}
	if err != nil {
		wait := o.backoff(om.Attempts)
		o.m.MailDeliveries.WithLabelValues("retry").Inc()
		o.log.WarnContext(ctx, "outbox: mail delivery failed; will retry", append(attrs, "retry_in", wait.String(), "error", err.Error())...)
		if err := o.store.MailRetry(context.WithoutCancel(ctx), om.ID, now.Add(wait), truncate(err.Error(), 500)); err != nil {
			o.log.WarnContext(ctx, "outbox: scheduling a retry failed; the lease will expire", "mail_id", om.ID, "error", err)
		}
		return false
	}
	if err := o.store.MailSent(context.WithoutCancel(ctx), om.ID, o.now()); err != nil {
		o.log.ErrorContext(ctx, "outbox: mail sent but not marked; it may be sent again", "mail_id", om.ID, "error", err)
	}
	o.m.MailDeliveries.WithLabelValues("sent").Inc()
	o.log.InfoContext(ctx, "outbox: mail sent", attrs...)
	return true
}

// backoff is the wait after the n-th failed attempt: base·2^(n-1), at most
// max.
func (o *Outbox) backoff(n int) time.Duration {
	if n < 1 {
		n = 1
	}
	d := o.base
	for i := 1; i < n && d < o.max; i++ {
		d *= 2
	}
	return min(d, o.max)
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}
