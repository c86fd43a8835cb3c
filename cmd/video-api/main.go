// Command video-api is a demo resource server written with Gin: it knows
// only the issuer's URL and its own audience, and verifies access tokens
// offline with package verifier through ginverifier.
package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"syscall"

	"github.com/gin-gonic/gin"

	"github.com/signet-auth/signet/cmd/internal/resource"
	"github.com/signet-auth/signet/verifier"
	"github.com/signet-auth/signet/verifier/ginverifier"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "video-api:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, getenv func(string) string, stderr io.Writer) error {
	return resource.Run(ctx, "video-api", "127.0.0.1:8082", args, getenv, stderr, routes)
}

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
