package digest

import (
	"net/netip"

	"code.dny.dev/ssrf"
)

// The ranges refused come from code.dny.dev/ssrf, which generates them from
// the IANA IPv4 and IPv6 Special-Purpose Address Registries: every IPv4
// special-purpose block, every IPv6 address outside global unicast
// (2000::/3), and the special-purpose blocks inside it.

var (
	nat64WellKnown = netip.MustParsePrefix("64:ff9b::/96")   // RFC 6052: the IPv4 is the last 32 bits
	nat64Local     = netip.MustParsePrefix("64:ff9b:1::/48") // RFC 8215: local use, layout chosen locally
	sixToFour      = netip.MustParsePrefix("2002::/16")      // RFC 3056: the IPv4 is bits 16–47
	teredo         = netip.MustParsePrefix("2001::/32")      // RFC 4380: server bits 32–63, client bits 96–127 inverted
	ipv4Compatible = netip.MustParsePrefix("::/96")          // RFC 4291 (deprecated): the IPv4 is the last 32 bits
)

// IsPublicAddr reports whether a is an address a source may live at: in no
// IANA special-purpose range (loopback, private, link-local with
// 169.254.169.254, CGNAT, documentation, benchmarking, multicast,
// reserved, unique-local, site-local, discard…). An IPv6 address that
// embeds an IPv4 one is judged by that IPv4 too: IPv4-mapped and NAT64
// (64:ff9b::/96) addresses by their IPv4 alone — a NAT64 gateway reaches
// the public IPv4 Internet that way — and IPv4-compatible, 6to4 and Teredo
// addresses (special-purpose ranges, refused anyway) also by theirs.
func IsPublicAddr(a netip.Addr) bool {
	if !a.IsValid() {
		return false
	}
	if a.Is4In6() {
		return publicV4(a.Unmap())
	}
	if a.Is4() {
		return publicV4(a)
	}
	if nat64WellKnown.Contains(a) {
		return publicV4(last32(a))
	}
	for _, v4 := range embeddedV4(a) {
		if !publicV4(v4) {
			return false
		}
	}
	return ssrfGuard.SafeAddr(a) == nil
}

var ssrfGuard = ssrf.New(ssrf.WithAnyPort(), ssrf.WithAnyNetwork())

func publicV4(a netip.Addr) bool {
	return ssrfGuard.SafeAddr(a) == nil
}

// embeddedV4 returns the IPv4 addresses an IPv6 address carries, by the
// transition mechanism its prefix names.
func embeddedV4(a netip.Addr) []netip.Addr {
	b := a.As16()
	switch {
	case nat64Local.Contains(a), ipv4Compatible.Contains(a):
		return []netip.Addr{last32(a)}
	case sixToFour.Contains(a):
		return []netip.Addr{netip.AddrFrom4([4]byte{b[2], b[3], b[4], b[5]})}
	case teredo.Contains(a):
		return []netip.Addr{
			netip.AddrFrom4([4]byte{b[4], b[5], b[6], b[7]}),
			netip.AddrFrom4([4]byte{^b[12], ^b[13], ^b[14], ^b[15]}),
		}
	}
	return nil
}

func last32(a netip.Addr) netip.Addr {
	b := a.As16()
	return netip.AddrFrom4([4]byte{b[12], b[13], b[14], b[15]})
}
