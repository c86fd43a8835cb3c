package httpapi

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"embed"
	"encoding/base64"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/signet-auth/signet/issuer"
)

// The issuer's own pages (sign-in, sign-up, forgot password, logout,
// errors, and the pages of the links in messages): server-rendered html/template, embedded, no script. A
// directory of files with the same names (SIGNET_PAGE_TEMPLATES) replaces
// them file by file.

//go:embed pages
var embeddedPages embed.FS

// pageNames are the page templates; each is rendered inside base.html.
var pageNames = []string{"signin", "signup", "forgot", "message", "logout", "error", "link", "reset"}

type pages struct {
	tpl map[string]*template.Template
	css []byte
}

// loadPages parses the templates, override's first.
func loadPages(override fs.FS) (*pages, error) {
	read := func(name string) ([]byte, error) {
		if override != nil {
			b, err := fs.ReadFile(override, name)
			if err == nil {
				return b, nil
			}
			if !errors.Is(err, fs.ErrNotExist) {
				return nil, fmt.Errorf("httpapi: page template %s: %w", name, err)
			}
		}
		return embeddedPages.ReadFile("pages/" + name)
	}
	base, err := read("base.html")
	if err != nil {
		return nil, err
	}
	p := &pages{tpl: map[string]*template.Template{}}
	for _, name := range pageNames {
		body, err := read(name + ".html")
		if err != nil {
			return nil, err
		}
		t, err := template.New(name).Parse(string(base))
		if err == nil {
			t, err = t.Parse(string(body))
		}
		if err != nil {
			return nil, fmt.Errorf("httpapi: page template %s: %w", name, err)
		}
		if t.Lookup("base") == nil || t.Lookup("content") == nil {
			return nil, fmt.Errorf("httpapi: page template %s: base.html must define \"base\" and %s.html \"content\"", name, name)
		}
		p.tpl[name] = t
	}
	if p.css, err = read("style.css"); err != nil {
		return nil, err
	}
	return p, nil
}

// pageData is what every page template may use.
type pageData struct {
	Title, SiteName string
	// Base is the issuer URL's path, to prefix the pages' links with.
	Base       string
	ClientName string
	Error      string
	Message    string
	CSRF       string
	// Authz is the authorization request the page continues (a query
	// string), carried through the forms; AuthorizeURL returns to it.
	Authz        string
	AuthorizeURL template.URL
	Email        string
	SignupOpen   bool
	PasswordMin  int
	// The logout confirmation.
	ClientID, PostLogoutRedirectURI, State, UserEmail string
	// The error page; Detail is also the text of a link page and of a
	// message.
	Detail, Code string
	// The pages of the links in messages: the form's action, the token
	// it carries, its button; a message's links onward.
	Action, Token, Button string
	Links                 []pageLink
}

// pageCSP is the pages' Content-Security-Policy: nothing but the one
// style sheet, never framed. form-action lists the issuer and, when a
// form's answer redirects to a client (Chromium applies form-action to
// the redirects after a form POST), that client's redirect origin.
func pageCSP(redirect string) string {
	csp := "default-src 'none'; style-src 'self'; img-src 'self'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
	if src := cspSource(redirect); src != "" {
		csp += " " + src
	}
	return csp
}

// cspSource is the CSP source expression of a redirect URI's origin: the
// scheme, host and port of an http(s) URI, the scheme alone of a
// private-use one.
func cspSource(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme == "" {
		return ""
	}
	s := strings.ToLower(u.Scheme)
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '+' || c == '-' || c == '.') {
			return ""
		}
	}
	if s == "http" || s == "https" {
		if u.Host == "" || strings.ContainsAny(u.Host, " ;,'\"") {
			return ""
		}
		return s + "://" + u.Host
	}
	return s + ":"
}

// renderPage writes a page. redirect is the client redirect URI a form on
// it may lead to ("" when none).
func (s *Server) renderPage(c *gin.Context, status int, name string, d pageData, redirect string) {
	d.SiteName = s.siteName
	d.Base = s.basePath
	if d.PasswordMin == 0 {
		d.PasswordMin = s.iss.Lifecycle.Policy().MinBytes
	}
	var buf bytes.Buffer
	if err := s.pages.tpl[name].ExecuteTemplate(&buf, "base", d); err != nil {
		logger(c).ErrorContext(requestContext(c), "page template failed", "page", name, "error", err)
		buf.Reset()
		buf.WriteString("<!doctype html><title>Error</title><p>The page could not be shown.</p>")
		status = http.StatusInternalServerError
	}
	h := c.Writer.Header()
	h.Set("Content-Security-Policy", pageCSP(redirect))
	c.Data(status, "text/html; charset=utf-8", buf.Bytes())
	c.Abort()
}

// errorPage shows an error to the user (the client gets nothing).
func (s *Server) errorPage(c *gin.Context, status int, code, detail string) {
	s.renderPage(c, status, "error", pageData{Title: "Something went wrong", Detail: detail, Code: code}, "")
}

