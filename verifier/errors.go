package verifier

import (
	"errors"
	"fmt"
	"time"
)

// Sentinel errors returned (wrapped) by Verify. Test for them with errors.Is.
// Every error Verify returns wraps exactly one of them, so ErrorKind can
// classify it; messages never contain the raw token.
var (
	// ErrNoToken means the request carried no bearer token (middleware only).
	ErrNoToken = errors.New("verifier: no bearer token")
	// ErrMalformed means the token is not a strict compact JWS with JSON
	// header and claims as the issuer produces them, is too large, or uses a
	// header parameter the issuer never sets (crit, b64, cty, jwk, jku, ...).
	ErrMalformed = errors.New("verifier: malformed token")
	// ErrDisallowedAlg means the header alg is not on the allowlist or does
	// not match the alg bound to the key named by kid.
	ErrDisallowedAlg = errors.New("verifier: disallowed algorithm")
	// ErrUnknownKey means the kid is missing or names no key in the key set.
	ErrUnknownKey = errors.New("verifier: unknown signing key")
	// ErrBadSignature means the signature does not verify with the key.
	ErrBadSignature = errors.New("verifier: bad signature")
	// ErrMissingClaim means a required claim (iss, sub, aud, exp, iat) is
	// absent, null, empty or zero.
	ErrMissingClaim = errors.New("verifier: missing required claim")
	// ErrWrongIssuer means iss is not Config.Issuer.
	ErrWrongIssuer = errors.New("verifier: wrong issuer")
	// ErrWrongAudience means aud does not contain Config.Audience.
	ErrWrongAudience = errors.New("verifier: wrong audience")
	// ErrExpired means exp (plus leeway) has passed. The error is a
	// *TokenExpiredError.
	ErrExpired = errors.New("verifier: token expired")
	// ErrNotYetValid means nbf or iat is in the future beyond the leeway.
	ErrNotYetValid = errors.New("verifier: token not yet valid")
	// ErrInvalidLifetime means exp is not after iat or exp-iat exceeds
	// Config.MaxTokenLifetime.
	ErrInvalidLifetime = errors.New("verifier: token lifetime not allowed")
	// ErrKeySetUnavailable means no usable key set: the first fetch has not
	// succeeded yet, or the issuer has been unreachable for longer than
	// Config.MaxStaleness. The verifier fails closed. The token may well be
	// good, so the middleware answers 503 rather than 401. Verify returns it
	// as a *KeySetUnavailableError.
	ErrKeySetUnavailable = errors.New("verifier: key set unavailable")
	// ErrRevoked means the issuer's revocation feed ended the token's
	// session or subject (sign-out, password reset, account deletion).
	ErrRevoked = errors.New("verifier: token revoked")
)

// TokenExpiredError is returned by Verify for a token whose exp has passed.
// errors.Is(err, ErrExpired) is true for it.
type TokenExpiredError struct {
	Expiry time.Time
}

func (e *TokenExpiredError) Error() string {
	return fmt.Sprintf("verifier: token expired at %s", e.Expiry.UTC().Format(time.RFC3339))
}

// Is reports ErrExpired as a match, so callers can use either errors.Is or
// errors.As.
func (e *TokenExpiredError) Is(target error) bool { return target == ErrExpired }

// KeySetUnavailableError is returned by Verify when it has no usable key
// set. errors.Is(err, ErrKeySetUnavailable) is true for it.
type KeySetUnavailableError struct {
	// RetryAfter is when a retry may succeed: a token can start a new fetch
	// once Config.UnknownKIDCooldown is over.
	RetryAfter time.Duration
	reason     string
}

func (e *KeySetUnavailableError) Error() string {
	if e.reason == "" {
		return ErrKeySetUnavailable.Error()
	}
	return ErrKeySetUnavailable.Error() + ": " + e.reason
}

// Is reports ErrKeySetUnavailable as a match.
func (e *KeySetUnavailableError) Is(target error) bool { return target == ErrKeySetUnavailable }

