//go:build !linux && amd64 && !purego

package infer

import "testing"

// pageEnd returns plain slices where there is no mmap guard page (see
// pageguard_linux_test.go).
func pageEnd(t *testing.T, size int) (tail func(n int) []uint8) {
	return func(n int) []uint8 { return make([]uint8, n) }
}
