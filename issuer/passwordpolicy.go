package issuer

import (
	"strings"
	"sync"

	// The common-password list: zxcvbn's "passwords" frequency list (the
	// 30,000 most frequent passwords of Mark Burnett's 10 million password
	// corpus, as shipped by Dropbox's zxcvbn), from the Go port
	// github.com/trustelem/zxcvbn, MIT licence (Copyright (c) 2018 Vincent
	// Vanackere and Trustelem; the data under the same terms as Dropbox's
	// zxcvbn, MIT).
	"github.com/trustelem/zxcvbn/frequency"
)

// PasswordPolicy is NIST SP 800-63B §5.1.1.2 (memorized secrets): a
// minimum length, bcrypt's 72-byte maximum, no composition rules, and a
// refusal of passwords attackers try first (a common-password list) or
// that the context gives away (the email address).
type PasswordPolicy struct {
	// MinBytes is the minimum length in bytes; at least 8 (the default).
	MinBytes int
}

// Check applies the policy to a new password for the account of email
// (normalised; may be empty). Its errors are KindInvalid and say which
// rule failed.
func (p PasswordPolicy) Check(pw, email string) error {
	minBytes := max(p.MinBytes, MinPasswordBytes)
	switch {
	case pw == "":
		return Errorf(KindInvalid, "password is required")
	case len(pw) < minBytes:
		return Errorf(KindInvalid, "password is shorter than %d bytes", minBytes)
	case len(pw) > MaxPasswordBytes:
		return Errorf(KindInvalid, "password is longer than %d bytes", MaxPasswordBytes)
	}
	lower := strings.ToLower(pw)
	if email != "" {
		local, _, _ := strings.Cut(email, "@")
		if lower == strings.ToLower(email) || lower == strings.ToLower(local) {
			return Errorf(KindInvalid, "password must not be the email address")
		}
	}
	if commonPasswords()[lower] {
		return Errorf(KindInvalid, "password is too common: it is on a list of passwords attackers try first")
	}
	return nil
}

// commonPasswords is the list as a set, built on first use. Entries are
// lower case; so is the comparison, since a case change is the first
// variation a guesser tries.
var commonPasswords = sync.OnceValue(func() map[string]bool {
	list := frequency.FrequencyLists["passwords"]
	set := make(map[string]bool, len(list))
	for _, p := range list {
		if len(p) >= MinPasswordBytes {
			set[strings.ToLower(p)] = true
		}
	}
	return set
})
