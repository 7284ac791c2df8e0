package store

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/broadsheet-news/broadsheet/digest"
)

// A send job's keys share the hash tag {send:<edition>}, so every script
// of a job runs in one slot: the job hash, the delivered and failed
// bitmaps (one bit per subscriber id), the chunk leases, the retry queue
// (id → due, in ms) and the attempt counts. A finished job's keys expire
// after SendJobTTL; until then, sending the edition again sends nothing
// new. The index of unfinished jobs is one key of its own, written
// before the job (so no job is ever missing from it) and cleaned after.

// SendJobTTL is how long a finished send job's ledger (who got it, who
// failed) is kept. The job record itself is kept as many days as editions
// are (Options.KeepEditions), so that sending an old edition again finds it
// done and sends nothing.
const SendJobTTL = 90 * 24 * time.Hour

type sendKeys struct{ job, delivered, failed, retry, attempts, chunks, owners string }

func (k keys) send(edition string) sendKeys {
	p := k.prefix + "{send:" + edition + "}:"
	return sendKeys{job: p + "job", delivered: p + "delivered", failed: p + "failed", retry: p + "retry",
		attempts: p + "attempts", chunks: p + "chunks", owners: p + "owners"}
}

func (k keys) sendJobs() string { return k.prefix + "sendjobs" }

func (sk sendKeys) all() []string {
	return []string{sk.job, sk.delivered, sk.failed, sk.retry, sk.attempts, sk.chunks, sk.owners}
}

func fromMS(s string) time.Time {
	n, _ := strconv.ParseInt(s, 10, 64)
	if n == 0 {
		return time.Time{}
	}
	return time.UnixMilli(n).UTC()
}

// chunkCount is how many chunks of size cover ids 1 … maxID.
func chunkCount(maxID, size int64) int64 { return (maxID + size - 1) / size }

// createSendJob creates the job unless it exists; returns 1 if created.
var createSendJob = redis.NewScript(`
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], 'edition', ARGV[1], 'state', 'queued', 'total', ARGV[2], 'sent', 0, 'failed', 0,
  'bounced', 0, 'created', ARGV[3], 'updated', ARGV[3], 'retry_until', ARGV[4], 'max_id', ARGV[5],
  'chunk_size', ARGV[6], 'chunks', ARGV[7], 'next_chunk', 0, 'chunks_done', 0, 'epoch', 0)
return 1
`)

// CreateSendJob creates the send job of edition (queued) for total active
// subscribers among the ids 1 … maxID, cut into chunks of chunkSize ids,
// unless there is one, and returns the job and whether it was created.
func (s *Store) CreateSendJob(ctx context.Context, edition string, total, maxID, chunkSize int64, retryFor time.Duration, now time.Time) (digest.SendJob, bool, error) {
	if chunkSize < 1 {
		return digest.SendJob{}, false, fmt.Errorf("store: create send job %s: chunk size %d", edition, chunkSize)
	}
	if err := s.indexSendJob(ctx, edition, now); err != nil {
		return digest.SendJob{}, false, err
	}
	sk := s.keys.send(edition)
	n, err := s.eval(ctx, createSendJob, []string{sk.job},
		edition, total, now.UnixMilli(), now.Add(retryFor).UnixMilli(), maxID, chunkSize, chunkCount(maxID, chunkSize)).Int()
	if err != nil {
		return digest.SendJob{}, false, fmt.Errorf("store: create send job %s: %w", edition, err)
	}
	job, err := s.SendJob(ctx, edition)
	return job, n == 1, err
}

// indexSendJob lists edition among the unfinished jobs. It is written
// before the job is created or reopened, in a slot of its own: a crash
// between leaves an index entry whose job is finished or absent, which
// PendingSendJobs drops.
func (s *Store) indexSendJob(ctx context.Context, edition string, now time.Time) error {
	if err := s.rdb.ZAdd(ctx, s.keys.sendJobs(), redis.Z{Score: float64(now.UnixMilli()), Member: edition}).Err(); err != nil {
		return fmt.Errorf("store: send jobs: %w", err)
	}
	return nil
}

