// Package spool is a local append-only file of records that could not be
// written where they belong (Redis) yet: each Append is on disk (fsynced)
// before it returns, and Drain hands the records back in order, keeping
// those not yet applied. Processes sharing the file take turns (flock).
package spool

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
)

// MaxRecord bounds one record, in bytes.
const MaxRecord = 64 << 10

// Spool is one spool file. It is safe for concurrent use.
type Spool struct {
	path    string
	mu      sync.Mutex
	pending atomic.Int64
}

// Open opens (creating it and its directory if needed) the spool at path
// and counts the records it holds.
func Open(path string) (*Spool, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("spool: %w", err)
	}
	s := &Spool{path: path}
	err := s.locked(func(f *os.File) error {
		recs, err := readAll(f)
		s.pending.Store(int64(len(recs)))
		return err
	})
	if err != nil {
		return nil, err
	}
	return s, nil
}

// Path is the spool file's path.
func (s *Spool) Path() string { return s.path }

// Pending is how many records this process knows to be waiting (others'
// appends are seen at the next Drain).
func (s *Spool) Pending() int { return int(s.pending.Load()) }

// Append adds one record (no newline in it) and syncs it to disk.
func (s *Spool) Append(rec []byte) error {
	if len(rec) > MaxRecord || bytes.IndexByte(rec, '\n') >= 0 {
		return errors.New("spool: a record must be one line of at most 64 KiB")
	}
	return s.locked(func(f *os.File) error {
		if err := trimCut(f); err != nil {
			return err
		}
		if _, err := f.Seek(0, io.SeekEnd); err != nil {
			return fmt.Errorf("spool: %w", err)
		}
		if _, err := f.Write(append(rec[:len(rec):len(rec)], '\n')); err != nil {
			return fmt.Errorf("spool: append: %w", err)
		}
		if err := f.Sync(); err != nil {
			return fmt.Errorf("spool: sync: %w", err)
		}
		s.pending.Add(1)
		return nil
	})
}

// Drain calls apply on each record in order. A record apply accepts (nil)
// is done; at the first error it stops, keeps that record and the rest,
// and returns how many were applied and the error. Records are removed
// only after apply returned, so a crash may apply one twice: apply must be
// idempotent.
func (s *Spool) Drain(apply func(rec []byte) error) (int, error) {
	done := 0
	var applyErr error
	err := s.locked(func(f *os.File) error {
		recs, err := readAll(f)
		if err != nil {
			return err
		}
		for _, r := range recs {
			if applyErr = apply(r); applyErr != nil {
				break
			}
			done++
		}
		rest := recs[done:]
		s.pending.Store(int64(len(rest)))
		if done == 0 {
			return nil
		}
		var buf bytes.Buffer
		for _, r := range rest {
			buf.Write(r)
			buf.WriteByte('\n')
		}
		// Rewrite in place under the lock: the file keeps its inode, so
		// every process's lock stays on the same file.
		if err := f.Truncate(0); err != nil {
			return fmt.Errorf("spool: truncate: %w", err)
		}
		if _, err := f.WriteAt(buf.Bytes(), 0); err != nil {
			return fmt.Errorf("spool: rewrite: %w", err)
		}
		if err := f.Sync(); err != nil {
			return fmt.Errorf("spool: sync: %w", err)
		}
		return nil
	})
	if err != nil {
		return done, err
	}
	return done, applyErr
}

// locked runs fn with the spool file open and exclusively locked.
func (s *Spool) locked(fn func(f *os.File) error) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	f, err := os.OpenFile(s.path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("spool: %w", err)
	}
	defer f.Close()
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		return fmt.Errorf("spool: lock: %w", err)
	}
	defer syscall.Flock(int(f.Fd()), syscall.LOCK_UN) //nolint:errcheck // closing unlocks too
	return fn(f)
}

// trimCut cuts off a last record without its newline (a crash
// mid-append), so the next record starts on a line of its own.
func trimCut(f *os.File) error {
	info, err := f.Stat()
	if err != nil {
		return fmt.Errorf("spool: %w", err)
	}
	size := info.Size()
	if size == 0 {
		return nil
	}
	last := make([]byte, 1)
	if _, err := f.ReadAt(last, size-1); err != nil {
		return fmt.Errorf("spool: %w", err)
	}
	if last[0] == '\n' {
		return nil
	}
	// Find the last newline, reading backwards in blocks.
	end := size
	buf := make([]byte, 4096)
	for end > 0 {
		start := max(end-int64(len(buf)), 0)
		n, err := f.ReadAt(buf[:end-start], start)
		if err != nil && !errors.Is(err, io.EOF) {
			return fmt.Errorf("spool: %w", err)
		}
		if i := bytes.LastIndexByte(buf[:n], '\n'); i >= 0 {
			return f.Truncate(start + int64(i) + 1)
		}
		end = start
	}
	return f.Truncate(0)
}

// readAll reads the complete records of f. A last line without its
// newline is a record cut by a crash mid-append, never acknowledged: it is
// dropped.
func readAll(f *os.File) ([][]byte, error) {
	if _, err := f.Seek(0, 0); err != nil {
		return nil, fmt.Errorf("spool: %w", err)
	}
	var recs [][]byte
	r := bufio.NewReaderSize(f, 64<<10)
	for {
		line, err := r.ReadBytes('\n')
		if errors.Is(err, io.EOF) {
			return recs, nil
		}
		if err != nil {
			return nil, fmt.Errorf("spool: read: %w", err)
		}
		if len(line) > 1 {
			recs = append(recs, bytes.Clone(line[:len(line)-1]))
		}
	}
}
