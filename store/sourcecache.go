package store

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/broadsheet-news/broadsheet/digest"
)

var _ digest.HTTPCache = (*Store)(nil)

// SourceCacheTTL is how long a fetched source page is remembered. Pages
// not fetched again within it (yesterday's lead articles) expire.
const SourceCacheTTL = 7 * 24 * time.Hour

func (k keys) sourceCache(url string) string {
	sum := sha256.Sum256([]byte(url))
	return k.prefix + "source:" + hex.EncodeToString(sum[:16])
}

// CachedResponse returns what was kept of url's last 200 response, so the
// next request can be conditional and a 304 can reuse the body.
func (s *Store) CachedResponse(ctx context.Context, url string) (digest.CachedResponse, bool, error) {
	f, err := s.rdb.HGetAll(ctx, s.keys.sourceCache(url)).Result()
	// Equivalent mutant (CONDITIONALS_NEGATION on err == nil): an empty
	// hash then fails the url check below, with the same answer.
	if errors.Is(err, redis.Nil) || (err == nil && len(f) == 0) {
		return digest.CachedResponse{}, false, nil
	}
	if err != nil {
		return digest.CachedResponse{}, false, fmt.Errorf("store: source cache: %w", err)
	}
	if f["url"] != url { // a hash collision, however unlikely
		return digest.CachedResponse{}, false, nil
	}
	return digest.CachedResponse{ETag: f["etag"], LastModified: f["last_modified"], ContentType: f["content_type"],
		FinalURL: f["final_url"], Body: []byte(f["body"])}, true, nil
}

// CacheResponse keeps a 200 response of url for SourceCacheTTL.
func (s *Store) CacheResponse(ctx context.Context, url string, r digest.CachedResponse) error {
	key := s.keys.sourceCache(url)
	pipe := s.rdb.TxPipeline()
	pipe.Del(ctx, key)
	pipe.HSet(ctx, key, "url", url, "etag", r.ETag, "last_modified", r.LastModified,
		"content_type", r.ContentType, "final_url", r.FinalURL, "body", r.Body)
	pipe.Expire(ctx, key, SourceCacheTTL)
	if _, err := pipe.Exec(ctx); err != nil {
		return fmt.Errorf("store: source cache: %w", err)
	}
	return nil
}
