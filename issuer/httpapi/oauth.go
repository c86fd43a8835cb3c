package httpapi

import (
	"errors"
	"io"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/signet-auth/signet/issuer"
)

// decodeForm reads an application/x-www-form-urlencoded body (RFC 6749
// §3.2) with the size cap. A repeated parameter is invalid_request (RFC
// 6749 §3.1), except resource, which RFC 8707 §2 lets a client repeat:
// Signet issues a token for one resource, so more than one is
// invalid_target. An empty parameter counts as absent.
func decodeForm(c *gin.Context) (map[string]string, error) {
	mt, _, err := mime.ParseMediaType(c.GetHeader("Content-Type"))
	if err != nil || mt != "application/x-www-form-urlencoded" {
		return nil, apiError(issuer.KindInvalid, "the body must be application/x-www-form-urlencoded")
	}
	body, err := io.ReadAll(http.MaxBytesReader(c.Writer, c.Request.Body, maxBodyBytes))
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return nil, apiError(kindTooLarge, "the body is larger than %d bytes", maxBodyBytes)
		}
		return nil, apiError(issuer.KindInvalid, "could not read the body")
	}
	vals, err := url.ParseQuery(string(body))
	if err != nil {
		return nil, apiError(issuer.KindInvalid, "the body is not valid form encoding")
	}
	if err := checkFormUTF8(vals); err != nil {
		return nil, err
	}
	out := make(map[string]string, len(vals))
	for k, v := range vals {
		if len(v) > 1 && k == "resource" {
			return nil, apiError(issuer.KindInvalidTarget, "one resource per token: resource is repeated")
		}
		if len(v) > 1 {
			return nil, apiError(issuer.KindInvalid, "parameter %q is repeated", k)
		}
		if v[0] != "" {
			out[k] = v[0]
		}
	}
	return out, nil
}

// grant is one grant type of the token endpoint. Each lives in its own
// file (grant_*.go) and is listed in grants; discovery advertises exactly
// those.
type grant interface {
	// exchange validates the grant's parameters and returns its tokens.
	exchange(s *Server, c *gin.Context, form map[string]string) (issuer.TokenSet, error)
}

// grants are the grant types the token endpoint supports, by name.
var grants = map[string]grant{
	"password":                passwordGrant{},
	"refresh_token":           refreshGrant{},
	"client_credentials":      clientCredentialsGrant{},
	"authorization_code":      authorizationCodeGrant{},
	issuer.GrantTokenExchange: tokenExchangeGrant{},
}

// userTokenRequest reads the parameters of a grant for a user (password,
// refresh token): a client that sends authentication must pass it, and
// a confidential client must send it (Registry.Target refuses it
// otherwise, 401 invalid_client).
func (s *Server) userTokenRequest(c *gin.Context, form map[string]string) (issuer.TokenRequest, error) {
	req := oauthTokenRequest(form)
	cc, err := s.clientCredentials(c, form)
	if err != nil {
		return req, err
	}
	if cc.Present() {
		cl, err := s.iss.AuthenticateClient(requestContext(c), caller(c), cc)
		if err != nil {
			return req, err
		}
		req.ClientID, req.ClientAuthenticated = cl.ID, true
	}
	return req, nil
}

// oauthTokenRequest reads the parameters every grant shares.
func oauthTokenRequest(form map[string]string) issuer.TokenRequest {
	return issuer.TokenRequest{ClientID: form["client_id"], Resource: form["resource"], Scope: form["scope"]}
}

// usedBasic reports whether the request carried HTTP Basic credentials.
func usedBasic(c *gin.Context) bool {
	scheme, _, _ := strings.Cut(c.GetHeader("Authorization"), " ")
	return strings.EqualFold(scheme, "Basic")
}

