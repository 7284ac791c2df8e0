package store_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/broadsheet-news/broadsheet/digest"
	"github.com/broadsheet-news/broadsheet/internal/redistest"
	"github.com/broadsheet-news/broadsheet/store"
)

// TestSubscribersSpreadOverTheCluster: 5,000 subscribers on a
// three-master cluster land on every master, none holding more than half
// of their keys; and counting, listing and erasing work across them.
func TestSubscribersSpreadOverTheCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a Redis Cluster: not with -short")
	}
	ctx := context.Background()
	c := redistest.StartCluster(t)
	s := store.New(c.Client(t), store.Options{})
	var subs []digest.Subscriber
	for i := range 5000 {
		subs = append(subs, digest.Subscriber{Email: fmt.Sprintf("spread%d@example.com", i), Status: digest.Active, Format: digest.FormatHTML})
	}
	for i := 0; i < len(subs); i += 1000 {
		if _, err := s.ImportSubscribers(ctx, subs[i:i+1000]); err != nil {
			t.Fatal(err)
		}
	}
	var total int64
	sizes := make([]int64, len(c.Addrs))
	for i, a := range c.Addrs {
		node := redis.NewClient(&redis.Options{Addr: a})
		sizes[i], _ = node.DBSize(ctx).Result()
		node.Close()
		total += sizes[i]
	}
	for i, n := range sizes {
		if n == 0 || n*2 > total {
			t.Errorf("master %d holds %d of %d keys (%v)", i, n, total, sizes)
		}
	}
	counts, err := s.CountSubscribers(ctx)
	if err != nil || counts[digest.Active] != 5000 {
		t.Fatalf("counts %v %v", counts, err)
	}
	if err := s.ForgetSubscriber(ctx, "spread4321@example.com"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.AddSubscriber(ctx, digest.Subscriber{Email: "spread4321@example.com", Status: digest.Active}, false); err == nil {
		t.Error("an erased address was added again")
	}
	page, _, err := s.Subscribers(ctx, digest.Active, 4300, 50)
	if err != nil || len(page) != 50 || page[0].ID != 4300 {
		t.Fatalf("a page from 4300: %d %v", len(page), err)
	}
}

// TestDetectReplicas: a lone server has none; a Sentinel group's master
// has its replica.
func TestDetectReplicas(t *testing.T) {
	ctx := context.Background()
	rdb := redis.NewClient(&redis.Options{Addr: redistest.Start(t)})
	defer rdb.Close()
	if n, err := store.DetectReplicas(ctx, rdb); err != nil || n != 0 {
		t.Errorf("a lone server: %d %v", n, err)
	}
	if testing.Short() {
		return
	}
	g := redistest.StartSentinel(t)
	if n, err := store.DetectReplicas(ctx, g.Client(t)); err != nil || n != 1 {
		t.Errorf("a Sentinel group: %d %v", n, err)
	}
}

// TestSubscribersSurviveAFailover: subscribers added and unsubscribed
// (answered without error) while the Sentinel master fails over are all
// there afterwards, each write having waited for the replica.
func TestSubscribersSurviveAFailover(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a Sentinel group and fails it over: not with -short")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	g := redistest.StartSentinel(t)
	s := store.New(g.Client(t), store.Options{WaitReplicas: 1})
	var mu sync.Mutex
	added := map[string]bool{}
	left := map[int64]bool{}
	var n atomic.Int64
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for w := range 4 {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				email := fmt.Sprintf("w%d-%d@example.com", w, i)
				sub, _, err := s.AddSubscriber(ctx, digest.Subscriber{Email: email, Status: digest.Active, Format: digest.FormatHTML}, false)
				if err != nil {
					continue // not answered 200: no promise made
				}
				n.Add(1)
				mu.Lock()
				added[email] = true
				mu.Unlock()
				if i%3 == 0 {
					if _, err := s.UpdateSubscriber(ctx, sub.ID, func(x *digest.Subscriber) error { x.Status = digest.Unsubscribed; return nil }); err == nil {
						mu.Lock()
						left[sub.ID] = true
						mu.Unlock()
					}
				}
			}
		})
	}
	for n.Load() < 300 {
		time.Sleep(10 * time.Millisecond)
	}
	if _, err := g.Failover(ctx, 30*time.Second); err != nil {
		t.Fatal(err)
	}
	at := n.Load()
	for n.Load() < at+300 && ctx.Err() == nil {
		time.Sleep(10 * time.Millisecond)
	}
	close(stop)
	wg.Wait()
	for email := range added {
		sub, err := s.SubscriberByEmail(ctx, email)
		switch {
		case err != nil:
			t.Errorf("%s was added, and is gone after the failover: %v", email, err)
		case left[sub.ID] && sub.Status != digest.Unsubscribed:
			t.Errorf("%s unsubscribed, and is %s after the failover", email, sub.Status)
		}
	}
	t.Logf("%d added (%d before the failover), %d unsubscribed", len(added), at, len(left))
}