// failPage shows a service error on the error page: the status and
// Retry-After of the one table, its description.
func (s *Server) failPage(c *gin.Context, err error) {
	e := issuer.AsError(err)
	switch e.Kind {
	case issuer.KindInternal:
		logger(c).ErrorContext(requestContext(c), "request failed", "error", err)
	case issuer.KindUnavailable:
		logger(c).WarnContext(requestContext(c), "request failed", "error", err)
	}
	a, ok := errorTable[e.Kind]
	if !ok {
		a = errorTable[issuer.KindInternal]
	}
	setRetryAfter(c, e)
	s.errorPage(c, a.status, a.code, e.Description)
}

func setRetryAfter(c *gin.Context, e *issuer.Error) {
	if e.RetryAfter > 0 {
		c.Header("Retry-After", strconv.Itoa(int(math.Ceil(e.RetryAfter.Seconds()))))
	}
}

// handleStyle serves the pages' style sheet.
func (s *Server) handleStyle() gin.HandlerFunc {
	sum := sha256.Sum256(s.pages.css)
	etag := `"` + base64.RawURLEncoding.EncodeToString(sum[:12]) + `"`
	return func(c *gin.Context) {
		c.Header("Cache-Control", "public, max-age=3600")
		c.Header("ETag", etag)
		if etagMatch(c.GetHeader("If-None-Match"), etag) {
			c.Status(http.StatusNotModified)
			return
		}
		c.Data(http.StatusOK, "text/css; charset=utf-8", s.pages.css)
	}
}

// The pages' CSRF defence: a random value in a short-lived __Host- cookie
// (SameSite=Strict, HttpOnly) and, in each form, its HMAC under the
// server-wide page key. A forged cross-site POST carries neither the
// cookie nor a token that matches one.
const (
	csrfCookieName   = "__Host-signet_csrf"
	csrfCookieMaxAge = 2 * 60 * 60
	csrfMACLabel     = "signet-page-csrf-v1"
)

func (s *Server) csrfMAC(ctx context.Context, cookie string) (string, error) {
	key, err := s.iss.PageKey(ctx)
	if err != nil {
		return "", err
	}
	m := hmac.New(sha256.New, key)
	m.Write([]byte(csrfMACLabel))
	m.Write([]byte(cookie))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil)), nil
}

// csrfToken returns the token for the page's forms, setting the cookie
// when the browser has none (or a malformed one).
func (s *Server) csrfToken(c *gin.Context) (string, error) {
	v, err := c.Cookie(csrfCookieName)
	if err != nil || len(v) != 43 {
		var b [32]byte
		if _, err := rand.Read(b[:]); err != nil {
			return "", err
		}
		v = base64.RawURLEncoding.EncodeToString(b[:])
	}
	// Renewed on every page, so an open form does not outlive it.
	http.SetCookie(c.Writer, &http.Cookie{
		Name: csrfCookieName, Value: v, Path: "/", MaxAge: csrfCookieMaxAge,
		Secure: true, HttpOnly: true, SameSite: http.SameSiteStrictMode,
	})
	return s.csrfMAC(requestContext(c), v)
}

// errCSRF is a form without a valid CSRF token.
var errCSRF = apiError(kindForbidden, "the form has expired or was not sent from this site; go back, reload the page and try again")

// checkCSRF compares the form's token with the cookie's MAC in constant
// time.
func (s *Server) checkCSRF(c *gin.Context, form map[string]string) error {
	v, err := c.Cookie(csrfCookieName)
	token := form["csrf_token"]
	if err != nil || len(v) != 43 || token == "" {
		return errCSRF
	}
	want, err := s.csrfMAC(requestContext(c), v)
	if err != nil {
		return err
	}
	if !hmac.Equal([]byte(want), []byte(token)) {
		return errCSRF
	}
	return nil
}

// The browser session cookie: single sign-on at the issuer's pages. It
// is HttpOnly and __Host- like the refresh cookie, but SameSite=Lax: an
// authorization request arrives as a top-level navigation from the
// client's site, which Strict would strip it from.
const browserCookieName = "__Host-signet_session"

func setBrowserCookie(c *gin.Context, value string, expires time.Time, now time.Time) {
	http.SetCookie(c.Writer, &http.Cookie{
		Name: browserCookieName, Value: value, Path: "/", MaxAge: int(expires.Sub(now) / time.Second),
		Secure: true, HttpOnly: true, SameSite: http.SameSiteLaxMode,
	})
}

func clearBrowserCookie(c *gin.Context) {
	http.SetCookie(c.Writer, &http.Cookie{
		Name: browserCookieName, Value: "", Path: "/", MaxAge: -1,
		Secure: true, HttpOnly: true, SameSite: http.SameSiteLaxMode,
	})
}

func browserCookie(c *gin.Context) string {
	v, err := c.Cookie(browserCookieName)
	if err != nil {
		return ""
	}
	return v
}

// pageForm reads a page's form (the same rules as the token endpoint's).
func pageForm(c *gin.Context) (map[string]string, error) {
	return decodeForm(c)
}

// postedForm reads a posted page form and checks its CSRF token; on
// failure it answers with the error page and reports false.
func (s *Server) postedForm(c *gin.Context) (map[string]string, bool) {
	form, err := pageForm(c)
	if err == nil {
		err = s.checkCSRF(c, form)
	}
	if err != nil {
		s.failPage(c, err)
		return nil, false
	}
	return form, true
}
