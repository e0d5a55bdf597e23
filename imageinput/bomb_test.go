package imageinput

import (
	"bytes"
	"image"
	"image/color"
	"image/png"
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
		out, err := Decode(&buf, Shape{C: 1, H: 28, W: 28}, InvertNever)
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
	direct := FromImage(img, s, InvertNever)
	// The canvas path on the same geometry, scaled down by 2 first so its
	// side is under MaxCanvasSide.
	half := image.NewGray(image.Rect(0, 0, w/2, h/2))
	for y := 0; y < h/2; y++ {
		for x := 0; x < w/2; x++ {
			half.SetGray(x, y, img.GrayAt(2*x, 2*y))
		}
	}
	canvas := FromImage(half, s, InvertNever)
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
	_, err := Load("/dev/zero", Shape{C: 1, H: 28, W: 28}, InvertAuto)
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
		if _, err := Load(path, Shape{C: 1, H: 28, W: 28}, InvertAuto); err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), path) {
			t.Errorf("%s: got %v, want an error naming the file and %q", path, err, want)
		}
	}
}
