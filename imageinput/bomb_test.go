package imageinput

import (
	"bytes"
	"errors"
	"image"
	"image/color"
	"image/png"
	"math"
	"os"
	"runtime"
	"strings"
	"testing"
)

// TestExtremeAspectRatioBoundedMemory: a 100000×1 grey PNG (a few hundred
// bytes) used to be padded to a 100000² canvas (40 GB). Now the image is
// scaled straight into its place; the whole decode allocates a few MB.
func TestExtremeAspectRatioBoundedMemory(t *testing.T) {
	for _, size := range []image.Point{{100000, 1}, {1, 100000}} {
		img := image.NewGray(image.Rect(0, 0, size.X, size.Y))
		for i := range img.Pix {
			img.Pix[i] = 200
		}
		var buf bytes.Buffer
		if err := png.Encode(&buf, img); err != nil {
			t.Fatal(err)
		}
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		out, err := Decode(&buf, Shape{C: 1, H: 28, W: 28}, Options{Invert: InvertNever, Prep: PrepNone})
		runtime.ReadMemStats(&after)
		if err != nil {
			t.Fatal(err)
		}
		// 64 MiB: far above what a 100000-pixel image and a 28×28 output need
		// (under 2 MB measured), far below the 40 GB of a square canvas.
		if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 64<<20 {
			t.Errorf("%v: decoding allocated %d bytes", size, alloc)
		}
		// A uniform image stays uniform: every output pixel is 200/255.
		for i, v := range out.Pixels {
			if v != float32(200)/255 {
				t.Fatalf("%v: pixel %d is %v, want 200/255", size, i, v)
			}
		}
	}
}

// TestDirectPathMatchesCanvas: above MaxCanvasSide the image is scaled
// without the square canvas; on a dark bar on light paper the result
// agrees with the canvas path within the resampling difference at the
// edges of the bar (tolerance 48 of 255, found by this test: the kernel
// sees the padding on one path and not the other).
func TestDirectPathMatchesCanvas(t *testing.T) {
	w, h := MaxCanvasSide+400, 900
	img := image.NewGray(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			v := uint8(240)
			if y > h/3 && y < 2*h/3 && x > w/4 && x < 3*w/4 {
				v = 20
			}
			img.SetGray(x, y, color.Gray{v})
		}
	}
	s := Shape{C: 1, H: 28, W: 28}
	direct, _ := FromImage(img, s, Options{Invert: InvertNever, Prep: PrepNone})
	// The canvas path on the same geometry, scaled down by 2 first so its
	// side is under MaxCanvasSide.
	half := image.NewGray(image.Rect(0, 0, w/2, h/2))
	for y := 0; y < h/2; y++ {
		for x := 0; x < w/2; x++ {
			half.SetGray(x, y, img.GrayAt(2*x, 2*y))
		}
	}
	canvas, _ := FromImage(half, s, Options{Invert: InvertNever, Prep: PrepNone})
	worst := float32(0)
	for i := range direct.Pixels {
		d := direct.Pixels[i] - canvas.Pixels[i]
		worst = max(worst, d, -d)
	}
	t.Logf("worst difference %.1f/255", worst*255)
	if worst*255 > 48 {
		t.Fatalf("direct and canvas paths differ by %.0f/255", worst*255)
	}
}

// TestLoadRefusesDevices: Load used os.ReadFile, so `predict /dev/zero`
// read without end.
func TestLoadRefusesDevices(t *testing.T) {
	if _, err := os.Stat("/dev/zero"); err != nil {
		t.Skip("no /dev/zero")
	}
	_, err := Load("/dev/zero", Shape{C: 1, H: 28, W: 28}, Options{Invert: InvertAuto, Prep: PrepNone})
	if err == nil || !strings.Contains(err.Error(), "not a regular file (a device)") {
		t.Fatalf("got %v", err)
	}
}

// TestLoadNamesBadFiles: a directory and an empty file are refused with
// what they are, not the decoder's "unknown format".
func TestLoadNamesBadFiles(t *testing.T) {
	dir := t.TempDir()
	empty := dir + "/empty.png"
	if err := os.WriteFile(empty, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]string{dir: "not a regular file (a directory)", empty: "empty file"} {
		if _, err := Load(path, Shape{C: 1, H: 28, W: 28}, Options{Invert: InvertAuto, Prep: PrepNone}); err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), path) {
			t.Errorf("%s: got %v, want an error naming the file and %q", path, err, want)
		}
	}
}

// TestHugeAspectRatioBoundedMemory: a 1×67,108,864 PNG (130 KB) cost 27 s
// and 6.3 GB, because Catmull-Rom's weights and buffers grow with the
// source side when it is resampled directly. The square is now
// area-averaged onto a canvas of at most MaxCanvasSide² while it is built.
// Here 1×2^24 and 2^24×1 grey PNGs (32 KB each on the wire; 2^24 keeps
// the test at a second): the whole decode allocates the 16 MiB image, the
// 16 MiB canvas and small buffers.
func TestHugeAspectRatioBoundedMemory(t *testing.T) {
	const long = 1 << 24
	for _, size := range []image.Point{{1, long}, {long, 1}} {
		img := image.NewGray(image.Rect(0, 0, size.X, size.Y))
		for i := range img.Pix {
			img.Pix[i] = uint8(40 + i%2*160) // stripes, not one colour: the decoder must read them
		}
		var buf bytes.Buffer
		if err := png.Encode(&buf, img); err != nil {
			t.Fatal(err)
		}
		img = nil
		for _, prep := range []Prep{PrepNone, PrepMNIST} {
			runtime.GC()
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			out, err := Decode(bytes.NewReader(buf.Bytes()), Shape{C: 1, H: 28, W: 28}, Options{Invert: InvertNever, Prep: prep})
			runtime.ReadMemStats(&after)
			// Under MNIST preparation the invisible line leaves no ink.
			if err != nil && !(prep == PrepMNIST && errors.Is(err, ErrNoInk)) {
				t.Fatalf("%v prep %d: %v", size, prep, err)
			}
			// Measured: 34 to 84 MiB, the 16 MiB image, the 16 MiB canvas,
			// the PNG decoder's two row buffers (16 MiB each for the wide
			// image) and for MNIST 8 MiB of grey and crop. 96 MiB is far
			// below the gigabytes of the direct resampling.
			alloc := after.TotalAlloc - before.TotalAlloc
			t.Logf("%v prep %d: %d MiB allocated", size, prep, alloc>>20)
			if alloc > 96<<20 {
				t.Errorf("%v prep %d: decoding allocated %d MiB", size, prep, alloc>>20)
			}
			if prep == PrepNone {
				// A line one pixel wide across a 2^24 square is invisible:
				// the output is the border's colour (the mean of 40 and
				// 200 along the line's length is its border mean).
				for i, v := range out.Pixels {
					if math.Abs(float64(v)-120.0/255) > 1.5/255 {
						t.Fatalf("%v: pixel %d is %v, want 120/255", size, i, v*255)
					}
				}
			}
		}
	}
}
