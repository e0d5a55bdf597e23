package datasets

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// cifarTarGz builds a small cifar-10-binary.tar.gz; extra entries are appended.
func cifarTarGz(t *testing.T, extra map[string][]byte) []byte {
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	tw := tar.NewWriter(zw)
	add := func(name string, data []byte) {
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(data)), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		tw.Write(data)
	}
	tw.WriteHeader(&tar.Header{Name: cifarDir + "/", Mode: 0o755, Typeflag: tar.TypeDir})
	for i, f := range cifarTrain {
		add(cifarDir+"/"+f, cifarRecords(2, 2*i))
	}
	add(cifarDir+"/"+cifarTest, cifarRecords(3, 100))
	add(cifarDir+"/"+cifarMeta, []byte(cifarNames))
	for name, data := range extra {
		add(name, data)
	}
	tw.Close()
	zw.Close()
	return b.Bytes()
}

func sha(b []byte) string { s := sha256.Sum256(b); return hex.EncodeToString(s[:]) }

// TestDownloadCIFAR10 against a local server: a good archive extracts
// and opens; a wrong checksum, a path outside the data directory or an
// HTTP error leave nothing behind.
func TestDownloadCIFAR10(t *testing.T) {
	good := cifarTarGz(t, nil)
	evil := cifarTarGz(t, map[string][]byte{"cifar-10-batches-bin/../../escape": []byte("x")})
	served := good
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/missing" {
			http.NotFound(w, r)
			return
		}
		w.Write(served)
	}))
	defer srv.Close()
	ctx := context.Background()

	dir := filepath.Join(t.TempDir(), "data")
	got, err := DownloadCIFAR10(ctx, dir, DownloadOptions{URL: srv.URL + "/c.tar.gz", SHA256: sha(good), Client: srv.Client()})
	if err != nil || got != filepath.Join(dir, cifarDir) {
		t.Fatalf("got %q, %v", got, err)
	}
	p, err := Open(dir, noCache())
	if err != nil || p.Train.N != 10 || p.Test.N != 3 || p.Train.ClassName(3) != "cat" {
		t.Fatalf("open after download: %v", err)
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 1 {
		t.Fatalf("left in %s: %v", dir, ents)
	}
	if st, err := os.Stat(got); err != nil || st.Mode().Perm() != 0o755 {
		t.Fatalf("%s: mode %v, %v; want 0755 (not the temporary directory's 0700)", got, st.Mode(), err)
	}

	for _, tc := range []struct {
		name, path, sum string
		body            []byte
		want            string
	}{
		{"wrong checksum", "/c.tar.gz", CIFAR10SHA256, good, "SHA-256 " + sha(good) + ", want " + CIFAR10SHA256},
		{"path escape", "/c.tar.gz", sha(evil), evil, `unexpected archive entry "cifar-10-batches-bin/../../escape"`},
		{"not found", "/missing", sha(good), good, "404"},
	} {
		served = tc.body
		dir := filepath.Join(t.TempDir(), "data")
		_, err := DownloadCIFAR10(ctx, dir, DownloadOptions{URL: srv.URL + tc.path, SHA256: tc.sum, Client: srv.Client()})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got %v, want an error containing %q", tc.name, err, tc.want)
		}
		if ents, _ := os.ReadDir(dir); len(ents) != 0 {
			t.Errorf("%s: left behind %v", tc.name, ents)
		}
		if _, err := os.Stat(filepath.Join(filepath.Dir(dir), "escape")); err == nil {
			t.Errorf("%s: wrote outside the directory", tc.name)
		}
	}
}
