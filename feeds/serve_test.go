package feeds

import (
	"bytes"
	"compress/gzip"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// testLastModified is testNewest as an HTTP date.
const testLastModified = "Fri, 27 Nov 2026 21:45:30 GMT"

var contentTypes = map[string]string{
	"RSS":  "application/rss+xml; charset=utf-8",
	"Atom": "application/atom+xml; charset=utf-8",
	"JSON": "application/feed+json",
}

// serve makes one request of h; header is pairs of name and value.
func serve(t *testing.T, h http.Handler, method string, header ...string) *httptest.ResponseRecorder {
	t.Helper()
	if len(header)%2 != 0 {
		t.Fatalf("serve: odd number of header strings")
	}
	r := httptest.NewRequest(method, "/"+RSSFile, nil)
	for i := 0; i < len(header); i += 2 {
		r.Header.Add(header[i], header[i+1])
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

func checkHeader(t *testing.T, h http.Header, name, want string) {
	t.Helper()
	if got := h.Get(name); got != want {
		t.Fatalf("%s: got %q, want %q", name, got, want)
	}
	if got := len(h.Values(name)); got > 1 {
		t.Fatalf("%s: %d values, want one: %q", name, got, h.Values(name))
	}
}

func checkStatus(t *testing.T, w *httptest.ResponseRecorder, want int) {
	t.Helper()
	if got := w.Code; got != want {
		t.Fatalf("status: got %d, want %d (body %q)", got, want, w.Body.String())
	}
}

// checkStrongETag checks tag is a quoted, strong entity tag.
func checkStrongETag(t *testing.T, tag string) {
	t.Helper()
	if strings.HasPrefix(tag, "W/") || len(tag) < 3 || !strings.HasPrefix(tag, `"`) || !strings.HasSuffix(tag, `"`) ||
		strings.Contains(tag[1:len(tag)-1], `"`) {
		t.Fatalf("ETag %q is not a strong entity tag", tag)
	}
}

func gunzip(t *testing.T, b []byte) []byte {
	t.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("gzip.NewReader: %v", err)
	}
	out, err := io.ReadAll(zr)
	if err != nil {
		t.Fatalf("gunzip: %v", err)
	}
	return out
}

func TestServeGet(t *testing.T) {
	set := render(t, testEditions(t))
	for _, f := range feedFormats {
		t.Run(f.name, func(t *testing.T) {
			doc := f.doc(set)
			w := serve(t, doc, http.MethodGet)
			checkStatus(t, w, http.StatusOK)
			h := w.Header()
			checkHeader(t, h, "Content-Type", contentTypes[f.name])
			checkHeader(t, h, "Content-Length", strconv.Itoa(w.Body.Len()))
			checkHeader(t, h, "Etag", doc.ETag())
			checkStrongETag(t, h.Get("Etag"))
			checkHeader(t, h, "Last-Modified", testLastModified)
			checkHeader(t, h, "Cache-Control", "public, max-age=300")
			checkHeader(t, h, "Vary", "Accept-Encoding")
			checkHeader(t, h, "Content-Encoding", "")
			if !bytes.Equal(w.Body.Bytes(), doc.Body()) {
				t.Fatalf("body differs from the rendered feed")
			}
		})
	}
}

func TestServeLastModifiedTruncated(t *testing.T) {
	editions := testEditions(t)
	editions[1].Updated = testNewest.Add(750 * time.Millisecond)
	doc := render(t, editions).RSS
	w := serve(t, doc, http.MethodGet)
	checkHeader(t, w.Header(), "Last-Modified", testLastModified)
	// The reader echoes the whole second it was given: that is a match.
	w = serve(t, doc, http.MethodGet, "If-Modified-Since", testLastModified)
	checkStatus(t, w, http.StatusNotModified)
}

func TestServeConditional(t *testing.T) {
	doc := render(t, testEditions(t)).RSS
	etag := doc.ETag()
	lm, err := http.ParseTime(testLastModified)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		header []string
		want   int
	}{
		{"no condition", nil, http.StatusOK},
		{"If-None-Match same tag", []string{"If-None-Match", etag}, http.StatusNotModified},
		{"If-None-Match weak tag", []string{"If-None-Match", "W/" + etag}, http.StatusNotModified},
		{"If-None-Match list", []string{"If-None-Match", `"aaa", ` + etag + `, W/"bbb"`}, http.StatusNotModified},
		{"If-None-Match list without spaces", []string{"If-None-Match", `"aaa",` + etag}, http.StatusNotModified},
		{"If-None-Match star", []string{"If-None-Match", "*"}, http.StatusNotModified},
		{"If-None-Match other tag", []string{"If-None-Match", `"0123456789abcdef"`}, http.StatusOK},
		{"If-None-Match list of other tags", []string{"If-None-Match", `"a", W/"b"`}, http.StatusOK},
		{"If-None-Match unquoted tag", []string{"If-None-Match", strings.Trim(etag, `"`)}, http.StatusOK},
		{"If-Modified-Since equal", []string{"If-Modified-Since", testLastModified}, http.StatusNotModified},
		{"If-Modified-Since later", []string{"If-Modified-Since", lm.Add(time.Hour).Format(http.TimeFormat)}, http.StatusNotModified},
		{"If-Modified-Since RFC 850 form", []string{"If-Modified-Since", "Friday, 27-Nov-26 21:45:30 GMT"}, http.StatusNotModified},
		{"If-Modified-Since a second earlier", []string{"If-Modified-Since", lm.Add(-time.Second).Format(http.TimeFormat)}, http.StatusOK},
		{"If-Modified-Since unparsable", []string{"If-Modified-Since", "yesterday"}, http.StatusOK},
		{"If-None-Match mismatch wins over If-Modified-Since",
			[]string{"If-None-Match", `"0123456789abcdef"`, "If-Modified-Since", testLastModified}, http.StatusOK},
		{"If-None-Match match wins over old If-Modified-Since",
			[]string{"If-None-Match", etag, "If-Modified-Since", lm.Add(-time.Hour).Format(http.TimeFormat)}, http.StatusNotModified},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, method := range []string{http.MethodGet, http.MethodHead} {
				w := serve(t, doc, method, tt.header...)
				checkStatus(t, w, tt.want)
				h := w.Header()
				checkHeader(t, h, "Etag", etag)
				checkHeader(t, h, "Last-Modified", testLastModified)
				checkHeader(t, h, "Cache-Control", CacheControl)
				checkHeader(t, h, "Vary", "Accept-Encoding")
				wantBody := doc.Body()
				if tt.want == http.StatusNotModified {
					checkHeader(t, h, "Content-Length", "")
					checkHeader(t, h, "Content-Type", "")
				}
				if tt.want == http.StatusNotModified || method == http.MethodHead {
					wantBody = nil
				}
				if got, want := w.Body.Len(), len(wantBody); got != want {
					t.Fatalf("%s: body length: got %d, want %d", method, got, want)
				}
			}
		})
	}
}

