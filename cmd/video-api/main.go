// Command video-api is a demo resource server written with Gin: it knows
// only the issuer's URL and its own audience, and verifies access tokens
// offline with package verifier through ginverifier.
package main

import (
	"log/slog"
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/signet-auth/signet/cmd/internal/resource"
	"github.com/signet-auth/signet/verifier"
	"github.com/signet-auth/signet/verifier/ginverifier"
)

func main() { resource.Main("video-api", "127.0.0.1:8082", routes) }

// routes protects /api with ginverifier.Middleware.
func routes(cfg resource.Config, v *verifier.Verifier, _ *slog.Logger) http.Handler {
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
	api.GET("/videos", func(c *gin.Context) {
		claims, _ := ginverifier.Claims(c)
		c.Header("Cache-Control", "no-store")
		c.JSON(http.StatusOK, gin.H{
			"viewer": claims.Subject,
			"videos": []gin.H{{"id": "vid_42", "title": "Rotating keys without downtime", "minutes": 12}},
		})
	})
	return r
}
