package infer

import "unsafe"

// im2col of the runtime's channels-last bytes. No floating point may
// appear in this file (TestKernelsUseNoFloat).

// im2colU8 is im2colHWC (its reference twin) with fast paths for
// convolutions without padding (the runtime pads images first): kernel
// rows of at least 16 bytes (k·c ≥ 16) are copied by im2colRuns; kernel
// rows of at most 8 bytes (k·c ≤ 8, lenet5's first layer: k = 5, c = 1)
// are each one unaligned 8-byte load and store, in (ky, ox) order along a
// source row, with the bounds checked once per row. The 8 − k·c excess
// bytes of a store land on the next kernel row's bytes (written next) or
// the row's padding, never on another row: a kernel row whose store would
// pass the row's end (ky·k·c + 8 > rowLen) is one 4-byte move if that
// fits, else copied byte by byte. The padding bytes are left as they
// are, as im2colHWC leaves them.
func im2colU8(dst, src []uint8, c, h, w, k, stride, pad, oh, ow, rowLen int, padV uint8) {
	run := k * c
	if pad == 0 && run >= 16 && stride >= 1 && rowLen >= k*run && oh > 0 && ow > 0 &&
		(oh-1)*stride+k <= h && (ow-1)*stride+k <= w && len(src) >= h*w*c && len(dst) >= oh*ow*rowLen {
		im2colRuns(dst, src, c, w, k, stride, oh, ow, rowLen)
		return
	}
	if pad != 0 || run > 8 || stride < 1 || rowLen < k*run || oh <= 0 || ow <= 0 ||
		(oh-1)*stride+k > h || (ow-1)*stride+k > w || len(src) < h*w*c || len(dst) < oh*ow*rowLen {
		im2colHWC(dst, src, c, h, w, k, stride, pad, oh, ow, rowLen, padV)
		return
	}
	// A store writes dst[(oy·ow+ox)·rowLen + ky·run : +wd], inside the row
	// when ky·run + wd ≤ rowLen, so inside dst by the checks above: wd = 8,
	// or 4 for a kernel row of ≤ 4 bytes whose 8-byte store would reach the
	// next row (the last of a 3×3 kernel on one channel: 9 bytes in a
	// 12-byte row); a kernel row that fits neither copies its run bytes. A
	// load reads src[o : o+wd], o = ((oy·s+ky)·w + ox·s)·c: the loads that
	// would end past src (the last few of the image's last rows) copy their
	// run bytes instead.
	sp, dp := unsafe.Pointer(unsafe.SliceData(src)), unsafe.Pointer(unsafe.SliceData(dst))
	for oy := 0; oy < oh; oy++ {
		for ky := 0; ky < k; ky++ {
			row := (oy*stride + ky) * w * c
			wd := 8
			if ky*run+8 > rowLen {
				wd = 4
				if run > 4 || ky*run+4 > rowLen {
					wd = 0
				}
			}
			safe := 0 // the ox whose wd-byte load stays inside src
			if lim := len(src) - wd - row; wd > 0 && lim >= 0 {
				safe = min(ow, lim/(stride*c)+1)
			}
			s := unsafe.Add(sp, row)
			d := unsafe.Add(dp, oy*ow*rowLen+ky*run)
			if wd == 8 {
				for ox := 0; ox < safe; ox++ {
					*(*[8]byte)(unsafe.Add(d, ox*rowLen)) = *(*[8]byte)(unsafe.Add(s, ox*stride*c))
				}
			} else {
				for ox := 0; ox < safe; ox++ {
					*(*[4]byte)(unsafe.Add(d, ox*rowLen)) = *(*[4]byte)(unsafe.Add(s, ox*stride*c))
				}
			}
			for ox := safe; ox < ow; ox++ {
				o, i := row+ox*stride*c, (oy*ow+ox)*rowLen+ky*run
				for j, v := range src[o : o+run] { // a few bytes: no memmove call
					dst[i+j] = v
				}
			}
		}
	}
}

// im2colRuns copies each kernel row (run = k·c ≥ 16 contiguous bytes of
// a channels-last image, inside it: the caller checked the geometry and
// the lengths) as 16-byte moves, the last one overlapping the one before
// when run is not a multiple of 16: no call per run, no per-byte work.
func im2colRuns(dst, src []uint8, c, w, k, stride, oh, ow, rowLen int) {
	run := k * c
	sp, dp := unsafe.Pointer(unsafe.SliceData(src)), unsafe.Pointer(unsafe.SliceData(dst))
	for oy := 0; oy < oh; oy++ {
		for ox := 0; ox < ow; ox++ {
			d := unsafe.Add(dp, (oy*ow+ox)*rowLen)
			for ky := 0; ky < k; ky++ {
				s := unsafe.Add(sp, ((oy*stride+ky)*w+ox*stride)*c)
				dr := unsafe.Add(d, ky*run)
				o := 0
				for ; o+16 <= run; o += 16 {
					*(*[16]byte)(unsafe.Add(dr, o)) = *(*[16]byte)(unsafe.Add(s, o))
				}
				if o < run {
					*(*[16]byte)(unsafe.Add(dr, run-16)) = *(*[16]byte)(unsafe.Add(s, run-16))
				}
			}
		}
	}
}
