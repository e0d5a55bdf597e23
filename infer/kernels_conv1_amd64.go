//go:build amd64 && !purego

package infer

//go:noescape
func conv1K3VNNI(dst, src, padRow *uint8, oh, ow, h, w, stride, pad, ldd, panels int, wt *int8, bias *int32, rq *int64, masks *uint16, xl, xr, padU int)

// conv1Kernel says whether level lv runs conv1K3VNNI: the VNNI level.
func conv1Kernel(lv *level) bool { return lv == levelVNNI }

// conv1Image writes the oh×ow output pixels of a 3×3 one-channel
// convolution (conv1Layer) of stride st and padding p of one unpadded
// h×w image src to dst, ldd bytes a pixel, in one call (conv1K3VNNI):
// no padded copy (rows outside the image read pad[:w], which it fills
// with pw.padU if border; columns outside are masked off) and no call a
// row. It reports false, having done nothing, for rows of more than 512
// outputs. It panics (Go bounds check) rather than let the kernel touch
// memory outside the slices.
func conv1Image(dst, src, pad []uint8, h, w, oh, ow, st, p, ldd int, pw *packedWeights, border bool) bool {
	if ow > 512 {
		return false
	}
	if oh <= 0 || ow <= 0 {
		return true
	}
	panels := pw.mp / 16
	if st < 1 || p < 0 || ldd < pw.m || (oh-1)*st+3 > h+2*p || (ow-1)*st+3 > w+2*p {
		panic("infer: conv1Image geometry out of bounds")
	}
	// masks[ox]: the bytes of output ox's kernel-row dword inside the row
	// (0xf: all four, read whole); the edge ones lead and trail.
	var masks [512]uint16
	xl, xr := 0, 0
	for ox := 0; ox < ow; ox++ {
		col := ox*st - p
		if col >= 0 && col+3 < w {
			masks[ox] = 0xf
			continue
		}
		for j := range 3 {
			if col+j >= 0 && col+j < w {
				masks[ox] |= 1 << j
			}
		}
		if xl == ox {
			xl++
		} else {
			xr++
		}
	}
	_ = src[h*w-1]
	row := pad[:w]
	if border {
		fillBytes(row, pw.padU)
	}
	_ = dst[(oh*ow-1)*ldd+16*panels-1]
	_ = pw.w[panels*192-1]
	_ = pw.bias[16*panels-1]
	_ = pw.rq[panels*rqLanes-1]
	conv1K3VNNI(&dst[0], &src[0], &row[0], oh, ow, h, w, st, p, ldd, panels, &pw.w[0], &pw.bias[0], &pw.rq[0], &masks[0], xl, xr, int(pw.padU))
	return true
}
