// Package videoapi is the video demo resource server, written with Gin:
// it knows only the issuer's URL and its own resource indicator, verifies
// access tokens offline with package verifier through ginverifier, and
// requires the videos:read scope on its catalogue.
package videoapi

import (
	"log/slog"
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/signet-auth/signet/cmd/internal/resource"
	"github.com/signet-auth/signet/verifier"
	"github.com/signet-auth/signet/verifier/ginverifier"
)

// Defaults: the name, the resource indicator video-api is registered
// under (the aud of its tokens) and the scope of its catalogue.
const (
	Name       = "video-api"
	Resource   = "https://video.example"
	ScopeRead  = "videos:read"
	defaultAdr = "127.0.0.1:8082"
)

// Server is video-api.
func Server() resource.Server {
	return resource.Server{Name: Name, DefaultAddr: defaultAdr, DefaultAudience: Resource, Routes: routes}
}

// routes protects /api with ginverifier.Middleware; GET /api/videos also
// needs videos:read.
func routes(cfg resource.Config, v *verifier.Verifier, _ *slog.Logger) (http.Handler, error) {
	gin.SetMode(gin.ReleaseMode)
	r := gin.New()
	r.Use(gin.Recovery())
	api := r.Group("/api", ginverifier.Middleware(v, ginverifier.WithErrorHandler(func(c *gin.Context, err error) {
		resource.Unauthorized(c.Writer, err)
	})))
	api.GET("/me", func(c *gin.Context) {
		claims, _ := ginverifier.Claims(c)
		c.Header("Cache-Control", "no-store")
		c.JSON(http.StatusOK, resource.IdentityOf(cfg.Name, claims))
	})
	api.GET("/videos", ginverifier.RequireScope(ScopeRead), func(c *gin.Context) {
		claims, _ := ginverifier.Claims(c)
		body := gin.H{
			"viewer":    claims.Subject,
			"client_id": claims.ClientID,
			"scope":     claims.Scope,
			"videos":    []gin.H{{"id": "vid_42", "title": "Rotating keys without downtime", "minutes": 12}},
		}
		// A token obtained by exchange names the server that acts for
		// the user.
		if claims.Actor != nil {
			body["acting_party"] = claims.Actor.Subject
		}
		c.Header("Cache-Control", "no-store")
		c.JSON(http.StatusOK, body)
	})
	return r, nil
}
