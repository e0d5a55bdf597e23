package f32

import "fmt"

// DWBlock is the granule of the depthwise kernels: DWSum and DWDot work on
// whole blocks of this many consecutive elements (four AVX-512 vectors).
const DWBlock = 64

// DWSum is the inner loop of a direct (depthwise) convolution over a
// plane stored flat: for 0 ≤ q < n,
//
//	dst[q] = init_q + Σ_t w[t]·src[q+off[t]]     (t increasing)
//
// where init_q is dst[q] if acc, else init. A K×K convolution of a
// zero-padded plane with row stride ld has the taps off[i·K+j] = i·ld+j;
// the columns of each output row past the image's width are garbage that
// the caller drops. n must be a multiple of DWBlock, len(off) = len(w),
// every offset ≥ 0 and max(off)+n ≤ len(src); DWSum panics otherwise.
//
// The AVX2 and AVX-512 kernels accumulate each dst[q] in the order above
// with fused multiply-adds; the Go twin (the purego build tag forces it)
// rounds the products separately. The results do not depend on anything
// else (alignment, n).
func DWSum(dst, src []float32, off []int, w []float32, n int, init float32, acc bool) {
	checkDW("DWSum", len(dst), src, off, len(w), n)
	if n == 0 {
		return
	}
	if len(off) == 0 {
		if !acc {
			for q := range dst[:n] {
				dst[q] = init
			}
		}
		return
	}
	dwSum(dst[:n], src, off, w, init, acc)
}

// DWDot is the weight gradient's inner loop: for every tap t,
//
//	out[t] += Σ_{0≤q<n} dy[q]·src[q+off[t]]
//
// with the plane sum formed first (in an order fixed by the kernel: lane
// partial sums of fused multiply-adds, then a fixed reduction tree; the Go
// twin sums four interleaved partial sums) and then added to out[t]. The
// caller zeroes dy's garbage columns so they contribute nothing. The same
// conditions as DWSum's hold, and len(out) = len(off).
func DWDot(out, dy, src []float32, off []int, n int) {
	checkDW("DWDot", len(dy), src, off, len(out), n)
	if n == 0 || len(off) == 0 {
		return
	}
	dwDot(out, dy[:n], src, off)
}

func checkDW(name string, dst int, src []float32, off []int, w, n int) {
	if n < 0 || n%DWBlock != 0 {
		panic(fmt.Sprintf("f32: %s: n = %d is not a multiple of %d", name, n, DWBlock))
	}
	if dst < n {
		panic(fmt.Sprintf("f32: %s: %d elements, n = %d", name, dst, n))
	}
	if w != len(off) {
		panic(fmt.Sprintf("f32: %s: %d weights for %d offsets", name, w, len(off)))
	}
	for _, o := range off {
		if o < 0 || o > len(src)-n {
			panic(fmt.Sprintf("f32: %s: offset %d with n = %d outside the source's %d elements", name, o, n, len(src)))
		}
	}
}

// dwSumGo is DWSum's portable twin, one tap at a time over the block.
func dwSumGo(dst, src []float32, off []int, w []float32, init float32, acc bool) {
	if !acc {
		for q := range dst {
			dst[q] = init
		}
	}
	for t, o := range off {
		wt := w[t]
		s := src[o : o+len(dst)]
		for q := range dst {
			dst[q] += wt * s[q]
		}
	}
}

// dwDotGo is DWDot's portable twin.
func dwDotGo(out, dy, src []float32, off []int) {
	n := len(dy)
	for t, o := range off {
		s := src[o : o+n]
		var s0, s1, s2, s3 float32
		for q := 0; q < n; q += 4 {
			d := dy[q : q+4 : q+4]
			x := s[q : q+4 : q+4]
			s0 += d[0] * x[0]
			s1 += d[1] * x[1]
			s2 += d[2] * x[2]
			s3 += d[3] * x[3]
		}
		out[t] += (s0 + s1) + (s2 + s3)
	}
}

// DWCopy copies a rows×cols block between row-major planes:
// dst[r·ldDst+c] = src[r·ldSrc+c]. It is the depthwise convolution's
// packing step (a plane into its zero-bordered scratch and back), one
// call per plane where copy would be one per row of a few dozen floats.
// It panics if a slice is too short or a row stride is below cols.
func DWCopy(dst []float32, ldDst int, src []float32, ldSrc int, rows, cols int) {
	if rows < 0 || cols < 0 || ldDst < cols || ldSrc < cols {
		panic(fmt.Sprintf("f32: DWCopy: %dx%d block, row strides %d and %d", rows, cols, ldDst, ldSrc))
	}
	if rows == 0 || cols == 0 {
		return
	}
	if len(dst) < (rows-1)*ldDst+cols || len(src) < (rows-1)*ldSrc+cols {
		panic(fmt.Sprintf("f32: DWCopy: %dx%d block with row strides %d and %d, slices of %d and %d", rows, cols, ldDst, ldSrc, len(dst), len(src)))
	}
	dwCopy(dst, ldDst, src, ldSrc, rows, cols)
}

