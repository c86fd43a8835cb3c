package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"reflect"
	"strconv"
	"strings"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/gin-gonic/gin"
	"github.com/signet-auth/signet/issuer"
)

const (
	// maxBodyBytes caps every request body.
	maxBodyBytes = 16 << 10
	// maxJSONDepth caps nesting in JSON bodies; Signet's bodies are flat.
	maxJSONDepth = 8
)

// decodeJSON reads a JSON object body into v strictly: a JSON media type
// (a missing one too is refused: text/plain is what a cross-site form can
// send without a preflight), a size cap, valid UTF-8 with no lone
// surrogate escapes (encoding/json would turn either into U+FFFD, making
// different passwords one), bounded nesting, an object (not null), no
// duplicate member names, names spelt exactly as the fields' (encoding/json
// matches "EMAIL" to email), no unknown fields, no trailing data. Its
// errors say what is wrong.
func decodeJSON(c *gin.Context, v any) error {
	body, err := readJSONBody(c)
	if err != nil {
		return err
	}
	return decodeJSONBody(body, v)
}

// readJSONBody checks the media type and reads the body, capped (the first
// steps of decodeJSON).
func readJSONBody(c *gin.Context) ([]byte, error) {
	mt, params, err := mime.ParseMediaType(c.GetHeader("Content-Type"))
	if err != nil || (mt != "application/json" && !strings.HasSuffix(mt, "+json")) {
		return nil, apiError(kindMediaType, "the body must be JSON (Content-Type: application/json)")
	}
	if cs, ok := params["charset"]; ok && !strings.EqualFold(cs, "utf-8") {
		return nil, apiError(kindMediaType, "the body must be JSON in UTF-8")
	}
	body, err := io.ReadAll(http.MaxBytesReader(c.Writer, c.Request.Body, maxBodyBytes))
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return nil, apiError(kindTooLarge, "the body is larger than %d bytes", maxBodyBytes)
		}
		return nil, apiError(issuer.KindInvalid, "could not read the body")
	}
	return body, nil
}

// decodeJSONBody is the rest of decodeJSON, on a body read.
func decodeJSONBody(body []byte, v any) error {
	if len(bytes.TrimSpace(body)) == 0 {
		return apiError(issuer.KindInvalid, "the body is empty; send a JSON object")
	}
	if !utf8.Valid(body) {
		return apiError(issuer.KindInvalid, "the body is not valid UTF-8")
	}
	if loneSurrogate(body) {
		return apiError(issuer.KindInvalid, "the body has a \\u escape of half a surrogate pair")
	}
	if jsonDepth(body) > maxJSONDepth {
		return apiError(issuer.KindInvalid, "the body is nested too deeply")
	}
	if err := checkMemberNames(body, fieldNames(v)); err != nil {
		return err
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

// checkMemberNames walks body's tokens: it must be an object, no object in
// it may repeat a member name, and the top-level names must be spelt
// exactly as in names (when names is not empty); encoding/json would take
// the last of two duplicates and match names whatever their case.
func checkMemberNames(body []byte, names map[string]bool) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	malformed := func(err error) error {
		return apiError(issuer.KindInvalid, "malformed JSON body: %s", describeJSONError(err))
	}
	tok, err := dec.Token()
	if err != nil {
		return malformed(err)
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return apiError(issuer.KindInvalid, "malformed JSON body: expected a JSON object")
	}
	type frame struct {
		object, wantKey bool
		keys            map[string]bool
	}
	stack := []frame{{object: true, wantKey: true, keys: map[string]bool{}}}
	for len(stack) > 0 {
		tok, err := dec.Token()
		if err != nil {
			return malformed(err)
		}
		top := &stack[len(stack)-1]
		if d, ok := tok.(json.Delim); ok && (d == '}' || d == ']') {
			stack = stack[:len(stack)-1]
			continue
		}
		if top.object && top.wantKey {
			key, _ := tok.(string)
			if top.keys[key] {
				return apiError(issuer.KindInvalid, "malformed JSON body: field %q appears twice", key)
			}
			top.keys[key] = true
			if len(stack) == 1 && len(names) > 0 && !names[key] {
				for name := range names {
					if strings.EqualFold(name, key) {
						return apiError(issuer.KindInvalid, "malformed JSON body: field %q must be spelt %q (names are case-sensitive)", key, name)
					}
				}
				return apiError(issuer.KindInvalid, "malformed JSON body: unknown field %q", key)
			}
			top.wantKey = false
			continue
		}
		if top.object {
			top.wantKey = true // after this value, a key or the end
		}
		switch tok {
		case json.Delim('{'):
			stack = append(stack, frame{object: true, wantKey: true, keys: map[string]bool{}})
		case json.Delim('['):
			stack = append(stack, frame{})
		}
	}
	return nil
}

// fieldNames returns the JSON names of the fields of the struct v points
// to (nil for anything else).
func fieldNames(v any) map[string]bool {
	t := reflect.TypeOf(v)
	if t == nil || t.Kind() != reflect.Pointer || t.Elem().Kind() != reflect.Struct {
		return nil
	}
	t = t.Elem()
	names := map[string]bool{}
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		switch name {
		case "-":
			continue
		case "":
			name = f.Name
		}
		names[name] = true
	}
	return names
}

// loneSurrogate reports whether a string in the JSON text b has a \u
// escape of half a UTF-16 surrogate pair, which encoding/json decodes as
// U+FFFD. Malformed escapes are left to the decoder to report.
func loneSurrogate(b []byte) bool {
	hex4 := func(i int) (rune, bool) {
		if i+4 > len(b) {
			return 0, false
		}
		n, err := strconv.ParseUint(string(b[i:i+4]), 16, 16)
		return rune(n), err == nil
	}
	inString := false
	for i := 0; i < len(b); i++ {
		switch ch := b[i]; {
		case !inString:
			inString = ch == '"'
		case ch == '"':
			inString = false
		case ch == '\\' && i+1 < len(b) && b[i+1] == 'u':
			r, ok := hex4(i + 2)
			switch {
			case !ok || !utf16.IsSurrogate(r):
				i++
			case r >= 0xdc00:
				return true // a low half first
			default:
				if i+7 >= len(b) || b[i+6] != '\\' || b[i+7] != 'u' {
					return true
				}
				if lo, ok := hex4(i + 8); !ok || lo < 0xdc00 || lo > 0xdfff {
					return true
				}
				i += 11
			}
		case ch == '\\':
			i++ // the escaped character
		}
	}
	return false
}

// checkFormUTF8 refuses form parameters that are not valid UTF-8: a
// password must be the same bytes whichever endpoint receives it, and the
// JSON endpoints cannot carry invalid UTF-8.
func checkFormUTF8(vals url.Values) error {
	for k, vs := range vals {
		if !utf8.ValidString(k) {
			return apiError(issuer.KindInvalid, "a parameter name is not valid UTF-8")
		}
		for _, v := range vs {
			if !utf8.ValidString(v) {
				return apiError(issuer.KindInvalid, "parameter %q is not valid UTF-8", k)
			}
		}
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
