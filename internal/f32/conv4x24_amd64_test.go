//go:build amd64 && !purego

package f32

import (
	"math/rand/v2"
	"slices"
	"testing"

	"golang.org/x/sys/cpu"
)

// TestConv4x24EqualsConv6x16: AVX2's 4×24 kernel, which PackA picks for
// 16, 20 and 32 output channels, gives the 6×16 kernel's bits (each
// element the same fused multiply-adds in increasing depth from zero) on
// the ragged shapes, 1 to 11 images, read in place and packed, with the
// row counts around its panels, and PackA picks it exactly where 6-row
// panels would compute at least a ninth more rows.
func TestConv4x24EqualsConv6x16(t *testing.T) {
	if !cpu.X86.HasAVX2 || !cpu.X86.HasFMA {
		t.Skip("no AVX2 and FMA")
	}
	for _, c := range []struct {
		m    int
		want string
	}{{1, "avx2 4x24"}, {4, "avx2 4x24"}, {5, "avx2 6x16"}, {6, "avx2 6x16"}, {10, "avx2 6x16"}, {16, "avx2 4x24"}, {20, "avx2 4x24"},
		{32, "avx2 4x24"}, {50, "avx2 6x16"}, {52, "avx2 6x16"}, {8, "avx2 4x24"}, {64, "avx2 6x16"}, {66, "avx2 6x16"}, {96, "avx2 6x16"}} {
		if got := levelOf(avx2Kernel).forConvRows(c.m).name; got != c.want {
			t.Errorf("forConvRows(%d) = %s, want %s", c.m, got, c.want)
		}
	}
	r := rand.New(rand.NewPCG(41, 9))
	base := levelOf(avx2Kernel)
	narrow := level{kern: avx2Kernel4x24, row: rowAVX2, vec: true}
	tested := 0
	for _, inPlace := range []bool{true, false} {
		b, nw := base, narrow
		b.kern.fastOff, nw.kern.fastOff = inPlace, inPlace
		for gi, g := range convGeoms() {
			m := []int{4, 16, 17, 20, 32, 64}[gi%6]
			n := []int{1, 2, 5, 11}[gi%4]
			ep := epilogues(r, m)[gi%4]
			size, P, k := g.C*g.H*g.W, g.OH*g.OW, g.C*g.K*g.K
			src := randMat(r, n*size)
			w := randMat(r, m*k)
			want := make([]float32, n*m*P)
			got := make([]float32, n*m*P)
			ConvImages(want, m*P, src, size, n, g, packWeights(b, w, m, k, b.kern.mr), &ep)
			ConvImages(got, m*P, src, size, n, g, packWeights(nw, w, m, k, nw.kern.mr), &ep)
			if !slices.Equal(got, want) {
				t.Fatalf("%+v m=%d n=%d in place %v: 4×24 differs from 6×16", g, m, n, inPlace)
			}
			tested++
		}
	}
	t.Logf("%d shapes", tested)
}
