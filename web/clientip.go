package web

import (
	"fmt"
	"net/http"
	"net/netip"
	"strings"
)

// ProxyTrust names the proxies in front of the server, whose
// X-Forwarded-For additions are believed.
type ProxyTrust struct {
	// Prefixes are the proxies' addresses.
	Prefixes []netip.Prefix
	// AnyPeer trusts the connection's peer, whatever its address, as one
	// proxy (the old --trust-proxy=true).
	AnyPeer bool
}

// ParseProxyTrust reads --trust-proxy: "" or "false" (no proxy), "true"
// (the peer is a proxy, whatever its address: one hop) or a
// comma-separated list of CIDR prefixes or addresses.
func ParseProxyTrust(s string) (ProxyTrust, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "", "false":
		return ProxyTrust{}, nil
	case "true":
		return ProxyTrust{AnyPeer: true}, nil
	}
	var t ProxyTrust
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		p, err := netip.ParsePrefix(part)
		if err != nil {
			a, aerr := netip.ParseAddr(part)
			if aerr != nil {
				return ProxyTrust{}, fmt.Errorf("%q is not an IP address or CIDR prefix such as 10.0.0.0/8", part)
			}
			p = netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen())
		}
		if p.Addr().Is4In6() {
			p = netip.PrefixFrom(p.Addr().Unmap(), max(p.Bits()-96, 0))
		}
		t.Prefixes = append(t.Prefixes, p.Masked())
	}
	return t, nil
}

func (t ProxyTrust) trusts(a netip.Addr) bool {
	for _, p := range t.Prefixes {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// clientAddr is the request's client address. Without trusted proxies it
// is the connection's peer. Behind them, it is the right-most address, over
// every X-Forwarded-For line in order, that is not a trusted proxy: the
// proxies append to the list, so what lies left of the last untrusted
// address is the client's to write and is ignored. With AnyPeer, it is the
// last address of the list (the one the peer appended).
func clientAddr(r *http.Request, trust ProxyTrust) netip.Addr {
	peer := peerAddr(r)
	if !trust.AnyPeer && !trust.trusts(peer) {
		return peer
	}
	var hops []string
	for _, line := range r.Header.Values("X-Forwarded-For") {
		hops = append(hops, strings.Split(line, ",")...)
	}
	client := peer
	for i := len(hops) - 1; i >= 0; i-- {
		a, ok := parseHop(hops[i])
		if !ok {
			// Garbage: what the nearest trusted proxy saw is as far as
			// can be trusted.
			return client
		}
		client = a
		if trust.AnyPeer || !trust.trusts(a) {
			return a
		}
	}
	return client
}

// parseHop reads one X-Forwarded-For entry: an address, perhaps with a
// port ("1.2.3.4:5678", "[2001:db8::1]:80").
func parseHop(s string) (netip.Addr, bool) {
	s = strings.TrimSpace(s)
	if a, err := netip.ParseAddr(s); err == nil {
		return a.Unmap(), true
	}
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap.Addr().Unmap(), true
	}
	return netip.Addr{}, false
}

func peerAddr(r *http.Request) netip.Addr {
	if ap, err := netip.ParseAddrPort(r.RemoteAddr); err == nil {
		return ap.Addr().Unmap()
	}
	a, _ := netip.ParseAddr(r.RemoteAddr)
	return a.Unmap()
}

// clientIP is clientAddr as text, as consent records keep it.
func clientIP(r *http.Request, trust ProxyTrust) string {
	if a := clientAddr(r, trust); a.IsValid() {
		return a.String()
	}
	return r.RemoteAddr
}

// limitKey is what per-client limits count: an IPv4 address, or an IPv6
// address's /64 (one subscriber line or host usually holds a whole /64, so
// counting /128s would give it 2^64 budgets).
func limitKey(a netip.Addr) string {
	if a.Is6() {
		return netip.PrefixFrom(a, 64).Masked().String()
	}
	return a.String()
}
