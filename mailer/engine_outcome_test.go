package mailer

import (
	"context"
	"errors"
	"testing"
	"time"
)

// TestClassifyRefusal: whose problem each permanent reply is, as the
// README's table says.
func TestClassifyRefusal(t *testing.T) {
	tests := []struct {
		command  string
		code     int
		enhanced string
		temp     bool
		want     Refusal
	}{
		{"RCPT TO", 550, "5.1.1", false, RecipientBounced},
		{"RCPT TO", 552, "5.2.2", false, RecipientBounced},
		{"DATA", 550, "5.1.1", false, RecipientBounced},
		{"RCPT TO", 550, "", false, RecipientBounced},
		{"RCPT TO", 552, "5.2.3", false, RecipientFailed},
		{"RCPT TO", 550, "5.7.1", false, RecipientFailed},
		{"RCPT TO", 553, "5.6.7", false, RecipientFailed},
		{"DATA", 552, "5.3.4", false, RecipientFailed},
		{"DATA", 554, "", false, RecipientFailed},
		{"RCPT TO", 550, "5.1.8", false, SenderRefused},
		{"RCPT TO", 553, "5.1.7", false, SenderRefused},
		{"MAIL FROM", 550, "5.7.1", false, SenderRefused},
		{"CONNECT", 554, "", false, SenderRefused},
		{"EHLO", 550, "", false, SenderRefused},
		{"AUTH", 535, "5.7.8", false, SenderRefused},
		{"STARTTLS", 0, "", false, SenderRefused},
		{"TLS", 0, "", false, SenderRefused},
		{"RCPT TO", 451, "4.3.0", true, NotRefused},
		{"DATA", 0, "", true, NotRefused},
	}
	for _, tt := range tests {
		se := &SMTPError{Command: tt.command, Code: tt.code, Enhanced: tt.enhanced, Temporary: tt.temp}
		if got := ClassifyRefusal(se); got != tt.want {
			t.Errorf("%d %s at %s: %v, want %v", tt.code, tt.enhanced, tt.command, got, tt.want)
		}
		// IsBounce, which suppresses the subscriber, says yes to bounces only.
		if got, want := IsBounce(se), tt.want == RecipientBounced; got != want {
			t.Errorf("IsBounce(%d %s at %s) = %v, want %v", tt.code, tt.enhanced, tt.command, got, want)
		}
	}
}

// TestRetryBacksOff: an operation failing (Redis restarting) is tried
// again after 50 ms, then twice as long each time, until it succeeds; its
// value is returned.
func TestRetryBacksOff(t *testing.T) {
	var calls []time.Time
	v, n, err := retry(context.Background(), func() (string, int64, error) {
		calls = append(calls, time.Now())
		if len(calls) < 4 {
			return "", 0, errors.New("LOADING Redis is loading the dataset in memory")
		}
		return "done", 7, nil
	})
	if v != "done" || n != 7 || err != nil {
		t.Fatalf("retry = %q, %d, %v; want done, 7, nil", v, n, err)
	}
	if len(calls) != 4 {
		t.Fatalf("%d calls, want 4", len(calls))
	}
	// Lower bounds only: a loaded machine makes waits longer, never shorter.
	for i, want := range []time.Duration{50 * time.Millisecond, 100 * time.Millisecond, 200 * time.Millisecond} {
		if got := calls[i+1].Sub(calls[i]); got < want {
			t.Errorf("wait %d: %v, want at least %v", i+1, got, want)
		}
	}
}

// TestRetryStopsWithItsContext: a stopping run does not wait for Redis:
// the failure is returned at once, after one try, or during a wait.
func TestRetryStopsWithItsContext(t *testing.T) {
	failing := errors.New("connection refused")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	calls := 0
	_, _, err := retry(ctx, func() (int, int64, error) { calls++; return 0, 0, failing })
	if !errors.Is(err, failing) || calls != 1 {
		t.Errorf("cancelled: retry = %v after %d calls; want the failure after 1", err, calls)
	}

	ctx, cancel = context.WithTimeout(context.Background(), 120*time.Millisecond)
	defer cancel()
	calls = 0
	start := time.Now()
	_, _, err = retry(ctx, func() (int, int64, error) { calls++; return 0, 0, failing })
	if !errors.Is(err, failing) || calls > 3 || time.Since(start) > 10*time.Second {
		t.Errorf("ending while waiting: retry = %v after %d calls and %v", err, calls, time.Since(start))
	}
}
