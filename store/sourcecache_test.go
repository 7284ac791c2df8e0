package store_test

import (
	"context"
	"testing"

	"github.com/broadsheet-news/broadsheet/digest"
)

func TestSourceCache(t *testing.T) {
	ctx := context.Background()
	s := newStore(t, 10)
	if _, ok, err := s.CachedResponse(ctx, "https://news.example.org/"); ok || err != nil {
		t.Fatalf("empty cache: ok=%v err=%v", ok, err)
	}
	in := digest.CachedResponse{ETag: `"abc"`, LastModified: "Fri, 27 Nov 2026 07:00:00 GMT", ContentType: "text/html",
		FinalURL: "https://news.example.org/home", Body: []byte("<html>\x00binary-safe</html>")}
	if err := s.CacheResponse(ctx, "https://news.example.org/", in); err != nil {
		t.Fatal(err)
	}
	got, ok, err := s.CachedResponse(ctx, "https://news.example.org/")
	if err != nil || !ok || got.ETag != in.ETag || got.LastModified != in.LastModified || got.FinalURL != in.FinalURL || string(got.Body) != string(in.Body) {
		t.Errorf("round trip: %+v ok=%v err=%v", got, ok, err)
	}
	if _, ok, _ := s.CachedResponse(ctx, "https://news.example.org/other"); ok {
		t.Error("another URL hit the cache")
	}
}
