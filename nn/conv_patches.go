package nn

// groupSize is how many images one forward GEMM covers: it bounds the
// scratch memory of large inference batches.
const groupSize = 64

// patches is the im2col matrix of images [n0, n0+cnt) of x as a GEMM
// operand that is never stored: packing computes its elements from x,
// which stays in cache where a stored patch matrix (lenet5's conv2: 8 MB
// at batch 64) would stream through memory twice. With pixelRows, row q
// is output pixel q (image n0+q/(OH·OW)) and column r the patch element
// r = (c·K+i)·K+j; otherwise it is the transpose.
type patches struct {
	g         *convGeom
	x         []float32
	n0        int
	pixelRows bool
}

func (pt patches) Pack(dst []float32, r0, p0, rows, depth, w int) {
	if pt.pixelRows {
		pt.packPixelRuns(dst, r0, p0, rows, depth, w)
	} else {
		pt.packPatchRows(dst, r0, p0, rows, depth, w)
	}
}

// pixelRun is a run of l pixels of one output row of one image, at
// positions [i0, i0+l) of a panel: output row oh, columns [ow0, ow0+l)
// of the image whose (C=0) plane starts at base.
type pixelRun struct{ i0, l, base, oh, ow0 int }

// packPixelRuns is packPixelRows (rows are pixels, depth runs over patch
// elements) a run at a time: for one patch element (c, i, j), the pixels
// of a run read one input row at columns ow·S+j−P, contiguous when S = 1,
// so a run is a copy (zeros where the window leaves the image) with no
// per-pixel index arithmetic. It writes the same values as packPixelRows,
// its reference twin.
func (pt patches) packPixelRuns(dst []float32, r0, p0, rows, depth, w int) {
	g := pt.g
	hw, plane := g.hw(), g.h*g.w
	var buf [32]pixelRun // f32's panels are 6 to 32 wide
	runs := buf[:]
	if w > len(buf) {
		runs = make([]pixelRun, w)
	}
	for ir := 0; ir < rows; ir += w {
		h := min(w, rows-ir)
		d := dst[ir*depth : ir*depth+depth*w]
		nr := 0
		for i := 0; i < h; {
			q := r0 + ir + i
			n, rem := pt.n0+q/hw, q%hw
			oh, ow := rem/g.ow, rem%g.ow
			l := min(g.ow-ow, h-i)
			runs[nr] = pixelRun{i0: i, l: l, base: n * g.c * plane, oh: oh, ow0: ow}
			nr++
			i += l
		}
		c, ki, kj := p0/(g.k*g.k), p0/g.k%g.k, p0%g.k
		for p := 0; p < depth; p++ {
			dp := d[p*w : p*w+w]
			for _, rn := range runs[:nr] {
				seg := dp[rn.i0 : rn.i0+rn.l]
				ih := rn.oh*g.s + ki - g.p
				if ih < 0 || ih >= g.h {
					clear(seg)
					continue
				}
				row := pt.x[rn.base+c*plane+ih*g.w:][:g.w]
				iw0 := rn.ow0*g.s + kj - g.p
				// Pixels t in [lo, hi) of the run read row[iw0 + t·S].
				lo, hi := 0, 0
				if iw0 < 0 {
					lo = (-iw0 + g.s - 1) / g.s
				}
				if g.w > iw0 {
					hi = (g.w - iw0 + g.s - 1) / g.s
				}
				lo, hi = min(lo, rn.l), min(hi, rn.l)
				if hi <= lo {
					clear(seg)
					continue
				}
				clear(seg[:lo])
				clear(seg[hi:])
				if g.s == 1 {
					copy(seg[lo:hi], row[iw0+lo:iw0+hi])
					continue
				}
				src := row[iw0+lo*g.s:]
				for t := range seg[lo:hi] {
					seg[lo+t] = src[t*g.s]
				}
			}
			clear(dp[h:])
			if kj++; kj == g.k {
				if kj, ki = 0, ki+1; ki == g.k {
					ki, c = 0, c+1
				}
			}
		}
	}
}

