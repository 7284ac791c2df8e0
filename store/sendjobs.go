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

// A send job's keys share the hash tag {send:<edition>}; the job hash,
// the delivered and failed bitmaps (one bit per subscriber id), the retry
// queue (id → due, in ms) and the attempt counts. A finished job's keys
// expire after SendJobTTL; until then, sending the edition again sends
// nothing new.

// SendJobTTL is how long a finished send job's ledger (who got it, who
// failed) is kept. The job record itself is kept as many days as editions
// are (Options.KeepEditions), so that sending an old edition again finds it
// done and sends nothing.
const SendJobTTL = 90 * 24 * time.Hour

type sendKeys struct{ job, delivered, failed, retry, attempts string }

func (k keys) send(edition string) sendKeys {
	p := k.prefix + "{send:" + edition + "}:"
	return sendKeys{job: p + "job", delivered: p + "delivered", failed: p + "failed", retry: p + "retry", attempts: p + "attempts"}
}

func (k keys) sendJobs() string { return k.prefix + "sendjobs" }

func (sk sendKeys) all() []string {
	return []string{sk.job, sk.delivered, sk.failed, sk.retry, sk.attempts}
}

func fromMS(s string) time.Time {
	n, _ := strconv.ParseInt(s, 10, 64)
	if n == 0 {
		return time.Time{}
	}
	return time.UnixMilli(n).UTC()
}

// createSendJob creates the job unless it exists; either way returns 1 if
// created, 0 if not.
var createSendJob = redis.NewScript(`
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], 'edition', ARGV[1], 'state', 'queued', 'total', ARGV[2], 'sent', 0, 'failed', 0,
  'bounced', 0, 'cursor', 0, 'created', ARGV[3], 'updated', ARGV[3], 'retry_until', ARGV[4])
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[1])
return 1
`)

// CreateSendJob creates the send job of edition (queued) unless there is
// one, and returns the job and whether it was created.
func (s *Store) CreateSendJob(ctx context.Context, edition string, total int64, retryFor time.Duration, now time.Time) (digest.SendJob, bool, error) {
	sk := s.keys.send(edition)
	n, err := createSendJob.Run(ctx, s.rdb, []string{sk.job, s.keys.sendJobs()},
		edition, total, now.UnixMilli(), now.Add(retryFor).UnixMilli()).Int()
	if err != nil {
		return digest.SendJob{}, false, fmt.Errorf("store: create send job %s: %w", edition, err)
	}
	job, err := s.SendJob(ctx, edition)
	return job, n == 1, err
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
		Cursor: n("cursor"), Created: fromMS(f["created"]), Started: fromMS(f["started"]), Updated: fromMS(f["updated"]),
		Finished: fromMS(f["finished"]), RetryUntil: fromMS(f["retry_until"]), Owner: f["owner"], LeaseUntil: fromMS(f["lease_until"]),
		Epoch: n("epoch"),
	}, nil
}

