package httpapi

import (
	"errors"
	"html/template"
	"net/http"
	"net/url"
	"slices"

	"github.com/gin-gonic/gin"

	"github.com/signet-auth/signet/issuer"
)

// authorizeRequest is a parsed authorization request: its parameters,
// the ones that were repeated, and the request re-encoded for the pages
// to carry.
type authorizeRequest struct {
	params   issuer.AuthorizeParams
	repeated []string
	encoded  string
}

func parseAuthorize(vals url.Values) authorizeRequest {
	var r authorizeRequest
	keep := url.Values{}
	get := func(name string) string {
		v := vals[name]
		if len(v) > 1 {
			r.repeated = append(r.repeated, name)
		}
		if len(v) == 0 {
			return ""
		}
		keep[name] = v[:1]
		return v[0]
	}
	p := &r.params
	p.ClientID, p.RedirectURI, p.ResponseType, p.ResponseMode = get("client_id"), get("redirect_uri"), get("response_type"), get("response_mode")
	p.Scope, p.State, p.Nonce = get("scope"), get("state"), get("nonce")
	p.CodeChallenge, p.CodeChallengeMethod, p.Prompt, p.MaxAge = get("code_challenge"), get("code_challenge_method"), get("prompt"), get("max_age")
	p.LoginHint, p.Resource, p.Request, p.RequestURI = get("login_hint"), get("resource"), get("request"), get("request_uri")
	r.encoded = keep.Encode()
	return r
}

// authorizeValues reads the request's parameters: the query of a GET,
// the form body of a POST (OpenID Connect Core §3.1.2.1).
func authorizeValues(c *gin.Context) (url.Values, error) {
	if c.Request.Method == http.MethodGet {
		return c.Request.URL.Query(), nil
	}
	c.Request.Body = http.MaxBytesReader(c.Writer, c.Request.Body, maxBodyBytes)
	if err := c.Request.ParseForm(); err != nil {
		return nil, err
	}
	return c.Request.PostForm, nil
}

// check checks the request; a repeated parameter is invalid_request,
// sent to the client only when client_id and redirect_uri are not among
// them.
func (s *Server) checkAuthorize(c *gin.Context, r authorizeRequest) (issuer.Authorization, error) {
	a, err := s.iss.CheckAuthorization(requestContext(c), r.params)
	var ae *issuer.AuthorizeError
	if err == nil && len(r.repeated) > 0 || errors.As(err, &ae) && ae.Redirect && len(r.repeated) > 0 {
		redirect := !slices.Contains(r.repeated, "client_id") && !slices.Contains(r.repeated, "redirect_uri")
		return a, &issuer.AuthorizeError{Code: "invalid_request", Description: "parameter " + r.repeated[0] + " is repeated", Redirect: redirect}
	}
	return a, err
}

// authorizeFailed answers a refused authorization request: to the client
// when it may be (RFC 6749 §4.1.2.1), on the error page otherwise.
func (s *Server) authorizeFailed(c *gin.Context, a issuer.Authorization, err error) {
	var ae *issuer.AuthorizeError
	if !errors.As(err, &ae) {
		s.iss.Metrics.Authorizations.WithLabelValues("error_page").Inc()
		s.failPage(c, err)
		return
	}
	if !ae.Redirect {
		s.iss.Metrics.Authorizations.WithLabelValues("error_page").Inc()
		s.errorPage(c, http.StatusBadRequest, ae.Code, ae.Description)
		return
	}
	s.iss.Metrics.Authorizations.WithLabelValues("error_redirect").Inc()
	s.redirectToClient(c, a, url.Values{"error": {ae.Code}, "error_description": {ae.Description}})
}

