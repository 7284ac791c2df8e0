package digest

import (
	"net/netip"
	"strings"
	"testing"

	"code.dny.dev/ssrf"
)

// lastAddr is the highest address of p.
func lastAddr(p netip.Prefix) netip.Addr {
	b := p.Masked().Addr().AsSlice()
	for i := p.Bits(); i < len(b)*8; i++ {
		b[i/8] |= 1 << (7 - i%8)
	}
	a, _ := netip.AddrFromSlice(b)
	return a
}

// Every range of the IANA special-purpose registries is refused: its first
// address, one inside, and its last.
func TestSpecialPurposeRangesRefused(t *testing.T) {
	ranges := append([]netip.Prefix{}, ssrf.IPv4DeniedPrefixes...)
	ranges = append(ranges, ssrf.IPv6DeniedPrefixes...)
	// IPv6 special-purpose blocks outside 2000::/3 (refused as not global
	// unicast), as listed by the IANA registry, and the old site-local.
	for _, p := range []string{"::1/128", "::/128", "::ffff:0:0/96", "64:ff9b::/96", "64:ff9b:1::/48", "100::/64",
		"100:0:0:1::/64", "5f00::/16", "fc00::/7", "fe80::/10", "fec0::/10", "ff00::/8",
		// and those inside it, listed explicitly so a change of the list shows
		"2001::/23", "2001::/32", "2001:1::1/128", "2001:2::/48", "2001:3::/32", "2001:4:112::/48", "2001:10::/28",
		"2001:20::/28", "2001:30::/28", "2001:db8::/32", "2002::/16", "2620:4f:8000::/48", "3fff::/20",
		// IPv4, likewise
		"0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16", "172.16.0.0/12", "192.0.0.0/24",
		"192.0.0.0/29", "192.0.0.8/32", "192.0.0.170/32", "192.0.2.0/24", "192.31.196.0/24", "192.52.193.0/24",
		"192.88.99.0/24", "192.168.0.0/16", "192.175.48.0/24", "198.18.0.0/15", "198.51.100.0/24", "203.0.113.0/24",
		"240.0.0.0/4", "255.255.255.255/32", "224.0.0.0/4"} {
		ranges = append(ranges, netip.MustParsePrefix(p))
	}
	for _, p := range ranges {
		t.Run(p.String(), func(t *testing.T) {
			first, last := p.Masked().Addr(), lastAddr(p)
			mid := first.Next()
			if !p.Contains(mid) {
				mid = first
			}
			for _, a := range []netip.Addr{first, mid, last} {
				if IsPublicAddr(a) {
					t.Errorf("%s (in %s) counted as public", a, p)
				}
			}
		})
	}
}

// Addresses that embed an IPv4 are judged by it.
func TestEmbeddedIPv4JudgedByIt(t *testing.T) {
	for a, want := range map[string]bool{
		"64:ff9b::7f00:1":                      false, // NAT64 of 127.0.0.1
		"64:ff9b::a9fe:a9fe":                   false, // NAT64 of 169.254.169.254
		"64:ff9b::10.0.0.1":                    false,
		"64:ff9b::808:808":                     true, // NAT64 of 8.8.8.8: an IPv6-only host reaches the IPv4 Internet so
		"64:ff9b:1::7f00:1":                    false,
		"::ffff:127.0.0.1":                     false, // mapped
		"::ffff:8.8.8.8":                       true,
		"::127.0.0.1":                          false, // compatible
		"::8.8.8.8":                            false, // compatible: deprecated, refused whatever it carries
		"2002:7f00:1::1":                       false, // 6to4 of 127.0.0.1
		"2002:a9fe:a9fe::":                     false, // 6to4 of 169.254.169.254
		"2002:808:808::1":                      false, // 6to4: a special-purpose range, refused anyway
		"2001:0:4136:e378:8000:63bf:80ff:fffe": false, // Teredo, client 127.0.0.1
		"2001:0:4136:e378:8000:63bf:f7f7:f7f7": false, // Teredo, client 8.8.8.8: refused with its range
		"8.8.8.8":                              true,
		"93.184.216.34":                        true,
		"2606:4700::1111":                      true,
		"2a00:1450:4007::200e":                 true,
	} {
		if got := IsPublicAddr(netip.MustParseAddr(a)); got != want {
			t.Errorf("IsPublicAddr(%s) = %v, want %v", a, got, want)
		}
	}
	if IsPublicAddr(netip.Addr{}) {
		t.Error("the zero Addr counted as public")
	}
}

// The fetcher refuses, when connecting, a NAT64 address of loopback — the
// address that was dialled before.
func TestFetcherRefusesNAT64Loopback(t *testing.T) {
	f := NewFetcher(FetcherOptions{UserAgent: "test", Retries: -1})
	_, err := f.Get(t.Context(), "http://[64:ff9b::7f00:1]:8080/")
	if err == nil || !strings.Contains(err.Error(), "refusing to connect to 64:ff9b::7f00:1") {
		t.Fatalf("Get: %v, want a refusal", err)
	}
}
