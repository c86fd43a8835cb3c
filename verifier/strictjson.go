package verifier

import (
	"bytes"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
)

// A strict reader for the flat JSON objects in a JWS header and in JWT
// claims. encoding/json is not used here on purpose: it lets the last of
// duplicate member names win, matches names case-insensitively ("EXP" fills
// exp), and replaces invalid UTF-8, so two parsers could read one token two
// ways. This reader rejects duplicates, invalid UTF-8, lone surrogates in
// names, trailing data and deep nesting, and it allocates nothing.

const (
	maxJSONDepth   = 16  // nesting allowed inside a member value
	maxJSONMembers = 128 // members in the top-level object
)

type jsonKind uint8

const (
	jsonString jsonKind = iota + 1
	jsonNumber
	jsonBool
	jsonNull
	jsonArray
	jsonObject
)

// jsonValue is a span of the input. For strings, start:end excludes the
// quotes and escaped reports whether the content needs unquoting.
type jsonValue struct {
	kind       jsonKind
	start, end int
	escaped    bool
}

type jsonReader struct {
	data []byte
	pos  int
}

// walkObject reads data as exactly one JSON object and calls visit for each
// member with its unquoted name. It reports false if data is not strict JSON,
// a name repeats, or visit returns false.
func walkObject(data []byte, visit func(name []byte, v jsonValue) bool) bool {
	r := jsonReader{data: data}
	r.skipSpace()
	if !r.consume('{') {
		return false
	}
	var seenBuf [16][]byte
	seen := seenBuf[:0]
	r.skipSpace()
	if r.consume('}') {
		return r.atEnd()
	}
	for {
		r.skipSpace()
		nv, ok := r.value(0)
		if !ok || nv.kind != jsonString {
			return false
		}
		name := data[nv.start:nv.end]
		if nv.escaped {
			if name, ok = unquote(nil, name); !ok {
				return false
			}
		}
		for _, s := range seen {
			if bytes.Equal(s, name) {
				return false
			}
		}
		if len(seen) == maxJSONMembers {
			return false
		}
		seen = append(seen, name)
		r.skipSpace()
		if !r.consume(':') {
			return false
		}
		r.skipSpace()
		v, ok := r.value(0)
		if !ok || !visit(name, v) {
			return false
		}
		r.skipSpace()
		if r.consume('}') {
			return r.atEnd()
		}
		if !r.consume(',') {
			return false
		}
	}
}

// walkArray reads data[v.start:v.end] (a jsonArray value) and calls visit for
// each element.
func walkArray(data []byte, v jsonValue, visit func(e jsonValue) bool) bool {
	r := jsonReader{data: data[:v.end], pos: v.start + 1}
	r.skipSpace()
	if r.consume(']') {
		return true
	}
	for {
		r.skipSpace()
		e, ok := r.value(1)
		if !ok || !visit(e) {
			return false
		}
		r.skipSpace()
		if r.consume(']') {
			return true
		}
		if !r.consume(',') {
			return false
		}
	}
}

func (r *jsonReader) atEnd() bool {
	r.skipSpace()
	return r.pos == len(r.data)
}

func (r *jsonReader) skipSpace() {
	for r.pos < len(r.data) {
		switch r.data[r.pos] {
		case ' ', '\t', '\n', '\r':
			r.pos++
		default:
			return
		}
	}
}

func (r *jsonReader) consume(c byte) bool {
	if r.pos < len(r.data) && r.data[r.pos] == c {
		r.pos++
		return true
	}
	return false
}

func (r *jsonReader) literal(s string) bool {
	if len(r.data)-r.pos >= len(s) && string(r.data[r.pos:r.pos+len(s)]) == s {
		r.pos += len(s)
		return true
	}
	return false
}

// value reads one JSON value starting at r.pos (no leading space).
func (r *jsonReader) value(depth int) (jsonValue, bool) {
	if r.pos >= len(r.data) {
		return jsonValue{}, false
	}
	start := r.pos
	switch c := r.data[r.pos]; {
	case c == '"':
		return r.str()
	case c == '-' || (c >= '0' && c <= '9'):
		if !r.number() {
			return jsonValue{}, false
		}
		return jsonValue{kind: jsonNumber, start: start, end: r.pos}, true
	case c == 't':
		return jsonValue{kind: jsonBool, start: start, end: start + 4}, r.literal("true")
	case c == 'f':
		return jsonValue{kind: jsonBool, start: start, end: start + 5}, r.literal("false")
	case c == 'n':
		return jsonValue{kind: jsonNull, start: start, end: start + 4}, r.literal("null")
	case c == '[' || c == '{':
		if depth >= maxJSONDepth {
			return jsonValue{}, false
		}
		ok := r.container(depth)
		kind := jsonArray
		if c == '{' {
			kind = jsonObject
		}
		return jsonValue{kind: kind, start: start, end: r.pos}, ok
	}
	return jsonValue{}, false
}