func dwCopyGo(dst []float32, ldDst int, src []float32, ldSrc int, rows, cols int) {
	for r := 0; r < rows; r++ {
		copy(dst[r*ldDst:r*ldDst+cols], src[r*ldSrc:r*ldSrc+cols])
	}
}

// DWSplit2 splits the columns of a rows×cols block by parity, the packing
// step of a stride-2 convolution (each parity becomes a phase plane in
// which a strided window is contiguous):
//
//	even[r·ldDst+t] = src[r·ldSrc+2t]     (2t < cols)
//	odd[r·ldDst+t]  = src[r·ldSrc+2t+1]   (2t+1 < cols)
//
// It panics if a slice is too short or a row stride too small.
func DWSplit2(even, odd []float32, ldDst int, src []float32, ldSrc int, rows, cols int) {
	ne, no := (cols+1)/2, cols/2
	if rows < 0 || cols < 0 || ldDst < ne || ldSrc < cols {
		panic(fmt.Sprintf("f32: DWSplit2: %dx%d block, row strides %d and %d", rows, cols, ldDst, ldSrc))
	}
	if rows == 0 || cols == 0 {
		return
	}
	if len(even) < (rows-1)*ldDst+ne || (no > 0 && len(odd) < (rows-1)*ldDst+no) || len(src) < (rows-1)*ldSrc+cols {
		panic(fmt.Sprintf("f32: DWSplit2: %dx%d block with row strides %d and %d, slices of %d, %d and %d",
			rows, cols, ldDst, ldSrc, len(even), len(odd), len(src)))
	}
	if no == 0 {
		// One column: odd may be empty; only even is written.
		for r := 0; r < rows; r++ {
			even[r*ldDst] = src[r*ldSrc]
		}
		return
	}
	dwSplit2(even, odd, ldDst, src, ldSrc, rows, cols)
}

func dwSplit2Go(even, odd []float32, ldDst int, src []float32, ldSrc int, rows, cols int) {
	for r := 0; r < rows; r++ {
		s := src[r*ldSrc : r*ldSrc+cols]
		e := even[r*ldDst : r*ldDst+(cols+1)/2]
		o := odd[r*ldDst : r*ldDst+cols/2]
		for t := range o {
			e[t], o[t] = s[2*t], s[2*t+1]
		}
		if cols%2 == 1 {
			e[len(e)-1] = s[cols-1]
		}
	}
}

// DWMerge2 is DWSplit2's inverse, the unpacking step of a stride-2 input
// gradient: it interleaves two planes into the columns of a rows×cols block,
//
//	dst[r·ldDst+2t]   = even[r·ldSrc+t]   (2t < cols)
//	dst[r·ldDst+2t+1] = odd[r·ldSrc+t]    (2t+1 < cols)
//
// It panics if a slice is too short or a row stride too small.
func DWMerge2(dst []float32, ldDst int, even, odd []float32, ldSrc int, rows, cols int) {
	ne, no := (cols+1)/2, cols/2
	if rows < 0 || cols < 0 || ldDst < cols || ldSrc < ne {
		panic(fmt.Sprintf("f32: DWMerge2: %dx%d block, row strides %d and %d", rows, cols, ldDst, ldSrc))
	}
	if rows == 0 || cols == 0 {
		return
	}
	if len(dst) < (rows-1)*ldDst+cols || len(even) < (rows-1)*ldSrc+ne || (no > 0 && len(odd) < (rows-1)*ldSrc+no) {
		panic(fmt.Sprintf("f32: DWMerge2: %dx%d block with row strides %d and %d, slices of %d, %d and %d",
			rows, cols, ldDst, ldSrc, len(dst), len(even), len(odd)))
	}
	if no == 0 {
		for r := 0; r < rows; r++ {
			dst[r*ldDst] = even[r*ldSrc]
		}
		return
	}
	dwMerge2(dst, ldDst, even, odd, ldSrc, rows, cols)
}

func dwMerge2Go(dst []float32, ldDst int, even, odd []float32, ldSrc int, rows, cols int) {
	for r := 0; r < rows; r++ {
		d := dst[r*ldDst : r*ldDst+cols]
		e := even[r*ldSrc : r*ldSrc+(cols+1)/2]
		o := odd[r*ldSrc : r*ldSrc+cols/2]
		for t := range o {
			d[2*t], d[2*t+1] = e[t], o[t]
		}
		if cols%2 == 1 {
			d[cols-1] = e[len(e)-1]
		}
	}
}
