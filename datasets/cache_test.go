package datasets

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestFolderCache: the first load writes the cache, the second reads it
// (same bytes), a changed source file is seen, and a damaged cache is
// rebuilt with a warning, never trusted.
func TestFolderCache(t *testing.T) {
	root := writeTree(t, greyTree(t))
	o := Options{CacheDir: t.TempDir()}
	first, err := Open(root, o)
	if err != nil {
		t.Fatal(err)
	}
	if first.Cached || first.Cache == "" {
		t.Fatalf("first load: cached %v, cache file %q", first.Cached, first.Cache)
	}
	if _, err := os.Stat(first.Cache); err != nil {
		t.Fatal(err)
	}
	same := func(p *Pair) bool {
		return bytes.Equal(p.Train.Pix, first.Train.Pix) && bytes.Equal(p.Test.Pix, first.Test.Pix) &&
			bytes.Equal(p.Train.Labels, first.Train.Labels) && p.Train.C == first.Train.C && p.Train.ClassName(1) == "cat"
	}
	second, err := Open(root, o)
	if err != nil || !second.Cached || !same(second) || len(second.Warnings) != 0 {
		t.Fatalf("second load: %v, cached %v, warnings %q", err, second.Cached, second.Warnings)
	}
	// Other resize options use another cache file.
	if r, err := Open(root, Options{CacheDir: o.CacheDir, ResizeH: 2, ResizeW: 2}); err != nil || r.Cached || r.Cache == first.Cache {
		t.Fatalf("resized load: %v, cached %v, file %s", err, r.Cached, r.Cache)
	}

	// Damaged caches: each is rebuilt, and the data is right.
	good, _ := os.ReadFile(first.Cache)
	for _, tc := range []struct {
		name string
		data []byte
	}{
		{"truncated", good[:len(good)-7]},
		{"a pixel flipped", func() []byte { b := bytes.Clone(good); b[len(b)-9] ^= 1; return b }()},
		{"header length huge", func() []byte { b := bytes.Clone(good); b[11] = 0x7f; return b }()},
		{"empty", nil},
		{"garbage", []byte("TQIMGC01\x05\x00\x00\x00{}{}{")},
	} {
		if err := os.WriteFile(first.Cache, tc.data, 0o644); err != nil {
			t.Fatal(err)
		}
		p, err := Open(root, o)
		if err != nil || p.Cached || !same(p) || len(p.Warnings) != 1 || !strings.Contains(p.Warnings[0], "was unusable") {
			t.Fatalf("%s: %v, cached %v, warnings %q", tc.name, err, p.Cached, p.Warnings)
		}
		if p, err = Open(root, o); err != nil || !p.Cached {
			t.Fatalf("%s: not rewritten (%v)", tc.name, err)
		}
	}

	// A changed source file (new content, new modification time) is decoded again.
	img := filepath.Join(root, "train", "ant", "1.png")
	if err := os.WriteFile(img, encPNG(t, greyImg(3, 4, 50)), 0o644); err != nil {
		t.Fatal(err)
	}
	future := time.Now().Add(time.Hour)
	os.Chtimes(img, future, future)
	p, err := Open(root, o)
	if err != nil || p.Cached || !bytes.Equal(p.Train.Image(0), greyImg(3, 4, 50).Pix) {
		t.Fatalf("changed source: %v, cached %v", err, p.Cached)
	}
	// No temporary files are left in the cache directory.
	ents, _ := os.ReadDir(o.CacheDir)
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), ".tmp") {
			t.Fatalf("left behind: %s", e.Name())
		}
	}
}

// TestFolderCacheStaleTemps: the temporary file of a cache write that was
// killed (older than a minute) is removed by the next write of the same
// cache file; a fresh one (another process writing now) and other
// files are left alone.
func TestFolderCacheStaleTemps(t *testing.T) {
	root := writeTree(t, greyTree(t))
	o := Options{CacheDir: t.TempDir()}
	base := filepath.Base(folderCachePath(o.CacheDir, root, o))
	old := time.Now().Add(-time.Hour)
	files := []struct {
		name    string
		mtime   time.Time
		removed bool
	}{
		{".tmp-" + base + "-123", old, true},
		{".tmp-" + base + "-456", time.Now(), false},
		{".tmp-folder-other.tqc-789", old, false},
		{"notes.txt", old, false},
	}
	for _, f := range files {
		p := filepath.Join(o.CacheDir, f.name)
		if err := os.WriteFile(p, []byte("partial"), 0o644); err != nil {
			t.Fatal(err)
		}
		os.Chtimes(p, f.mtime, f.mtime)
	}
	if _, err := Open(root, o); err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		if _, err := os.Stat(filepath.Join(o.CacheDir, f.name)); os.IsNotExist(err) != f.removed {
			t.Errorf("%s: removed %v, want %v", f.name, os.IsNotExist(err), f.removed)
		}
	}
}
