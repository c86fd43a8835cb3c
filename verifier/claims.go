package verifier

import (
	"errors"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Claims are the claims of a Signet access token: the token contract,
// defined here once. Verify reads them, the issuer writes them with
// AppendJSON, and its discovery document lists ClaimNames as
// claims_supported, so the three cannot drift apart.
//
// The issuer signs a token as:
//
//	c := verifier.Claims{Issuer: iss, Subject: userID, Audience: []string{aud},
//		IssuedAt: now, NotBefore: now, Expiry: now.Add(ttl), ID: jti, ...}
//	payload, err := c.AppendJSON(buf[:0])
//	// signing input: base64url(header) + "." + base64url(payload)
//
// and its discovery sets "claims_supported": verifier.ClaimNames().
//
// A new claim is a field here, a name in ClaimNames, a case in the reader
// and a line in AppendJSON; the package's tests fail when one is missing.
type Claims struct {
	Issuer    string    // iss
	Subject   string    // sub: the user id
	Audience  []string  // aud: read from a string or an array, written as an array
	Expiry    time.Time // exp
	IssuedAt  time.Time // iat
	NotBefore time.Time // nbf; zero when absent
	ID        string    // jti
	SessionID string    // sid
	// Email is the user's address (email). Trust it as the user's only when
	// EmailVerified is true.
	Email         string
	EmailVerified bool     // email_verified; false when absent
	Scope         string   // scope: space-separated, may be empty
	ClientID      string   // client_id: the client the token was issued to (RFC 9068 §2.2)
	Roles         []string // roles (RFC 9068 §2.2.3.1); nil when absent or empty
	// Actor is the act claim (RFC 8693 §4.1) of a token obtained by token
	// exchange: who acts on behalf of Subject. Nil when absent.
	Actor *Actor
}

// Actor is an RFC 8693 act claim: the party acting, and through Actor the
// one it acted for in turn, most recent first. A chain is at most 5 actors
// deep; a deeper one, or an actor without sub, makes the token malformed.
// Members of act other than sub and act are ignored.
type Actor struct {
	Subject string // sub
	Actor   *Actor // act: the prior actor; nil at the end of the chain
}

// maxActorDepth bounds the act chain: each level is a nested object, and
// real delegation chains are short.
const maxActorDepth = 5

// The claim names of the contract.
const (
	claimIss           = "iss"
	claimSub           = "sub"
	claimAud           = "aud"
	claimExp           = "exp"
	claimIat           = "iat"
	claimNbf           = "nbf"
	claimJti           = "jti"
	claimSid           = "sid"
	claimEmail         = "email"
	claimEmailVerified = "email_verified"
	claimScope         = "scope"
	claimClientID      = "client_id"
	claimRoles         = "roles"
	claimAct           = "act"
)

// ClaimNames returns the name of every claim of the contract, in the order
// AppendJSON writes them: what the issuer advertises as claims_supported.
func ClaimNames() []string {
	return []string{
		claimIss, claimSub, claimAud, claimExp, claimIat, claimNbf, claimJti, claimSid,
		claimEmail, claimScope, claimEmailVerified, claimClientID, claimRoles, claimAct,
	}
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

// AppendJSON appends to dst the claims as the JSON object the issuer signs,
// and returns the extended buffer. Times are NumericDate integer seconds
// (sub-second parts are dropped); aud is always an array; iss, sub, aud,
// exp, iat and scope are always written, and email_verified whenever email
// is; the other claims are left out when empty (zero nbf, empty strings,
// no roles, nil act), which the reader takes exactly as their empty values. Strings are
// escaped as encoding/json escapes them.
//
// It refuses claims that no verifier accepts: iss, sub, aud, exp or iat
// missing, a time before 1970 or after 9999, a string that is not valid
// UTF-8, an act chain deeper than 5 or an actor without sub. On error dst
// is returned unchanged.
func (c *Claims) AppendJSON(dst []byte) ([]byte, error) {
	switch {
	case c.Issuer == "":
		return dst, errors.New("verifier: claims: iss is empty")
	case c.Subject == "":
		return dst, errors.New("verifier: claims: sub is empty")
	case len(c.Audience) == 0:
		return dst, errors.New("verifier: claims: aud is empty")
	case c.Expiry.IsZero() || c.Expiry.Unix() == 0:
		return dst, errors.New("verifier: claims: exp is zero")
	case c.IssuedAt.IsZero():
		return dst, errors.New("verifier: claims: iat is zero")
	}
	w := claimWriter{buf: dst}
	w.buf = append(w.buf, '{')
	w.str(claimIss, c.Issuer)
	w.str(claimSub, c.Subject)
	w.name(claimAud)
	w.buf = append(w.buf, '[')
	for i, a := range c.Audience {
		if i > 0 {
			w.buf = append(w.buf, ',')
		}
		w.value(claimAud, a)
	}
	w.buf = append(w.buf, ']')
	w.date(claimExp, c.Expiry)
	w.date(claimIat, c.IssuedAt)
	if !c.NotBefore.IsZero() {
		w.date(claimNbf, c.NotBefore)
	}
	w.optStr(claimJti, c.ID)
	w.optStr(claimSid, c.SessionID)
	w.optStr(claimEmail, c.Email)
	w.str(claimScope, c.Scope)
	// email_verified goes with email, false included: a resource server
	// reading another library sees an explicit false, never a missing
	// claim it might default.
	if c.Email != "" || c.EmailVerified {
		w.name(claimEmailVerified)
		if c.EmailVerified {
			w.buf = append(w.buf, "true"...)
		} else {
			w.buf = append(w.buf, "false"...)
		}
	}
	w.optStr(claimClientID, c.ClientID)
	if len(c.Roles) > 0 {
		w.name(claimRoles)
		w.buf = append(w.buf, '[')
		for i, r := range c.Roles {
			if i > 0 {
				w.buf = append(w.buf, ',')
			}
			w.value(claimRoles, r)
		}
		w.buf = append(w.buf, ']')
	}
	if c.Actor != nil {
		w.name(claimAct)
		w.actor(c.Actor, 1)
	}
	w.buf = append(w.buf, '}')
	if w.err != nil {
		return dst, w.err
	}
	return w.buf, nil
}

// claimWriter appends the members of JSON objects, keeping the first
// error.
type claimWriter struct {
	buf []byte
	err error
}

// name starts a member: a comma unless it is the object's first.
func (w *claimWriter) name(n string) {
	if w.buf[len(w.buf)-1] != '{' {
		w.buf = append(w.buf, ',')
	}
	w.buf = append(w.buf, '"')
	w.buf = append(w.buf, n...)
	w.buf = append(w.buf, '"', ':')
}

func (w *claimWriter) value(claim, s string) {
	if !utf8.ValidString(s) {
		w.fail(claim + " is not valid UTF-8")
		return
	}
	w.buf = AppendJSONString(w.buf, s)
}

func (w *claimWriter) str(claim, s string) {
	w.name(claim)
	w.value(claim, s)
}

func (w *claimWriter) optStr(claim, s string) {
	if s != "" {
		w.str(claim, s)
	}
}

func (w *claimWriter) date(claim string, t time.Time) {
	sec := t.Unix()
	if sec < 0 || sec > maxNumericDate {
		w.fail(claim + " is before 1970 or after 9999")
		return
	}
	w.name(claim)
	w.buf = strconv.AppendInt(w.buf, sec, 10)
}

func (w *claimWriter) actor(a *Actor, depth int) {
	switch {
	case depth > maxActorDepth:
		w.fail("act is nested more than " + strconv.Itoa(maxActorDepth) + " deep")
		return
	case a.Subject == "":
		w.fail("act has an empty sub")
		return
	}
	w.buf = append(w.buf, '{')
	w.str(claimSub, a.Subject)
	if a.Actor != nil {
		w.name(claimAct)
		w.actor(a.Actor, depth+1)
	}
	w.buf = append(w.buf, '}')
}

func (w *claimWriter) fail(msg string) {
	if w.err == nil {
		w.err = errors.New("verifier: claims: " + msg)
	}
}

// AppendJSONString appends s as a JSON string, byte for byte what
// encoding/json writes: HTML-safe (<, >, & escaped), U+2028 and U+2029
// escaped, invalid UTF-8 as U+FFFD. The signer writes claims with it, so
// tokens keep the bytes they had when the issuer used encoding/json; the
// issuer writes its hot responses with it.
func AppendJSONString(dst []byte, s string) []byte {
	const hexDigits = "0123456789abcdef"
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		b := s[i]
		if b < utf8.RuneSelf {
			if b >= 0x20 && b != '"' && b != '\\' && b != '<' && b != '>' && b != '&' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch b {
			case '"', '\\':
				dst = append(dst, '\\', b)
			case '\b':
				dst = append(dst, '\\', 'b')
			case '\f':
				dst = append(dst, '\\', 'f')
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[b>>4], hexDigits[b&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			start = i + size
		case r == '\u2028' || r == '\u2029':
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			start = i + size
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

// claimSet is Claims plus what the checks need to know about presence.
type claimSet struct {
	Claims
	hasExp, hasIat, hasNbf bool
}

// parseClaims reads the payload strictly: a claim of the contract with a
// value of the wrong type makes the whole payload invalid; other claims are
// ignored. String claims are substrings of a single copy of the payload,
// so parsing costs few allocations.
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
	strs := func(v jsonValue, dst *[]string) bool {
		return walkArray(payload, v, func(e jsonValue) bool {
			var s string
			if !str(e, &s) {
				return false
			}
			*dst = append(*dst, s)
			return true
		})
	}
	ok := walkObject(payload, func(name []byte, v jsonValue) bool {
		switch string(name) {
		case claimIss:
			return str(v, &c.Issuer)
		case claimSub:
			return str(v, &c.Subject)
		case claimJti:
			return str(v, &c.ID)
		case claimSid:
			return str(v, &c.SessionID)
		case claimEmail:
			return str(v, &c.Email)
		case claimScope:
			return str(v, &c.Scope)
		case claimClientID:
			return str(v, &c.ClientID)
		case claimExp:
			return date(v, &c.Expiry, &c.hasExp)
		case claimIat:
			return date(v, &c.IssuedAt, &c.hasIat)
		case claimNbf:
			return date(v, &c.NotBefore, &c.hasNbf)
		case claimEmailVerified:
			if v.kind != jsonBool {
				return false
			}
			c.EmailVerified = payload[v.start] == 't'
			return true
		case claimAud:
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
				return strs(v, &c.Audience)
			}
			return false
		case claimRoles:
			return v.kind == jsonArray && strs(v, &c.Roles)
		case claimAct:
			var ok bool
			c.Actor, ok = parseActor(payload, v, 1, str)
			return ok
		}
		return true // other claims are allowed and ignored
	})
	return c, ok
}

// parseActor reads an act claim, v, and the act claims nested in it.
func parseActor(payload []byte, v jsonValue, depth int, str func(jsonValue, *string) bool) (*Actor, bool) {
	if v.kind != jsonObject || depth > maxActorDepth {
		return nil, false
	}
	a := &Actor{}
	obj := payload[v.start:v.end]
	ok := walkObject(obj, func(name []byte, m jsonValue) bool {
		m.start, m.end = m.start+v.start, m.end+v.start // offsets in payload
		switch string(name) {
		case claimSub:
			return str(m, &a.Subject)
		case claimAct:
			var ok bool
			a.Actor, ok = parseActor(payload, m, depth+1, str)
			return ok
		}
		return true
	})
	return a, ok && a.Subject != ""
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
