package mailer_test

import (
	"context"
	"testing"
	"time"

	"github.com/broadsheet-news/broadsheet/mailer"
)

// TestSendTestGetsANewMessageID: each test send is a new message; an
// edition's message keeps its Message-ID on every retry (TestDigestMessageID).
func TestSendTestGetsANewMessageID(t *testing.T) {
	b := newBench(t, 1)
	en := b.engine("a", mailer.EngineOptions{})
	for range 2 {
		if _, err := en.SendTest(context.Background(), b.edition, []string{"editor@example.com"}); err != nil {
			t.Fatal(err)
		}
	}
	msgs := b.smtp.WaitFor(t, 2, 5*time.Second)
	a, c := msgs[0].Parsed(t).Header.Get("Message-ID"), msgs[1].Parsed(t).Header.Get("Message-ID")
	if a == "" || a == c {
		t.Errorf("two test sends have the Message-IDs %q and %q", a, c)
	}
}
