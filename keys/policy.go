package keys

import (
	"fmt"
	"slices"
	"time"
)

// Policy is the timing of the key lifecycle.
type Policy struct {
	// Alg is the algorithm new tokens are signed with.
	Alg string
	// Keep are further algorithms whose keys go through the same lifecycle
	// (published ahead, rotated, retired, revocable) without signing
	// access tokens: ID tokens are signed with them (OpenID Connect
	// requires RS256 to be available whatever Alg is).
	Keep []string
	// RSABits is the modulus size of generated RS256 keys.
	RSABits int
	// RotationPeriod is how long a key signs before the next takes over.
	RotationPeriod time.Duration
	// JWKSMaxAge is the ceiling of the JWK set's Cache-Control max-age.
	JWKSMaxAge time.Duration
	// ReloadInterval is how often each replica reloads keys from the store.
	ReloadInterval time.Duration
	// AccessTokenTTL is the lifetime of access tokens.
	AccessTokenTTL time.Duration
	// Leeway is the clock skew verifiers allow.
	Leeway time.Duration
}

// Algs is Alg followed by the kept algorithms, each once.
func (p Policy) Algs() []string {
	out := []string{p.Alg}
	for _, a := range p.Keep {
		if !slices.Contains(out, a) {
			out = append(out, a)
		}
	}
	return out
}

// kept reports whether alg's keys are kept although it is not Alg.
func (p Policy) kept(alg string) bool { return alg != p.Alg && slices.Contains(p.Keep, alg) }

// PublishLead is how long a key is published before it may sign: long
// enough for every replica to load it and for every cached JWK set to
// expire, so that no verifier meets an unknown kid.
func (p Policy) PublishLead() time.Duration { return p.JWKSMaxAge + p.ReloadInterval }

// Retention is how long a retired key stays published: a replica may sign
// with it until its next reload, and the token then lives AccessTokenTTL plus
// the verifiers' leeway; JWKSMaxAge is added so the rule holds for caches too.
func (p Policy) Retention() time.Duration {
	return p.ReloadInterval + p.AccessTokenTTL + p.Leeway + p.JWKSMaxAge
}

// Validate checks the policy's internal rules. The messages carry the
// numbers so an operator can see what to change.
func (p Policy) Validate() error {
	for _, a := range p.Algs() {
		if err := ValidAlg(a); err != nil {
			return err
		}
	}
	if slices.Contains(p.Algs(), RS256) {
		if err := ValidRSABits(p.RSABits); err != nil {
			return err
		}
	}
	switch {
	case p.ReloadInterval <= 0:
		return fmt.Errorf("keys: reload interval must be positive, got %s", p.ReloadInterval)
	case p.JWKSMaxAge < 0:
		return fmt.Errorf("keys: JWKS max-age must not be negative, got %s", p.JWKSMaxAge)
	case p.AccessTokenTTL <= 0:
		return fmt.Errorf("keys: access-token lifetime must be positive, got %s", p.AccessTokenTTL)
	case p.Leeway < 0:
		return fmt.Errorf("keys: leeway must not be negative, got %s", p.Leeway)
	case p.RotationPeriod <= p.PublishLead():
		return fmt.Errorf("keys: rotation period %s must be longer than the publication lead %s (JWKS max-age %s + reload interval %s): a new key must be published that long before it signs",
			p.RotationPeriod, p.PublishLead(), p.JWKSMaxAge, p.ReloadInterval)
	}
	return nil
}