func TestServeHead(t *testing.T) {
	set := render(t, testEditions(t))
	for _, f := range feedFormats {
		t.Run(f.name, func(t *testing.T) {
			doc := f.doc(set)
			for _, ae := range []string{"", "gzip"} {
				get := serve(t, doc, http.MethodGet, "Accept-Encoding", ae)
				head := serve(t, doc, http.MethodHead, "Accept-Encoding", ae)
				checkStatus(t, head, http.StatusOK)
				if got := head.Body.Len(); got != 0 {
					t.Fatalf("HEAD (Accept-Encoding %q) wrote %d body bytes", ae, got)
				}
				checkHeader(t, head.Header(), "Content-Length", strconv.Itoa(get.Body.Len()))
				for _, name := range []string{"Content-Type", "Etag", "Last-Modified", "Cache-Control", "Vary", "Content-Encoding"} {
					checkHeader(t, head.Header(), name, get.Header().Get(name))
				}
			}
		})
	}
}

func TestServeGzip(t *testing.T) {
	doc := render(t, testEditions(t)).Atom
	tests := []struct {
		acceptEncoding string
		gzip           bool
	}{
		{"", false},
		{"gzip", true},
		{"gzip;q=0", false},
		{"*", true},
		{"identity", false},
		{"br, gzip;q=0.5", true},
		{"deflate, br", false},
		{"br;q=1.0, gzip;q=0.8, *;q=0.1", true},
	}
	for _, tt := range tests {
		t.Run(tt.acceptEncoding, func(t *testing.T) {
			w := serve(t, doc, http.MethodGet, "Accept-Encoding", tt.acceptEncoding)
			checkStatus(t, w, http.StatusOK)
			h := w.Header()
			checkHeader(t, h, "Content-Length", strconv.Itoa(w.Body.Len()))
			checkHeader(t, h, "Vary", "Accept-Encoding")
			checkHeader(t, h, "Content-Type", AtomType)
			tag := h.Get("Etag")
			checkStrongETag(t, tag)
			if !tt.gzip {
				checkHeader(t, h, "Content-Encoding", "")
				checkHeader(t, h, "Etag", doc.ETag())
				if !bytes.Equal(w.Body.Bytes(), doc.Body()) {
					t.Fatalf("plain body differs from the rendered feed")
				}
				return
			}
			checkHeader(t, h, "Content-Encoding", "gzip")
			if tag == doc.ETag() {
				t.Fatalf("the gzip response has the plain ETag %q", tag)
			}
			if got := gunzip(t, w.Body.Bytes()); !bytes.Equal(got, doc.Body()) {
				t.Fatalf("gunzipped body differs from the rendered feed:\n%s", got)
			}
		})
	}
}

