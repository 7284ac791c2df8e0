//go:build !linux

package redistest

import "syscall"

// procAttr is nil where the kernel has no parent-death signal: there a test
// process killed mid-run leaves its redis-server running, and only the
// test's Cleanup stops it.
func procAttr() *syscall.SysProcAttr { return nil }
