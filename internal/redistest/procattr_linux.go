//go:build linux

package redistest

import "syscall"

// procAttr makes the kernel SIGKILL the redis-server when the test process
// dies, so one killed mid-run (a -timeout panic, a mutation tool stopping a
// mutant, kill -9) leaves no server behind; the test's Cleanup never runs in
// those cases.
//
// Pdeathsig fires when the OS thread that started the child exits, not only
// the process. The Go runtime ends a thread only when a goroutine exits while
// locked to it (runtime.LockOSThread), which no test here does around Start.
func procAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
