package issuer

import (
	"net/mail"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/mtibben/confusables"
	"golang.org/x/net/idna"
	"golang.org/x/text/secure/precis"
)

// Password bounds: bcrypt reads at most 72 bytes, and Signet rejects longer
// passwords rather than silently ignoring their tail.
const (
	MinPasswordBytes = 8
	MaxPasswordBytes = 72
	maxEmailBytes    = 254
	// maxRawEmailBytes bounds the input before any Unicode work: the
	// longest spelling of a 254-byte address (fullwidth letters, NFD).
	maxRawEmailBytes = 4 * maxEmailBytes
)

// NormalizeEmail returns the one stored form of an email address, or an
// invalid_request error saying what is wrong with it. The form is:
//
//   - the local part through the PRECIS UsernameCaseMapped profile (RFC
//     8265): fullwidth mapped to halfwidth, lower-cased, NFC, the Bidi
//     Rule, and only letters, digits and printable ASCII (no symbols,
//     spaces, invisible or unassigned code points);
//   - the domain through IDNA's lookup profile (UTS 46, non-transitional,
//     STD3 rules), stored as ASCII (punycode A-labels). ASCII because it is
//     the form DNS and every mail server take, it leaves every all-ASCII
//     domain as it was, and a look-alike domain (Cyrillic "раураl.com")
//     shows as xn--… in every resource server that renders the email
//     claim, instead of as the Latin name it imitates.
//
// Format characters (Cf: U+200B, U+00AD, U+FEFF, …), bidi controls and
// code points unassigned in Go's Unicode version are refused outright
// rather than dropped, so no two spellings that look alike but differ in
// invisible characters can both exist. NormalizeEmail is idempotent.
func NormalizeEmail(raw string) (string, error) {
	if !utf8.ValidString(raw) {
		return "", Errorf(KindInvalid, "email is not valid UTF-8")
	}
	s := strings.TrimSpace(raw)
	switch {
	case s == "":
		return "", Errorf(KindInvalid, "email is required")
	case len(s) > maxRawEmailBytes:
		return "", Errorf(KindInvalid, "email is longer than %d bytes", maxEmailBytes)
	}
	for _, r := range s {
		switch {
		case unicode.IsSpace(r) || unicode.IsControl(r):
			return "", Errorf(KindInvalid, "email must not contain spaces or control characters")
		case unicode.Is(unicode.Cf, r) || unicode.Is(unicode.Bidi_Control, r):
			return "", Errorf(KindInvalid, "email must not contain invisible, format or text-direction characters")
		case !assigned(r):
			return "", Errorf(KindInvalid, "email contains an unassigned code point")
		}
	}
	if strings.Count(s, "@") != 1 {
		return "", Errorf(KindInvalid, "email is not a valid address")
	}
	local, domain, _ := strings.Cut(s, "@")
	if local == "" || domain == "" {
		return "", Errorf(KindInvalid, "email is not a valid address")
	}
	local, err := precis.UsernameCaseMapped.String(local)
	if err != nil {
		return "", Errorf(KindInvalid, "email has characters that are not allowed in an address")
	}
	domain, err = idna.Lookup.ToASCII(domain)
	if err != nil || strings.HasSuffix(domain, ".") {
		return "", Errorf(KindInvalid, "email has an invalid domain")
	}
	email := local + "@" + domain
	if len(email) > maxEmailBytes {
		return "", Errorf(KindInvalid, "email is longer than %d bytes", maxEmailBytes)
	}
	if addr, err := mail.ParseAddress(email); err != nil || addr.Address != email {
		return "", Errorf(KindInvalid, "email is not a valid address")
	}
	return email, nil
}

// assigned reports whether r is an assigned code point in Go's Unicode
// tables (every general category but Cn).
func assigned(r rune) bool {
	return unicode.In(r, unicode.L, unicode.M, unicode.N, unicode.P, unicode.S, unicode.Z,
		unicode.Cc, unicode.Cf, unicode.Co, unicode.Cs)
}

// EmailSkeleton is the confusable skeleton of an address (Unicode TR 39
// §4): two addresses that render alike, such as "admin@example.com" and
// "аdmin@example.com" with a Cyrillic а, have the same skeleton. The store
// keeps it in a unique column, so a look-alike of an existing account is
// refused like a duplicate. The domain is compared in its Unicode form,
// where look-alikes show. For an address already stored in another form,
// invisible characters are dropped first, so that legacy rows are still
// compared by what they show.
//
// The confusables data (Unicode's confusables.txt, version 13.0.0, under
// the Unicode terms of use) comes with github.com/mtibben/confusables
// (BSD-3-Clause).
func EmailSkeleton(email string) string {
	s := strings.Map(func(r rune) rune {
		if unicode.In(r, unicode.Cf, unicode.Cc, unicode.Variation_Selector, unicode.Other_Default_Ignorable_Code_Point) {
			return -1
		}
		return r
	}, email)
	if i := strings.LastIndexByte(s, '@'); i >= 0 {
		if d, err := idna.Lookup.ToUnicode(s[i+1:]); err == nil {
			s = s[:i+1] + d
		}
	}
	return confusables.Skeleton(s)
}

// CheckPassword applies the password rules of sign-up.
func CheckPassword(pw string) error {
	switch {
	case pw == "":
		return Errorf(KindInvalid, "password is required")
	case !utf8.ValidString(pw):
		return Errorf(KindInvalid, "password is not valid UTF-8")
	case len(pw) < MinPasswordBytes:
		return Errorf(KindInvalid, "password is shorter than %d bytes", MinPasswordBytes)
	case len(pw) > MaxPasswordBytes:
		return Errorf(KindInvalid, "password is longer than %d bytes", MaxPasswordBytes)
	}
	return nil
}
