package issuer

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"strings"
)

// Refresh tokens are derived, not stored:
//
//	"sgt_rt_" + base64url(sid(16) || counter(8, big-endian) || mac(32))
//	mac = HMAC-SHA256(session secret, "signet-refresh-v1" || sid || counter)
//
// The session row keeps the secret sealed under the key-encryption key and
// the counter of the one valid token, so no row per token is written and
// nothing at rest can be presented as a token. The prefix lets secret
// scanners find leaked tokens.
const (
	refreshPrefix     = "sgt_rt_"
	refreshMACLabel   = "signet-refresh-v1"
	refreshRawBytes   = 16 + 8 + sha256.Size
	refreshTokenBytes = len(refreshPrefix) + (refreshRawBytes*8+5)/6
	refreshSecretSize = 32
)

// refreshToken is a parsed refresh token; its MAC is not checked yet.
type refreshToken struct {
	sid     [16]byte
	counter uint64
	mac     []byte
}

// parseRefreshToken parses strictly: the prefix, the exact length,
// unpadded base64url with no stray bits.
func parseRefreshToken(s string) (refreshToken, bool) {
	if len(s) != refreshTokenBytes || !strings.HasPrefix(s, refreshPrefix) {
		return refreshToken{}, false
	}
	raw, err := base64.RawURLEncoding.Strict().DecodeString(s[len(refreshPrefix):])
	if err != nil || len(raw) != refreshRawBytes {
		return refreshToken{}, false
	}
	var t refreshToken
	copy(t.sid[:], raw[:16])
	t.counter = binary.BigEndian.Uint64(raw[16:24])
	t.mac = raw[24:]
	return t, true
}

func refreshMAC(secret []byte, sid [16]byte, counter uint64) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(refreshMACLabel))
	m.Write(sid[:])
	m.Write(binary.BigEndian.AppendUint64(nil, counter))
	return m.Sum(nil)
}

func mintRefreshToken(secret []byte, sid [16]byte, counter uint64) string {
	raw := make([]byte, 0, refreshRawBytes)
	raw = append(raw, sid[:]...)
	raw = binary.BigEndian.AppendUint64(raw, counter)
	raw = append(raw, refreshMAC(secret, sid, counter)...)
	return refreshPrefix + base64.RawURLEncoding.EncodeToString(raw)
}

// Session ids are 16 random bytes, written as a UUID (version 4 bits set)
// in the sid claim and the sessions table.
func newSessionID() [16]byte { return newUUIDBytes() }

func sessionIDString(b [16]byte) string { return formatUUID(b) }
