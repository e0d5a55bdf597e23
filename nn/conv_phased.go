package nn

import (
	"runtime"

	"github.com/tinyqat/tinyqat/internal/f32"
	"github.com/tinyqat/tinyqat/internal/par"
)

// phased is the scratch of a strided convolution's input gradient by
// output phases (see gradX): dy padded, the per-phase weights and tap
// offsets, the output.
type phased struct {
	dyp, tmp []float32
	zero     []float32   // stride 2: the output of a phase no tap reaches (never written)
	wT       []float32   // gradXPointwise: Wᵀ (C × Cout)
	offPW    []int       // and its taps' offsets in an image of dy
	wph      [][]float32 // per phase (a, b): C × (Cout·Ta·Ub) weights
	off      [][]int     // and the offsets of its taps in dyp
	cnt      int
	sc       f32.OffsetScratch // GemmOffsets' working space
}

// phaseGeom is the layout of phased for a group of cnt images. Input
// gradient pixel (ih, iw) is padded pixel (IH, IW) = (ih+P, iw+P), in
// phase (a, b) = (IH mod S, IW mod S) at (R, Q) = (IH div S, IW div S);
// the taps that reach it are (i, j) = (a+S·t, b+S·u), t < Ta = ⌈(K−a)/S⌉,
// u < Ub, from dy[R−t][Q−u]:
//
//	dx[ih][iw] = Σ_{o,t,u} W[o][c][a+S·t][b+S·u]·dy[o][R−t][Q−u],
//
// a stride-1 correlation of dy with phase (a, b)'s taps, none of them
// multiplying a zero (as a dilated dy's would). dy is laid out padded by
// T−1 rows on top and T−1 columns on the left (T = ⌈K/S⌉, the most taps
// of a phase), each image's block hq×wq below the previous one, so tap
// (o, t, u) is offset o·plane + (T−1−t)·wq + (T−1−u) from output (R, Q)'s
// column (m·hq + R)·wq + Q.
type phaseGeom struct {
	t, rn, qn, hq, wq, plane, cols int
}

func (g *convGeom) phaseLay(cnt int) phaseGeom {
	var d phaseGeom
	d.t = (g.k + g.s - 1) / g.s
	d.rn, d.qn = (g.p+g.h-1)/g.s+1, (g.p+g.w-1)/g.s+1
	d.hq = max(d.rn, g.oh) + d.t - 1
	d.wq = max(d.qn, g.ow) + d.t - 1
	d.plane = cnt * d.hq * d.wq
	d.cols = ((cnt-1)*d.hq + d.rn) * d.wq
	return d
}

