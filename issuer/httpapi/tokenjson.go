package httpapi

import (
	"net/http"
	"strconv"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/gin-gonic/gin"
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
	b = appendJSONString(b, r.AccessToken)
	b = append(b, `,"token_type":`...)
	b = appendJSONString(b, r.TokenType)
	b = append(b, `,"expires_in":`...)
	b = strconv.AppendInt(b, int64(r.ExpiresIn), 10)
	if r.RefreshToken != "" {
		b = append(b, `,"refresh_token":`...)
		b = appendJSONString(b, r.RefreshToken)
	}
	b = append(b, `,"refresh_expires_in":`...)
	b = strconv.AppendInt(b, int64(r.RefreshExpiresIn), 10)
	b = append(b, `,"user":{"id":`...)
	b = appendJSONString(b, r.User.ID)
	b = append(b, `,"email":`...)
	b = appendJSONString(b, r.User.Email)
	b = append(b, `,"created_at":"`...)
	b = r.User.CreatedAt.AppendFormat(b, time.RFC3339Nano)
	b = append(b, `","email_verified":`...)
	b = strconv.AppendBool(b, r.User.EmailVerified)
	b = append(b, '}')
	if r.DeviceToken != "" {
		b = append(b, `,"device_token":`...)
		b = appendJSONString(b, r.DeviceToken)
	}
	if r.Scope != "" {
		b = append(b, `,"scope":`...)
		b = appendJSONString(b, r.Scope)
	}
	return append(b, '}')
}

// appendJSONString appends s as encoding/json does: HTML-safe (<, >, &
// escaped), U+2028 and U+2029 escaped, invalid UTF-8 as U+FFFD.
func appendJSONString(dst []byte, s string) []byte {
	const hexDigits = "0123456789abcdef"
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		if c := s[i]; c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch c {
			case '"', '\\':
				dst = append(dst, '\\', c)
			case '\b':
				dst = append(dst, '\\', 'b')
			case '\f':
				dst = append(dst, '\\', 'f')
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			start = i + size
		case r == '\u2028' || r == '\u2029':
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			start = i + size
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}
