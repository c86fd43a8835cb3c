package keys_test

import (
	"context"
	"testing"
	"time"

	"github.com/signet-auth/signet/keys"
)

// The expectations in this file are worked out by hand from the rules in
// DESIGN.md ("Key lifecycle"), never with the formulas under test:
//
//	publication lead = JWKS max-age + reload interval
//	retention        = reload interval + token lifetime + leeway + JWKS max-age

func TestPolicyFormulas(t *testing.T) {
	for _, c := range []struct {
		name                        string
		maxAge, reload, ttl, leeway time.Duration
		lead, retention             time.Duration
	}{
		// 5m + 10s; 10s + 15m + 30s + 5m.
		{"defaults", 5 * time.Minute, 10 * time.Second, 15 * time.Minute, 30 * time.Second, 5*time.Minute + 10*time.Second, 20*time.Minute + 40*time.Second},
		// 1h + 1m; 1m + 10m + 0 + 1h.
		{"long cache", time.Hour, time.Minute, 10 * time.Minute, 0, time.Hour + time.Minute, time.Hour + 11*time.Minute},
		// 0 + 2s; 2s + 1h + 1m + 0.
		{"no cache", 0, 2 * time.Second, time.Hour, time.Minute, 2 * time.Second, time.Hour + time.Minute + 2*time.Second},
	} {
		t.Run(c.name, func(t *testing.T) {
			p := keys.Policy{JWKSMaxAge: c.maxAge, ReloadInterval: c.reload, AccessTokenTTL: c.ttl, Leeway: c.leeway}
			if got := p.PublishLead(); got != c.lead {
				t.Errorf("PublishLead = %s, want %s", got, c.lead)
			}
			if got := p.Retention(); got != c.retention {
				t.Errorf("Retention = %s, want %s", got, c.retention)
			}
		})
	}
}

// TestPolicyValidateBoundary: the rotation period must be longer than the
// 5m10s lead, by any amount.
func TestPolicyValidateBoundary(t *testing.T) {
	p := testPolicy()
	for _, c := range []struct {
		period time.Duration
		ok     bool
	}{
		{5 * time.Minute, false},
		{5*time.Minute + 10*time.Second, false},
		{5*time.Minute + 10*time.Second + time.Millisecond, true},
		{time.Hour, true},
	} {
		p.RotationPeriod = c.period
		if err := p.Validate(); (err == nil) != c.ok {
			t.Errorf("rotation period %s: Validate = %v, want ok %v", c.period, err, c.ok)
		}
	}
}

// at is a time on the first day of the schedule tests, "15:04:05.000".
func at(t *testing.T, clock string) time.Time {
	t.Helper()
	d, err := time.Parse("15:04:05.000", clock)
	if err != nil {
		t.Fatal(err)
	}
	return time.Date(2026, 1, 1, d.Hour(), d.Minute(), d.Second(), d.Nanosecond(), time.UTC)
}

// schedule drives one replica with the default timing (lead 5m10s,
// retention 20m40s) and a rotation period of one hour.
type schedule struct {
	*replica
	t *testing.T
}

func newSchedule(t *testing.T) *schedule {
	clk := newClock() // 2026-01-01 00:00:00 UTC
	st := &memStore{now: clk.Now}
	return &schedule{newReplica(t, st, clk, testPolicy()), t}
}

// passAt runs a pass and a reload at the given time of day.
func (s *schedule) passAt(clock string) {
	s.t.Helper()
	s.clock.Set(at(s.t, clock))
	s.pass()
}

// times checks a key's state and its schedule; "" means the zero time.
func (s *schedule) times(kid string, state keys.State, created, activates, retires, remove string) {
	s.t.Helper()
	k := s.key(kid)
	if k.State != state {
		s.t.Fatalf("key %s is %s, want %s", kid, k.State, state)
	}
	for _, c := range []struct {
		name string
		got  time.Time
		want string
	}{{"created", k.CreatedAt, created}, {"activates", k.ActivatesAt, activates}, {"retires", k.RetiresAt, retires}, {"remove", k.RemoveAt, remove}} {
		var want time.Time
		if c.want != "" {
			want = at(s.t, c.want)
		}
		if !c.got.Equal(want) {
			s.t.Errorf("key %s %s at %s, want %s", kid, c.name, c.got.Format(time.TimeOnly+".000"), c.want)
		}
	}
}

func (s *schedule) maxAge(want time.Duration) {
	s.t.Helper()
	if got := s.ring.MaxAge(s.ring.JWKS()); got != want {
		s.t.Fatalf("at %s max-age = %s, want %s", s.clock.Now().Format(time.TimeOnly), got, want)
	}
}

func (s *schedule) nextRotation(want string) {
	s.t.Helper()
	sg := s.ring.Signing()
	if len(sg) != 1 || !sg[0].NextRotation.Equal(at(s.t, want)) {
		s.t.Fatalf("Signing() = %+v, want the next rotation at %s", sg, want)
	}
}

