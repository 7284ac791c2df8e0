package feeds

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestHubLinks: with a WebSub hub, every feed names it (RSS and Atom with a
// link rel="hub", JSON Feed in "hubs") and is served with a Link header
// naming the hub and the feed itself; without one, none of it appears.
func TestHubLinks(t *testing.T) {
	meta := testMeta(t)
	meta.Hub = "https://hub.example.net/"
	set, err := Render(meta, testEditions(t), testRenderer(t))
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]string{
		"rss":  `<atom:link href="https://hub.example.net/" rel="hub"></atom:link>`,
		"atom": `<link href="https://hub.example.net/" rel="hub"></link>`,
		"json": `"hubs": [
    {
      "type": "WebSub",
      "url": "https://hub.example.net/"
    }
  ]`,
	} {
		doc := map[string]*Document{"rss": set.RSS, "atom": set.Atom, "json": set.JSON}[name]
		if !strings.Contains(string(doc.Body()), want) {
			t.Errorf("%s lacks %s:\n%s", name, want, doc.Body())
		}
		if name != "json" {
			checkWellFormed(t, doc.Body())
			if f := parseFeed(t, doc.Body()); len(f.Items) == 0 {
				t.Errorf("%s does not parse with its hub link", name)
			}
		}
		for _, status := range []string{"", `"no-match"`} {
			w := httptest.NewRecorder()
			r := httptest.NewRequest(http.MethodGet, "/", nil)
			if status != "" {
				r.Header.Set("If-None-Match", doc.ETag())
			}
			doc.Serve(w, r)
			file := map[string]string{"rss": RSSFile, "atom": AtomFile, "json": JSONFile}[name]
			if got, want := w.Header().Get("Link"), `<https://hub.example.net/>; rel="hub", <`+meta.URL(file)+`>; rel="self"`; got != want {
				t.Errorf("%s %d: Link %q, want %q", name, w.Code, got, want)
			}
		}
	}
	plain := render(t, testEditions(t))
	if strings.Contains(string(plain.Atom.Body()), `rel="hub"`) || strings.Contains(string(plain.JSON.Body()), "hubs") {
		t.Error("a feed without a hub names one")
	}
	w := httptest.NewRecorder()
	plain.RSS.Serve(w, httptest.NewRequest(http.MethodGet, "/", nil))
	if w.Header().Get("Link") != "" {
		t.Errorf("a feed without a hub has Link %q", w.Header().Get("Link"))
	}
}