func TestServeGzipNotModified(t *testing.T) {
	doc := render(t, testEditions(t)).RSS
	gzTag := serve(t, doc, http.MethodGet, "Accept-Encoding", "gzip").Header().Get("Etag")
	tests := []struct {
		name    string
		header  []string
		want    int
		wantTag string
	}{
		{"gzip tag, gzip request", []string{"Accept-Encoding", "gzip", "If-None-Match", gzTag}, http.StatusNotModified, gzTag},
		{"weak gzip tag, gzip request", []string{"Accept-Encoding", "gzip", "If-None-Match", "W/" + gzTag}, http.StatusNotModified, gzTag},
		{"gzip tag, plain request", []string{"If-None-Match", gzTag}, http.StatusNotModified, doc.ETag()},
		{"plain tag, gzip request", []string{"Accept-Encoding", "gzip", "If-None-Match", doc.ETag()}, http.StatusNotModified, gzTag},
		{"other tag, gzip request", []string{"Accept-Encoding", "gzip", "If-None-Match", `"nope"`}, http.StatusOK, gzTag},
		{"date, gzip request", []string{"Accept-Encoding", "gzip", "If-Modified-Since", testLastModified}, http.StatusNotModified, gzTag},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := serve(t, doc, http.MethodGet, tt.header...)
			checkStatus(t, w, tt.want)
			checkHeader(t, w.Header(), "Etag", tt.wantTag)
			if tt.want == http.StatusNotModified {
				if got := w.Body.Len(); got != 0 {
					t.Fatalf("304 with %d body bytes", got)
				}
				checkHeader(t, w.Header(), "Content-Encoding", "")
			}
		})
	}
}

func TestServeMethodNotAllowed(t *testing.T) {
	doc := render(t, testEditions(t)).JSON
	for _, method := range []string{http.MethodPost, http.MethodPut, http.MethodDelete, http.MethodPatch, http.MethodOptions} {
		t.Run(method, func(t *testing.T) {
			w := serve(t, doc, method, "If-None-Match", doc.ETag())
			checkStatus(t, w, http.StatusMethodNotAllowed)
			checkHeader(t, w.Header(), "Allow", "GET, HEAD")
			checkHeader(t, w.Header(), "Etag", "")
			if bytes.Contains(w.Body.Bytes(), doc.Body()) {
				t.Fatalf("%s got the feed", method)
			}
		})
	}
}

// TestServeOverHTTP checks what reaches a client through a real server:
// net/http must neither chunk nor re-encode the pre-rendered bytes.
func TestServeOverHTTP(t *testing.T) {
	doc := render(t, testEditions(t)).RSS
	srv := httptest.NewServer(doc)
	t.Cleanup(srv.Close)
	client := &http.Client{Transport: &http.Transport{DisableCompression: true}}
	t.Cleanup(client.CloseIdleConnections)

	do := func(t *testing.T, method string, header ...string) (*http.Response, []byte) {
		t.Helper()
		req, err := http.NewRequest(method, srv.URL+"/"+RSSFile, nil)
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i < len(header); i += 2 {
			req.Header.Set(header[i], header[i+1])
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatalf("%s: %v", method, err)
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatalf("read body: %v", err)
		}
		return resp, body
	}

	t.Run("GET", func(t *testing.T) {
		resp, body := do(t, http.MethodGet)
		if got, want := resp.StatusCode, http.StatusOK; got != want {
			t.Fatalf("status: got %d, want %d", got, want)
		}
		if got, want := resp.ContentLength, int64(len(doc.Body())); got != want {
			t.Fatalf("Content-Length: got %d, want %d", got, want)
		}
		if len(resp.TransferEncoding) != 0 {
			t.Fatalf("Transfer-Encoding: got %q, want none", resp.TransferEncoding)
		}
		if !bytes.Equal(body, doc.Body()) {
			t.Fatalf("body differs from the rendered feed")
		}
		checkHeader(t, resp.Header, "Content-Type", RSSType)
	})
	t.Run("GET gzip", func(t *testing.T) {
		resp, body := do(t, http.MethodGet, "Accept-Encoding", "gzip")
		checkHeader(t, resp.Header, "Content-Encoding", "gzip")
		if got, want := resp.ContentLength, int64(len(body)); got != want {
			t.Fatalf("Content-Length: got %d, want %d", got, want)
		}
		if !bytes.Equal(gunzip(t, body), doc.Body()) {
			t.Fatalf("gunzipped body differs from the rendered feed")
		}
	})
	t.Run("HEAD", func(t *testing.T) {
		resp, body := do(t, http.MethodHead)
		if got, want := resp.StatusCode, http.StatusOK; got != want {
			t.Fatalf("status: got %d, want %d", got, want)
		}
		if got, want := resp.ContentLength, int64(len(doc.Body())); got != want {
			t.Fatalf("Content-Length: got %d, want %d", got, want)
		}
		if len(body) != 0 {
			t.Fatalf("HEAD body: %d bytes", len(body))
		}
	})
	t.Run("304", func(t *testing.T) {
		resp, body := do(t, http.MethodGet, "If-None-Match", doc.ETag())
		if got, want := resp.StatusCode, http.StatusNotModified; got != want {
			t.Fatalf("status: got %d, want %d", got, want)
		}
		checkHeader(t, resp.Header, "Etag", doc.ETag())
		if len(body) != 0 {
			t.Fatalf("304 body: %d bytes", len(body))
		}
	})
}