// gradX sets dx by phases (phaseGeom), a group of images at a time: per
// phase one f32.GemmOffsets over the padded dy, then the phase's pixels
// scattered into dx. Every dx element is written once, by its phase, as
// one f32 sum over (o, t, u) in f32's fixed order (zero where no tap
// reaches it): the result does not depend on the core count.
func (ph *phased) gradX(g *convGeom, dx, w, dy []float32) {
	step := min(g.n, groupSize)
	hw := g.hw()
	threads := runtime.GOMAXPROCS(0)
	for n0 := 0; n0 < g.n; n0 += step {
		cnt := min(step, g.n-n0)
		d := g.phaseLay(cnt)
		if ph.cnt != cnt {
			ph.cnt = cnt
			// Zero padding set once; slack for the dropped columns' reads.
			ph.dyp = make([]float32, g.cout*d.plane+(d.t+1)*d.wq+d.t+f32.OffsetSlack)
			ph.wph = make([][]float32, g.s*g.s)
			ph.off = make([][]int, g.s*g.s)
			for a := 0; a < min(g.s, g.k); a++ {
				for b := 0; b < min(g.s, g.k); b++ {
					ta, ub := (g.k-a+g.s-1)/g.s, (g.k-b+g.s-1)/g.s
					ph.wph[a*g.s+b] = make([]float32, g.c*g.cout*ta*ub)
					off := make([]int, g.cout*ta*ub)
					for o := 0; o < g.cout; o++ {
						for t := 0; t < ta; t++ {
							for u := 0; u < ub; u++ {
								off[(o*ta+t)*ub+u] = o*d.plane + (d.t-1-t)*d.wq + (d.t - 1 - u)
							}
						}
					}
					ph.off[a*g.s+b] = off
				}
			}
		}
		par.For(cnt*g.cout, par.Pass(hw, 1), func(i0, i1 int) {
			for i := i0; i < i1; i++ {
				m, o := i/g.cout, i%g.cout
				src := dy[((n0+m)*g.cout+o)*hw:][:hw]
				f32.DWCopy(ph.dyp[o*d.plane+(m*d.hq+d.t-1)*d.wq+d.t-1:], d.wq, src, g.ow, g.oh, g.ow)
			}
		})
		// Every phase's weights, split over (phase, input channel).
		ss, tmax := g.s*g.s, (g.k+g.s-1)/g.s
		par.For(ss*g.c, par.Pass(g.cout*tmax*tmax, 1), func(i0, i1 int) {
			for i := i0; i < i1; i++ {
				ab, c := i/g.c, i%g.c
				wp := ph.wph[ab]
				if wp == nil {
					continue
				}
				a, b := ab/g.s, ab%g.s
				ta, ub := (g.k-a+g.s-1)/g.s, (g.k-b+g.s-1)/g.s
				kk := g.cout * ta * ub
				for o := 0; o < g.cout; o++ {
					for t := 0; t < ta; t++ {
						for u := 0; u < ub; u++ {
							wp[c*kk+(o*ta+t)*ub+u] = w[((o*g.c+c)*g.k+a+g.s*t)*g.k+b+g.s*u]
						}
					}
				}
			}
		})
		// At stride 2 the two column phases of a row phase are kept (one
		// half of tmp each) and interleaved into dx rows at once (merge).
		half := g.c * d.cols
		ph.tmp = grow(ph.tmp, min(g.s, 2)*half)
		for a := 0; a < g.s; a++ {
			for b := 0; b < g.s; b++ {
				wp := ph.wph[a*g.s+b]
				if wp == nil {
					// No tap reaches this phase: its pixels' gradient is 0.
					if g.s != 2 {
						ph.scatter(g, &d, dx, n0, cnt, a, b, nil)
					}
					continue
				}
				ta, ub := (g.k-a+g.s-1)/g.s, (g.k-b+g.s-1)/g.s
				kk := g.cout * ta * ub
				out := ph.tmp[:half]
				if g.s == 2 {
					out = ph.tmp[b*half:][:half]
				}
				ph.sc.GemmOffsets(g.c, d.cols, kk, wp, kk, ph.dyp, ph.off[a*g.s+b], out, d.cols, false, threads)
				if g.s != 2 {
					ph.scatter(g, &d, dx, n0, cnt, a, b, out)
				}
			}
			if g.s == 2 {
				ph.merge(g, &d, dx, n0, cnt, a)
			}
		}
	}
}

// merge writes the rows of dx in row phase a of images [n0, n0+cnt) at
// stride 2, interleaving the column phases' GEMM outputs (tmp's halves;
// zeros for a phase no tap reaches): even columns iw = 2t come from
// phase (P mod 2) at column t + P/2, odd ones from phase ((P+1) mod 2) at
// t + (P+1)/2 (f32.DWMerge2, one call per plane).
func (ph *phased) merge(g *convGeom, d *phaseGeom, dx []float32, n0, cnt, a int) {
	ih0 := ((a-g.p)%2 + 2) % 2 // the first ih with (ih+P) mod 2 = a
	if ih0 >= g.h {
		return
	}
	half := g.c * d.cols
	src := func(b int) []float32 {
		if ph.wph[a*2+b] == nil {
			if len(ph.zero) < half {
				ph.zero = make([]float32, half)
			}
			return ph.zero[:half]
		}
		return ph.tmp[b*half:][:half]
	}
	even, odd := src(g.p%2), src((g.p+1)%2)
	rows, r0 := (g.h-ih0+1)/2, (ih0+g.p)/2
	plane := g.h * g.w
	par.For(cnt*g.c, par.Pass(plane/2+1, 1), func(i0, i1 int) {
		for i := i0; i < i1; i++ {
			m, c := i/g.c, i%g.c
			img := dx[((n0+m)*g.c+c)*plane:][:plane]
			row := c*d.cols + (m*d.hq+r0)*d.wq
			f32.DWMerge2(img[ih0*g.w:], 2*g.w, even[row+g.p/2:], odd[row+(g.p+1)/2:], d.wq, rows, g.w)
		}
	})
}

