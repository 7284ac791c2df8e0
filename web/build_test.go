package web_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/broadsheet-news/broadsheet/digest"
	"github.com/broadsheet-news/broadsheet/publish"
	"github.com/broadsheet-news/broadsheet/templates"
	"github.com/broadsheet-news/broadsheet/web"
)

// A build from the API against a source that never answers ends at the
// build timeout with 502 and the reason, and is logged.
func TestBuildFromTheAPIAnswersInTime(t *testing.T) {
	hang := make(chan struct{})
	source := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-hang:
		case <-r.Context().Done():
		}
	}))
	defer source.Close()
	defer close(hang)
	fetcher := digest.NewFetcher(digest.FetcherOptions{UserAgent: "test", AllowPrivate: true})
	pages, err := templates.New()
	if err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	base, _ := url.Parse("http://news.example.com/")
	srv := web.New(web.Deps{Site: &site{snap: &publish.Snapshot{}}, Pages: pages, Logger: slog.New(slog.NewTextHandler(&logs, nil)),
		Admin: &web.EditionAdmin{Build: func(ctx context.Context, day string) (publish.Result, error) {
			_, err := digest.WebSource{URL: source.URL + "/", Fetcher: fetcher}.FrontPage(ctx)
			return publish.Result{}, err
		}}},
		web.Config{Title: "T", BaseURL: base, AdminToken: "admin-token-0123456789", BuildTimeout: 300 * time.Millisecond})
	ts := httptest.NewServer(srv.Handler())
	defer ts.Close()
	req, _ := http.NewRequest("POST", ts.URL+"/api/editions", nil)
	req.Header.Set("Authorization", "Bearer admin-token-0123456789")
	start := time.Now()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body map[string]string
	_ = json.NewDecoder(resp.Body).Decode(&body)
	if resp.StatusCode != 502 || body["error"] != "the source did not answer within 300ms" {
		t.Fatalf("build against a hanging source: %d %v", resp.StatusCode, body)
	}
	if took := time.Since(start); took > 10*time.Second {
		t.Errorf("answered after %s", took)
	}
	if !strings.Contains(logs.String(), "Build from the API failed") || !strings.Contains(logs.String(), "status=502") {
		t.Errorf("not logged:\n%s", logs.String())
	}
}
