package httpapi

import (
	"encoding/base64"
	"net/http"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/signet-auth/signet/issuer"
)

// revocationFeedPath is the revocation feed, advertised in discovery as
// revocation_feed_endpoint.
const revocationFeedPath = "/v1/revocations"

// feedBody is the feed's answer. Hashes and the salt are base64url
// without padding; times are Unix seconds.
type feedBody struct {
	Salt   string      `json:"salt"`
	Cursor string      `json:"cursor"`
	More   bool        `json:"more"`
	Events []feedEvent `json:"events"`
}

type feedEvent struct {
	Kind      string `json:"kind"`
	Hash      string `json:"hash"`
	RevokedAt int64  `json:"revoked_at"`
	ExpiresAt int64  `json:"expires_at"`
}

// handleRevocations serves GET /v1/revocations?after=CURSOR&wait=SECONDS:
// the live revocation events after the cursor (all of them without one),
// waiting up to `wait` seconds (at most 25) for one when there is none.
// An answer without events carries the ETag of the cursor, so a repeat
// with If-None-Match gets 304.
func (s *Server) handleRevocations() gin.HandlerFunc {
	return func(c *gin.Context) {
		feed := s.iss.Revocations
		if feed == nil {
			fail(c, apiError(kindNotFound, "no such endpoint"))
			return
		}
		var after int64
		if v := c.Query("after"); v != "" {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil || n < 0 {
				fail(c, apiError(issuer.KindInvalid, "after must be a cursor from a previous answer"))
				return
			}
			after = n
		}
		var wait time.Duration
		if v := c.Query("wait"); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil || n < 0 {
				fail(c, apiError(issuer.KindInvalid, "wait must be a number of seconds"))
				return
			}
			wait = time.Duration(min(n, int(issuer.MaxFeedWait/time.Second))) * time.Second
		}
		page, err := feed.Read(requestContext(c), caller(c), after, wait)
		if err != nil {
			fail(c, err)
			return
		}
		cursor := strconv.FormatInt(page.Cursor, 10)
		if len(page.Events) == 0 {
			etag := `"c` + cursor + `"`
			c.Header("ETag", etag)
			if etagMatch(c.GetHeader("If-None-Match"), etag) {
				c.Status(http.StatusNotModified)
				return
			}
		}
		b64 := base64.RawURLEncoding
		body := feedBody{Salt: b64.EncodeToString(page.Salt), Cursor: cursor, More: page.More, Events: make([]feedEvent, len(page.Events))}
		for i, e := range page.Events {
			body.Events[i] = feedEvent{Kind: string(e.Kind), Hash: b64.EncodeToString(e.Hash[:]),
				RevokedAt: e.RevokedAt.Unix(), ExpiresAt: e.ExpiresAt.Unix()}
		}
		c.JSON(http.StatusOK, body)
	}
}