// redirectToClient sends an authorization response to the checked
// redirect URI, with state and iss (RFC 9207) added to its query.
func (s *Server) redirectToClient(c *gin.Context, a issuer.Authorization, params url.Values) {
	u, _ := url.Parse(a.RedirectURI) // checked against the registered list
	q := u.Query()
	for k, v := range params {
		q[k] = v
	}
	if a.State != "" {
		q.Set("state", a.State)
	}
	q.Set("iss", s.iss.Config().IssuerURL)
	u.RawQuery = q.Encode()
	status := http.StatusFound
	if c.Request.Method == http.MethodPost {
		status = http.StatusSeeOther
	}
	c.Redirect(status, u.String())
	c.Abort()
}

// issueCode ends a successful authorization: a code for the user, sent
// to the client.
func (s *Server) issueCode(c *gin.Context, a issuer.Authorization, u issuer.User, bs issuer.BrowserSession) {
	code, err := s.iss.IssueCode(requestContext(c), caller(c), a, u, bs.AuthTime)
	if issuer.KindOf(err) == issuer.KindRateLimited {
		// The client and redirect URI are good: it is told (RFC 6749
		// §4.1.2.1), so that a prompt=none request gets its answer too.
		setRetryAfter(c, issuer.AsError(err))
		s.authorizeFailed(c, a, &issuer.AuthorizeError{Code: "temporarily_unavailable", Description: issuer.AsError(err).Description, Redirect: true})
		return
	}
	if err != nil {
		s.iss.Metrics.Authorizations.WithLabelValues("error_page").Inc()
		s.failPage(c, err)
		return
	}
	s.iss.Metrics.Authorizations.WithLabelValues("code").Inc()
	s.redirectToClient(c, a, url.Values{"code": {code}})
}

// handleAuthorize is the authorization endpoint (GET and POST): a user
// with a browser session recent enough gets a code at once (single
// sign-on); otherwise the sign-in page, or login_required for prompt=none.
func (s *Server) handleAuthorize() gin.HandlerFunc {
	return func(c *gin.Context) {
		vals, err := authorizeValues(c)
		if err != nil {
			s.errorPage(c, http.StatusBadRequest, "invalid_request", "The request could not be read.")
			return
		}
		r := parseAuthorize(vals)
		a, err := s.checkAuthorize(c, r)
		if err != nil {
			s.authorizeFailed(c, a, err)
			return
		}
		bs, u, err := s.iss.BrowserSessionOf(requestContext(c), browserCookie(c))
		switch {
		case errors.Is(err, issuer.ErrNotFound):
		case err != nil:
			s.authorizeFailed(c, a, err)
			return
		case !a.NeedsSignIn(bs.AuthTime, s.iss.Now()):
			s.issueCode(c, a, u, bs)
			return
		}
		if a.Prompt == "none" {
			s.authorizeFailed(c, a, &issuer.AuthorizeError{Code: "login_required", Description: "the user must sign in", Redirect: true})
			return
		}
		email := a.LoginHint
		if email == "" && u.ID != "" {
			email = u.Email
		}
		s.showSignin(c, http.StatusOK, a, r.encoded, email, "")
	}
}

// showSignin renders the sign-in page for a checked request.
func (s *Server) showSignin(c *gin.Context, status int, a issuer.Authorization, authz, email, msg string) {
	token, err := s.csrfToken(c)
	if err != nil {
		s.failPage(c, err)
		return
	}
	s.iss.Metrics.Authorizations.WithLabelValues("login").Inc()
	s.renderPage(c, status, "signin", pageData{
		Title: "Sign in", ClientName: clientName(a.Client), CSRF: token, Authz: authz, Email: email, Error: msg,
		SignupOpen: s.iss.Lifecycle.Config().SignupMode != issuer.SignupClosed,
	}, a.RedirectURI)
}

func clientName(c issuer.Client) string {
	if c.Name != "" {
		return c.Name
	}
	return c.ID
}

