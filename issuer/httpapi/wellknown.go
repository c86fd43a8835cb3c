package httpapi

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/signet-auth/signet/issuer"
	"github.com/signet-auth/signet/keys"
	"github.com/signet-auth/signet/verifier"
)

// handleJWKS serves the pre-serialised JWK set with an ETag, 304 for a
// matching If-None-Match, and a max-age that never outlives a scheduled
// change of the set.
func (s *Server) handleJWKS() gin.HandlerFunc {
	return func(c *gin.Context) {
		set := s.iss.Keyring().JWKS()
		h := c.Writer.Header()
		h.Set("Cache-Control", "public, max-age="+strconv.Itoa(int(s.iss.Keyring().MaxAge(set)/time.Second)))
		h.Set("ETag", set.ETag)
		if etagMatch(c.GetHeader("If-None-Match"), set.ETag) {
			c.Status(http.StatusNotModified)
			return
		}
		c.Data(http.StatusOK, "application/json", set.Body)
	}
}

// etagMatch implements If-None-Match's weak comparison over a list.
func etagMatch(header, etag string) bool {
	if header == "" {
		return false
	}
	for _, t := range strings.Split(header, ",") {
		t = strings.TrimPrefix(strings.TrimSpace(t), "W/")
		if t == "*" || t == etag {
			return true
		}
	}
	return false
}

type discovery struct {
	Issuer                 string   `json:"issuer"`
	AuthorizationEndpoint  string   `json:"authorization_endpoint"`
	TokenEndpoint          string   `json:"token_endpoint"`
	UserInfoEndpoint       string   `json:"userinfo_endpoint"`
	JWKSURI                string   `json:"jwks_uri"`
	EndSessionEndpoint     string   `json:"end_session_endpoint"`
	RevocationEndpoint     string   `json:"revocation_endpoint"`
	ScopesSupported        []string `json:"scopes_supported"`
	ResponseTypes          []string `json:"response_types_supported"`
	ResponseModes          []string `json:"response_modes_supported"`
	GrantTypes             []string `json:"grant_types_supported"`
	CodeChallengeMethods   []string `json:"code_challenge_methods_supported"`
	SubjectTypes           []string `json:"subject_types_supported"`
	TokenAuthMethods       []string `json:"token_endpoint_auth_methods_supported"`
	RevocationAuthMethods  []string `json:"revocation_endpoint_auth_methods_supported"`
	SigningAlgs            []string `json:"id_token_signing_alg_values_supported"`
	AccessTokenSigningAlgs []string `json:"access_token_signing_alg_values_supported"`
	ClaimsSupported        []string `json:"claims_supported"`
	PromptValues           []string `json:"prompt_values_supported"`
	// AuthorizationResponseIss is RFC 9207: every authorization response
	// carries iss.
	AuthorizationResponseIss bool `json:"authorization_response_iss_parameter_supported"`
	RequestParameter         bool `json:"request_parameter_supported"`
	RequestURIParameter      bool `json:"request_uri_parameter_supported"`
	// RevocationFeed is the revocation feed for verifiers (Signet's own
	// metadata; absent when the store keeps no revocation events).
	RevocationFeed string `json:"revocation_feed_endpoint,omitempty"`
	// Introspection is RFC 7662 introspection, when a credential for it
	// is configured.
	Introspection            string   `json:"introspection_endpoint,omitempty"`
	IntrospectionAuthMethods []string `json:"introspection_endpoint_auth_methods_supported,omitempty"`
	TokenAuthSigningAlgs     []string `json:"token_endpoint_auth_signing_alg_values_supported"`
}

// idTokenClaims are the claims of the ID tokens and of UserInfo.
var idTokenClaims = []string{"iss", "sub", "aud", "exp", "iat", "auth_time", "nonce", "azp", "sid", "at_hash", "email", "email_verified"}

