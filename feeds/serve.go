package feeds

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// CacheControl is sent with every feed: readers may reuse a copy for five
// minutes, then revalidate (cheaply, with a 304).
const CacheControl = "public, max-age=300"

// Document is one rendered feed, kept with everything needed to answer a
// request for it without rendering, compressing or formatting again.
type Document struct {
	body, gz     []byte
	etag, gzETag string
	modified     time.Time
	// Header values, built once: a request only assigns these slices
	// (which nothing may modify: net/http only reads them).
	contentType, length, gzLength, etags, gzETags, lastModified []string
	cacheControl, vary, nosniff, gzipCoding                     []string
	link                                                        []string // WebSub's hub and self, or nil
}

func newDocument(body []byte, contentType string, modified time.Time, link []string) *Document {
	sum := sha256.Sum256(body)
	tag := hex.EncodeToString(sum[:16])
	d := &Document{
		body:     body,
		gz:       gzipBytes(body),
		etag:     `"` + tag + `"`,
		gzETag:   `"` + tag + `-gz"`,
		modified: modified.UTC().Truncate(time.Second),
		link:     link,
	}
	d.contentType = []string{contentType}
	d.length = []string{strconv.Itoa(len(d.body))}
	d.gzLength = []string{strconv.Itoa(len(d.gz))}
	d.etags = []string{d.etag}
	d.gzETags = []string{d.gzETag}
	d.lastModified = []string{d.modified.Format(http.TimeFormat)}
	d.cacheControl, d.vary = []string{CacheControl}, []string{"Accept-Encoding"}
	d.nosniff, d.gzipCoding = []string{"nosniff"}, []string{"gzip"}
	return d
}

func gzipBytes(b []byte) []byte {
	var buf bytes.Buffer
	// Writing to a bytes.Buffer cannot fail, and BestCompression is a valid
	// level, so the errors here are always nil.
	zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	_, _ = zw.Write(b)
	_ = zw.Close()
	return buf.Bytes()
}

// Body returns the rendered feed. The caller must not modify it.
func (d *Document) Body() []byte { return d.body }

// ETag returns the strong entity tag of the uncompressed feed.
func (d *Document) ETag() string { return d.etag }

// ServeHTTP answers GET and HEAD with the pre-rendered bytes: 304 when the
// request's If-None-Match or If-Modified-Since shows the reader has them,
// gzip when the reader accepts it.
func (d *Document) ServeHTTP(w http.ResponseWriter, r *http.Request) { d.Serve(w, r) }

// Serve is ServeHTTP, returning the status it answered (for metrics).
func (d *Document) Serve(w http.ResponseWriter, r *http.Request) int {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return http.StatusMethodNotAllowed
	}
	zipped := acceptsGzip(r.Header.Get("Accept-Encoding"))
	body, etags, length := d.body, d.etags, d.length
	if zipped {
		body, etags, length = d.gz, d.gzETags, d.gzLength
	}
	h := w.Header()
	h["Cache-Control"] = d.cacheControl
	h["Vary"] = d.vary
	h["Etag"] = etags
	h["Last-Modified"] = d.lastModified
	if d.link != nil {
		h["Link"] = d.link
	}
	if d.notModified(r) {
		w.WriteHeader(http.StatusNotModified)
		return http.StatusNotModified
	}
	h["Content-Type"] = d.contentType
	h["Content-Length"] = length
	h["X-Content-Type-Options"] = d.nosniff
	if zipped {
		h["Content-Encoding"] = d.gzipCoding
	}
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodHead {
		return http.StatusOK
	}
	_, _ = w.Write(body)
	return http.StatusOK
}

// notModified applies RFC 9110 §13.2.2 to a GET or HEAD: If-None-Match
// decides when present (weak comparison, either encoding's tag matches);
// otherwise If-Modified-Since is compared to the feed's modification time.
func (d *Document) notModified(r *http.Request) bool {
	if inm := r.Header.Get("If-None-Match"); inm != "" {
		return etagListMatches(inm, d.etag, d.gzETag)
	}
	ims := r.Header.Get("If-Modified-Since")
	if ims == "" {
		return false
	}
	t, err := http.ParseTime(ims)
	if err != nil {
		return false
	}
	return !d.modified.After(t)
}

// etagListMatches reports whether the If-None-Match list holds "*" or one of
// tags, compared weakly (a W/ prefix is ignored).
func etagListMatches(list string, tags ...string) bool {
	for item := range strings.SplitSeq(list, ",") {
		item = strings.TrimSpace(item)
		if item == "*" {
			return true
		}
		item = strings.TrimPrefix(item, "W/")
		for _, t := range tags {
			if item == t {
				return true
			}
		}
	}
	return false
}

// acceptsGzip reports whether an Accept-Encoding value allows gzip: the
// gzip (or x-gzip) coding, or "*", listed without q=0.
func acceptsGzip(header string) bool {
	if header == "" {
		return false
	}
	star := false
	for item := range strings.SplitSeq(header, ",") {
		coding, params, _ := strings.Cut(item, ";")
		coding = strings.ToLower(strings.TrimSpace(coding))
		if coding != "gzip" && coding != "x-gzip" && coding != "*" {
			continue
		}
		ok := qNonZero(params)
		if coding == "*" {
			star = ok
			continue
		}
		return ok
	}
	return star
}

// qNonZero reports whether the parameters of an Accept-Encoding item leave
// it acceptable: no q parameter, or one above zero.
func qNonZero(params string) bool {
	for p := range strings.SplitSeq(params, ";") {
		name, value, found := strings.Cut(strings.TrimSpace(p), "=")
		if !found || !strings.EqualFold(strings.TrimSpace(name), "q") {
			continue
		}
		q, err := strconv.ParseFloat(strings.TrimSpace(value), 64)
		return err == nil && q > 0
	}
	return true
}