// container reads a nested array or object. Duplicate names below the top
// level are not checked: nothing nested is ever interpreted.
func (r *jsonReader) container(depth int) bool {
	open := r.data[r.pos]
	closer := byte(']')
	if open == '{' {
		closer = '}'
	}
	r.pos++
	r.skipSpace()
	if r.consume(closer) {
		return true
	}
	for {
		r.skipSpace()
		if open == '{' {
			nv, ok := r.str()
			if !ok || nv.kind != jsonString {
				return false
			}
			r.skipSpace()
			if !r.consume(':') {
				return false
			}
			r.skipSpace()
		}
		if _, ok := r.value(depth + 1); !ok {
			return false
		}
		r.skipSpace()
		if r.consume(closer) {
			return true
		}
		if !r.consume(',') {
			return false
		}
	}
}

// str reads a string, validating escapes, control characters and UTF-8.
func (r *jsonReader) str() (jsonValue, bool) {
	if !r.consume('"') {
		return jsonValue{}, false
	}
	v := jsonValue{kind: jsonString, start: r.pos}
	ascii := true
	for r.pos < len(r.data) {
		c := r.data[r.pos]
		switch {
		case c == '"':
			v.end = r.pos
			r.pos++
			if !ascii && !utf8.Valid(r.data[v.start:v.end]) {
				return jsonValue{}, false
			}
			return v, true
		case c < 0x20:
			return jsonValue{}, false
		case c == '\\':
			v.escaped = true
			r.pos++
			if r.pos >= len(r.data) {
				return jsonValue{}, false
			}
			switch r.data[r.pos] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				r.pos++
			case 'u':
				if len(r.data)-r.pos < 5 {
					return jsonValue{}, false
				}
				for _, h := range r.data[r.pos+1 : r.pos+5] {
					if hexVal(h) < 0 {
						return jsonValue{}, false
					}
				}
				r.pos += 5
			default:
				return jsonValue{}, false
			}
		default:
			if c >= utf8.RuneSelf {
				ascii = false
			}
			r.pos++
		}
	}
	return jsonValue{}, false
}

// number reads a number with the strict JSON grammar:
// -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
func (r *jsonReader) number() bool {
	r.consume('-')
	switch {
	case r.consume('0'):
	case r.pos < len(r.data) && r.data[r.pos] >= '1' && r.data[r.pos] <= '9':
		r.digits()
	default:
		return false
	}
	if r.consume('.') && !r.digits() {
		return false
	}
	if r.consume('e') || r.consume('E') {
		if !r.consume('+') {
			r.consume('-')
		}
		if !r.digits() {
			return false
		}
	}
	return true
}

// digits reads one or more decimal digits.
func (r *jsonReader) digits() bool {
	start := r.pos
	for r.pos < len(r.data) && r.data[r.pos] >= '0' && r.data[r.pos] <= '9' {
		r.pos++
	}
	return r.pos > start
}

func hexVal(c byte) int {
	switch {
	case c >= '0' && c <= '9':
		return int(c - '0')
	case c >= 'a' && c <= 'f':
		return int(c-'a') + 10
	case c >= 'A' && c <= 'F':
		return int(c-'A') + 10
	}
	return -1
}

// unquote appends the decoded content of an escaped string (already
// validated by str) to dst. Lone surrogates are refused.
func unquote(dst, s []byte) ([]byte, bool) {
	for i := 0; i < len(s); {
		c := s[i]
		if c != '\\' {
			dst = append(dst, c)
			i++
			continue
		}
		switch s[i+1] {
		case 'b':
			dst = append(dst, '\b')
		case 'f':
			dst = append(dst, '\f')
		case 'n':
			dst = append(dst, '\n')
		case 'r':
			dst = append(dst, '\r')
		case 't':
			dst = append(dst, '\t')
		case 'u':
			r1 := hex4(s[i+2:])
			i += 6
			if utf16.IsSurrogate(r1) {
				if len(s)-i < 6 || s[i] != '\\' || s[i+1] != 'u' {
					return nil, false
				}
				rr := utf16.DecodeRune(r1, hex4(s[i+2:]))
				if rr == utf8.RuneError {
					return nil, false
				}
				r1 = rr
				i += 6
			}
			dst = utf8.AppendRune(dst, r1)
			continue
		default: // '"', '\\', '/'
			dst = append(dst, s[i+1])
		}
		i += 2
	}
	return dst, true
}

func hex4(b []byte) rune {
	return rune(hexVal(b[0])<<12 | hexVal(b[1])<<8 | hexVal(b[2])<<4 | hexVal(b[3]))
}

// maxNumericDate is 9999-12-31T23:59:59Z; larger dates are refused as
// malformed rather than overflowing time arithmetic.
const maxNumericDate = 253402300799

// numericDate converts a JSON number (RFC 7519 NumericDate) to Unix seconds
// and nanoseconds. Negative, non-finite or out-of-range values are refused.
func numericDate(b []byte) (sec, nsec int64, ok bool) {
	if len(b) > 0 && len(b) <= 12 && b[0] != '-' {
		integer := true
		for _, c := range b {
			if c < '0' || c > '9' {
				integer = false
				break
			}
			sec = sec*10 + int64(c-'0')
		}
		if integer {
			return sec, 0, sec <= maxNumericDate
		}
	}
	if len(b) > 64 {
		return 0, 0, false
	}
	f, err := strconv.ParseFloat(string(b), 64)
	if err != nil || f < 0 || f > maxNumericDate {
		return 0, 0, false
	}
	sec = int64(f)
	return sec, int64((f - float64(sec)) * 1e9), true
}
