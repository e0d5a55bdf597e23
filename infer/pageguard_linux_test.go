//go:build linux && amd64 && !purego

package infer

import (
	"syscall"
	"testing"
)

// pageEnd returns a buffer of size bytes followed by an inaccessible page:
// tail(n) is its last n bytes, so a kernel reading or writing past the
// end of a slice from tail faults (SIGSEGV) instead of passing.
func pageEnd(t *testing.T, size int) (tail func(n int) []uint8) {
	t.Helper()
	ps := syscall.Getpagesize()
	size = (size + ps - 1) / ps * ps
	mem, err := syscall.Mmap(-1, 0, size+ps, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_ANON|syscall.MAP_PRIVATE)
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mprotect(mem[size:], syscall.PROT_NONE); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Munmap(mem) })
	return func(n int) []uint8 { return mem[size-n : size : size] }
}
