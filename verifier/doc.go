// Package verifier verifies Signet access tokens in resource servers, offline,
// with the issuer's public keys (JWKS).
//
// It accepts only what the issuer issues: a compact JWS whose alg is
// allowlisted (EdDSA, RS256 by default) and matches the key named by its
// kid, typ at+jwt, the required claims iss, sub, aud, exp and iat, with a
// bounded clock leeway and lifetime. It never trusts keys named by the
// token (jwk, jku, x5u, x5c) and refuses crit, b64 and nested tokens.
//
// Keys come from the issuer's JWKS (found by discovery or given as a URL)
// and are refreshed in the background, honouring Cache-Control within
// bounds and on an unknown kid with a cooldown, so Verify does no network
// I/O. The last good key set survives issuer outages for a bounded time,
// after which Verify fails closed.
//
// By default New fetches the key set before it returns and fails if it
// cannot, so a wrong issuer URL or an unreachable issuer stops a program at
// start-up. A server that must come up while its issuer is down sets
// Config.Lazy: New then fails only on configuration errors, keys are
// fetched in the background with backoff, and until they arrive Verify
// returns ErrKeySetUnavailable, which the middleware answers with 503 and
// Retry-After rather than 401.
//
// Usage:
//
//	v, err := verifier.New(ctx, verifier.Config{
//		Issuer:   "https://auth.example.com",
//		Audience: "orders-api",
//	})
//	if err != nil {
//		return err // bad config, or discovery or the first JWKS fetch failed
//	}
//	defer v.Close()
//
//	mux.Handle("/orders", verifier.Middleware(v)(ordersHandler))
//
//	// in ordersHandler:
//	claims, _ := verifier.ClaimsFrom(r.Context())
//	if !claims.HasScope("orders:read") { ... }
//
// Or directly:
//
//	claims, err := v.Verify(ctx, raw)
//	switch {
//	case errors.Is(err, verifier.ErrExpired): // ask the client to refresh
//	case err != nil: // forged, wrong audience, ...: verifier.ErrorKind(err)
//	}
//
// Gin users take the middleware from package ginverifier.
package verifier