// Fixed errors for the hot path: no allocation and no token content.
func detail(sentinel error, msg string) error { return fmt.Errorf("%w: %s", sentinel, msg) }

var (
	errTooLarge        = detail(ErrMalformed, "token too large")
	errNotCompact      = detail(ErrMalformed, "not a compact jws with three parts")
	errBadBase64       = detail(ErrMalformed, "not unpadded base64url")
	errBadHeader       = detail(ErrMalformed, "header is not a strict json object")
	errBadPayload      = detail(ErrMalformed, "payload is not a strict json object")
	errBadTyp          = detail(ErrMalformed, "typ is not at+jwt")
	errForbiddenHeader = detail(ErrMalformed, "header parameter not allowed")
	errNoAlg           = detail(ErrDisallowedAlg, "alg missing")
	errAlgNotAllowed   = detail(ErrDisallowedAlg, "alg not allowed")
	errAlgKeyMismatch  = detail(ErrDisallowedAlg, "alg does not match the key")
	errNoKID           = detail(ErrUnknownKey, "kid missing")
	errKIDNotFound     = detail(ErrUnknownKey, "kid not in key set")
	errMissingIss      = detail(ErrMissingClaim, "iss")
	errMissingSub      = detail(ErrMissingClaim, "sub")
	errMissingAud      = detail(ErrMissingClaim, "aud")
	errMissingExp      = detail(ErrMissingClaim, "exp")
	errMissingIat      = detail(ErrMissingClaim, "iat")
	errNbfFuture       = detail(ErrNotYetValid, "nbf is in the future")
	errIatFuture       = detail(ErrNotYetValid, "iat is in the future")
	errExpBeforeIat    = detail(ErrInvalidLifetime, "exp is not after iat")
	errTooLong         = detail(ErrInvalidLifetime, "exp-iat exceeds the maximum token lifetime")
)

// Reasons of a KeySetUnavailableError.
const (
	reasonNoKeySet    = "no key set fetched yet"
	reasonStaleKeySet = "key set is stale and the issuer is unreachable"
)

// ErrorKind classifies an error from Verify or the middleware into a short,
// stable string that is safe to show to clients: "missing_token",
// "malformed", "disallowed_alg", "unknown_key", "bad_signature",
// "missing_claim", "wrong_issuer", "wrong_audience", "expired",
// "not_yet_valid", "invalid_lifetime", "keyset_unavailable", "revoked", or "invalid"
// for anything else (including nil).
func ErrorKind(err error) string {
	for _, k := range kinds {
		if errors.Is(err, k.err) {
			return k.kind
		}
	}
	return "invalid"
}

// errorDescription is the client-facing text for an error: fixed per kind,
// so nothing internal (URLs, network errors) leaks into a response.
func errorDescription(err error) string {
	for _, k := range kinds {
		if errors.Is(err, k.err) {
			return k.description
		}
	}
	return "the access token is invalid"
}

var kinds = [...]struct {
	err               error
	kind, description string
}{
	{ErrNoToken, "missing_token", "no bearer token in the request"},
	{ErrMalformed, "malformed", "the access token is malformed"},
	{ErrDisallowedAlg, "disallowed_alg", "the access token uses a disallowed algorithm"},
	{ErrUnknownKey, "unknown_key", "the access token is signed with an unknown key"},
	{ErrBadSignature, "bad_signature", "the access token signature is invalid"},
	{ErrMissingClaim, "missing_claim", "the access token lacks a required claim"},
	{ErrWrongIssuer, "wrong_issuer", "the access token was issued by another issuer"},
	{ErrWrongAudience, "wrong_audience", "the access token is not meant for this audience"},
	{ErrExpired, "expired", "the access token expired"},
	{ErrNotYetValid, "not_yet_valid", "the access token is not valid yet"},
	{ErrInvalidLifetime, "invalid_lifetime", "the access token lifetime is not allowed"},
	{ErrKeySetUnavailable, "keyset_unavailable", "the signing keys are unavailable"},
	{ErrRevoked, "revoked", "the access token was revoked"},
}