// SendJob returns the send job of edition, or an error wrapping ErrNotFound.
func (s *Store) SendJob(ctx context.Context, edition string) (digest.SendJob, error) {
	sk := s.keys.send(edition)
	pipe := s.rdb.Pipeline()
	h := pipe.HGetAll(ctx, sk.job)
	retrying := pipe.ZCard(ctx, sk.retry)
	if _, err := pipe.Exec(ctx); err != nil {
		return digest.SendJob{}, fmt.Errorf("store: send job %s: %w", edition, err)
	}
	f := h.Val()
	if len(f) == 0 {
		return digest.SendJob{}, fmt.Errorf("store: send job %s: %w", edition, ErrNotFound)
	}
	n := func(k string) int64 { v, _ := strconv.ParseInt(f[k], 10, 64); return v }
	return digest.SendJob{
		Edition: edition, State: digest.SendState(f["state"]), Reason: f["reason"],
		Total: n("total"), Sent: n("sent"), Failed: n("failed"), Bounced: n("bounced"), Retrying: retrying.Val(),
		Created: fromMS(f["created"]), Started: fromMS(f["started"]), Updated: fromMS(f["updated"]),
		Finished: fromMS(f["finished"]), RetryUntil: fromMS(f["retry_until"]),
		MaxID: n("max_id"), ChunkSize: n("chunk_size"), Chunks: n("chunks"), ChunksDone: n("chunks_done"),
		CatchUp: n("catch_up"), Epoch: n("epoch"),
	}, nil
}

// setSendState moves the job to ARGV[1] if its state is one of ARGV[4..];
// ARGV[2] is the reason, ARGV[3] now. Returns 1 if moved. A pause, cancel
// or resume starts a new epoch (runs of the old one stop) and frees every
// chunk lease, so that a resumed job's chunks are taken at once.
var setSendState = redis.NewScript(`
local cur = redis.call('HGET', KEYS[1], 'state')
if not cur then return 0 end
local ok = false
for i = 4, #ARGV do if ARGV[i] == cur then ok = true end end
if not ok then return 0 end
redis.call('HSET', KEYS[1], 'state', ARGV[1], 'reason', ARGV[2], 'updated', ARGV[3])
if ARGV[1] ~= 'running' and ARGV[1] ~= 'done' then
  redis.call('HINCRBY', KEYS[1], 'epoch', 1)
  for _, c in ipairs(redis.call('ZRANGE', KEYS[2], 0, -1)) do redis.call('ZADD', KEYS[2], 0, c) end
  redis.call('DEL', KEYS[3])
end
if ARGV[1] == 'running' and redis.call('HGET', KEYS[1], 'started') == false then
  redis.call('HSET', KEYS[1], 'started', ARGV[3])
end
if ARGV[1] == 'done' or ARGV[1] == 'cancelled' then
  redis.call('HSET', KEYS[1], 'finished', ARGV[3])
end
return 1
`)

// SetSendState moves the job of edition to state, with reason, if it is in
// one of from. It reports whether it moved.
func (s *Store) SetSendState(ctx context.Context, edition string, state digest.SendState, reason string, now time.Time, from ...digest.SendState) (bool, error) {
	sk := s.keys.send(edition)
	args := []any{string(state), reason, now.UnixMilli()}
	for _, f := range from {
		args = append(args, string(f))
	}
	cmd, retried := s.evalRetried(ctx, setSendState, []string{sk.job, sk.chunks, sk.owners}, args...)
	n, err := cmd.Int()
	if err != nil {
		return false, fmt.Errorf("store: send job %s: %w", edition, err)
	}
	if n == 0 && retried {
		// The first run may have moved it: say so if it is there.
		if job, err := s.SendJob(ctx, edition); err == nil && job.State == state {
			n = 1
		}
	}
	if n == 1 && (state == digest.SendDone || state == digest.SendCancelled) {
		return true, s.finished(ctx, edition)
	}
	return n == 1, nil
}

// finished sets the expiry of a finished job's keys and drops it from the
// index of unfinished jobs (another slot).
func (s *Store) finished(ctx context.Context, edition string) error {
	sk := s.keys.send(edition)
	pipe := s.rdb.Pipeline()
	for _, k := range sk.all()[1:] {
		pipe.PExpire(ctx, k, SendJobTTL)
	}
	// The job itself stays as long as an edition may: sending the edition
	// again must still find it done.
	pipe.PExpire(ctx, sk.job, time.Duration(s.keep)*24*time.Hour)
	pipe.ZRem(ctx, s.keys.sendJobs(), edition)
	if _, err := pipe.Exec(ctx); err != nil {
		return fmt.Errorf("store: send job %s: %w", edition, err)
	}
	return nil
}

// PendingSendJobs lists the editions whose send job is queued or running.
// Index entries of jobs that are finished or gone (a crash between the
// index and the job) are dropped on the way.
func (s *Store) PendingSendJobs(ctx context.Context) ([]string, error) {
	eds, err := s.rdb.ZRange(ctx, s.keys.sendJobs(), 0, -1).Result()
	if err != nil {
		return nil, fmt.Errorf("store: send jobs: %w", err)
	}
	out := eds[:0]
	for _, e := range eds {
		state, err := s.rdb.HGet(ctx, s.keys.send(e).job, "state").Result()
		switch {
		case errors.Is(err, redis.Nil) || state == string(digest.SendDone) || state == string(digest.SendCancelled):
			s.rdb.ZRem(ctx, s.keys.sendJobs(), e)
		case err != nil:
			return nil, fmt.Errorf("store: send jobs: %w", err)
		case state == string(digest.SendPaused):
		default:
			out = append(out, e)
		}
	}
	return out, nil
}

