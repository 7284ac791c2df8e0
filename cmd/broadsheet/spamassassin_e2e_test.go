package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"
)

var spamScore = regexp.MustCompile(`(?m)^X-Spam-Status: \w+, score=(-?[0-9.]+)`)

// TestSpamAssassinScores: SpamAssassin (local rules, `spamassassin -L -t`)
// scores the confirmation mail and the edition mail 0.0 or less. Skipped
// where spamassassin is not installed (apt-get install spamassassin).
func TestSpamAssassinScores(t *testing.T) {
	if testing.Short() {
		t.Skip("spamassassin takes seconds per mail")
	}
	sa, err := exec.LookPath("spamassassin")
	if err != nil {
		t.Skip("spamassassin is not installed")
	}
	c := previewCLI(t)
	edition := c.mustRun(t, 0, "preview", "--format", "eml")
	c.mustRun(t, 0, "subscribers", "add", "reader@example.org")
	outbox := filepath.Join(c.env["BROADSHEET_DATA_DIR"], "outbox", "new")
	files, err := os.ReadDir(outbox)
	if err != nil || len(files) != 1 {
		t.Fatalf("outbox: %v %v", files, err)
	}
	confirmation, err := os.ReadFile(filepath.Join(outbox, files[0].Name()))
	if err != nil {
		t.Fatal(err)
	}
	for name, msg := range map[string][]byte{"edition": []byte(edition), "confirmation": confirmation} {
		cmd := exec.Command(sa, "-L", "-t")
		cmd.Stdin = bytes.NewReader(msg)
		out, err := cmd.Output()
		if err != nil && len(out) == 0 {
			t.Fatalf("spamassassin: %v", err)
		}
		m := spamScore.FindSubmatch(out)
		if m == nil {
			t.Fatalf("%s: no X-Spam-Status in spamassassin's output:\n%.2000s", name, out)
		}
		score, _ := strconv.ParseFloat(string(m[1]), 64)
		t.Logf("%s: SpamAssassin score %s", name, m[1])
		if score > 0 {
			i := bytes.Index(out, []byte("Content analysis details"))
			t.Errorf("%s scores %v, want 0.0 or less:\n%s", name, score, out[max(i, 0):])
		}
	}
}
