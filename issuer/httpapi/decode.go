package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"
	"github.com/signet-auth/signet/issuer"
)

const (
	// maxBodyBytes caps every request body.
	maxBodyBytes = 16 << 10
	// maxJSONDepth caps nesting in JSON bodies; Signet's bodies are flat.
	maxJSONDepth = 8
)

// decodeJSON reads a JSON object body into v strictly: a JSON media type,
// a size cap, bounded nesting, no unknown fields, no trailing data. Its
// errors say what is wrong.
func decodeJSON(c *gin.Context, v any) error {
	if ct := c.GetHeader("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || (mt != "application/json" && !strings.HasSuffix(mt, "+json")) {
			return apiError(kindMediaType, "the body must be JSON (Content-Type: application/json)")
		}
	}
	body, err := io.ReadAll(http.MaxBytesReader(c.Writer, c.Request.Body, maxBodyBytes))
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return apiError(kindTooLarge, "the body is larger than %d bytes", maxBodyBytes)
		}
		return apiError(issuer.KindInvalid, "could not read the body")
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return apiError(issuer.KindInvalid, "the body is empty; send a JSON object")
	}
	if jsonDepth(body) > maxJSONDepth {
		return apiError(issuer.KindInvalid, "the body is nested too deeply")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return apiError(issuer.KindInvalid, "malformed JSON body: %s", describeJSONError(err))
	}
	if _, err := dec.Token(); err != io.EOF {
		return apiError(issuer.KindInvalid, "malformed JSON body: unexpected data after the object")
	}
	return nil
}

func describeJSONError(err error) string {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		return fmt.Sprintf("syntax error at byte %d", syn.Offset)
	case errors.As(err, &typ):
		if typ.Field == "" {
			return "expected a JSON object"
		}
		return fmt.Sprintf("field %q must be a %s", typ.Field, typ.Type.Kind())
	case errors.Is(err, io.ErrUnexpectedEOF):
		return "unexpected end of input"
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		return "unknown field " + strings.TrimPrefix(err.Error(), "json: unknown field ")
	}
	return "invalid JSON"
}

// jsonDepth returns the maximum nesting of arrays and objects in b.
func jsonDepth(b []byte) int {
	depth, maxDepth, inString, escaped := 0, 0, false, false
	for _, ch := range b {
		switch {
		case escaped:
			escaped = false
		case inString:
			switch ch {
			case '\\':
				escaped = true
			case '"':
				inString = false
			}
		case ch == '"':
			inString = true
		case ch == '{' || ch == '[':
			depth++
			maxDepth = max(maxDepth, depth)
		case ch == '}' || ch == ']':
			depth--
		}
	}
	return maxDepth
}
