package verifier

import (
	"slices"
	"strings"
	"time"
)

// Claims are the verified claims of an access token.
type Claims struct {
	Issuer    string    // iss
	Subject   string    // sub: the user id
	Audience  []string  // aud, always as a list
	Expiry    time.Time // exp
	IssuedAt  time.Time // iat
	NotBefore time.Time // nbf; zero when absent
	ID        string    // jti
	SessionID string    // sid
	Email     string    // email
	Scope     string    // scope: space-separated, may be empty
}

// HasScope reports whether the space-separated scope claim contains s.
func (c *Claims) HasScope(s string) bool {
	if s == "" || c == nil {
		return false
	}
	for rest := c.Scope; rest != ""; {
		var tok string
		tok, rest, _ = strings.Cut(rest, " ")
		if tok == s {
			return true
		}
	}
	return false
}

// claimSet is Claims plus what the checks need to know about presence.
type claimSet struct {
	Claims
	hasExp, hasIat, hasNbf bool
}

// parseClaims reads the payload strictly. String claims are substrings of a
// single copy of the payload, so parsing costs few allocations.
func parseClaims(payload []byte) (*claimSet, bool) {
	text := string(payload)
	c := &claimSet{}
	str := func(v jsonValue, dst *string) bool {
		if v.kind != jsonString {
			return false
		}
		if !v.escaped {
			*dst = text[v.start:v.end]
			return true
		}
		b, ok := unquote(nil, payload[v.start:v.end])
		*dst = string(b)
		return ok
	}
	date := func(v jsonValue, dst *time.Time, has *bool) bool {
		if v.kind != jsonNumber {
			return false
		}
		sec, nsec, ok := numericDate(payload[v.start:v.end])
		*dst, *has = time.Unix(sec, nsec), true
		return ok
	}
	ok := walkObject(payload, func(name []byte, v jsonValue) bool {
		switch string(name) {
		case "iss":
			return str(v, &c.Issuer)
		case "sub":
			return str(v, &c.Subject)
		case "jti":
			return str(v, &c.ID)
		case "sid":
			return str(v, &c.SessionID)
		case "email":
			return str(v, &c.Email)
		case "scope":
			return str(v, &c.Scope)
		case "exp":
			return date(v, &c.Expiry, &c.hasExp)
		case "iat":
			return date(v, &c.IssuedAt, &c.hasIat)
		case "nbf":
			return date(v, &c.NotBefore, &c.hasNbf)
		case "aud":
			switch v.kind {
			case jsonString:
				var a string
				if !str(v, &a) {
					return false
				}
				c.Audience = []string{a}
				return true
			case jsonArray:
				c.Audience = make([]string, 0, 2)
				return walkArray(payload, v, func(e jsonValue) bool {
					var a string
					if !str(e, &a) {
						return false
					}
					c.Audience = append(c.Audience, a)
					return true
				})
			}
			return false
		}
		return true // other claims are allowed and ignored
	})
	return c, ok
}

// checkIssuerAudience is the cheap check done even before the signature,
// to decide whether an unknown kid deserves a key refresh.
func (v *Verifier) checkIssuerAudience(c *claimSet) error {
	switch {
	case c.Issuer == "":
		return errMissingIss
	case c.Issuer != v.cfg.Issuer:
		return ErrWrongIssuer
	case len(c.Audience) == 0:
		return errMissingAud
	case !slices.Contains(c.Audience, v.cfg.Audience):
		return ErrWrongAudience
	}
	return nil
}

// checkClaims applies the claim rules to a token whose signature verified.
func (v *Verifier) checkClaims(c *claimSet) error {
	if err := v.checkIssuerAudience(c); err != nil {
		return err
	}
	switch {
	case c.Subject == "":
		return errMissingSub
	case !c.hasExp || c.Expiry.Unix() == 0:
		return errMissingExp
	case !c.hasIat:
		return errMissingIat
	case !c.Expiry.After(c.IssuedAt):
		return errExpBeforeIat
	case c.Expiry.Sub(c.IssuedAt) > v.cfg.MaxTokenLifetime:
		return errTooLong
	}
	now, leeway := v.cfg.Now(), v.cfg.Leeway
	switch {
	case !now.Before(c.Expiry.Add(leeway)):
		return &TokenExpiredError{Expiry: c.Expiry}
	case c.hasNbf && now.Add(leeway).Before(c.NotBefore):
		return errNbfFuture
	case now.Add(leeway).Before(c.IssuedAt):
		return errIatFuture
	}
	return nil
}