// pageAuthorization reads and checks the authorization request a page's
// form carries.
func (s *Server) pageAuthorization(c *gin.Context, authz string) (issuer.Authorization, authorizeRequest, bool) {
	vals, err := url.ParseQuery(authz)
	if err != nil || authz == "" {
		s.errorPage(c, http.StatusBadRequest, "invalid_request", "This page must be reached from an application's sign-in link.")
		return issuer.Authorization{}, authorizeRequest{}, false
	}
	r := parseAuthorize(vals)
	a, err := s.checkAuthorize(c, r)
	if err != nil {
		s.authorizeFailed(c, a, err)
		return a, r, false
	}
	return a, r, true
}

// authorizeURL is the link back to the authorization request.
func (s *Server) authorizeURL(encoded string) template.URL {
	if encoded == "" {
		return ""
	}
	// Safe as a URL: the query was re-encoded by url.Values.Encode.
	return template.URL(s.basePath + "/oauth/authorize?" + encoded)
}

// handleSigninPage is the sign-in form's POST: the same throttle, device
// recognition, bcrypt work and audit as /v1/signin; then a browser
// session and the code for the client.
func (s *Server) handleSigninPage() gin.HandlerFunc {
	return func(c *gin.Context) {
		form, ok := s.postedForm(c)
		if !ok {
			return
		}
		a, r, ok := s.pageAuthorization(c, form["authz"])
		if !ok {
			return
		}
		device, _ := c.Cookie(deviceCookieName)
		cookie, bs, u, next, err := s.iss.SignInBrowser(requestContext(c), caller(c), form["email"], form["password"], device)
		if err != nil {
			e := issuer.AsError(err)
			status := errorTable[e.Kind].status
			if status == 0 {
				status = http.StatusInternalServerError
			}
			msg := e.Description
			switch e.Kind {
			case issuer.KindBadCredentials:
				msg = "The email address or password is not right."
			case issuer.KindEmailNotVerified:
				msg = "Confirm your email address first: follow the link in the message we sent you."
			case issuer.KindInternal:
				logger(c).ErrorContext(requestContext(c), "page sign-in failed", "error", err)
			}
			setRetryAfter(c, e)
			s.showSignin(c, status, a, r.encoded, form["email"], msg)
			return
		}
		s.replaceBrowserSession(c, cookie, bs)
		setDeviceCookie(c, next)
		s.issueCode(c, a, u, bs)
	}
}

// replaceBrowserSession sets the cookie of a new sign-in at the pages and
// ends the browser session the browser held before (another user's, or
// one that prompt=login or max_age asked to renew), so that a copy of the
// old cookie does not stay signed in.
func (s *Server) replaceBrowserSession(c *gin.Context, cookie string, bs issuer.BrowserSession) {
	if old := browserCookie(c); old != "" {
		if _, err := s.iss.EndBrowserSession(requestContext(c), caller(c), old); err != nil {
			logger(c).WarnContext(requestContext(c), "could not end the replaced browser session", "error", err)
		}
	}
	setBrowserCookie(c, cookie, bs.ExpiresAt, s.iss.Now())
}

// pageInput reads what a sign-in flow page is sent: on POST the posted
// form (see postedForm) and the authorization request it carries; on GET
// no form, and the request from the query. ok is false when the answer
// has been written.
func (s *Server) pageInput(c *gin.Context) (form map[string]string, authz string, ok bool) {
	if c.Request.Method != http.MethodPost {
		return nil, c.Query("authz"), true
	}
	if form, ok = s.postedForm(c); !ok {
		return nil, "", false
	}
	return form, form["authz"], true
}

