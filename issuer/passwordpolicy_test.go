package issuer

import (
	"strings"
	"testing"
)

// TestPasswordPolicy: NIST SP 800-63B — length bounds, no composition
// rules, no common passwords (whatever their case), not the email.
func TestPasswordPolicy(t *testing.T) {
	p := PasswordPolicy{}
	for _, tc := range []struct {
		pw, email, refusal string
	}{
		{"", "", "required"},
		{"short1!", "", "shorter than 8"},
		{strings.Repeat("a", 73), "", "longer than 72"},
		{"password1", "", "too common"},
		{"PASSWORD1", "", "too common"},
		{"iloveyou2", "", "too common"},
		{"ann@example.com", "ann@example.com", "email"},
		{"Ann@Example.com", "ann@example.com", "email"},
		{"annabelle", "annabelle@example.com", "email"},
		{"correct horse battery", "ann@example.com", ""},
		{"alllowercaseletters", "", ""}, // no composition rules
		{"é€ü😀😀😀", "", ""},              // any characters: 8+ bytes
		{strings.Repeat("z", 72), "", ""},
	} {
		err := p.Check(tc.pw, tc.email)
		switch {
		case tc.refusal == "" && err != nil:
			t.Errorf("%q refused: %v", tc.pw, err)
		case tc.refusal != "" && (err == nil || !strings.Contains(err.Error(), tc.refusal) || KindOf(err) != KindInvalid):
			t.Errorf("%q: got %v, want a refusal saying %q", tc.pw, err, tc.refusal)
		}
	}
	if err := (PasswordPolicy{MinBytes: 12}).Check("elevenchars", ""); err == nil || !strings.Contains(err.Error(), "shorter than 12") {
		t.Errorf("configured minimum: %v", err)
	}
	if n := len(commonPasswords()); n < 5000 {
		t.Errorf("the common-password list has %d entries of 8 bytes or more", n)
	}
}

// TestAccountTokenForm: tokens carry their purpose's prefix and 256 bits;
// a token is never accepted for another purpose, and the stored hash is
// the SHA-256 of the whole token.
func TestAccountTokenForm(t *testing.T) {
	raw, hash := newAccountToken(PurposePasswordReset)
	if !strings.HasPrefix(raw, "sgt_pr_") || len(raw) != 7+43 {
		t.Fatalf("token %q", raw)
	}
	if h, ok := accountTokenHash(raw, PurposePasswordReset); !ok || string(h) != string(hash) {
		t.Fatal("the token does not hash back")
	}
	for _, bad := range []string{raw[:len(raw)-1], raw + "A", "sgt_ev_" + raw[7:], strings.Replace(raw, raw[10:11], "!", 1), ""} {
		if _, ok := accountTokenHash(bad, PurposePasswordReset); ok {
			t.Errorf("accepted %q", bad)
		}
	}
	if r2, _ := newAccountToken(PurposePasswordReset); r2 == raw {
		t.Fatal("two tokens alike")
	}
}
