package issuer

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"
)

// Device tokens are OWASP's "device cookies": after a good sign-in the
// client gets a token that names the account and a random id, and
// presents it at its next sign-in. An attempt with a valid token is
// counted against that token alone, so an attacker who does not know the
// password, and so holds no token for the account, cannot keep out a
// device the owner has signed in on, however long they keep the account's
// and the address's counters blocked.
//
//	"sgt_dv_" + base64url(id(16) || expires(8, Unix seconds, big-endian) || mac(32))
//	mac = HMAC-SHA256(device key, "signet-device-v1" || id || expires || normalised email)
//
// The email is bound by the MAC and not written in the token, so a token
// says nothing about its account and counts for that account only. The
// device key is a random 256-bit secret that the first replica to need it
// stores in the database sealed under the key-encryption key (keys.Sealer,
// like signing keys and refresh secrets): every replica shares it, and a
// copy of the database alone cannot forge a token. Deleting the row
// turns every device token anonymous, which is the safe way to fail.
const (
	devicePrefix     = "sgt_dv_"
	deviceMACLabel   = "signet-device-v1"
	deviceRawBytes   = 16 + 8 + sha256.Size
	deviceTokenBytes = len(devicePrefix) + (deviceRawBytes*8+5)/6
	// deviceKeyName names the device key in the store and, as the sealing
	// label, binds the sealed value to its row.
	deviceKeyName = "device_token_key"
	// deviceKeyRetry is how long the services wait before they try again
	// to load a device key that could not be loaded (sign-in goes on
	// without device tokens meanwhile).
	deviceKeyRetry = time.Minute
)

// deviceTokens mints and checks device tokens. With no sealer (services
// built for administration) there are none: every attempt is anonymous.
type deviceTokens struct {
	store  ThrottleStore
	sealer sealer
	now    func() time.Time
	ttl    time.Duration
	log    *slog.Logger

	mu       sync.Mutex
	key      []byte
	failedAt time.Time // last failed load; zero after a good one
}

// hmacKey returns the device key, loading it (or making and storing it)
// on first use.
func (d *deviceTokens) hmacKey(ctx context.Context) ([]byte, error) {
	if d.sealer == nil {
		return nil, fmt.Errorf("issuer: device tokens need a sealer")
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.key != nil {
		return d.key, nil
	}
	now := d.now()
	if !d.failedAt.IsZero() && now.Sub(d.failedAt) < deviceKeyRetry {
		return nil, fmt.Errorf("issuer: device key unavailable since %s", d.failedAt.Format(time.RFC3339))
	}
	key, err := d.load(ctx, now)
	if err != nil {
		d.failedAt = now
		d.log.ErrorContext(ctx, "device tokens unavailable; sign-ins are anonymous meanwhile", "error", err)
		return nil, err
	}
	d.key, d.failedAt = key, time.Time{}
	return key, nil
}

func (d *deviceTokens) load(ctx context.Context, now time.Time) ([]byte, error) {
	// Not the request's own deadline: every sign-in waits for this one load.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	fresh := make([]byte, 32)
	if _, err := rand.Read(fresh); err != nil {
		return nil, fmt.Errorf("issuer: crypto/rand: %w", err)
	}
	sealed, err := d.store.SealedSecret(ctx, deviceKeyName, d.sealer.Seal(deviceKeyName, fresh), now)
	if err != nil {
		return nil, err
	}
	key, err := d.sealer.Open(deviceKeyName, sealed)
	if err != nil {
		return nil, fmt.Errorf("issuer: open the device key (sealed under another key-encryption key?): %w", err)
	}
	if len(key) != 32 {
		return nil, fmt.Errorf("issuer: the stored device key has %d bytes, want 32", len(key))
	}
	return key, nil
}

func deviceMAC(key, id []byte, expires uint64, email string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(deviceMACLabel))
	m.Write(id)
	m.Write(binary.BigEndian.AppendUint64(nil, expires))
	m.Write([]byte(email))
	return m.Sum(nil)
}

// issue mints a device token for the normalised email; "" when device
// tokens are unavailable.
func (d *deviceTokens) issue(ctx context.Context, email string) string {
	key, err := d.hmacKey(ctx)
	if err != nil {
		return ""
	}
	id := make([]byte, 16)
	if _, err := rand.Read(id); err != nil {
		return ""
	}
	expires := uint64(d.now().Add(d.ttl).Unix())
	raw := make([]byte, 0, deviceRawBytes)
	raw = append(raw, id...)
	raw = binary.BigEndian.AppendUint64(raw, expires)
	raw = append(raw, deviceMAC(key, id, expires, email)...)
	return devicePrefix + base64.RawURLEncoding.EncodeToString(raw)
}

// verify returns the id of a device token that was minted for the
// normalised email and has not expired. Anything else, an unavailable
// device key included, is no token.
func (d *deviceTokens) verify(ctx context.Context, token, email string) (string, bool) {
	if len(token) != deviceTokenBytes || !strings.HasPrefix(token, devicePrefix) {
		return "", false
	}
	raw, err := base64.RawURLEncoding.Strict().DecodeString(token[len(devicePrefix):])
	if err != nil || len(raw) != deviceRawBytes {
		return "", false
	}
	key, err := d.hmacKey(ctx)
	if err != nil {
		return "", false
	}
	id, expires, mac := raw[:16], binary.BigEndian.Uint64(raw[16:24]), raw[24:]
	if !hmac.Equal(mac, deviceMAC(key, id, expires, email)) || d.now().Unix() >= int64(expires) {
		return "", false
	}
	return base64.RawURLEncoding.EncodeToString(id), true
}

// SignInDevice is SignIn for a client that keeps a device token:
// deviceToken is the one it got at its last sign-in to this account (""
// when it has none). With a valid one the attempt is counted against that
// token alone and is not held back by the account's and the address's
// blocks; otherwise the attempt is anonymous, as SignIn's. A good sign-in
// returns a new device token for next time ("" when device tokens are
// unavailable).
func (i *Issuer) SignInDevice(ctx context.Context, caller Caller, email, password, deviceToken string) (TokenSet, string, error) {
	u, next, err := i.Accounts.AuthenticateDevice(ctx, caller, email, password, deviceToken)
	if err == nil {
		var ts TokenSet
		ts, err = i.Sessions.Start(ctx, caller, u)
		i.Metrics.signin(err)
		if err != nil {
			return TokenSet{}, "", err
		}
		return ts, next, nil
	}
	i.Metrics.signin(err)
	return TokenSet{}, "", err
}
