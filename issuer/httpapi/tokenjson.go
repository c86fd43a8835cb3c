package httpapi

import (
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/signet-auth/signet/verifier"
)

// The refresh response is written by hand: it is the body of the busiest
// endpoint, and encoding/json spends most of its time there on
// reflection. appendJSON writes exactly what json.Marshal writes for the
// same value (tokenjson_test.go compares them).

var tokenBufs = sync.Pool{New: func() any { b := make([]byte, 0, 1024); return &b }}

// writeTokenResponse answers 200 with resp, as c.JSON would.
func writeTokenResponse(c *gin.Context, resp *tokenResponse) {
	bp := tokenBufs.Get().(*[]byte)
	buf := resp.appendJSON((*bp)[:0])
	c.Data(http.StatusOK, "application/json; charset=utf-8", buf)
	if cap(buf) <= 64<<10 {
		*bp = buf
		tokenBufs.Put(bp)
	}
}

// appendJSON appends resp as json.Marshal encodes it.
func (r *tokenResponse) appendJSON(b []byte) []byte {
	b = append(b, `{"access_token":`...)
	b = verifier.AppendJSONString(b, r.AccessToken)
	b = append(b, `,"token_type":`...)
	b = verifier.AppendJSONString(b, r.TokenType)
	b = append(b, `,"expires_in":`...)
	b = strconv.AppendInt(b, int64(r.ExpiresIn), 10)
	if r.RefreshToken != "" {
		b = append(b, `,"refresh_token":`...)
		b = verifier.AppendJSONString(b, r.RefreshToken)
	}
	b = append(b, `,"refresh_expires_in":`...)
	b = strconv.AppendInt(b, int64(r.RefreshExpiresIn), 10)
	b = append(b, `,"user":{"id":`...)
	b = verifier.AppendJSONString(b, r.User.ID)
	b = append(b, `,"email":`...)
	b = verifier.AppendJSONString(b, r.User.Email)
	b = append(b, `,"created_at":"`...)
	b = r.User.CreatedAt.AppendFormat(b, time.RFC3339Nano)
	b = append(b, `","email_verified":`...)
	b = strconv.AppendBool(b, r.User.EmailVerified)
	b = append(b, '}')
	if r.DeviceToken != "" {
		b = append(b, `,"device_token":`...)
		b = verifier.AppendJSONString(b, r.DeviceToken)
	}
	if r.Scope != "" {
		b = append(b, `,"scope":`...)
		b = verifier.AppendJSONString(b, r.Scope)
	}
	return append(b, '}')
}