// pixel returns the offset of image n's (C=0) plane and the top-left
// input coordinates of output pixel q's window.
func (pt patches) pixel(q int) (base, ih0, iw0 int) {
	g := pt.g
	hw := g.hw()
	n := pt.n0 + q/hw
	oh, ow := q%hw/g.ow, q%hw%g.ow
	return n * g.c * g.h * g.w, oh*g.s - g.p, ow*g.s - g.p
}

// inside reports whether all the windows starting at (ih0[i], iw0[i]) lie in the image.
func (pt patches) inside(ih0, iw0 []int) bool {
	g := pt.g
	for i := range ih0 {
		if ih0[i] < 0 || iw0[i] < 0 || ih0[i]+g.k > g.h || iw0[i]+g.k > g.w {
			return false
		}
	}
	return true
}

// packPixelRows: rows are pixels, depth runs over patch elements, one
// pixel at a time (packPixelRuns's reference twin).
func (pt patches) packPixelRows(dst []float32, r0, p0, rows, depth, w int) {
	g := pt.g
	base, ih0, iw0, pix := make([]int, w), make([]int, w), make([]int, w), make([]int, w)
	for ir := 0; ir < rows; ir += w {
		h := min(w, rows-ir)
		d := dst[ir*depth : ir*depth+depth*w]
		for i := 0; i < h; i++ {
			base[i], ih0[i], iw0[i] = pt.pixel(r0 + ir + i)
		}
		c, ki, kj := p0/(g.k*g.k), p0/g.k%g.k, p0%g.k
		if pt.inside(ih0[:h], iw0[:h]) {
			// Every window lies in its image: no bounds tests.
			for i := 0; i < h; i++ {
				pix[i] = base[i] + ih0[i]*g.w + iw0[i]
			}
			for p := 0; p < depth; p++ {
				dp := d[p*w : p*w+w]
				off := c*g.h*g.w + ki*g.w + kj
				for i, o := range pix[:h] {
					dp[i] = pt.x[o+off]
				}
				clear(dp[h:])
				if kj++; kj == g.k {
					if kj, ki = 0, ki+1; ki == g.k {
						ki, c = 0, c+1
					}
				}
			}
			continue
		}
		for p := 0; p < depth; p++ {
			dp := d[p*w : p*w+w]
			off := c * g.h * g.w
			for i := 0; i < h; i++ {
				ih, iw := ih0[i]+ki, iw0[i]+kj
				var v float32
				if uint(ih) < uint(g.h) && uint(iw) < uint(g.w) {
					v = pt.x[base[i]+off+ih*g.w+iw]
				}
				dp[i] = v
			}
			clear(dp[h:])
			if kj++; kj == g.k {
				if kj, ki = 0, ki+1; ki == g.k {
					ki, c = 0, c+1
				}
			}
		}
	}
}

// packPatchRows: rows are patch elements, depth runs over pixels.
func (pt patches) packPatchRows(dst []float32, r0, p0, rows, depth, w int) {
	g := pt.g
	var off, di, dj [32]int
	for ir := 0; ir < rows; ir += w {
		h := min(w, rows-ir)
		d := dst[ir*depth : ir*depth+depth*w]
		for j := 0; j < h; j++ {
			r := r0 + ir + j
			off[j], di[j], dj[j] = r/(g.k*g.k)*g.h*g.w, r/g.k%g.k, r%g.k
		}
		var rel [32]int
		for j := 0; j < h; j++ {
			rel[j] = off[j] + di[j]*g.w + dj[j]
		}
		for p := 0; p < depth; p++ {
			dp := d[p*w : p*w+w]
			base, ih0, iw0 := pt.pixel(p0 + p)
			img := pt.x[base:]
			if ih0 >= 0 && iw0 >= 0 && ih0+g.k <= g.h && iw0+g.k <= g.w {
				// The window lies in the image: no bounds tests.
				src := img[ih0*g.w+iw0:]
				for j, o := range rel[:h] {
					dp[j] = src[o]
				}
				clear(dp[h:])
				continue
			}
			for j := 0; j < h; j++ {
				ih, iw := ih0+di[j], iw0+dj[j]
				var v float32
				if uint(ih) < uint(g.h) && uint(iw) < uint(g.w) {
					v = img[off[j]+ih*g.w+iw]
				}
				dp[j] = v
			}
			clear(dp[h:])
		}
	}
}
