package web

import (
	"encoding/json"
	"net/http"
	"time"

	"github.com/broadsheet-news/broadsheet/digest"
)

const (
	// eventsPoll is how often the progress stream reads the job.
	eventsPoll = 250 * time.Millisecond
	// eventsEvery is the longest the stream stays silent: a progress event
	// goes at least this often, changed or not.
	eventsEvery = time.Second
)

// sendEvents streams a send job's progress as Server-Sent Events: a
// "progress" event (the job as the API shows it) when it changes and at
// least once a second, then "end" when the job is no longer queued or
// running. It reads the job from Redis, so it follows the send whichever
// instance runs it. It ends when the server shuts down, too (the browser
// then reconnects to another instance, or to this one restarted).
func (s *Server) sendEvents(w http.ResponseWriter, r *http.Request, sess session) {
	day := r.PathValue("day")
	if _, err := digest.ParseDay(day); err != nil {
		s.consoleError(w, r, sess, digest.ErrNotFound)
		return
	}
	ctx := r.Context()
	job, err := s.admin.Sender.Status(ctx, day)
	if err != nil {
		s.consoleError(w, r, sess, err)
		return
	}
	h := w.Header()
	setConsoleHeaders(h, consoleCSP)
	h.Set("Content-Type", "text/event-stream")
	h.Set("X-Accel-Buffering", "no")
	rc := http.NewResponseController(w)
	send := func(event string, j digest.SendJob) bool {
		// Each event gets its own deadline: the stream outlives the
		// server's write timeout, a stalled client does not.
		_ = rc.SetWriteDeadline(time.Now().Add(10 * time.Second))
		b, _ := json.Marshal(jobJSON(j))
		if _, err := w.Write([]byte("event: " + event + "\ndata: " + string(b) + "\n\n")); err != nil {
			return false
		}
		return rc.Flush() == nil
	}
	if _, err := w.Write([]byte("retry: 2000\n\n")); err != nil {
		return
	}
	tick := time.NewTicker(eventsPoll)
	defer tick.Stop()
	var last digest.SendJob
	var lastSent time.Time
	for {
		if !send("progress", job) {
			return
		}
		last, lastSent = job, time.Now()
		if job.State != digest.SendQueued && job.State != digest.SendRunning {
			send("end", job)
			return
		}
		for {
			select {
			case <-ctx.Done():
				return
			case <-s.admin.Background.Done():
				// The server is shutting down: a stream would hold it up.
				return
			case <-tick.C:
			}
			if job, err = s.admin.Sender.Status(ctx, day); err != nil {
				return
			}
			if job != last || time.Since(lastSent) >= eventsEvery-eventsPoll/2 {
				break
			}
		}
	}
}
