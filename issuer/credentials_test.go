package issuer

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestNormalizeEmail(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"  Ann@Example.COM ", "ann@example.com"},
		{"ann+tag@example.com", "ann+tag@example.com"},
		{"ａｎｎ@ｅｘａｍｐｌｅ.ｃｏｍ", "ann@example.com"},                                           // fullwidth
		{"jos\u00e9@example.com", "jos\u00e9@example.com"},                               // NFC stays
		{"jose\u0301@example.com", "jos\u00e9@example.com"},                              // NFD becomes NFC
		{"ann@bu\u0308cher.de", "ann@xn--bcher-kva.de"},                                  // NFD domain
		{"ann@B\u00dcCHER.de", "ann@xn--bcher-kva.de"},                                   // Unicode domain
		{"ann@xn--bcher-kva.de", "ann@xn--bcher-kva.de"},                                 // punycode domain
		{"\u0438\u0432\u0430\u043d@example.com", "\u0438\u0432\u0430\u043d@example.com"}, // Cyrillic is a script like any other
		{"ann@localhost", "ann@localhost"},
	} {
		got, err := NormalizeEmail(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("NormalizeEmail(%+q) = %+q, %v; want %+q", tc.in, got, err, tc.want)
		}
	}
	for _, in := range []string{
		"", "   ", "ann", "@example.com", "ann@", "a@b@example.com", "ann @example.com",
		"ann@exa mple.com", "ann\x00@example.com", "ann\xff@example.com",
		"a\u200bnn@example.com",                        // zero-width space (Cf)
		"an\u00adn@example.com",                        // soft hyphen (Cf)
		"\ufeffann@example.com",                        // byte-order mark (Cf)
		"ann@exam\u00adple.com",                        // soft hyphen in the domain
		"ann@example.com\u200b",                        // trailing invisible
		"\u202emoc.elpmaxe@nna",                        // right-to-left override
		"ann\u2066@example.com",                        // isolate
		"ann\u200e@example.com",                        // left-to-right mark
		"a\U000e0001nn@example.com",                    // language tag (Cf)
		"ann\U0003fffe@example.com",                    // noncharacter
		"ann\u0378@example.com",                        // unassigned
		"ann\ue000@example.com",                        // private use
		"ann\u3164@example.com",                        // Hangul filler: invisible letter
		"a\u034fnn@example.com",                        // combining grapheme joiner
		"ann\ufe0f@example.com",                        // variation selector
		"ann\u20ac@example.com",                        // a symbol
		"\U0001d41a\U0001d41d\U0001d426in@example.com", // mathematical bold (compatibility characters)
		"ann@exa_mple.com", "ann@-example.com", "ann@example.com.", "ann@[127.0.0.1]",
		strings.Repeat("a", 250) + "@example.com",
	} {
		if got, err := NormalizeEmail(in); err == nil || KindOf(err) != KindInvalid {
			t.Errorf("NormalizeEmail(%+q) = %+q, %v; want an invalid_request error", in, got, err)
		}
	}
}

func TestEmailSkeleton(t *testing.T) {
	norm := func(s string) string {
		t.Helper()
		e, err := NormalizeEmail(s)
		if err != nil {
			t.Fatalf("NormalizeEmail(%+q): %v", s, err)
		}
		return e
	}
	base := EmailSkeleton(norm("admin@paypal.com"))
	for _, alike := range []string{
		"\u0430dmin@paypal.com",      // Cyrillic а
		"admin@p\u0430yp\u0430l.com", // Cyrillic а in the domain
		"admin@xn--pypl-53dc.com",    // the same, as punycode
		"adm\u0456n@paypal.com",      // Cyrillic і
		"adrnin@paypal.com",          // rn for m
	} {
		if got := EmailSkeleton(norm(alike)); got != base {
			t.Errorf("EmailSkeleton(%+q) = %+q, want the skeleton of admin@paypal.com %+q", alike, got, base)
		}
	}
	for _, other := range []string{"admin@paypal.co", "admins@paypal.com", "bob@paypal.com"} {
		if EmailSkeleton(norm(other)) == base {
			t.Errorf("EmailSkeleton(%+q) collides with admin@paypal.com", other)
		}
	}
	// Rows stored before normalisation are compared by what they show.
	if got := EmailSkeleton("ad\u200bmin@paypal.com"); got != base {
		t.Errorf("legacy row with a zero-width space: skeleton %+q, want %+q", got, base)
	}
}

// FuzzNormalizeEmail: the normal form is a fixed point, valid UTF-8, and
// free of the characters that NormalizeEmail refuses.
func FuzzNormalizeEmail(f *testing.F) {
	for _, s := range []string{"Ann@Example.com", "jose\u0301@bu\u0308cher.de", "ａ@ｂ.ｃ", "a\u200b@b.c", "\u0430@xn--80ak6aa92e.com"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		out, err := NormalizeEmail(in)
		if err != nil {
			return
		}
		if !utf8.ValidString(out) || len(out) > maxEmailBytes {
			t.Fatalf("NormalizeEmail(%+q) = %+q: invalid UTF-8 or too long", in, out)
		}
		again, err := NormalizeEmail(out)
		if err != nil || again != out {
			t.Fatalf("NormalizeEmail(%+q) = %+q, but NormalizeEmail of that = %+q, %v", in, out, again, err)
		}
	})
}
