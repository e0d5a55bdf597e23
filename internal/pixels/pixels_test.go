package pixels

import (
	"image"
	"image/color"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// resizeWhole is Resize as datasets first wrote it: the whole plane
// scaled along its rows (c·h·ow float64) before the columns. Resize must
// give its bytes exactly: models were trained on them.
func resizeWhole(dst, src []uint8, c, h, w, oh, ow int) {
	if h == oh && w == ow {
		copy(dst, src)
		return
	}
	tmp := make([]float64, c*h*ow)
	var wbuf []float64
	for ch := 0; ch < c; ch++ {
		for y := 0; y < h; y++ {
			row := src[(ch*h+y)*w : (ch*h+y+1)*w]
			out := tmp[(ch*h+y)*ow : (ch*h+y+1)*ow]
			for j := range out {
				var k0 int
				k0, wbuf = taps(j, w, ow, wbuf[:0])
				var s float64
				for t, wt := range wbuf {
					s += wt * float64(row[k0+t])
				}
				out[j] = s
			}
		}
	}
	for ch := 0; ch < c; ch++ {
		plane := tmp[ch*h*ow : (ch+1)*h*ow]
		for i := 0; i < oh; i++ {
			var k0 int
			k0, wbuf = taps(i, h, oh, wbuf[:0])
			out := dst[(ch*oh+i)*ow : (ch*oh+i+1)*ow]
			for j := range out {
				var s float64
				for t, wt := range wbuf {
					s += wt * plane[(k0+t)*ow+j]
				}
				out[j] = uint8(min(255, max(0, math.Floor(s+0.5))))
			}
		}
	}
}

// TestResizeStreamed: the streamed Resize equals the whole-plane one bit
// for bit, shrinking, enlarging and mixed, on ragged sizes.
func TestResizeStreamed(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	sizes := []int{1, 2, 3, 7, 15, 16, 17, 31, 63, 64, 65}
	for n := range 400 {
		c := []int{1, 3}[n%2]
		h, w := sizes[rng.IntN(len(sizes))], sizes[rng.IntN(len(sizes))]
		oh, ow := sizes[rng.IntN(len(sizes))], sizes[rng.IntN(len(sizes))]
		src := make([]uint8, c*h*w)
		for i := range src {
			src[i] = uint8(rng.IntN(256))
		}
		got, want := make([]uint8, c*oh*ow), make([]uint8, c*oh*ow)
		Resize(got, src, c, h, w, oh, ow)
		resizeWhole(want, src, c, h, w, oh, ow)
		if !slices.Equal(got, want) {
			t.Fatalf("%dx%dx%d→%dx%d: streamed %v, whole %v", c, h, w, oh, ow, got, want)
		}
	}
}

// TestResizeTall: a 1×2^22 column shrinks to 4×4 with a few kilobytes
// besides its input, not the 128 MiB a whole scaled plane takes.
func TestResizeTall(t *testing.T) {
	const h = 1 << 22
	src := make([]uint8, h)
	for i := range src {
		src[i] = uint8(i >> 20 * 60) // four bands: 0, 60, 120, 180
	}
	dst := make([]uint8, 16)
	allocs := testing.AllocsPerRun(1, func() { Resize(dst, src, 1, h, 1, 4, 4) })
	want := []uint8{0, 0, 0, 0, 60, 60, 60, 60, 120, 120, 120, 120, 180, 180, 180, 180}
	if !slices.Equal(dst, want) || allocs > 100 {
		t.Errorf("got %v (%v allocations), want %v", dst, allocs, want)
	}
}

// TestToCHWAlpha: transparency is composited over black, in colour and
// grey, whatever the image type.
func TestToCHWAlpha(t *testing.T) {
	nrgba := image.NewNRGBA(image.Rect(0, 0, 2, 1))
	nrgba.SetNRGBA(0, 0, color.NRGBA{200, 100, 50, 0})   // transparent: black
	nrgba.SetNRGBA(1, 0, color.NRGBA{200, 100, 50, 128}) // half: about half
	for _, tc := range []struct {
		c    int
		want []uint8
	}{
		{3, []uint8{0, 100, 0, 50, 0, 25}},
		{1, []uint8{0, 62}},
	} {
		got := make([]uint8, tc.c*2)
		ToCHW(got, nrgba, tc.c)
		if !slices.Equal(got, tc.want) {
			t.Errorf("c=%d: got %v, want %v", tc.c, got, tc.want)
		}
	}
}
