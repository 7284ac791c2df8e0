package web

import (
	"net/http/httptest"
	"testing"
)

func TestClientAddr(t *testing.T) {
	cidrs, err := ParseProxyTrust("10.0.0.0/8, 192.0.2.1 ,2001:db8::/32")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		trust ProxyTrust
		peer  string
		xff   []string
		want  string
	}{
		{"no proxy trusted: the peer", ProxyTrust{}, "198.51.100.1:1234", []string{"203.0.113.5"}, "198.51.100.1"},
		{"untrusted peer's header ignored", cidrs, "198.51.100.1:1234", []string{"203.0.113.5"}, "198.51.100.1"},
		{"right-most untrusted", cidrs, "10.1.2.3:80", []string{"6.6.6.6, 203.0.113.5, 10.9.9.9"}, "203.0.113.5"},
		{"across lines", cidrs, "10.1.2.3:80", []string{"6.6.6.6", "203.0.113.5", "192.0.2.1"}, "203.0.113.5"},
		{"forged line first", cidrs, "10.1.2.3:80", []string{"1.1.1.1", "203.0.113.5"}, "203.0.113.5"},
		{"with a port", cidrs, "10.1.2.3:80", []string{"203.0.113.5:4444"}, "203.0.113.5"},
		{"IPv6", cidrs, "[2001:db8::1]:80", []string{"2a00:1450::1"}, "2a00:1450::1"},
		{"garbage: stop at the nearest trusted", cidrs, "10.1.2.3:80", []string{"203.0.113.5, bogus, 10.0.0.7"}, "10.0.0.7"},
		{"all trusted: left-most", cidrs, "10.1.2.3:80", []string{"10.0.0.1, 10.0.0.2"}, "10.0.0.1"},
		{"no header: the peer", cidrs, "10.1.2.3:80", nil, "10.1.2.3"},
		{"true: last entry of all lines", ProxyTrust{AnyPeer: true}, "198.51.100.1:1", []string{"1.1.1.1", "203.0.113.5"}, "203.0.113.5"},
		{"mapped peer", cidrs, "[::ffff:10.1.2.3]:80", []string{"203.0.113.5"}, "203.0.113.5"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/", nil)
			r.RemoteAddr = tc.peer
			for _, l := range tc.xff {
				r.Header.Add("X-Forwarded-For", l)
			}
			if got := clientIP(r, tc.trust); got != tc.want {
				t.Errorf("client = %s, want %s", got, tc.want)
			}
		})
	}
}

func TestParseProxyTrust(t *testing.T) {
	for in, ok := range map[string]bool{"": true, "false": true, "true": true, "10.0.0.0/8": true, "::1,127.0.0.1": true,
		"10.0.0.0/33": false, "proxy.local": false, "yes": false} {
		if _, err := ParseProxyTrust(in); (err == nil) != ok {
			t.Errorf("ParseProxyTrust(%q) = %v, want ok=%v", in, err, ok)
		}
	}
	if tr, _ := ParseProxyTrust("false"); tr.AnyPeer || len(tr.Prefixes) != 0 {
		t.Errorf("false trusts %+v", tr)
	}
}

func TestLimitKey(t *testing.T) {
	r := httptest.NewRequest("GET", "/", nil)
	for peer, want := range map[string]string{
		"[2001:db8:1:2:3:4:5:6]:1": "2001:db8:1:2::/64",
		"[2001:db8:1:2::9]:1":      "2001:db8:1:2::/64",
		"192.0.2.7:1":              "192.0.2.7",
		"[::ffff:192.0.2.7]:1":     "192.0.2.7",
	} {
		r.RemoteAddr = peer
		if got := limitKey(clientAddr(r, ProxyTrust{})); got != want {
			t.Errorf("%s counts as %s, want %s", peer, got, want)
		}
	}
}