// grantTypes lists the supported grant types, sorted.
func grantTypes() []string {
	names := make([]string, 0, len(grants))
	for n := range grants {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// oauthTokenResponse is RFC 6749 §5.1, plus refresh_expires_in.
type oauthTokenResponse struct {
	AccessToken      string  `json:"access_token"`
	TokenType        string  `json:"token_type"`
	ExpiresIn        int     `json:"expires_in"`
	RefreshToken     string  `json:"refresh_token,omitempty"` // none for client credentials
	RefreshExpiresIn *int    `json:"refresh_expires_in,omitempty"`
	Scope            *string `json:"scope,omitempty"`
	// IssuedTokenType is RFC 8693 §2.2.1, on token exchange only.
	IssuedTokenType string `json:"issued_token_type,omitempty"`
	// IDToken is OpenID Connect Core §3.1.3.3, on the code grant with
	// the openid scope.
	IDToken string `json:"id_token,omitempty"`
}

// handleOAuthToken is the RFC 6749 token endpoint. client_id names a
// registered client (none: the first-party client); resource (RFC 8707)
// and scope say what the access token is for. The response carries the
// scope granted when one was asked for or granted.
func (s *Server) handleOAuthToken() gin.HandlerFunc {
	return func(c *gin.Context) {
		form, err := decodeForm(c)
		if err != nil {
			failOAuth(c, err)
			return
		}
		name := form["grant_type"]
		g, ok := grants[name]
		switch {
		case name == "":
			failOAuth(c, apiError(issuer.KindInvalid, "grant_type is required"))
			return
		case !ok:
			failOAuth(c, apiError(kindUnsupportedGrant, "grant_type must be one of %v", grantTypes()))
			return
		}
		ts, err := g.exchange(s, c, form)
		if err != nil {
			if issuer.KindOf(err) == issuer.KindInvalidClient && usedBasic(c) {
				// RFC 6749 §5.2: a client that tried HTTP Basic gets the
				// scheme it may retry with.
				c.Header("WWW-Authenticate", `Basic realm="signet"`)
			}
			failOAuth(c, err)
			return
		}
		resp := newTokenResponse(ts)
		out := oauthTokenResponse{
			AccessToken: resp.AccessToken, TokenType: resp.TokenType, ExpiresIn: resp.ExpiresIn,
			RefreshToken: resp.RefreshToken, IDToken: ts.IDToken,
		}
		if ts.RefreshToken != "" {
			out.RefreshExpiresIn = &resp.RefreshExpiresIn
		}
		if name == issuer.GrantTokenExchange {
			out.IssuedTokenType = issuer.TokenTypeAccessToken
		}
		if _, asked := form["scope"]; asked || ts.Scope != "" || name == issuer.GrantAuthorizationCode {
			out.Scope = &ts.Scope
		}
		c.JSON(http.StatusOK, out)
	}
}

// handleOAuthRevoke is RFC 7009 revocation: 200 with an empty body for any
// token, known or not (§2.2).
func (s *Server) handleOAuthRevoke() gin.HandlerFunc {
	return func(c *gin.Context) {
		form, err := decodeForm(c)
		if err != nil {
			failOAuth(c, err)
			return
		}
		raw := form["token"]
		if raw == "" {
			failOAuth(c, apiError(issuer.KindInvalid, "token is required"))
			return
		}
		// RFC 7009 §2.1: a client that authenticates, or that is
		// confidential and so must, is checked first.
		req, err := s.userTokenRequest(c, form)
		if err == nil {
			err = s.iss.Registry.CheckRevoker(requestContext(c), req)
		}
		if err == nil {
			err = s.iss.Sessions.RevokeToken(requestContext(c), caller(c), raw)
		}
		if err != nil {
			if issuer.KindOf(err) == issuer.KindInvalidClient && usedBasic(c) {
				c.Header("WWW-Authenticate", `Basic realm="signet"`)
			}
			failOAuth(c, err)
			return
		}
		c.Status(http.StatusOK)
		c.Writer.WriteHeaderNow()
	}
}