// setSendState moves the job to ARGV[1] if its state is one of ARGV[4..];
// ARGV[2] is the reason, ARGV[3] now. Returns 1 if moved. (SetSendState
// then sets the expiry of a finished job's keys and drops it from the
// index, which lives outside the job's hash slot.)
var setSendState = redis.NewScript(`
local cur = redis.call('HGET', KEYS[1], 'state')
if not cur then return 0 end
local ok = false
for i = 4, #ARGV do if ARGV[i] == cur then ok = true end end
if not ok then return 0 end
redis.call('HSET', KEYS[1], 'state', ARGV[1], 'reason', ARGV[2], 'updated', ARGV[3])
if ARGV[1] ~= 'running' and ARGV[1] ~= 'done' then
  -- a pause, a cancel or a resume: a run of the old epoch stops writing
  redis.call('HINCRBY', KEYS[1], 'epoch', 1)
end
if ARGV[1] == 'running' and redis.call('HGET', KEYS[1], 'started') == false then
  redis.call('HSET', KEYS[1], 'started', ARGV[3])
end
if ARGV[1] == 'done' or ARGV[1] == 'cancelled' then
  redis.call('HSET', KEYS[1], 'finished', ARGV[3])
  redis.call('HDEL', KEYS[1], 'owner', 'lease_until')
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
	n, err := setSendState.Run(ctx, s.rdb, []string{sk.job}, args...).Int()
	if err != nil {
		return false, fmt.Errorf("store: send job %s: %w", edition, err)
	}
	if n == 1 && (state == digest.SendDone || state == digest.SendCancelled) {
		pipe := s.rdb.Pipeline()
		for _, k := range sk.all()[1:] {
			pipe.PExpire(ctx, k, SendJobTTL)
		}
		// The job itself stays as long as an edition may: sending the
		// edition again must still find it done.
		pipe.PExpire(ctx, sk.job, time.Duration(s.keep)*24*time.Hour)
		pipe.ZRem(ctx, s.keys.sendJobs(), edition)
		if _, err := pipe.Exec(ctx); err != nil {
			return true, fmt.Errorf("store: send job %s: %w", edition, err)
		}
	}
	return n == 1, nil
}

// acquireSendLease gives the lease to ARGV[1] until ARGV[3] if it is free,
// expired (before ARGV[2]) or already theirs, the job is queued or
// running (it becomes running), and — when ARGV[4] is not "" — its epoch
// is still ARGV[4]. Returns the epoch if held, -1 if not.
var acquireSendLease = redis.NewScript(`
local f = redis.call('HMGET', KEYS[1], 'state', 'owner', 'lease_until', 'epoch')
if f[1] ~= 'queued' and f[1] ~= 'running' then return -1 end
local epoch = tonumber(f[4] or '0')
if ARGV[4] ~= '' and tonumber(ARGV[4]) ~= epoch then return -1 end
if f[2] and f[2] ~= ARGV[1] and tonumber(f[3] or '0') > tonumber(ARGV[2]) then return -1 end
redis.call('HSET', KEYS[1], 'owner', ARGV[1], 'lease_until', ARGV[3], 'state', 'running', 'updated', ARGV[2])
if redis.call('HGET', KEYS[1], 'started') == false then redis.call('HSET', KEYS[1], 'started', ARGV[2]) end
return epoch
`)

// AcquireSendLease takes the lease on the job of edition for owner until
// now+ttl, and returns the job's epoch; renewing, pass the epoch the lease
// was taken at (-1 when taking it). held is false when another sender
// holds it, the job is not queued or running, or an admin changed it
// (paused, cancelled, resumed, reopened: a new epoch) since.
func (s *Store) AcquireSendLease(ctx context.Context, edition, owner string, epoch int64, now time.Time, ttl time.Duration) (int64, bool, error) {
	want := ""
	if epoch >= 0 {
		want = strconv.FormatInt(epoch, 10)
	}
	n, err := acquireSendLease.Run(ctx, s.rdb, []string{s.keys.send(edition).job},
		owner, now.UnixMilli(), now.Add(ttl).UnixMilli(), want).Int64()
	if err != nil {
		return 0, false, fmt.Errorf("store: send lease %s: %w", edition, err)
	}
	return n, n >= 0, nil
}

// releaseSendLease drops owner's lease, if it is still theirs.
var releaseSendLease = redis.NewScript(`
if redis.call('HGET', KEYS[1], 'owner') == ARGV[1] then
  redis.call('HDEL', KEYS[1], 'owner', 'lease_until')
end
return 1
`)

// ReleaseSendLease gives up owner's lease on the job of edition.
func (s *Store) ReleaseSendLease(ctx context.Context, edition, owner string) error {
	if err := releaseSendLease.Run(ctx, s.rdb, []string{s.keys.send(edition).job}, owner).Err(); err != nil {
		return fmt.Errorf("store: send lease %s: %w", edition, err)
	}
	return nil
}

// PendingSendJobs lists the editions whose send job is queued or running
// (running ones may have lost their sender).
func (s *Store) PendingSendJobs(ctx context.Context) ([]string, error) {
	eds, err := s.rdb.ZRange(ctx, s.keys.sendJobs(), 0, -1).Result()
	if err != nil {
		return nil, fmt.Errorf("store: send jobs: %w", err)
	}
	return eds, nil
}

// Handled reports, for the ids from..to-1, which are delivered and which
// failed for good, reading one byte range of each bitmap.
func (s *Store) Handled(ctx context.Context, edition string, from, to int64) (delivered, failed func(id int64) bool, err error) {
	sk := s.keys.send(edition)
	pipe := s.rdb.Pipeline()
	d := pipe.GetRange(ctx, sk.delivered, from/8, (to-1)/8)
	f := pipe.GetRange(ctx, sk.failed, from/8, (to-1)/8)
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return nil, nil, fmt.Errorf("store: send ledger %s: %w", edition, err)
	}
	bit := func(b string) func(int64) bool {
		return func(id int64) bool {
			i := id/8 - from/8
			if id < from || i >= int64(len(b)) {
				return false
			}
			return b[i]&(0x80>>(id%8)) != 0
		}
	}
	return bit(d.Val()), bit(f.Val()), nil
}

// recordSend writes one outcome: ARGV[1] id, ARGV[2] 'sent'|'failed'|
// 'bounced', ARGV[3] now. A subscriber already recorded is not counted
// twice.
var recordSend = redis.NewScript(`
local id = tonumber(ARGV[1])
if redis.call('GETBIT', KEYS[2], id) == 1 or redis.call('GETBIT', KEYS[3], id) == 1 then
  redis.call('ZREM', KEYS[4], ARGV[1])
  return 0
end
if ARGV[2] == 'sent' then
  redis.call('SETBIT', KEYS[2], id, 1)
  redis.call('HINCRBY', KEYS[1], 'sent', 1)
else
  redis.call('SETBIT', KEYS[3], id, 1)
  redis.call('HINCRBY', KEYS[1], 'failed', 1)
  if ARGV[2] == 'bounced' then redis.call('HINCRBY', KEYS[1], 'bounced', 1) end
end
redis.call('ZREM', KEYS[4], ARGV[1])
redis.call('HSET', KEYS[1], 'updated', ARGV[3])
return 1
`)

// RecordSend writes that subscriber id's message was accepted ("sent"),
// or will never be ("failed", "bounced"). It is called only after the
// server answered, so a crash loses no delivery.
func (s *Store) RecordSend(ctx context.Context, edition string, id int64, outcome string, now time.Time) error {
	sk := s.keys.send(edition)
	err := recordSend.Run(ctx, s.rdb, []string{sk.job, sk.delivered, sk.failed, sk.retry},
		id, outcome, now.UnixMilli()).Err()
	if err != nil {
		return fmt.Errorf("store: send ledger %s: %w", edition, err)
	}
	return nil
}

// saveSendCursor moves the cursor if ARGV[1] still holds the lease at
// epoch ARGV[2]; returns 0 otherwise.
var saveSendCursor = redis.NewScript(`
local f = redis.call('HMGET', KEYS[1], 'owner', 'epoch')
if f[1] ~= ARGV[1] or tonumber(f[2] or '0') ~= tonumber(ARGV[2]) then return 0 end
redis.call('HSET', KEYS[1], 'cursor', ARGV[3])
return 1
`)

// ErrNotHolder is digest's: the sender no longer holds the job.
var ErrNotHolder = digest.ErrNotHolder

// SaveSendCursor records that every subscriber below cursor is handled,
// if owner still holds the job at epoch; otherwise ErrNotHolder.
func (s *Store) SaveSendCursor(ctx context.Context, edition, owner string, epoch, cursor int64) error {
	n, err := saveSendCursor.Run(ctx, s.rdb, []string{s.keys.send(edition).job}, owner, epoch, cursor).Int()
	if err != nil {
		return fmt.Errorf("store: send cursor %s: %w", edition, err)
	}
	if n == 0 {
		return fmt.Errorf("store: send cursor %s: %w", edition, ErrNotHolder)
	}
	return nil
}

// resendFailed reopens a finished job for its failed subscribers: clears
// the failed bitmap, counts and attempts, rewinds the cursor, queues it.
var resendFailed = redis.NewScript(`
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
if tonumber(redis.call('HGET', KEYS[1], 'sent') or '0') > 0 and redis.call('EXISTS', KEYS[5]) == 0 then
  return -1
end
redis.call('HINCRBY', KEYS[1], 'epoch', 1)
redis.call('DEL', KEYS[2], KEYS[3], KEYS[4])
redis.call('HSET', KEYS[1], 'state', 'queued', 'reason', '', 'failed', 0, 'bounced', 0, 'cursor', 0,
  'updated', ARGV[1], 'retry_until', ARGV[2])
redis.call('HDEL', KEYS[1], 'finished', 'owner', 'lease_until')
redis.call('PERSIST', KEYS[1])
redis.call('PERSIST', KEYS[5])
redis.call('ZADD', KEYS[6], ARGV[1], ARGV[3])
return 1
`)

// ResendFailed reopens the job of edition so that subscribers who did not
// get it (failed, given up; bounced ones are no longer active) are tried
// again. Delivered ones are never sent again.
func (s *Store) ResendFailed(ctx context.Context, edition string, retryFor time.Duration, now time.Time) error {
	sk := s.keys.send(edition)
	n, err := resendFailed.Run(ctx, s.rdb, []string{sk.job, sk.failed, sk.retry, sk.attempts, sk.delivered, s.keys.sendJobs()},
		now.UnixMilli(), now.Add(retryFor).UnixMilli(), edition).Int()
	if err != nil {
		return fmt.Errorf("store: resend %s: %w", edition, err)
	}
	switch n {
	case 0:
		return fmt.Errorf("store: send job %s: %w", edition, ErrNotFound)
	case -1:
		return fmt.Errorf("store: resend %s: %w", edition, ErrLedgerGone)
	}
	return nil
}

// ErrLedgerGone is digest's: the job's ledger expired.
var ErrLedgerGone = digest.ErrLedgerGone
