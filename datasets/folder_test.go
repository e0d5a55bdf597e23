package datasets

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// greyImg is an h×w grey image whose pixel (x, y) is base + 10·y + x.
func greyImg(h, w int, base uint8) *image.Gray {
	m := image.NewGray(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			m.SetGray(x, y, color.Gray{base + uint8(10*y+x)})
		}
	}
	return m
}

// rgbImg is an h×w opaque colour image: red base+x, green base+y, blue 200.
func rgbImg(h, w int, base uint8) *image.NRGBA {
	m := image.NewNRGBA(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			m.SetNRGBA(x, y, color.NRGBA{base + uint8(x), base + uint8(y), 200, 255})
		}
	}
	return m
}

func encPNG(t testing.TB, m image.Image) []byte {
	var b bytes.Buffer
	if err := png.Encode(&b, m); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func encJPEG(t testing.TB, m image.Image) []byte {
	var b bytes.Buffer
	if err := jpeg.Encode(&b, m, &jpeg.Options{Quality: 95}); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// writeTree writes files (path relative to the returned root → content).
func writeTree(t *testing.T, files map[string][]byte) string {
	root := t.TempDir()
	for name, data := range files {
		p := filepath.Join(root, filepath.FromSlash(name))
		if data == nil { // a directory only
			if err := os.MkdirAll(p, 0o755); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

// greyTree: classes "cat" and "ant" (sorted: ant = 0, cat = 1), 3×4 grey PNGs.
func greyTree(t testing.TB) map[string][]byte {
	return map[string][]byte{
		"train/cat/1.png": encPNG(t, greyImg(3, 4, 100)),
		"train/cat/2.PNG": encPNG(t, greyImg(3, 4, 110)),
		"train/ant/1.png": encPNG(t, greyImg(3, 4, 0)),
		"test/cat/x.png":  encPNG(t, greyImg(3, 4, 120)),
		"test/ant/y.png":  encPNG(t, greyImg(3, 4, 5)),
	}
}

func noCache() Options { return Options{NoCache: true} }

func TestOpenFolderGrey(t *testing.T) {
	files := greyTree(t)
	files["train/ant/notes.txt"] = []byte("not an image")
	files["train/.DS_Store"] = []byte{0}
	p, err := Open(writeTree(t, files), noCache())
	if err != nil {
		t.Fatal(err)
	}
	tr := p.Train
	if p.Layout != LayoutFolder || tr.C != 1 || tr.H != 3 || tr.W != 4 || tr.N != 3 || p.Test.N != 2 || tr.Classes != 2 {
		t.Fatalf("got layout %q, train %dx%dx%dx%d, test %d, %d classes", p.Layout, tr.N, tr.C, tr.H, tr.W, p.Test.N, tr.Classes)
	}
	if !slices.Equal(tr.ClassNames, []string{"ant", "cat"}) || tr.ClassName(1) != "cat" {
		t.Fatalf("class names %v", tr.ClassNames)
	}
	// Interleaved by class (ant/1, cat/1, cat/2), by file name within a class.
	if !slices.Equal(tr.Labels, []uint8{0, 1, 1}) || !bytes.Equal(tr.Image(1), greyImg(3, 4, 100).Pix) || !bytes.Equal(tr.Image(2), greyImg(3, 4, 110).Pix) {
		t.Fatalf("labels %v, images %v", tr.Labels, tr.Pix)
	}
	if p.Skipped != 2 || len(p.Warnings) != 1 || !strings.Contains(p.Warnings[0], "skipped 2 files") {
		t.Fatalf("skipped %d, warnings %q", p.Skipped, p.Warnings)
	}
}

// One colour image makes the set RGB; grey images fill all three planes.
func TestOpenFolderColour(t *testing.T) {
	files := greyTree(t)
	files["test/ant/z.png"] = encPNG(t, rgbImg(3, 4, 30))
	p, err := Open(writeTree(t, files), noCache())
	if err != nil {
		t.Fatal(err)
	}
	if p.Train.C != 3 || p.Test.C != 3 {
		t.Fatalf("C = %d, %d, want 3", p.Train.C, p.Test.C)
	}
	g := greyImg(3, 4, 0).Pix
	if want := slices.Concat(g, g, g); !bytes.Equal(p.Train.Image(0), want) {
		t.Fatalf("grey image in an RGB set: %v, want %v", p.Train.Image(0), want)
	}
	// test/ant/y.png, test/cat/x.png, then test/ant/z.png (interleaved by
	// class): red 30+x, green 30+y, blue 200, as planes.
	var want []uint8
	for ch := range 3 {
		for y := range 3 {
			for x := range 4 {
				want = append(want, []uint8{uint8(30 + x), uint8(30 + y), 200}[ch])
			}
		}
	}
	if !bytes.Equal(p.Test.Image(2), want) {
		t.Fatalf("RGB image: %v, want %v", p.Test.Image(2), want)
	}
}

// JPEG: lossy, so within a tolerance; a grey JPEG keeps the set grey.
func TestOpenFolderJPEG(t *testing.T) {
	for _, tc := range []struct {
		name string
		img  image.Image
		c    int
	}{{"grey", greyImg(8, 8, 40), 1}, {"colour", rgbImg(8, 8, 40), 3}} {
		files := map[string][]byte{}
		for _, p := range []string{"train/a/1.jpg", "train/b/1.jpeg", "test/a/1.JPG", "test/b/1.jpg"} {
			files[p] = encJPEG(t, tc.img)
		}
		p, err := Open(writeTree(t, files), noCache())
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if p.Train.C != tc.c || p.Train.H != 8 || p.Train.W != 8 {
			t.Fatalf("%s: %dx%dx%d", tc.name, p.Train.C, p.Train.H, p.Train.W)
		}
		want := make([]uint8, tc.c*64)
		toCHW(want, tc.img, tc.c)
		for i, v := range p.Train.Image(0) {
			if d := int(v) - int(want[i]); d < -8 || d > 8 {
				t.Fatalf("%s: pixel %d is %d, want about %d", tc.name, i, v, want[i])
			}
		}
	}
}

// With a resize, images of different sizes load, each scaled as Resize does.
func TestOpenFolderResize(t *testing.T) {
	files := greyTree(t)
	files["train/ant/big.png"] = encPNG(t, greyImg(6, 8, 0))
	if _, err := Open(writeTree(t, files), noCache()); err == nil || !strings.Contains(err.Error(), "big.png: image is 6x8 (height x width, as --resize HxW), but") {
		t.Fatalf("mixed sizes without a resize: got %v", err)
	}
	p, err := Open(writeTree(t, files), Options{NoCache: true, ResizeH: 3, ResizeW: 4})
	if err != nil {
		t.Fatal(err)
	}
	want := make([]uint8, 12)
	Resize(want, greyImg(6, 8, 0).Pix, 1, 6, 8, 3, 4)
	// ant/1, cat/1, ant/big, cat/2: interleaved by class.
	if !bytes.Equal(p.Train.Image(2), want) || !bytes.Equal(p.Train.Image(0), greyImg(3, 4, 0).Pix) {
		t.Fatalf("resized %v, want %v", p.Train.Image(2), want)
	}
}

// pngHeader is a PNG signature and IHDR chunk declaring w×h grey pixels, and nothing else.
func pngHeader(w, h uint32) []byte {
	ihdr := binary.BigEndian.AppendUint32([]byte("IHDR"), w)
	ihdr = binary.BigEndian.AppendUint32(ihdr, h)
	ihdr = append(ihdr, 8, 0, 0, 0, 0) // 8-bit grey
	b := append([]byte("\x89PNG\r\n\x1a\n"), 0, 0, 0, 13)
	b = append(b, ihdr...)
	return binary.BigEndian.AppendUint32(b, crc32.ChecksumIEEE(ihdr))
}

// TestOpenFolderErrors: each bad tree gives an error naming the file or folder.
func TestOpenFolderErrors(t *testing.T) {
	good := encPNG(t, greyImg(3, 4, 0))
	tests := []struct {
		name   string
		change func(files map[string][]byte)
		link   [2]string // a symlink to make: path → target
		want   string
	}{
		{"undecodable", func(f map[string][]byte) { f["train/cat/bad.png"] = []byte("hello, not an image") }, [2]string{}, "train/cat/bad.png: not a PNG or JPEG file"},
		{"truncated", func(f map[string][]byte) { f["train/cat/half.png"] = good[:len(good)-20] }, [2]string{}, "train/cat/half.png: undecodable png"},
		{"other size", func(f map[string][]byte) { f["test/cat/z.png"] = encPNG(t, greyImg(4, 3, 0)) }, [2]string{}, "test/cat/z.png: image is 4x3 (height x width, as --resize HxW), but "},
		{"empty class", func(f map[string][]byte) { f["train/dog/"] = nil; f["test/dog/a.png"] = good }, [2]string{}, "train/dog: class folder holds no images"},
		{"class missing from test", func(f map[string][]byte) { f["train/dog/a.png"] = good }, [2]string{}, `test/dog: class "dog" is in train but missing from test`},
		{"class missing from train", func(f map[string][]byte) { f["test/dog/a.png"] = good }, [2]string{}, `train/dog: class "dog" is in test but missing from train`},
		// 2^20 × 2^20 declared in a 33-byte file: refused from the header.
		{"huge dimensions", func(f map[string][]byte) { f["train/cat/huge.png"] = pngHeader(1<<20, 1<<20) }, [2]string{}, "train/cat/huge.png: declares 1048576x1048576 pixels"},
		{"1 x 2^26", func(f map[string][]byte) { f["train/cat/long.png"] = pngHeader(1<<26, 1) }, [2]string{}, "declares 67108864x1 pixels (width x height): outside"},
		{"symlink loop", nil, [2]string{"train/cat/loop", ".."}, "train/cat/loop: directory loop"},
		{"symlink to the root", nil, [2]string{"train/cat/sub/up", "../../.."}, "train/cat/sub/up: directory loop"},
		{"dangling symlink", nil, [2]string{"train/cat/gone.png", "nowhere.png"}, "train/cat/gone.png: broken symbolic link (to nowhere.png)"},
		{"dangling class symlink", nil, [2]string{"test/dog", "../nowhere"}, "test/dog: broken symbolic link (to ../nowhere)"},
		{"control character in a class name", func(f map[string][]byte) { f["train/new\nline/a.png"] = good; f["test/new\nline/a.png"] = good }, [2]string{},
			`/train: class folder "new\nline": control character U+000A in its name`},
		{"invalid UTF-8 in a class name", func(f map[string][]byte) { f["train/caf\xe9/a.png"] = good; f["test/caf\xe9/a.png"] = good }, [2]string{},
			`/train: class folder "caf\xe9": not valid UTF-8 in its name`},
		{"empty image file", func(f map[string][]byte) { f["test/ant/empty.png"] = []byte{} }, [2]string{}, "test/ant/empty.png: empty file (0 bytes)"},
		{"no train folder", func(f map[string][]byte) {
			for k := range f {
				if strings.HasPrefix(k, "train/") {
					delete(f, k)
				}
			}
		}, [2]string{}, "missing"},
	}
	for _, tc := range tests {
		files := greyTree(t)
		if tc.change != nil {
			tc.change(files)
		}
		root := writeTree(t, files)
		if tc.link[0] != "" {
			p := filepath.Join(root, tc.link[0])
			os.MkdirAll(filepath.Dir(p), 0o755)
			if err := os.Symlink(tc.link[1], p); err != nil {
				t.Skipf("no symlinks here: %v", err)
			}
		}
		_, err := Open(root, noCache())
		if err == nil || !strings.Contains(filepath.ToSlash(err.Error()), tc.want) {
			t.Errorf("%s: got %v, want an error containing %q", tc.name, err, tc.want)
		}
	}
}

// A directory that matches no layout lists the accepted ones; a missing one keeps fs.ErrNotExist.
func TestOpenLayouts(t *testing.T) {
	_, err := Open(t.TempDir(), noCache())
	var le *LayoutError
	if !errors.As(err, &le) || !strings.Contains(err.Error(), "image folders: DIR/train/CLASS") || !strings.Contains(err.Error(), "CIFAR-10 binary") {
		t.Fatalf("empty directory: got %v", err)
	}
	if _, err := Open(filepath.Join(t.TempDir(), "nope"), noCache()); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("missing directory: got %v, want fs.ErrNotExist", err)
	}
	p, err := Open(writeDir(t, nil), noCache())
	if err != nil || p.Layout != LayoutIDX || p.Train.C != 1 {
		t.Fatalf("IDX: %v", err)
	}
}
