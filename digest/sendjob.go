package digest

import (
	"errors"
	"time"
)

// ErrNotHolder says a sender no longer holds a send job (another took it,
// or an admin paused, cancelled or reopened it): it must stop.
var ErrNotHolder = errors.New("the send job is no longer this sender's")

// ErrLedgerGone says a finished send job's ledger expired: who got the
// edition is no longer known, so it cannot be resent to the others.
var ErrLedgerGone = errors.New("the job's ledger has expired: who got the edition is no longer known")

// ErrEmptyEdition: an edition without headlines is never sent.
var ErrEmptyEdition = errors.New("the edition is empty; it is not sent")

// SendState is where a send job stands.
type SendState string

// The send job states.
const (
	SendQueued    SendState = "queued"    // waiting for a sender to take it
	SendRunning   SendState = "running"   // a sender holds its lease
	SendPaused    SendState = "paused"    // stopped, with a reason; resume to go on
	SendDone      SendState = "done"      // every active subscriber delivered, bounced or given up
	SendCancelled SendState = "cancelled" // stopped for good
)

// SendJob is the sending of one edition to the audience. It lives in Redis,
// not in a process: any instance can take it over.
type SendJob struct {
	Edition string
	State   SendState
	Reason  string // why it is paused (or cancelled)
	// Total is the number of active subscribers when the job started.
	Total                 int64
	Sent, Failed, Bounced int64
	Retrying              int64 // waiting for another try
	Created, Started      time.Time
	Updated, Finished     time.Time
	RetryUntil            time.Time // temporary failures are tried again until then
	// The audience is cut into chunks of ChunkSize subscriber ids (1 …
	// MaxID) that any sender claims with a lease, sends and marks done.
	MaxID, ChunkSize   int64
	Chunks, ChunksDone int64
	// CatchUp is how many active subscribers not yet in the ledger the
	// last send of the job once done took in (those who joined since).
	CatchUp int64
	// Epoch grows with every admin change (pause, cancel, resume,
	// resend): a run started at an older epoch stops.
	Epoch int64
}

// ChunkIDs returns the subscriber ids chunk c covers: from ≤ id < to.
func (j SendJob) ChunkIDs(c int64) (from, to int64) {
	from = c*j.ChunkSize + 1
	return from, min(from+j.ChunkSize, j.MaxID+1)
}

// ErrNoAudience says there is no active subscriber to send an edition
// to: no send job is made.
var ErrNoAudience = errors.New("there is no active subscriber to send to")

// Remaining is how many subscribers are still to be handled.
func (j SendJob) Remaining() int64 {
	return max(j.Total-j.Sent-j.Failed, 0)
}
