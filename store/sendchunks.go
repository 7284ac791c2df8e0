package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/broadsheet-news/broadsheet/digest"
)

// Chunks: a job's audience is cut into chunks of ids (SendJob.ChunkIDs).
// next_chunk in the job hash counts the chunks ever handed out; the
// sorted set :chunks holds the chunks handed out and not done, scored by
// when their lease ends (0: released, free at once); the hash :owners
// names each one's holder, and "o:<holder>" the chunk a holder has.

// joinSendJob makes a queued job running (noting when it started) and
// returns its epoch; -1 when the job is neither queued nor running.
var joinSendJob = redis.NewScript(`
local f = redis.call('HMGET', KEYS[1], 'state', 'epoch')
if f[1] ~= 'queued' and f[1] ~= 'running' then return -1 end
if f[1] == 'queued' then redis.call('HSET', KEYS[1], 'state', 'running', 'updated', ARGV[1]) end
if redis.call('HGET', KEYS[1], 'started') == false then redis.call('HSET', KEYS[1], 'started', ARGV[1]) end
return tonumber(f[2] or '0')
`)

// JoinSendJob enlists a sender in the job of edition (queued becomes
// running) and returns the job's epoch; ok is false when the job is not
// queued or running.
func (s *Store) JoinSendJob(ctx context.Context, edition string, now time.Time) (int64, bool, error) {
	n, err := s.eval(ctx, joinSendJob, []string{s.keys.send(edition).job}, now.UnixMilli()).Int64()
	if err != nil {
		return 0, false, fmt.Errorf("store: join send job %s: %w", edition, err)
	}
	return n, n >= 0, nil
}

// claimChunk gives holder ARGV[1] a chunk until ARGV[4], if the job is
// running at epoch ARGV[2] (now ARGV[3]): the one it holds already (a
// second run of the script), else a released or expired one, else the
// next never handed out. Returns {chunk}, {-1, when the first lease
// ends} when every chunk is done or held, {-2} when the job stopped.
var claimChunk = redis.NewScript(`
local f = redis.call('HMGET', KEYS[1], 'state', 'epoch', 'chunks', 'next_chunk')
if f[1] ~= 'running' or tonumber(f[2] or '0') ~= tonumber(ARGV[2]) then return {-2} end
local mine = redis.call('HGET', KEYS[3], 'o:' .. ARGV[1])
if mine and redis.call('HGET', KEYS[3], mine) == ARGV[1] and redis.call('ZSCORE', KEYS[2], mine) then
  redis.call('ZADD', KEYS[2], ARGV[4], mine)
  return {tonumber(mine)}
end
local c
local free = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', ARGV[3], 'LIMIT', 0, 1)
if #free > 0 then
  c = free[1]
elseif tonumber(f[4]) < tonumber(f[3]) then
  c = f[4]
  redis.call('HINCRBY', KEYS[1], 'next_chunk', 1)
else
  local first = redis.call('ZRANGE', KEYS[2], 0, 0, 'WITHSCORES')
  if #first == 0 then return {-1, 0} end
  return {-1, tonumber(first[2])}
end
redis.call('ZADD', KEYS[2], ARGV[4], c)
redis.call('HSET', KEYS[3], c, ARGV[1], 'o:' .. ARGV[1], c)
return {tonumber(c)}
`)

// ClaimChunk gives holder a chunk of the job of edition to send, leased
// until now+lease. ok is false when none is free: then wait is when the
// first lease held by another ends (zero when every chunk is done); it
// wraps ErrNotHolder when the job is no longer running at epoch.
func (s *Store) ClaimChunk(ctx context.Context, edition, holder string, epoch int64, now time.Time, lease time.Duration) (chunk int64, ok bool, wait time.Time, err error) {
	sk := s.keys.send(edition)
	res, err := s.eval(ctx, claimChunk, []string{sk.job, sk.chunks, sk.owners},
		holder, epoch, now.UnixMilli(), now.Add(lease).UnixMilli()).Int64Slice()
	switch {
	case err != nil:
		return 0, false, time.Time{}, fmt.Errorf("store: claim chunk %s: %w", edition, err)
	case res[0] == -2:
		return 0, false, time.Time{}, fmt.Errorf("store: claim chunk %s: %w", edition, ErrNotHolder)
	case res[0] == -1:
		if res[1] > 0 {
			wait = time.UnixMilli(res[1])
		}
		return 0, false, wait, nil
	}
	return res[0], true, time.Time{}, nil
}