// handleDiscovery serves RFC 8414 / OpenID discovery metadata.
func (s *Server) handleDiscovery() gin.HandlerFunc {
	base := strings.TrimRight(s.iss.Config().IssuerURL, "/")
	claims := issuedClaims()
	for _, c := range idTokenClaims {
		if !slices.Contains(claims, c) {
			claims = append(claims, c)
		}
	}
	doc := discovery{
		Issuer:                   s.iss.Config().IssuerURL,
		AuthorizationEndpoint:    base + "/oauth/authorize",
		TokenEndpoint:            base + "/oauth/token",
		UserInfoEndpoint:         base + "/oauth/userinfo",
		JWKSURI:                  base + "/.well-known/jwks.json",
		EndSessionEndpoint:       base + "/oauth/logout",
		RevocationEndpoint:       base + "/oauth/revoke",
		ScopesSupported:          issuer.OIDCScopes(),
		ResponseTypes:            []string{"code"},
		ResponseModes:            []string{"query"},
		GrantTypes:               grantTypes(),
		CodeChallengeMethods:     []string{"S256"},
		SubjectTypes:             []string{"public"},
		TokenAuthMethods:         []string{issuer.AuthNone, issuer.AuthPrivateKeyJWT, issuer.AuthClientSecretBasic},
		RevocationAuthMethods:    []string{issuer.AuthNone, issuer.AuthPrivateKeyJWT, issuer.AuthClientSecretBasic},
		SigningAlgs:              s.iss.IDTokenAlgs(),
		AccessTokenSigningAlgs:   s.iss.AccessTokenAlgs(),
		ClaimsSupported:          claims,
		PromptValues:             []string{"none", "login"},
		AuthorizationResponseIss: true,
		TokenAuthSigningAlgs:     issuer.ClientAssertionAlgs(),
	}
	if s.iss.Revocations != nil {
		doc.RevocationFeed = base + revocationFeedPath
	}
	if s.iss.Config().IntrospectionToken != "" {
		doc.Introspection = base + "/oauth/introspect"
		doc.IntrospectionAuthMethods = []string{"bearer"}
	}
	return func(c *gin.Context) {
		c.Header("Cache-Control", "public, max-age=3600")
		c.JSON(http.StatusOK, doc)
	}
}

// handleReadyz reports whether the database answers, whether it can
// write (a full disk answers reads but fails every sign-in), and whether
// a signing key is loaded.
func (s *Server) handleReadyz() gin.HandlerFunc {
	return func(c *gin.Context) {
		ctx, cancel := context.WithTimeout(c.Request.Context(), 2*time.Second)
		defer cancel()
		checks := gin.H{"database": "ok", "storage": "ok", "signing_key": "ok"}
		ready := true
		store := s.iss.Store()
		if err := store.Ping(ctx); err != nil {
			checks["database"], checks["storage"], ready = "unreachable", "unchecked", false
		} else if w, ok := store.(interface{ CheckWritable(context.Context) error }); ok {
			if err := w.CheckWritable(ctx); err != nil {
				checks["storage"], ready = "unwritable", false
				logger(c).WarnContext(requestContext(c), "readiness: the database cannot write", "error", err)
			}
		}
		if err := s.iss.Keyring().Healthy(); err != nil {
			ready = false
			checks["signing_key"] = "missing"
			if !errors.Is(err, keys.ErrNoActiveKey) && s.iss.Keyring().ReloadFailures() > 0 {
				// The error names keys and states, never key material.
				checks["signing_key"] = "unusable: " + err.Error()
			}
		}
		status, word := http.StatusOK, "ready"
		if !ready {
			status, word = http.StatusServiceUnavailable, "unavailable"
		}
		c.Header("Cache-Control", "no-store")
		c.JSON(status, gin.H{"status": word, "checks": checks})
	}
}

// notYetIssued are the claims of the token contract (verifier.Claims) that
// the issuer does not write yet: discovery lists only what tokens carry.
var notYetIssued = []string{}

// issuedClaims are the claims the issuer's access tokens carry, in the
// contract's order.
func issuedClaims() []string {
	return slices.DeleteFunc(verifier.ClaimNames(), func(n string) bool { return slices.Contains(notYetIssued, n) })
}
