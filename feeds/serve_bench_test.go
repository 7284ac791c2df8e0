package feeds

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// BenchmarkServe measures one feed request as a reader's client makes it:
// a gzip GET, and a conditional one answered 304.
func BenchmarkServe(b *testing.B) {
	d := newDocument([]byte("<rss>feed</rss>"), RSSType, time.Date(2026, 11, 27, 6, 0, 0, 0, time.UTC), nil)
	for name, hdr := range map[string][2]string{
		"gzip": {"Accept-Encoding", "gzip, deflate, br, zstd"},
		"304":  {"If-None-Match", d.gzETag},
	} {
		b.Run(name, func(b *testing.B) {
			req := httptest.NewRequest(http.MethodGet, "/feed.rss", nil)
			req.Header.Set("Accept-Encoding", "gzip, deflate, br, zstd")
			req.Header.Set(hdr[0], hdr[1])
			b.ReportAllocs()
			for b.Loop() {
				d.Serve(discard{}, req)
			}
		})
	}
}

// discard is a ResponseWriter that keeps nothing.
type discard struct{}

func (discard) Header() http.Header         { return http.Header{} }
func (discard) Write(p []byte) (int, error) { return len(p), nil }
func (discard) WriteHeader(int)             {}