// ErrNotHolder is digest's: the sender no longer holds the job.
var ErrNotHolder = digest.ErrNotHolder

// ErrLedgerGone is digest's: the job's ledger expired.
var ErrLedgerGone = digest.ErrLedgerGone

// reopenSendJob queues a finished job again over ids 1 … ARGV[3] in
// chunks of ARGV[4] (ARGV[5] of them), at a new epoch. ARGV[6] = '1'
// (resend the failed): the failed bitmap, retries and attempts are
// cleared, so those subscribers are tried again. Otherwise (a catch-up)
// ARGV[7] subscribers join the total. Refused (-1) when the ledger has
// expired: who got the edition is no longer known.
var reopenSendJob = redis.NewScript(`
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
if tonumber(redis.call('HGET', KEYS[1], 'sent') or '0') > 0 and redis.call('EXISTS', KEYS[5]) == 0 then
  return -1
end
local st = redis.call('HGET', KEYS[1], 'state')
if st ~= 'done' and st ~= 'cancelled' then return 2 end
redis.call('HINCRBY', KEYS[1], 'epoch', 1)
redis.call('DEL', KEYS[6], KEYS[7])
if ARGV[6] == '1' then
  redis.call('DEL', KEYS[2], KEYS[3], KEYS[4])
  redis.call('HSET', KEYS[1], 'failed', 0, 'bounced', 0, 'catch_up', 0)
else
  redis.call('HINCRBY', KEYS[1], 'total', ARGV[7])
  redis.call('HSET', KEYS[1], 'catch_up', ARGV[7])
end
redis.call('HSET', KEYS[1], 'state', 'queued', 'reason', '', 'updated', ARGV[1], 'retry_until', ARGV[2],
  'max_id', ARGV[3], 'chunk_size', ARGV[4], 'chunks', ARGV[5], 'next_chunk', 0, 'chunks_done', 0)
redis.call('HDEL', KEYS[1], 'finished')
for i = 1, 5 do redis.call('PERSIST', KEYS[i]) end
return 1
`)

// ResendFailed reopens the finished job of edition so that subscribers who
// did not get it (failed, given up; bounced ones are no longer active) are
// tried again. Delivered ones are never sent again.
func (s *Store) ResendFailed(ctx context.Context, edition string, retryFor time.Duration, now time.Time) error {
	job, err := s.SendJob(ctx, edition)
	if err != nil {
		return err
	}
	return s.reopen(ctx, edition, true, job.MaxID, job.ChunkSize, 0, retryFor, now)
}

// CatchUpSendJob reopens the finished job of edition for the active
// subscribers not in its ledger among ids 1 … maxID — joined since —
// of whom there are joined (counted by the caller). The ledger keeps
// anyone who got it from getting it again.
func (s *Store) CatchUpSendJob(ctx context.Context, edition string, maxID, joined int64, retryFor time.Duration, now time.Time) error {
	job, err := s.SendJob(ctx, edition)
	if err != nil {
		return err
	}
	return s.reopen(ctx, edition, false, maxID, job.ChunkSize, joined, retryFor, now)
}

func (s *Store) reopen(ctx context.Context, edition string, resend bool, maxID, chunkSize, joined int64, retryFor time.Duration, now time.Time) error {
	if chunkSize < 1 {
		chunkSize = 1000
	}
	if err := s.indexSendJob(ctx, edition, now); err != nil {
		return err
	}
	sk := s.keys.send(edition)
	flag := "0"
	if resend {
		flag = "1"
	}
	n, err := s.eval(ctx, reopenSendJob, []string{sk.job, sk.failed, sk.retry, sk.attempts, sk.delivered, sk.chunks, sk.owners},
		now.UnixMilli(), now.Add(retryFor).UnixMilli(), maxID, chunkSize, chunkCount(maxID, chunkSize), flag, joined).Int()
	if err != nil {
		return fmt.Errorf("store: reopen send job %s: %w", edition, err)
	}
	switch n {
	case 0:
		return fmt.Errorf("store: send job %s: %w", edition, ErrNotFound)
	case -1:
		return fmt.Errorf("store: resend %s: %w", edition, ErrLedgerGone)
	}
	return nil
}