// renewChunk extends holder ARGV[1]'s lease on chunk ARGV[2] to ARGV[3];
// 0 when it is no longer theirs.
var renewChunk = redis.NewScript(`
if redis.call('HGET', KEYS[2], ARGV[2]) ~= ARGV[1] or not redis.call('ZSCORE', KEYS[1], ARGV[2]) then return 0 end
redis.call('ZADD', KEYS[1], ARGV[3], ARGV[2])
return 1
`)

// RenewChunk extends holder's lease on chunk to now+lease, or says it
// lost it (another sender took it over, or an admin changed the job).
func (s *Store) RenewChunk(ctx context.Context, edition, holder string, chunk int64, now time.Time, lease time.Duration) (bool, error) {
	sk := s.keys.send(edition)
	cmd, retried := s.evalRetried(ctx, renewChunk, []string{sk.chunks, sk.owners}, holder, chunk, now.Add(lease).UnixMilli())
	n, err := cmd.Int()
	if err != nil {
		return false, fmt.Errorf("store: renew chunk %s: %w", edition, err)
	}
	return n == 1 || retried, nil
}

// completeChunk marks holder ARGV[1]'s chunk ARGV[2] done at epoch
// ARGV[3] (now ARGV[4]). Returns 0 when it is not theirs (any more).
var completeChunk = redis.NewScript(`
if redis.call('HGET', KEYS[3], ARGV[2]) ~= ARGV[1] then return 0 end
if tonumber(redis.call('HGET', KEYS[1], 'epoch') or '0') ~= tonumber(ARGV[3]) then return 0 end
redis.call('ZREM', KEYS[2], ARGV[2])
redis.call('HDEL', KEYS[3], ARGV[2], 'o:' .. ARGV[1])
redis.call('HINCRBY', KEYS[1], 'chunks_done', 1)
redis.call('HSET', KEYS[1], 'updated', ARGV[4])
return 1
`)

// CompleteChunk records that every subscriber of holder's chunk is
// handled (delivered, failed, or queued for a retry). It wraps
// ErrNotHolder when the chunk was taken over or the job changed.
func (s *Store) CompleteChunk(ctx context.Context, edition, holder string, epoch, chunk int64, now time.Time) error {
	sk := s.keys.send(edition)
	cmd, retried := s.evalRetried(ctx, completeChunk, []string{sk.job, sk.chunks, sk.owners}, holder, chunk, epoch, now.UnixMilli())
	n, err := cmd.Int()
	if err != nil {
		return fmt.Errorf("store: complete chunk %s: %w", edition, err)
	}
	if n == 0 && !retried {
		return fmt.Errorf("store: complete chunk %s: %w", edition, ErrNotHolder)
	}
	return nil
}

// releaseChunk frees holder ARGV[1]'s chunk ARGV[2] for another sender at
// once.
var releaseChunk = redis.NewScript(`
if redis.call('HGET', KEYS[2], ARGV[2]) ~= ARGV[1] then return 0 end
redis.call('HDEL', KEYS[2], ARGV[2], 'o:' .. ARGV[1])
if redis.call('ZSCORE', KEYS[1], ARGV[2]) then redis.call('ZADD', KEYS[1], 0, ARGV[2]) end
return 1
`)