// TestServeConcurrent serves one document from many goroutines, with a
// handler after it that adds to the response headers, as middleware does:
// run with -race, and the shared headers must stay as they were.
func TestServeConcurrent(t *testing.T) {
	doc := render(t, testEditions(t)).RSS
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		doc.ServeHTTP(w, r)
		w.Header().Add("Vary", "Cookie")
		w.Header().Add("Cache-Control", "no-transform")
	})
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range 20 {
				ae := ""
				if (i+j)%2 == 0 {
					ae = "gzip"
				}
				serve(t, h, http.MethodGet, "Accept-Encoding", ae)
			}
		}()
	}
	wg.Wait()
	w := serve(t, doc, http.MethodGet)
	if got, want := w.Header().Values("Vary"), []string{"Accept-Encoding"}; len(got) != 1 || got[0] != want[0] {
		t.Fatalf("Vary after concurrent requests: got %q, want %q", got, want)
	}
	if got, want := w.Header().Values("Cache-Control"), []string{CacheControl}; len(got) != 1 || got[0] != want[0] {
		t.Fatalf("Cache-Control after concurrent requests: got %q, want %q", got, want)
	}
}

func TestAcceptsGzip(t *testing.T) {
	tests := []struct {
		header string
		want   bool
	}{
		{"", false},
		{"gzip", true},
		{"x-gzip", true},
		{"GZip", true},
		{" gzip ", true},
		{"gzip;q=1", true},
		{"gzip; q=0.5", true},
		{"gzip;q=0.001", true},
		{"gzip;Q=0.5", true},
		{"gzip;q=0", false},
		{"gzip; q=0", false},
		{"gzip;q=0.0", false},
		{"gzip;q=0.000", false},
		{"gzip;level=9;q=0", false},
		{"*", true},
		{"*;q=0", false},
		{"*;q=0, gzip", true},
		{"gzip;q=0, *", false},
		{"*, gzip;q=0", false},
		{"identity", false},
		{"identity, *;q=0", false},
		{"br", false},
		{"deflate, br", false},
		{"br, gzip;q=0.5", true},
		{"br;q=1.0, gzip;q=0.8, *;q=0.1", true},
		{"gzipx", false},
		{"x-gzip;q=0", false},
	}
	for _, tt := range tests {
		t.Run(tt.header, func(t *testing.T) {
			if got, want := acceptsGzip(tt.header), tt.want; got != want {
				t.Fatalf("acceptsGzip(%q): got %v, want %v", tt.header, got, want)
			}
		})
	}
}

func TestEtagListMatches(t *testing.T) {
	const (
		plain = `"0a1b2c"`
		gz    = `"0a1b2c-gz"`
	)
	tests := []struct {
		list string
		want bool
	}{
		{plain, true},
		{gz, true},
		{"W/" + plain, true},
		{"W/" + gz, true},
		{"*", true},
		{" * ", true},
		{`"x", ` + plain, true},
		{`"x",` + gz + `,"y"`, true},
		{`"x" , W/` + plain, true},
		{`"x"`, false},
		{`"0a1b2c`, false},
		{`0a1b2c`, false},
		{`"0A1B2C"`, false},
		{`"0a1b2c-gz-gz"`, false},
		{`w/` + plain, false},
		{`"x", "y"`, false},
		{",", false},
	}
	for _, tt := range tests {
		t.Run(tt.list, func(t *testing.T) {
			if got, want := etagListMatches(tt.list, plain, gz), tt.want; got != want {
				t.Fatalf("etagListMatches(%q): got %v, want %v", tt.list, got, want)
			}
		})
	}
}
