package mailer_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"log/slog"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/broadsheet-news/broadsheet/digest"
	"github.com/broadsheet-news/broadsheet/internal/dkimtest"
	"github.com/broadsheet-news/broadsheet/mailer"
)

// rsaAndEd25519 is a signer with an RSA key and an Ed25519 key side by
// side (RFC 8463).
func rsaAndEd25519(t *testing.T) *mailer.DKIM {
	t.Helper()
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	_, edKey, _ := ed25519.GenerateKey(rand.Reader)
	k, err := mailer.NewDKIM("example.com",
		mailer.DKIMKey{Signer: rsaKey, Selector: "rsa2026"}, mailer.DKIMKey{Signer: edKey, Selector: "ed2026"})
	if err != nil {
		t.Fatal(err)
	}
	return k
}

var subjectField = regexp.MustCompile(`(?m)^Subject:[^\r]*\r\n([ \t][^\r]*\r\n)*`)

// refoldSubject unfolds the Subject and folds it again elsewhere, with a
// tab and doubled spaces, as a relay may.
func refoldSubject(t *testing.T, msg []byte) []byte {
	t.Helper()
	field := subjectField.Find(msg)
	if field == nil {
		t.Fatal("no Subject")
	}
	value := strings.TrimSpace(strings.ReplaceAll(strings.TrimPrefix(string(field), "Subject:"), "\r\n", ""))
	words := strings.Fields(value)
	if len(words) < 2 {
		t.Fatalf("Subject %q has one word", value)
	}
	refolded := "Subject:  " + words[0] + "\r\n\t" + strings.Join(words[1:], "  ") + "\r\n"
	out := bytes.Replace(msg, field, []byte(refolded), 1)
	if bytes.Equal(out, msg) {
		t.Fatal("refolding changed nothing")
	}
	return out
}

// checkSigned verifies every kind of check on one received mail: each key
// signs it, relaxed/relaxed, the absent Reply-To and Cc over-signed; the
// signatures survive a re-folded Subject but not an added Reply-To.
func checkSigned(t *testing.T, k *mailer.DKIM, what string, msg []byte) {
	t.Helper()
	for _, v := range dkimtest.Verify(t, k, msg) {
		signed := ":" + strings.ToLower(strings.Join(v.HeaderKeys, ":")) + ":"
		for _, f := range []string{"from", "to", "subject", "date", "message-id", "reply-to", "cc"} {
			if !strings.Contains(signed, ":"+f+":") {
				t.Errorf("%s: h= does not cover %s: %s", what, f, signed)
			}
		}
	}
	if !bytes.Contains(msg, []byte("c=relaxed/relaxed")) {
		t.Errorf("%s: not relaxed/relaxed:\n%.500s", what, msg)
	}
	dkimtest.Verify(t, k, refoldSubject(t, msg))
	added := append([]byte("Reply-To: <thief@evil.example>\r\n"), msg...)
	if vs, _ := dkimtest.TryVerify(k, added); dkimtest.AnyValid(vs) {
		t.Errorf("%s: a Reply-To added in transit leaves a signature valid", what)
	}
}

// TestDKIMSignsEveryKindOfMail: a confirmation-like mail through Mailer,
// a test send and an edition send all arrive signed by both keys.
func TestDKIMSignsEveryKindOfMail(t *testing.T) {
	k := rsaAndEd25519(t)
	b := newBench(t, 3)
	b.dkim(k)
	ctx := context.Background()

	composer, _ := mailer.NewComposer("Test <news@example.com>", time.Now)
	smtp, err := mailer.NewSMTP(b.smtp.URL(), mailer.SMTPOptions{})
	if err != nil {
		t.Fatal(err)
	}
	m := mailer.New(composer, smtp, k, slog.New(slog.DiscardHandler))
	if err := m.Send(ctx, mailer.Message{To: "new@example.com", Subject: "Confirm your subscription to The Test Times, a daily digest",
		Text: "Open https://news.example.com/confirm/x", HTML: "<p>Open <a href=\"https://news.example.com/confirm/x\">it</a></p>"}); err != nil {
		t.Fatal(err)
	}
	en := b.engine("a", mailer.EngineOptions{})
	if n, err := en.SendTest(ctx, b.edition, []string{"editor@example.com"}); err != nil || n != 1 {
		t.Fatalf("test send: %d %v", n, err)
	}
	if job := b.send(t, en); job.State != digest.SendDone {
		t.Fatalf("job: %+v", job)
	}
	msgs := b.smtp.WaitFor(t, 5, 10*time.Second)
	kinds := map[string]bool{}
	for _, msg := range msgs {
		what := "edition"
		switch msg.To[0] {
		case "new@example.com", "<new@example.com>":
			what = "confirmation"
		case "editor@example.com", "<editor@example.com>":
			what = "test send"
		}
		kinds[what] = true
		checkSigned(t, k, what, msg.Data)
	}
	if len(kinds) != 3 {
		t.Errorf("kinds of mail received: %v", kinds)
	}
}
