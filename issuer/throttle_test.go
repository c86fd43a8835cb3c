package issuer

import "testing"

func TestAddrKey(t *testing.T) {
	for _, tc := range []struct {
		bits     int
		ip, want string
	}{
		{64, "203.0.113.9", "203.0.113.9"},
		{64, "::ffff:203.0.113.9", "203.0.113.9"},
		{64, "::ffff:cb00:7109", "203.0.113.9"},
		{64, "2001:DB8:1:2:3:4:5:6", "2001:db8:1:2::/64"},
		{64, "2001:db8:1:2::1", "2001:db8:1:2::/64"},
		{64, "fe80::1%eth0", "fe80::/64"},
		{48, "2001:db8:1:2::1", "2001:db8:1::/48"},
		{128, "2001:db8:1:2::1", "2001:db8:1:2::1/128"},
		{64, "", ""},
		{64, "not an address", "not an address"},
	} {
		th := &Throttle{v6bits: tc.bits}
		if got := th.addrKey(tc.ip); got != tc.want {
			t.Errorf("addrKey(%q) with /%d = %q, want %q", tc.ip, tc.bits, got, tc.want)
		}
	}
}
