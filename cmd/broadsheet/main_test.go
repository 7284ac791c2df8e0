package main

import (
	"context"
	"os"
	"testing"
)

// TestMain lets a test run this package's binary as broadsheet itself
// (BROADSHEET_TEST_MAIN=1), to kill it for real.
func TestMain(m *testing.M) {
	if os.Getenv("BROADSHEET_TEST_MAIN") == "1" {
		err := run(context.Background(), os.Args[1:], stdio{getenv: os.Getenv, stdin: os.Stdin, stdout: os.Stdout, stderr: os.Stderr})
		os.Exit(report(err, os.Stderr))
	}
	os.Exit(m.Run())
}
