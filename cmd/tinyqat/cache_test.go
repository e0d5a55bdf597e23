package main

import (
	"fmt"
	"os"
	"testing"
)

// TestMain points the user cache directory (where image folders are
// cached when --cache-dir is not given) at a temporary directory, so the
// tests write nothing outside their own folders.
func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "tinyqat-test-cache-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	os.Setenv("XDG_CACHE_HOME", dir) // os.UserCacheDir on Linux and the BSDs
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}