// handleSignupPage shows (GET) and handles (POST) the sign-up form, by
// the sign-up mode: closed, no form; private, always "check your mail";
// open, the account, then the client (or "check your mail" while
// addresses must be confirmed first).
func (s *Server) handleSignupPage() gin.HandlerFunc {
	return func(c *gin.Context) {
		mode := s.iss.Lifecycle.Config().SignupMode
		if mode == issuer.SignupClosed {
			s.failPage(c, apiError(issuer.KindSignupClosed, "sign-up is closed; ask the administrator for an account"))
			return
		}
		form, authz, ok := s.pageInput(c)
		if !ok {
			return
		}
		email := form["email"]
		a, r, ok := s.pageAuthorization(c, authz)
		if !ok {
			return
		}
		show := func(status int, msg string) {
			token, err := s.csrfToken(c)
			if err != nil {
				s.failPage(c, err)
				return
			}
			s.renderPage(c, status, "signup", pageData{Title: "Create an account", ClientName: clientName(a.Client), CSRF: token,
				Authz: r.encoded, AuthorizeURL: s.authorizeURL(r.encoded), Email: email, Error: msg}, a.RedirectURI)
		}
		if form == nil {
			show(http.StatusOK, "")
			return
		}
		u, err := s.iss.Accounts.SignUp(requestContext(c), caller(c), form["email"], form["password"])
		if err != nil {
			e := issuer.AsError(err)
			msg := e.Description
			if e.Kind == issuer.KindEmailTaken {
				msg = "An account with this address exists already: sign in instead."
			}
			setRetryAfter(c, e)
			status := errorTable[e.Kind].status
			if status == 0 {
				status = http.StatusInternalServerError
			}
			show(status, msg)
			return
		}
		if mode == issuer.SignupPrivate || s.iss.Lifecycle.Config().RequireVerifiedEmail && !u.EmailVerified {
			s.renderPage(c, http.StatusAccepted, "message", pageData{Title: "Check your email",
				Message:      "If the address can be used, we sent a message to it. Follow its link, then sign in.",
				AuthorizeURL: s.authorizeURL(r.encoded)}, "")
			return
		}
		cookie, bs, err := s.iss.StartBrowserSession(requestContext(c), caller(c), u)
		if err != nil {
			s.failPage(c, err)
			return
		}
		s.replaceBrowserSession(c, cookie, bs)
		s.issueCode(c, a, u, bs)
	}
}

// handleForgotPage shows (GET) and handles (POST) the forgot-password
// form: the same answer whether or not the address has an account.
func (s *Server) handleForgotPage() gin.HandlerFunc {
	return func(c *gin.Context) {
		form, authz, ok := s.pageInput(c)
		if !ok {
			return
		}
		email := form["email"]
		// The page also works outside a sign-in flow; a request it carries
		// is only linked back to, never acted on, but it must be valid.
		var encoded string
		if authz != "" {
			_, r, ok := s.pageAuthorization(c, authz)
			if !ok {
				return
			}
			encoded = r.encoded
		}
		if form == nil {
			token, err := s.csrfToken(c)
			if err != nil {
				s.failPage(c, err)
				return
			}
			s.renderPage(c, http.StatusOK, "forgot", pageData{Title: "Forgot your password?", CSRF: token, Authz: encoded,
				AuthorizeURL: s.authorizeURL(encoded)}, "")
			return
		}
		if err := s.iss.Lifecycle.ForgotPassword(requestContext(c), caller(c), email); err != nil {
			e := issuer.AsError(err)
			if e.Kind == issuer.KindInvalid || e.Kind == issuer.KindRateLimited {
				token, terr := s.csrfToken(c)
				if terr != nil {
					s.failPage(c, terr)
					return
				}
				setRetryAfter(c, e)
				s.renderPage(c, errorTable[e.Kind].status, "forgot", pageData{Title: "Forgot your password?", CSRF: token, Authz: encoded,
					AuthorizeURL: s.authorizeURL(encoded), Email: email, Error: e.Description}, "")
				return
			}
			s.failPage(c, err)
			return
		}
		s.renderPage(c, http.StatusAccepted, "message", pageData{Title: "Check your email",
			Message:      "If an account uses this address, we sent it a link to choose a new password.",
			AuthorizeURL: s.authorizeURL(encoded)}, "")
	}
}
