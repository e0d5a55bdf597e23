package infer

// A 3×3 stem of one input channel whose pixels the pixel-lane form
// (stemImage) and the paired kernels (pairRows) do not take: stride 2
// (mobilenet-tiny's first layer). No floating point may appear in this
// file (TestKernelsUseNoFloat).

// conv1Off, set by tests, runs such stems through gemmConvPackedQ row by
// row (the twin), to compare the two.
var conv1Off bool

// conv1Layer says whether a convolution with these fused weights (seg:
// kernel rows padded to one 4-byte group) runs on conv1Image at level
// lv: one input channel, 3×3, a multiple of 16 output channels, not in
// pairs, the clamped requantization, and the kernel on the CPU.
func conv1Layer(lv *level, l *Layer, pw *packedWeights, inC int) bool {
	return !conv1Off && conv1Kernel(lv) && l.K == 3 && inC == 1 && l.InC == 1 && pw.kp == 12 && pw.pairs <= 1 &&
		pw.m%16 == 0 && pw.m == pw.mp && pw.rq != nil && len(pw.rq) >= pw.mp/16*rqLanes && pw.rq[12*8+2] != 0
}
