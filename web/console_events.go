package web

import (
	"encoding/json"
	"math"
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
	var pace recentPace
	send := func(event string, j digest.SendJob) bool {
		// Each event gets its own deadline: the stream outlives the
		// server's write timeout, a stalled client does not.
		_ = rc.SetWriteDeadline(time.Now().Add(10 * time.Second))
		body := jobJSON(j)
		if rate, ok := pace.add(time.Now(), j.Sent+j.Failed); ok && j.State == digest.SendRunning {
			// While it runs, the rate of the last seconds: the job's
			// average counts the time it was paused.
			body["rate"] = math.Round(rate*10) / 10
			body["eta_seconds"] = nil
			if rate > 0 {
				body["eta_seconds"] = int(math.Ceil(float64(j.Remaining()) / rate))
			}
		}
		b, _ := json.Marshal(body)
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

// paceWindow is how far back the stream's rate looks.
const paceWindow = 5 * time.Second

// recentPace is the rate of the last paceWindow, from samples of the
// number of messages handled.
type recentPace struct {
	at   []time.Time
	done []int64
}

// add records a sample and returns the rate since the oldest sample of the
// window, once the window spans a second.
func (p *recentPace) add(now time.Time, done int64) (float64, bool) {
	p.at, p.done = append(p.at, now), append(p.done, done)
	for len(p.at) > 2 && now.Sub(p.at[1]) >= paceWindow {
		p.at, p.done = p.at[1:], p.done[1:]
	}
	span := now.Sub(p.at[0]).Seconds()
	if span < 1 {
		return 0, false
	}
	return float64(done-p.done[0]) / span, true
}
