package mailer

import "testing"

// TestNewBreakerLimit: the breaker trips on more than share × 200
// refusals; a share whose product falls a hair short in floating point
// (0.29 × 200 = 57.99…) still means 58, and no share means the default.
func TestNewBreakerLimit(t *testing.T) {
	for _, tt := range []struct {
		share float64
		limit int
	}{{0, 40}, {-1, 40}, {0.2, 40}, {0.29, 58}, {0.05, 10}, {1, 200}} {
		if got := newBreaker(tt.share).limit; got != tt.limit {
			t.Errorf("newBreaker(%v).limit = %d, want %d", tt.share, got, tt.limit)
		}
	}
}

func refusal(id int64) *heldRefusal { return &heldRefusal{id: id, outcome: "bounced"} }

func ids(hs []*heldRefusal) []int64 {
	var out []int64
	for _, h := range hs {
		out = append(out, h.id)
	}
	return out
}

// TestBreakerTripRequeuesEveryRefusal: the try that trips the breaker
// hands back every refusal held; after it, each new refusal comes back at
// once to be queued again, and recipients accepted hand back nothing.
func TestBreakerTripRequeuesEveryRefusal(t *testing.T) {
	b := newBreaker(0.05) // trips on the 11th refusal in the window
	for id := int64(1); id <= 10; id++ {
		if apply, tripped, requeue := b.record(refusal(id)); apply != nil || tripped || requeue != nil {
			t.Fatalf("refusal %d of 10: %v %v %v, want nothing", id, apply, tripped, ids(requeue))
		}
	}
	_, tripped, requeue := b.record(refusal(11))
	if !tripped || len(requeue) != 11 {
		t.Fatalf("the 11th refusal: tripped %v, requeue %v; want tripped and all 11", tripped, ids(requeue))
	}
	apply, tripped, requeue := b.record(refusal(12))
	if apply != nil || tripped || len(requeue) != 1 || requeue[0].id != 12 {
		t.Errorf("a refusal after the trip: %v %v %v, want only itself to queue again", apply, tripped, ids(requeue))
	}
	if apply, tripped, requeue := b.record(nil); apply != nil || tripped || len(requeue) != 0 {
		t.Errorf("a delivery after the trip: %v %v %v, want nothing", apply, tripped, ids(requeue))
	}
	if held := b.drain(); len(held) != 0 {
		t.Errorf("held after the trip: %v, want none (all queued again)", ids(held))
	}
}

// TestBreakerWindowSlides: a refusal is held while among the last 200
// tried and handed back to apply when it leaves; the share is of the
// window, so refusals spread out never trip it.
func TestBreakerWindowSlides(t *testing.T) {
	b := newBreaker(0.05)
	b.record(refusal(1))
	for range 199 {
		if apply, tripped, _ := b.record(nil); apply != nil || tripped {
			t.Fatalf("within the window: apply %v, tripped %v", apply, tripped)
		}
	}
	if refused, tried := b.rate(); refused != 1 || tried != 200 {
		t.Errorf("rate = %d of %d, want 1 of 200", refused, tried)
	}
	apply, tripped, _ := b.record(nil)
	if apply == nil || apply.id != 1 || tripped {
		t.Fatalf("the 201st try: apply %v, tripped %v; want refusal 1 applied", apply, tripped)
	}
	if refused, tried := b.rate(); refused != 0 || tried != 200 {
		t.Errorf("rate = %d of %d, want 0 of 200", refused, tried)
	}
	// Ten refusals in every 200 (5%, the limit) for 1,000 tries: no trip,
	// and each is applied as it leaves the window.
	applied := 0
	for i := range 1000 {
		var r *heldRefusal
		if i%20 == 0 {
			r = refusal(int64(100 + i))
		}
		apply, tripped, _ := b.record(r)
		if tripped {
			t.Fatalf("tripped at try %d with 5%% refused", i)
		}
		if apply != nil {
			applied++
		}
	}
	if refused, tried := b.rate(); refused != 10 || tried != 200 {
		t.Errorf("rate = %d of %d, want 10 of 200", refused, tried)
	}
	if held := b.drain(); applied != 40 || len(held) != 10 {
		t.Errorf("%d applied and %d held, want 40 and 10", applied, len(held))
	}
}
