package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestDataCIFAR10: `data cifar10 DIR` downloads (from a local test
// server, never the network), checks the SHA-256 and extracts; a wrong
// checksum fails and leaves nothing.
func TestDataCIFAR10(t *testing.T) {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	rec := make([]byte, 3073) // one record: label 0, 32×32×3 pixels
	files := map[string][]byte{"batches.meta.txt": []byte("airplane\nautomobile\n"), "test_batch.bin": rec}
	for _, n := range []string{"1", "2", "3", "4", "5"} {
		files["data_batch_"+n+".bin"] = rec
	}
	for name, b := range files {
		if err := tw.WriteHeader(&tar.Header{Name: "cifar-10-batches-bin/" + name, Mode: 0o644, Size: int64(len(b)), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		tw.Write(b)
	}
	tw.Close()
	zw.Close()
	archive := buf.Bytes()
	sum := sha256.Sum256(archive)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write(archive) }))
	defer srv.Close()

	dir := filepath.Join(t.TempDir(), "cifar")
	bad := []string{"data", "cifar10", dir, "--url", srv.URL + "/c.tar.gz", "--sha256", strings.Repeat("0", 64)}
	if _, errOut, st := runCLI(t, bad...); st == 0 || !strings.Contains(errOut, "data cifar10: ") || !strings.Contains(errOut, "SHA-256") {
		t.Fatalf("wrong checksum: status %d, %q", st, errOut)
	}
	if _, err := os.Stat(filepath.Join(dir, "cifar-10-batches-bin")); err == nil {
		t.Fatal("a failed download left the data directory")
	}
	out, errOut, st := runCLI(t, "data", "cifar10", dir, "--url", srv.URL+"/c.tar.gz", "--sha256", hex.EncodeToString(sum[:]))
	if st != 0 || !strings.Contains(out, "--data "+dir) {
		t.Fatalf("download: status %d, %q %q", st, out, errOut)
	}
	for name, b := range files {
		got, err := os.ReadFile(filepath.Join(dir, "cifar-10-batches-bin", name))
		if err != nil || !bytes.Equal(got, b) {
			t.Fatalf("%s: %v", name, err)
		}
	}
	if _, errOut, st := runCLI(t, "data", "cifar10"); st == 0 || errOut == "" {
		t.Fatalf("no directory: status %d", st)
	}
}

// TestFloatListRefusesUnderflow: --std 1e-320 parses as a float64 but is 0
// in float32; it was refused later with "std 0", which named a value the
// user never typed. Subnormal float32 values are refused too.
func TestFloatListRefusesUnderflow(t *testing.T) {
	for _, tc := range []struct {
		in string
		ok bool
	}{
		{"0.5,0.25", true},
		{"0", true},
		{"1e-320", false},
		{"0.5,1e-40", false}, // subnormal in float32
		{"1.2e-38", true},
		{"nan", false},
	} {
		_, err := floatList("--std", tc.in)
		if (err == nil) != tc.ok {
			t.Errorf("floatList(%q): err %v, want ok=%v", tc.in, err, tc.ok)
		}
		if err != nil && !strings.Contains(err.Error(), "--std") {
			t.Errorf("floatList(%q): %v does not name the flag", tc.in, err)
		}
	}
}
