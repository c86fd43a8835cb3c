package issuer

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"strings"
)

// Refresh tokens are derived, not stored. The current format is
//
//	"sgt_rt2_" + base64url(kid(4, big-endian) || sid(16) || counter(8) || mac(32))
//	mac = HMAC-SHA256(refresh MAC key kid, "signet-refresh-v2" || kid || sid || counter)
//
// under a server-wide key, so that the issuer checks a token before it
// touches the database and spends it in one statement. The key is stored
// sealed under the key-encryption key (refresh_mac_keys), and the session
// row keeps only the counter of the one valid token: the database still
// holds nothing that can be presented as a token. The keys rotate (see
// refreshkeys.go); the key id says which one MACed the token.
//
// The first format, still accepted so that the tokens of sessions started
// before it keep working until they rotate once (the successor is always
// in the current format), is
//
//	"sgt_rt_" + base64url(sid(16) || counter(8, big-endian) || mac(32))
//	mac = HMAC-SHA256(session secret, "signet-refresh-v1" || sid || counter)
//
// with the session's own secret, sealed in its row (sessions started since
// the server-wide keys have none). The prefixes let secret
// scanners find leaked tokens.
const (
	refreshPrefix     = "sgt_rt_"
	refreshMACLabel   = "signet-refresh-v1"
	refreshRawBytes   = 16 + 8 + sha256.Size
	refreshTokenBytes = len(refreshPrefix) + (refreshRawBytes*8+5)/6

	refresh2Prefix     = "sgt_rt2_"
	refresh2MACLabel   = "signet-refresh-v2"
	refresh2RawBytes   = 4 + 16 + 8 + sha256.Size
	refresh2TokenBytes = len(refresh2Prefix) + (refresh2RawBytes*8+5)/6
	refreshMACKeySize  = 32
)

// refreshToken is a parsed refresh token; its MAC is not checked yet.
type refreshToken struct {
	v2      bool   // the server-key format
	kid     uint32 // v2: the MAC key's id
	sid     [16]byte
	counter uint64
	mac     []byte
}

// parseRefreshToken parses strictly: the prefix, the exact length,
// unpadded base64url with no stray bits.
func parseRefreshToken(s string) (refreshToken, bool) {
	if strings.HasPrefix(s, refresh2Prefix) {
		return parseRefreshToken2(s)
	}
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

func parseRefreshToken2(s string) (refreshToken, bool) {
	if len(s) != refresh2TokenBytes {
		return refreshToken{}, false
	}
	raw, err := base64.RawURLEncoding.Strict().DecodeString(s[len(refresh2Prefix):])
	if err != nil || len(raw) != refresh2RawBytes {
		return refreshToken{}, false
	}
	t := refreshToken{v2: true, kid: binary.BigEndian.Uint32(raw[:4])}
	copy(t.sid[:], raw[4:20])
	t.counter = binary.BigEndian.Uint64(raw[20:28])
	t.mac = raw[28:]
	return t, true
}

func refreshMAC2(key []byte, kid uint32, sid [16]byte, counter uint64) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(refresh2MACLabel))
	m.Write(binary.BigEndian.AppendUint32(nil, kid))
	m.Write(sid[:])
	m.Write(binary.BigEndian.AppendUint64(nil, counter))
	return m.Sum(nil)
}

func mintRefreshToken2(key []byte, kid uint32, sid [16]byte, counter uint64) string {
	raw := make([]byte, 0, refresh2RawBytes)
	raw = binary.BigEndian.AppendUint32(raw, kid)
	raw = append(raw, sid[:]...)
	raw = binary.BigEndian.AppendUint64(raw, counter)
	raw = append(raw, refreshMAC2(key, kid, sid, counter)...)
	return refresh2Prefix + base64.RawURLEncoding.EncodeToString(raw)
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
