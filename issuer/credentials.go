package issuer

import (
	"net/mail"
	"strings"
	"unicode"
)

// Password bounds: bcrypt reads at most 72 bytes, and Signet rejects longer
// passwords rather than silently ignoring their tail.
const (
	MinPasswordBytes = 8
	MaxPasswordBytes = 72
	maxEmailBytes    = 254
)

// NormalizeEmail trims and lower-cases an email and checks its form.
func NormalizeEmail(raw string) (string, error) {
	email := strings.ToLower(strings.TrimSpace(raw))
	switch {
	case email == "":
		return "", Errorf(KindInvalid, "email is required")
	case len(email) > maxEmailBytes:
		return "", Errorf(KindInvalid, "email is longer than %d bytes", maxEmailBytes)
	}
	for _, r := range email {
		if unicode.IsSpace(r) || unicode.IsControl(r) {
			return "", Errorf(KindInvalid, "email must not contain spaces or control characters")
		}
	}
	addr, err := mail.ParseAddress(email)
	local, domain, ok := strings.Cut(email, "@")
	if err != nil || addr.Address != email || !ok || local == "" || domain == "" || strings.Contains(domain, "@") {
		return "", Errorf(KindInvalid, "email is not a valid address")
	}
	return email, nil
}

// CheckPassword applies the password rules of sign-up.
func CheckPassword(pw string) error {
	switch {
	case pw == "":
		return Errorf(KindInvalid, "password is required")
	case len(pw) < MinPasswordBytes:
		return Errorf(KindInvalid, "password is shorter than %d bytes", MinPasswordBytes)
	case len(pw) > MaxPasswordBytes:
		return Errorf(KindInvalid, "password is longer than %d bytes", MaxPasswordBytes)
	}
	return nil
}
