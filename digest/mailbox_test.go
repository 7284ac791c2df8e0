package digest_test

import (
	"testing"

	"github.com/broadsheet-news/broadsheet/digest"
)

// TestMailboxKey: addresses that reach one mailbox share a key — a
// subaddress ("+tag") dropped, and for Gmail the dots of the local part
// and the googlemail.com spelling — while anything else of the address is
// kept: dots elsewhere, a "+" that starts the local part, the domain.
func TestMailboxKey(t *testing.T) {
	for _, c := range []struct{ email, want string }{
		{"ann@example.com", "ann@example.com"},
		{"ann+news@example.com", "ann@example.com"},
		{"ann+news+more@example.com", "ann@example.com"},
		{"a.nn@example.com", "a.nn@example.com"},
		{"a.n.n+daily@gmail.com", "ann@gmail.com"},
		{"a.nn@googlemail.com", "ann@gmail.com"},
		{"ann@gmail.com.example.org", "ann@gmail.com.example.org"},
		{"a.nn@mail.gmail.com", "a.nn@mail.gmail.com"},
		// A local part that is all tag is a mailbox of its own, not "".
		{"+news@example.com", "+news@example.com"},
		{"no-at-sign", "no-at-sign"},
	} {
		if got := digest.MailboxKey(c.email); got != c.want {
			t.Errorf("MailboxKey(%q) = %q, want %q", c.email, got, c.want)
		}
	}
}

// TestSendJobChunkIDs: chunk c covers ids from c*ChunkSize+1 up to (not
// including) the next chunk's first, the last chunk stopping after MaxID;
// together the chunks cover every id from 1 to MaxID once.
func TestSendJobChunkIDs(t *testing.T) {
	job := digest.SendJob{MaxID: 2500, ChunkSize: 1000, Chunks: 3}
	for c, want := range [][2]int64{{1, 1001}, {1001, 2001}, {2001, 2501}} {
		if from, to := job.ChunkIDs(int64(c)); from != want[0] || to != want[1] {
			t.Errorf("chunk %d: [%d, %d), want [%d, %d)", c, from, to, want[0], want[1])
		}
	}
	for _, job := range []digest.SendJob{
		{MaxID: 1, ChunkSize: 500, Chunks: 1},
		{MaxID: 1000, ChunkSize: 500, Chunks: 2},
		{MaxID: 1001, ChunkSize: 500, Chunks: 3},
		{MaxID: 7, ChunkSize: 3, Chunks: 3},
	} {
		next := int64(1)
		for c := range job.Chunks {
			from, to := job.ChunkIDs(c)
			if from != next || to <= from {
				t.Errorf("MaxID %d ChunkSize %d: chunk %d is [%d, %d), want it to start at %d", job.MaxID, job.ChunkSize, c, from, to, next)
			}
			next = to
		}
		if next != job.MaxID+1 {
			t.Errorf("MaxID %d ChunkSize %d: the chunks end before %d, want %d", job.MaxID, job.ChunkSize, next, job.MaxID+1)
		}
	}
}
