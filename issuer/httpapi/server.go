// Package httpapi is Signet's HTTP transport (Gin): routes, request
// decoding, CORS, cookies and the one table that maps service errors to
// statuses. It translates; the work is done by the services of package
// issuer.
package httpapi

import (
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"net/netip"
	"net/url"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/signet-auth/signet/issuer"
)

// Config is the HTTP transport's own configuration.
type Config struct {
	// CORSOrigins are the exact browser origins allowed to call /v1 and
	// /oauth with credentials; empty means none.
	CORSOrigins []string
	// TrustedProxies are the networks whose X-Forwarded-For is believed
	// for the client address. None (the default) means the address of the
	// connection is used and forwarding headers are ignored.
	TrustedProxies []netip.Prefix
	// PageTemplates replaces the embedded templates of the sign-in,
	// sign-up, forgot-password, logout, error and link pages (and style.css),
	// file by file; nil uses the embedded ones.
	PageTemplates fs.FS
	// SiteName is the name the pages show; empty means "Signet".
	SiteName string
}

// Server serves the issuer's HTTP API.
type Server struct {
	iss    *issuer.Issuer
	log    *slog.Logger
	engine *gin.Engine
	cors   *corsPolicy
	pages  *pages
	// siteName is shown on the pages; basePath is the issuer URL's path,
	// which the pages' links start with.
	siteName, basePath string
}

// NewServer builds the HTTP API over the services.
func NewServer(iss *issuer.Issuer, cfg Config) (*Server, error) {
	s := &Server{iss: iss, log: iss.Logger(), cors: newCORSPolicy(cfg.CORSOrigins), siteName: cfg.SiteName}
	if s.siteName == "" {
		s.siteName = "Signet"
	}
	if u, err := url.Parse(iss.Config().IssuerURL); err == nil {
		s.basePath = strings.TrimRight(u.EscapedPath(), "/")
	}
	var err error
	if s.pages, err = loadPages(cfg.PageTemplates); err != nil {
		return nil, err
	}
	gin.SetMode(gin.ReleaseMode)
	s.engine = gin.New()
	s.engine.HandleMethodNotAllowed = true
	// Gin trusts every proxy unless told otherwise; believe X-Forwarded-For
	// only from the configured networks.
	proxies := make([]string, len(cfg.TrustedProxies))
	for i, p := range cfg.TrustedProxies {
		proxies[i] = p.String()
	}
	// Gin also believes X-Real-IP by default; only X-Forwarded-For is
	// documented, and a proxy that passes a client's own X-Real-IP through
	// would let the client pick its address.
	s.engine.RemoteIPHeaders = []string{"X-Forwarded-For"}
	if err := s.engine.SetTrustedProxies(proxies); err != nil {
		return nil, fmt.Errorf("httpapi: trusted proxies: %w", err)
	}
	s.routes()
	return s, nil
}

// Handler returns the server's HTTP handler.
func (s *Server) Handler() http.Handler { return s.engine }

func init() {
	gin.DefaultWriter = io.Discard
	gin.DefaultErrorWriter = io.Discard
}

// caller is what the services record about the client. The address is
// in canonical form (an IPv4-mapped IPv6 address as IPv4, IPv6 in RFC
// 5952 form, no zone), so one client is one address in limits and audit
// events however a proxy spells it.
func caller(c *gin.Context) issuer.Caller {
	ip := c.ClientIP()
	if a, err := netip.ParseAddr(ip); err == nil {
		ip = a.Unmap().WithZone("").String()
	}
	return issuer.Caller{IP: ip, UserAgent: c.Request.UserAgent()}
}