// scatter writes phase (a, b)'s pixels of images [n0, n0+cnt) of dx from
// src (C × cols, phaseGeom's columns), or zeros if src is nil.
func (ph *phased) scatter(g *convGeom, d *phaseGeom, dx []float32, n0, cnt, a, b int, src []float32) {
	plane := g.h * g.w
	// The first ih with (ih+P) mod S = a, and likewise iw.
	ih0 := ((a-g.p)%g.s + g.s) % g.s
	iw0 := ((b-g.p)%g.s + g.s) % g.s
	par.For(cnt*g.c, par.Pass(plane/(g.s*g.s)+1, 1), func(i0, i1 int) {
		for i := i0; i < i1; i++ {
			m, c := i/g.c, i%g.c
			img := dx[((n0+m)*g.c+c)*plane:][:plane]
			for ih := ih0; ih < g.h; ih += g.s {
				row := img[ih*g.w:][:g.w]
				if src == nil {
					for iw := iw0; iw < g.w; iw += g.s {
						row[iw] = 0
					}
					continue
				}
				sr := src[c*d.cols+(m*d.hq+(ih+g.p)/g.s)*d.wq:]
				q := (iw0 + g.p) / g.s
				for iw := iw0; iw < g.w; iw += g.s {
					row[iw] = sr[q]
					q++
				}
			}
		}
	})
}

// pointwiseS2 reports whether the convolution is 1×1 with stride 2 and no
// padding (a ResNet's projection shortcut), whose input gradient
// gradXPointwise computes.
func (g *convGeom) pointwiseS2() bool { return g.k == 1 && g.s == 2 && g.p == 0 }

// gradXPointwise is gradX's phase (0, 0) for a 1×1 stride-2 convolution
// without padding, the only phase a tap reaches: dx[n][c][2r][2q] =
// Σ_o W[o][c]·dy[n][o][r][q], and 0 at every other pixel. The phases'
// padded copy of dy, their GEMM's output for the whole group and the
// merges with planes of zeros (three quarters of dx) are replaced, image
// by image, by one f32.GemmOffsets reading dy in place (tap o is offset
// o·OH·OW) into a scratch of one image's gradient, interleaved with zeros
// into dx's even rows (f32.DWMerge2), the odd rows cleared. The GEMM is
// gradX's (the same weights, k = Cout and tap order), so the bits are the
// same; images are split over cores, each written once.
func (ph *phased) gradXPointwise(g *convGeom, dx, w, dy []float32) {
	hw, plane := g.hw(), g.h*g.w
	ph.wT = grow(ph.wT, g.c*g.cout)
	for c := 0; c < g.c; c++ {
		for o := 0; o < g.cout; o++ {
			ph.wT[c*g.cout+o] = w[o*g.c+c]
		}
	}
	if len(ph.zero) < hw {
		ph.zero = make([]float32, hw)
	}
	if len(ph.offPW) != g.cout {
		ph.offPW = make([]int, g.cout)
		for o := range ph.offPW {
			ph.offPW[o] = o * hw
		}
	}
	wT, zero, off := ph.wT, ph.zero[:hw], ph.offPW
	img := g.cout * hw // dy per image
	par.For(g.n, g.c*(g.cout*hw+plane), func(m0, m1 int) {
		var sc f32.OffsetScratch
		tmp := make([]float32, g.c*hw)
		var pad []float32
		for m := m0; m < m1; m++ {
			src := dy[m*img:]
			if len(src) < img+f32.OffsetSlack {
				// GemmOffsets reads past the last column: a padded copy.
				if pad == nil {
					pad = make([]float32, img+f32.OffsetSlack)
				}
				copy(pad, src[:img])
				src = pad
			}
			sc.GemmOffsets(g.c, hw, g.cout, wT, g.cout, src, off, tmp, hw, false, 1)
			for c := 0; c < g.c; c++ {
				d := dx[(m*g.c+c)*plane:][:plane]
				f32.DWMerge2(d, 2*g.w, tmp[c*hw:], zero, g.ow, g.oh, g.w)
				for r := 1; r < g.h; r += 2 {
					clear(d[r*g.w : (r+1)*g.w])
				}
			}
		}
	})
}