// ReleaseChunk gives up holder's lease on chunk (a run stopping before
// the chunk is done), so that another sender takes it at once.
func (s *Store) ReleaseChunk(ctx context.Context, edition, holder string, chunk int64) error {
	sk := s.keys.send(edition)
	if err := s.eval(ctx, releaseChunk, []string{sk.chunks, sk.owners}, holder, chunk).Err(); err != nil {
		return fmt.Errorf("store: release chunk %s: %w", edition, err)
	}
	return nil
}

// finishSendJob marks the job done at epoch ARGV[2] (now ARGV[1]) if every
// chunk was handed out and is done and no retry waits. Returns 1 if it
// did, 0 if not (yet), -1 if the job is not running at that epoch.
var finishSendJob = redis.NewScript(`
local f = redis.call('HMGET', KEYS[1], 'state', 'epoch', 'chunks', 'next_chunk')
if f[1] ~= 'running' or tonumber(f[2] or '0') ~= tonumber(ARGV[2]) then return -1 end
if tonumber(f[4]) < tonumber(f[3]) or redis.call('ZCARD', KEYS[2]) > 0 or redis.call('ZCARD', KEYS[3]) > 0 then
  return 0
end
redis.call('HSET', KEYS[1], 'state', 'done', 'reason', '', 'updated', ARGV[1], 'finished', ARGV[1])
return 1
`)

// FinishSendJob marks the job of edition done if it is: every chunk done
// and no retry waiting (whichever sender gets here last). It reports
// whether the job is finished now — by this call or by another sender.
func (s *Store) FinishSendJob(ctx context.Context, edition string, epoch int64, now time.Time) (bool, error) {
	sk := s.keys.send(edition)
	n, err := s.eval(ctx, finishSendJob, []string{sk.job, sk.chunks, sk.retry}, now.UnixMilli(), epoch).Int()
	if err != nil {
		return false, fmt.Errorf("store: finish send job %s: %w", edition, err)
	}
	switch n {
	case 1:
		return true, s.finished(ctx, edition)
	case -1:
		job, err := s.SendJob(ctx, edition)
		if err != nil {
			return false, err
		}
		return job.State == digest.SendDone, nil
	}
	return false, nil
}

// Handled reports, for the ids from..to-1, which are delivered and which
// failed for good, reading one byte range of each bitmap; an id outside
// from..to-1 reads as neither.
func (s *Store) Handled(ctx context.Context, edition string, from, to int64) (delivered, failed func(id int64) bool, err error) {
	sk := s.keys.send(edition)
	pipe := s.rdb.Pipeline()
	// Equivalent mutant (ARITHMETIC_BASE, INVERT_NEGATIVES on both (to-1)/8):
	// reading past to's byte costs bytes only, as bit refuses ids >= to.
	d := pipe.GetRange(ctx, sk.delivered, from/8, (to-1)/8)
	f := pipe.GetRange(ctx, sk.failed, from/8, (to-1)/8)
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return nil, nil, fmt.Errorf("store: send ledger %s: %w", edition, err)
	}
	bit := func(b string) func(int64) bool {
		return func(id int64) bool {
			i := id/8 - from/8
			if id < from || id >= to || i >= int64(len(b)) {
				return false
			}
			return b[i]&(0x80>>(id%8)) != 0
		}
	}
	return bit(d.Val()), bit(f.Val()), nil
}

// recordSend writes one outcome: ARGV[1] id, ARGV[2] 'sent'|'failed'|
// 'bounced', ARGV[3] now. A subscriber already recorded is not counted
// twice, so writing it again (after a WAIT fell short) changes nothing.
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
// server answered, so a crash loses no delivery; with replicas to wait
// for, it returns only once they have it, so a failover loses none.
func (s *Store) RecordSend(ctx context.Context, edition string, id int64, outcome string, now time.Time) error {
	sk := s.keys.send(edition)
	err := s.eval(ctx, recordSend, []string{sk.job, sk.delivered, sk.failed, sk.retry},
		id, outcome, now.UnixMilli()).Err()
	if err != nil {
		return fmt.Errorf("store: send ledger %s: %w", edition, err)
	}
	return nil
}
