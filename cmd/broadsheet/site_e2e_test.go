package main

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/broadsheet-news/broadsheet/internal/redistest"
)

// TestEditionPageMeta: an edition page carries a description, a canonical
// link, Open Graph and Twitter card tags, an icon, and links to the
// editions before and after it; the icon is served.
func TestEditionPageMeta(t *testing.T) {
	addr := freeAddr(t)
	env := map[string]string{"BROADSHEET_REDIS_URL": "redis://" + redistest.Start(t), "BROADSHEET_DATA_DIR": t.TempDir(),
		"BROADSHEET_BASE_URL": "https://news.example.com/"}
	c := &cli{env: env}
	for _, day := range []string{"2026-11-25", "2026-11-26", "2026-11-27"} {
		if code := c.run(context.Background(), "build", "--date", day); code != 0 {
			t.Fatal(c.stderr.String())
		}
	}
	s := startServeAt(t, env, addr)
	_, body := get(t, s.url+"editions/2026-11-26")
	for _, want := range []string{
		`<meta name="description" content="Russian President Vladimir Putin`,
		`<link rel="canonical" href="https://news.example.com/editions/2026-11-26">`,
		`<meta property="og:type" content="article">`,
		`<meta property="og:url" content="https://news.example.com/editions/2026-11-26">`,
		`<meta property="og:title" content="Unholy Alliance`,
		`<meta name="twitter:card" content="summary">`,
		`<link rel="icon" type="image/svg+xml" href="/favicon.svg">`,
		`href="/editions/2026-11-25" rel="prev"`, `href="/editions/2026-11-27" rel="next"`,
		`<h1><time datetime="2026-11-26">Thursday, 26 November 2026</time></h1>`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("the edition page lacks %s", want)
		}
	}
	if strings.Contains(body, `class="updated"`) {
		t.Error("an edition built once says it was updated")
	}
	if _, home := get(t, s.url); !strings.Contains(home, `<link rel="canonical" href="https://news.example.com/">`) || strings.Contains(home, `rel="next"`) {
		t.Errorf("the home page's canonical link or pager is wrong")
	}
	if _, archive := get(t, s.url+"archive"); !strings.Contains(archive, "<h1>Archive</h1>") || strings.Contains(archive, "og:title") {
		t.Errorf("the archive page has no <h1>, or Open Graph tags of an edition")
	}
	resp, icon := get(t, s.url+"favicon.svg")
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "image/svg+xml" || !strings.HasPrefix(icon, "<svg") {
		t.Errorf("GET /favicon.svg: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
}

// TestWebSubHub: with --websub-hub, the feeds name the hub (link and Link
// header), and each new edition — the first one, built at start, then one
// built through the API — is announced to a hub on loopback, once per feed.
func TestWebSubHub(t *testing.T) {
	var mu sync.Mutex
	published := map[string]int{}
	hub := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.PostFormValue("hub.mode") != "publish" {
			http.Error(w, "bad mode", http.StatusBadRequest)
			return
		}
		mu.Lock()
		published[r.PostFormValue("hub.url")]++
		mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	}))
	defer hub.Close()
	mail, env := newStackEnv(t)
	s := startStackWith(t, mail, env, "--websub-hub", hub.URL+"/")
	resp, atom := get(t, s.url+"feed.atom")
	if !strings.Contains(atom, `<link href="`+hub.URL+`/" rel="hub">`) || resp.Header.Get("Link") != "<"+hub.URL+`/>; rel="hub", <`+s.url+`feed.atom>; rel="self"` {
		t.Errorf("the Atom feed does not name the hub: Link %q", resp.Header.Get("Link"))
	}
	if _, rss := get(t, s.url+"feed.rss"); !strings.Contains(rss, `<atom:link href="`+hub.URL+`/" rel="hub">`) {
		t.Error("the RSS feed does not name the hub")
	}
	if code := s.admin(t, "POST", "/api/editions", "application/json", strings.NewReader(`{"date":"2026-11-20"}`), nil); code != 201 {
		t.Fatalf("build: %d", code)
	}
	deadline := time.Now().Add(10 * time.Second)
	total := func() int {
		mu.Lock()
		defer mu.Unlock()
		n := 0
		for _, v := range published {
			n += v
		}
		return n
	}
	for total() < 6 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(200 * time.Millisecond) // nothing more comes
	mu.Lock()
	defer mu.Unlock()
	for _, f := range []string{"feed.rss", "feed.atom", "feed.json"} {
		if published[s.url+f] != 2 {
			t.Errorf("%s announced %d times, want 2 (all: %v)", f, published[s.url+f], published)
		}
	}
	if !strings.Contains(s.cli.stderr.String(), "Announced the feed to the WebSub hub") {
		t.Error("the announcements are not logged")
	}
}
