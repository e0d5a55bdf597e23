package datasets

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"image"
	"image/jpeg"
	"image/png"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// The fuzz targets of the readers that take files from a user or a
// cache: the image-folder cache (readCache), CIFAR-10's binary release
// and the images of a folder tree (through Open), and Resize (the
// --resize of every layout). Each checks the package's rule: bad input
// never panics; it is an error that names the file; what is accepted is
// consistent (shapes match pixel counts, labels are below the class
// count) and reads back as it was written.

// fuzzClasses and fuzzFingerprint are what FuzzReadCache's reader wants.
var (
	fuzzClasses     = []string{"ant", "cat"}
	fuzzFingerprint = "fuzz-fingerprint"
)

// cacheFile is the cache file writeCache writes for p.
func cacheFile(t testing.TB, fingerprint string, classes []string, p *Pair) []byte {
	path := filepath.Join(t.TempDir(), "c.tqc")
	if err := writeCache(path, fingerprint, classes, p); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// smallSet is n images of c×h×w bytes, pixel j of image i = i+3j, label i%classes.
func smallSet(n, c, h, w, classes int) *Set {
	s := &Set{N: n, C: c, H: h, W: w, Pix: make([]uint8, n*c*h*w), Labels: make([]uint8, n)}
	for i := range n {
		s.Labels[i] = uint8(i % classes)
		for j := range c * h * w {
			s.Pix[i*c*h*w+j] = uint8(i + 3*j)
		}
	}
	return s
}

// withCRC replaces the last 4 bytes of b with the CRC-32C of the bytes
// before them, as writeCache ends a cache file.
func withCRC(b []byte) []byte {
	if len(b) < 4 {
		return b
	}
	b = bytes.Clone(b)
	binary.LittleEndian.PutUint32(b[len(b)-4:], crc32.Checksum(b[:len(b)-4], crcTable))
	return b
}

// checkSet reports a set whose fields disagree with each other.
func checkSet(t *testing.T, what string, s *Set, classes int) {
	t.Helper()
	if s == nil {
		t.Fatalf("%s: nil set and no error", what)
	}
	if s.N < 1 || (s.C != 1 && s.C != 3) || s.H < 1 || s.W < 1 || len(s.Labels) != s.N || len(s.Pix) != s.N*s.C*s.H*s.W {
		t.Fatalf("%s: %d images of %dx%dx%d, %d labels, %d pixel bytes", what, s.N, s.C, s.H, s.W, len(s.Labels), len(s.Pix))
	}
	for i, l := range s.Labels {
		if int(l) >= classes {
			t.Fatalf("%s: label %d of sample %d is not below %d", what, l, i, classes)
		}
	}
}

// FuzzReadCache: a cache file is trusted for nothing. With fixCRC the
// last 4 bytes are replaced by the right checksum, so that the fuzzer
// reaches the header and size checks behind it. An accepted file holds
// consistent sets, which write and read back the same.
func FuzzReadCache(f *testing.F) {
	grey := &Pair{Train: smallSet(3, 1, 2, 3, 2), Test: smallSet(2, 1, 2, 3, 2)}
	rgb := &Pair{Train: smallSet(2, 3, 1, 2, 2), Test: smallSet(1, 3, 1, 2, 2)}
	for _, p := range []*Pair{grey, rgb} {
		good := cacheFile(f, fuzzFingerprint, fuzzClasses, p)
		f.Add(good, false)
		for _, n := range []int{0, 7, 8, 12, 20, len(good) - 5, len(good) - 1} {
			f.Add(good[:n], false)
			f.Add(good[:n], true)
		}
		// A label of 2 (there are two classes) under a valid checksum.
		bad := bytes.Clone(good)
		bad[len(bad)-4-len(p.Test.Pix)-len(p.Test.Labels)] = 2
		f.Add(bad, true)
	}
	// Another fingerprint, other classes: stale, not damaged.
	f.Add(cacheFile(f, "other", fuzzClasses, grey), false)
	f.Add(cacheFile(f, fuzzFingerprint, []string{"ant", "bee"}, grey), false)
	f.Add([]byte("TQIMGC01\x05\x00\x00\x00{}{}{"), true)
	f.Fuzz(func(t *testing.T, data []byte, fixCRC bool) {
		if fixCRC {
			data = withCRC(data)
		}
		dir := t.TempDir()
		path := filepath.Join(dir, "c.tqc")
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		p, err := readCache(path, fuzzFingerprint, fuzzClasses)
		if err != nil {
			if p != nil || err.Error() == "" {
				t.Fatalf("error %q with a result %v", err, p)
			}
			return
		}
		checkSet(t, "train", p.Train, len(fuzzClasses))
		checkSet(t, "test", p.Test, len(fuzzClasses))
		if p.Train.C != p.Test.C || p.Train.H != p.Test.H || p.Train.W != p.Test.W {
			t.Fatalf("train %dx%dx%d, test %dx%dx%d", p.Train.C, p.Train.H, p.Train.W, p.Test.C, p.Test.H, p.Test.W)
		}
		// Round trip: written again, it reads back the same.
		again := filepath.Join(dir, "again.tqc")
		if err := writeCache(again, fuzzFingerprint, fuzzClasses, p); err != nil {
			t.Fatal(err)
		}
		q, err := readCache(again, fuzzFingerprint, fuzzClasses)
		if err != nil {
			t.Fatalf("a written cache does not read back: %v", err)
		}
		for k, s := range []*Set{p.Train, p.Test} {
			r := []*Set{q.Train, q.Test}[k]
			if r.N != s.N || r.C != s.C || r.H != s.H || r.W != s.W || !bytes.Equal(r.Pix, s.Pix) || !bytes.Equal(r.Labels, s.Labels) {
				t.Fatalf("set %d changed in a write and read", k)
			}
		}
	})
}

// FuzzOpenCIFAR10: a cifar-10-batches-bin of a fuzzed class list, first
// training batch and test batch (the other training batches hold one
// valid record each), with a fuzzed --resize (0: none). An error names
// the directory or a file in it; accepted data holds exactly the
// records of the files, each label below the class count.
func FuzzOpenCIFAR10(f *testing.F) {
	f.Add([]byte(cifarNames), cifarRecords(2, 0), cifarRecords(1, 5), uint8(0), uint8(0))
	f.Add([]byte("cat\ndog\n"), cifarRecords(1, 0), cifarRecords(1, 1), uint8(16), uint8(8))
	f.Add([]byte("cat\ndog\n"), cifarRecords(1, 9), cifarRecords(1, 1), uint8(0), uint8(0)) // label 9 of 2
	f.Add([]byte(cifarNames), cifarRecords(2, 0)[:cifarRecord+9], cifarRecords(1, 5), uint8(0), uint8(0))
	f.Add([]byte(cifarNames), []byte{}, cifarRecords(1, 5), uint8(0), uint8(0))
	f.Add([]byte("cat\n\n cat \n"), cifarRecords(1, 0), cifarRecords(1, 5), uint8(0), uint8(0))
	f.Add([]byte("a\tb\nc\n"), cifarRecords(1, 0), cifarRecords(1, 5), uint8(0), uint8(0))
	f.Add([]byte(""), cifarRecords(1, 0), cifarRecords(1, 5), uint8(3), uint8(0))
	f.Fuzz(func(t *testing.T, meta, train, test []byte, rh, rw uint8) {
		root := t.TempDir()
		dir := filepath.Join(root, cifarDir)
		files := map[string][]byte{cifarMeta: meta, cifarTrain[0]: train, cifarTest: test}
		for i, name := range cifarTrain[1:] {
			files[name] = cifarRecords(1, i)
		}
		if err := os.Mkdir(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		for name, b := range files {
			if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		o := Options{NoCache: true, ResizeH: int(rh % 41), ResizeW: int(rw % 41)}
		if o.ResizeH == 0 || o.ResizeW == 0 {
			o.ResizeH, o.ResizeW = 0, 0
		}
		p, err := Open(root, o)
		if err != nil {
			if p != nil || !strings.Contains(err.Error(), root) {
				t.Fatalf("error %q does not name the data (%s), or comes with a result", err, root)
			}
			return
		}
		if o.ResizeH == 0 {
			o.ResizeH, o.ResizeW = cifarSide, cifarSide
		}
		if p.Layout != LayoutCIFAR10 || p.Train.Classes != len(p.Train.ClassNames) || p.Test.Classes != p.Train.Classes {
			t.Fatalf("layout %q, %d classes, %d names", p.Layout, p.Train.Classes, len(p.Train.ClassNames))
		}
		for i, n := range p.Train.ClassNames {
			if checkClassName(n) != nil || slices.Index(p.Train.ClassNames, n) != i {
				t.Fatalf("class name %q accepted", n)
			}
		}
		for k, s := range []*Set{p.Train, p.Test} {
			checkSet(t, s.Name, s, s.Classes)
			if s.C != 3 || s.H != o.ResizeH || s.W != o.ResizeW {
				t.Fatalf("%s: %dx%dx%d, want 3x%dx%d", s.Name, s.C, s.H, s.W, o.ResizeH, o.ResizeW)
			}
			var recs []byte
			if k == 0 {
				recs = slices.Concat(train, files[cifarTrain[1]], files[cifarTrain[2]], files[cifarTrain[3]], files[cifarTrain[4]])
			} else {
				recs = test
			}
			if s.N != len(recs)/cifarRecord {
				t.Fatalf("%s: %d images from %d bytes of records", s.Name, s.N, len(recs))
			}
			if s.H != cifarSide || s.W != cifarSide {
				continue
			}
			// The same records, in some order (Open interleaves sorted labels).
			var want, got []string
			for i := range s.N {
				want = append(want, string(recs[i*cifarRecord:(i+1)*cifarRecord]))
				got = append(got, string(append([]byte{s.Labels[i]}, s.Image(i)...)))
			}
			slices.Sort(want)
			slices.Sort(got)
			if !slices.Equal(want, got) {
				t.Fatalf("%s: the records read are not the records of the files", s.Name)
			}
		}
	})
}

// maxFuzzPixels bounds the images FuzzOpenFolderImage decodes: a
// header declaring more (up to MaxImagePixels, 2^24) is legitimate but
// costs the fuzzer a large allocation per run; TestOpenFolderErrors
// checks the limit itself.
const maxFuzzPixels = 1 << 16

// FuzzOpenFolderImage: an image-folder tree whose train/cat/x.png is
// fuzzed bytes, beside valid 3×4 grey PNGs, loaded with a fuzzed resize
// (0: none) through the cache. An error names the fuzzed file; accepted
// data is consistent, the valid images are read as they are, and a
// second load reads the same data from the cache.
func FuzzOpenFolderImage(f *testing.F) {
	png34 := encPNG(f, greyImg(3, 4, 100))
	jpg34 := encJPEG(f, rgbImg(3, 4, 10))
	for _, b := range [][]byte{png34, jpg34, encPNG(f, rgbImg(3, 4, 50)), encPNG(f, greyImg(6, 5, 0)), encJPEG(f, greyImg(8, 8, 40)), pngHeader(4, 3)} {
		f.Add(b, uint8(0), uint8(0))
		f.Add(b, uint8(2), uint8(7))
		f.Add(b[:len(b)/2], uint8(0), uint8(0))
	}
	f.Add(png34[:8], uint8(0), uint8(0))
	f.Add([]byte("\xff\xd8"), uint8(0), uint8(0))
	f.Add([]byte("GIF89a"), uint8(0), uint8(0))
	valid := greyTree(f)
	f.Fuzz(func(t *testing.T, img []byte, rh, rw uint8) {
		if n, ok := declaredPixels(img); ok && n > maxFuzzPixels {
			t.Skip("declares a large image")
		}
		files := map[string][]byte{"train/cat/x.png": img}
		for k, v := range valid {
			files[k] = v
		}
		root := writeTree(t, files)
		fuzzed := filepath.Join(root, "train", "cat", "x.png")
		o := Options{CacheDir: t.TempDir(), ResizeH: int(rh % 9), ResizeW: int(rw % 9)}
		if o.ResizeH == 0 || o.ResizeW == 0 {
			o.ResizeH, o.ResizeW = 0, 0
		}
		p, err := Open(root, o)
		if err != nil {
			var fe *FormatError
			if p != nil || !errors.As(err, &fe) || fe.File != fuzzed || !strings.Contains(err.Error(), fuzzed) {
				t.Fatalf("error %q (%T) does not name %s, or comes with a result", err, err, fuzzed)
			}
			return
		}
		h, w := 3, 4
		if o.ResizeH > 0 {
			h, w = o.ResizeH, o.ResizeW
		}
		for _, s := range []*Set{p.Train, p.Test} {
			checkSet(t, s.Name, s, 2)
			if s.H != h || s.W != w || s.Classes != 2 {
				t.Fatalf("%s: %dx%dx%d, %d classes; want %dx%d, 2", s.Name, s.C, s.H, s.W, s.Classes, h, w)
			}
		}
		if p.Train.N != 4 || p.Test.N != 2 || !slices.Equal(p.Train.Labels, []uint8{0, 1, 1, 1}) {
			t.Fatalf("%d+%d images, labels %v", p.Train.N, p.Test.N, p.Train.Labels)
		}
		// train/ant/1.png, the first image, is read as it is, whatever x.png holds.
		want := make([]uint8, h*w)
		Resize(want, greyImg(3, 4, 0).Pix, 1, 3, 4, h, w)
		if p.Train.C == 3 {
			want = slices.Concat(want, want, want)
		}
		if !bytes.Equal(p.Train.Image(0), want) {
			t.Fatalf("train/ant/1.png read as %v, want %v", p.Train.Image(0), want)
		}
		// The cache written by the first load gives the same data.
		q, err := Open(root, o)
		if err != nil || !q.Cached || !bytes.Equal(q.Train.Pix, p.Train.Pix) || !bytes.Equal(q.Test.Pix, p.Test.Pix) ||
			!bytes.Equal(q.Train.Labels, p.Train.Labels) || q.Train.C != p.Train.C {
			t.Fatalf("second load: %v, cached %v, or other data", err, q != nil && q.Cached)
		}
	})
}

// declaredPixels is the pixel count a PNG or JPEG header declares.
func declaredPixels(b []byte) (int64, bool) {
	var cfg image.Config
	var err error
	switch {
	case bytes.HasPrefix(b, []byte("\x89PNG\r\n\x1a\n")):
		cfg, err = png.DecodeConfig(bytes.NewReader(b))
	case bytes.HasPrefix(b, []byte{0xff, 0xd8}):
		cfg, err = jpeg.DecodeConfig(bytes.NewReader(b))
	default:
		return 0, false
	}
	if err != nil {
		return 0, false
	}
	return int64(cfg.Width) * int64(cfg.Height), true
}

// FuzzResize: every output pixel is a weighted mean of input pixels of
// its plane, so it lies between the plane's least and greatest value; a
// same-size resize is a copy; a constant plane stays constant.
func FuzzResize(f *testing.F) {
	f.Add([]byte{0, 90, 180}, uint8(1), uint8(1), uint8(3), uint8(1), uint8(2))
	f.Add([]byte{1, 2, 3, 4, 5, 6, 7, 8, 10, 20, 30, 40, 50, 60, 70, 80}, uint8(1), uint8(4), uint8(4), uint8(2), uint8(2))
	f.Add([]byte{0, 100}, uint8(1), uint8(1), uint8(2), uint8(1), uint8(4))
	f.Add([]byte{255, 0, 255, 7, 8, 9}, uint8(3), uint8(1), uint8(2), uint8(40), uint8(1))
	f.Fuzz(func(t *testing.T, src []byte, c, h, w, oh, ow uint8) {
		C := 1 + 2*int(c%2)
		H, W, OH, OW := 1+int(h%48), 1+int(w%48), 1+int(oh%48), 1+int(ow%48)
		in := make([]uint8, C*H*W)
		for i := range in {
			if len(src) > 0 {
				in[i] = src[i%len(src)]
			}
		}
		out := make([]uint8, C*OH*OW)
		Resize(out, in, C, H, W, OH, OW)
		if H == OH && W == OW && !bytes.Equal(in, out) {
			t.Fatalf("same-size resize is not a copy")
		}
		for ch := range C {
			plane := in[ch*H*W : (ch+1)*H*W]
			lo, hi := slices.Min(plane), slices.Max(plane)
			for i, v := range out[ch*OH*OW : (ch+1)*OH*OW] {
				if v < lo || v > hi {
					t.Fatalf("%dx%d→%dx%d: plane %d pixel %d is %d, outside the input's [%d, %d]", H, W, OH, OW, ch, i, v, lo, hi)
				}
			}
		}
	})
}