// TestRotationScheduleByTheClock walks two rotations on time.
func TestRotationScheduleByTheClock(t *testing.T) {
	s := newSchedule(t)
	s.passAt("00:00:00.000")
	a := s.only(keys.StateActive)
	s.times(a, keys.StateActive, "00:00:00.000", "00:00:00.000", "", "")
	s.maxAge(5 * time.Minute)
	s.nextRotation("01:00:00.000")

	// B is published at 01:00:00 - 5m10s = 00:54:50; a minute before,
	// caches are told to come back by then.
	s.passAt("00:53:50.000")
	s.maxAge(time.Minute)
	s.passAt("00:54:49.999")
	if n := len(byState(t, s.store)[keys.StateNext]); n != 0 {
		t.Fatalf("a next key was published early: %v", byState(t, s.store))
	}
	s.passAt("00:54:50.000")
	b := s.only(keys.StateNext)
	s.times(b, keys.StateNext, "00:54:50.000", "01:00:00.000", "", "")
	s.published(a, b)
	s.signsWith(a)
	s.nextRotation("01:00:00.000")

	s.passAt("00:59:59.999")
	s.signsWith(a)
	s.passAt("01:00:00.000")
	s.signsWith(b)
	s.times(b, keys.StateActive, "00:54:50.000", "01:00:00.000", "", "")
	// Retired at 01:00:00, removed 20m40s later.
	s.times(a, keys.StateRetired, "00:00:00.000", "00:00:00.000", "01:00:00.000", "01:20:40.000")
	s.published(a, b)
	s.nextRotation("02:00:00.000")

	s.clock.Set(at(t, "01:19:10.000"))
	s.maxAge(90 * time.Second)
	s.passAt("01:20:39.999")
	s.published(a, b)
	s.passAt("01:20:40.000")
	s.published(b)
	if k := s.key(a); k.State != keys.StateRemoved || !k.RemovedAt.Equal(at(t, "01:20:40.000")) || k.PrivateKey != nil {
		t.Fatalf("removed key: %+v", k)
	}

	// C: 02:00:00 - 5m10s = 01:54:50.
	s.passAt("01:54:49.999")
	s.published(b)
	s.passAt("01:54:50.000")
	c := s.only(keys.StateNext)
	s.times(c, keys.StateNext, "01:54:50.000", "02:00:00.000", "", "")
	s.passAt("02:00:00.000")
	s.signsWith(c)
	s.times(b, keys.StateRetired, "00:54:50.000", "01:00:00.000", "02:00:00.000", "02:20:40.000")
}

// TestRotationScheduleLatePass: when no pass ran at 01:54:50 (every
// replica down), the next key still gets its full lead: published at
// 01:57:00, it signs at 01:57:00 + 5m10s = 02:02:10, not at 02:00:00.
func TestRotationScheduleLatePass(t *testing.T) {
	s := newSchedule(t)
	s.passAt("00:00:00.000")
	s.passAt("00:54:50.000")
	s.passAt("01:00:00.000")
	b := s.only(keys.StateActive)

	s.passAt("01:57:00.000")
	c := s.only(keys.StateNext)
	s.times(c, keys.StateNext, "01:57:00.000", "02:02:10.000", "", "")
	s.nextRotation("02:02:10.000")
	s.passAt("02:00:00.000")
	s.passAt("02:02:09.999")
	s.signsWith(b)
	s.passAt("02:02:10.000")
	s.signsWith(c)
	s.times(b, keys.StateRetired, "00:54:50.000", "01:00:00.000", "02:02:10.000", "02:22:50.000")
}

// TestRotationScheduleOnDemand: keys rotate at 00:10:00 publishes E to
// sign at 00:15:10; E's period then runs from its activation, so its
// successor is published at 01:15:10 - 5m10s = 01:10:00.
func TestRotationScheduleOnDemand(t *testing.T) {
	s := newSchedule(t)
	s.passAt("00:00:00.000")
	a := s.only(keys.StateActive)
	s.clock.Set(at(t, "00:10:00.000"))
	k, err := s.rot.Rotate(context.Background(), keys.EdDSA, false)
	if err != nil {
		t.Fatal(err)
	}
	e := k.KID
	s.times(e, keys.StateNext, "00:10:00.000", "00:15:10.000", "", "")
	s.passAt("00:15:09.999")
	s.signsWith(a)
	s.passAt("00:15:10.000")
	s.signsWith(e)
	s.times(a, keys.StateRetired, "00:00:00.000", "00:00:00.000", "00:15:10.000", "00:35:50.000")
	s.nextRotation("01:15:10.000")
	s.passAt("01:09:59.999")
	if n := len(byState(t, s.store)[keys.StateNext]); n != 0 {
		t.Fatal("published early")
	}
	s.passAt("01:10:00.000")
	s.times(s.only(keys.StateNext), keys.StateNext, "01:10:00.000", "01:15:10.000", "", "")
}

// TestRotationScheduleEmergency: keys rotate --now at 00:30:00 makes D sign
// at once; A is retired then and removed at 00:50:40; D's successor is
// published at 01:30:00 - 5m10s = 01:24:50.
func TestRotationScheduleEmergency(t *testing.T) {
	s := newSchedule(t)
	s.passAt("00:00:00.000")
	a := s.only(keys.StateActive)
	s.clock.Set(at(t, "00:30:00.000"))
	k, err := s.rot.Rotate(context.Background(), keys.EdDSA, true)
	if err != nil {
		t.Fatal(err)
	}
	d := k.KID
	s.reload()
	s.signsWith(d)
	s.times(d, keys.StateActive, "00:30:00.000", "00:30:00.000", "", "")
	s.times(a, keys.StateRetired, "00:00:00.000", "00:00:00.000", "00:30:00.000", "00:50:40.000")
	s.passAt("00:50:39.999")
	s.published(a, d)
	s.passAt("00:50:40.000")
	s.published(d)
	s.passAt("01:24:49.999")
	s.published(d)
	s.passAt("01:24:50.000")
	s.times(s.only(keys.StateNext), keys.StateNext, "01:24:50.000", "01:30:00.000", "", "")
}
