package httpapi

import (
	"errors"
	"net/http"
	"net/url"
	"slices"

	"github.com/gin-gonic/gin"

	"github.com/signet-auth/signet/issuer"
)

// logoutRequest is an RP-initiated logout request, checked: the client
// (from id_token_hint or client_id), a post-logout redirect URI it
// registered, and the state to send back.
type logoutRequest struct {
	hint        *issuer.IDTokenHint
	clientID    string
	redirectURI string
	state       string
}

// checkLogout checks the parameters; a failure is shown on the error
// page, never redirected.
func (s *Server) checkLogout(c *gin.Context, vals url.Values) (logoutRequest, bool) {
	var r logoutRequest
	for _, name := range []string{"id_token_hint", "client_id", "post_logout_redirect_uri", "state"} {
		if len(vals[name]) > 1 {
			s.errorPage(c, http.StatusBadRequest, "invalid_request", "The parameter "+name+" is repeated.")
			return r, false
		}
	}
	r.clientID, r.redirectURI, r.state = vals.Get("client_id"), vals.Get("post_logout_redirect_uri"), vals.Get("state")
	if len(r.state) > 1024 {
		s.errorPage(c, http.StatusBadRequest, "invalid_request", "The state is too long.")
		return r, false
	}
	if raw := vals.Get("id_token_hint"); raw != "" {
		h, err := s.iss.CheckIDTokenHint(raw)
		if err != nil {
			s.errorPage(c, http.StatusBadRequest, "invalid_request", "The id_token_hint is not an ID token of this issuer.")
			return r, false
		}
		if r.clientID != "" && r.clientID != h.ClientID {
			s.errorPage(c, http.StatusBadRequest, "invalid_request", "client_id is not the audience of the id_token_hint.")
			return r, false
		}
		r.hint, r.clientID = &h, h.ClientID
	}
	if r.redirectURI != "" {
		if r.clientID == "" {
			s.errorPage(c, http.StatusBadRequest, "invalid_request", "post_logout_redirect_uri needs id_token_hint or client_id.")
			return r, false
		}
		cl, err := s.iss.Registry.Client(requestContext(c), r.clientID)
		if errors.Is(err, issuer.ErrNotFound) || err == nil && !slices.Contains(cl.PostLogoutRedirectURIs, r.redirectURI) {
			s.errorPage(c, http.StatusBadRequest, "invalid_request", "The post_logout_redirect_uri is not registered for this application.")
			return r, false
		}
		if err != nil {
			s.failPage(c, err)
			return r, false
		}
	}
	return r, true
}

// handleLogout is RP-initiated logout (the end_session_endpoint). With an
// id_token_hint of the signed-in user (or no session to end) it ends the
// browser session at once; otherwise it asks, with a form whose POST
// (CSRF-protected) ends it, so that a bare cross-site link cannot sign
// anyone out.
func (s *Server) handleLogout() gin.HandlerFunc {
	return func(c *gin.Context) {
		var vals url.Values
		var form map[string]string
		if c.Request.Method == http.MethodPost {
			var err error
			if form, err = pageForm(c); err != nil {
				s.failPage(c, err)
				return
			}
			vals = url.Values{}
			for k, v := range form {
				vals.Set(k, v)
			}
		} else {
			vals = c.Request.URL.Query()
		}
		r, ok := s.checkLogout(c, vals)
		if !ok {
			return
		}
		ctx := requestContext(c)
		cookie := browserCookie(c)
		_, u, err := s.iss.BrowserSessionOf(ctx, cookie)
		hasSession := err == nil
		if err != nil && !errors.Is(err, issuer.ErrNotFound) {
			s.failPage(c, err)
			return
		}
		confirmed := form != nil
		if confirmed {
			if err := s.checkCSRF(c, form); err != nil {
				s.failPage(c, err)
				return
			}
		}
		if hasSession && !confirmed && (r.hint == nil || r.hint.Subject != u.ID) {
			token, err := s.csrfToken(c)
			if err != nil {
				s.failPage(c, err)
				return
			}
			s.iss.Metrics.Logouts.WithLabelValues("confirm").Inc()
			s.renderPage(c, http.StatusOK, "logout", pageData{Title: "Sign out", CSRF: token, ClientID: r.clientID,
				PostLogoutRedirectURI: r.redirectURI, State: r.state, UserEmail: u.Email}, r.redirectURI)
			return
		}
		outcome := "no_session"
		if hasSession {
			if _, err := s.iss.EndBrowserSession(ctx, caller(c), cookie); err != nil {
				s.failPage(c, err)
				return
			}
			outcome = "ended"
		}
		clearBrowserCookie(c)
		s.iss.Metrics.Logouts.WithLabelValues(outcome).Inc()
		if r.redirectURI != "" {
			u, _ := url.Parse(r.redirectURI)
			if r.state != "" {
				q := u.Query()
				q.Set("state", r.state)
				u.RawQuery = q.Encode()
			}
			status := http.StatusFound
			if confirmed {
				status = http.StatusSeeOther
			}
			c.Redirect(status, u.String())
			return
		}
		s.renderPage(c, http.StatusOK, "message", pageData{Title: "Signed out", Message: "You are signed out."}, "")
	}
}
