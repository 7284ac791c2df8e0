package spool

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestAppendDrainInOrderKeepingTheRest(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "actions.jsonl")
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range []string{"a", "b", "c", "d"} {
		if err := s.Append([]byte(r)); err != nil {
			t.Fatal(err)
		}
	}
	if s.Pending() != 4 {
		t.Fatalf("pending %d, want 4", s.Pending())
	}
	var seen []string
	down := errors.New("down")
	n, err := s.Drain(func(r []byte) error {
		if string(r) == "c" {
			return down
		}
		seen = append(seen, string(r))
		return nil
	})
	if n != 2 || !errors.Is(err, down) || strings.Join(seen, "") != "ab" {
		t.Fatalf("Drain = %d, %v, saw %v", n, err, seen)
	}
	// A new process finds what is left, in order, then appends after it.
	s2, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	if s2.Pending() != 2 {
		t.Fatalf("reopened: pending %d, want 2", s2.Pending())
	}
	_ = s2.Append([]byte("e"))
	seen = nil
	if n, err := s2.Drain(func(r []byte) error { seen = append(seen, string(r)); return nil }); n != 3 || err != nil {
		t.Fatalf("Drain = %d, %v", n, err)
	}
	if strings.Join(seen, "") != "cde" || s2.Pending() != 0 {
		t.Fatalf("saw %v, pending %d", seen, s2.Pending())
	}
	if b, _ := os.ReadFile(path); len(b) != 0 {
		t.Fatalf("drained file holds %q", b)
	}
}

func TestCutLastRecordDropped(t *testing.T) {
	path := filepath.Join(t.TempDir(), "actions.jsonl")
	if err := os.WriteFile(path, []byte("one\ntwo\nhalf-writ"), 0o600); err != nil {
		t.Fatal(err)
	}
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	if s.Pending() != 2 {
		t.Fatalf("pending %d, want 2 (the cut record is not one)", s.Pending())
	}
	if err := s.Append([]byte("bad\nrecord")); err == nil {
		t.Fatal("a record with a newline was accepted")
	}
	if err := s.Append([]byte("three")); err != nil {
		t.Fatal(err)
	}
	var seen []string
	if _, err := s.Drain(func(r []byte) error { seen = append(seen, string(r)); return nil }); err != nil {
		t.Fatal(err)
	}
	if strings.Join(seen, ",") != "one,two,three" {
		t.Fatalf("after a cut record and an append: %q", seen)
	}
}
