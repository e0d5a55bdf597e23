package infer

// Max-pooling of the runtime's channels-last bytes. No floating point may
// appear in this file (TestKernelsUseNoFloat).

// maxPoolU8 is maxPoolHWC (its reference twin), with the AVX-512BW kernel
// for 2×2 windows of stride 2 on at most 64 channels (lenet5's pools)
// where the CPU has it.
func maxPoolU8(dst, src []uint8, c, h, w, k, stride, oh, ow int) {
	if k == 2 && stride == 2 && oh > 0 && ow > 0 && c > 0 {
		// The assembly does not check bounds: these panic before it runs.
		_ = dst[oh*ow*c-1]
		_ = src[((2*oh-1)*w+2*ow)*c-1]
		if 2*oh <= h && 2*ow <= w && maxPool2Vec(dst, src, c, w, oh, ow) {
			return
		}
	}
	maxPoolHWC(dst, src, c, h, w, k, stride, oh, ow)
}
