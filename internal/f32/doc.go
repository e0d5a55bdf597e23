// Package f32 holds the float32 kernels of the training path: a packed,
// register-blocked SGEMM with AVX2/FMA and AVX-512 micro-kernels chosen at
// run time (golang.org/x/sys/cpu), and a portable Go twin that the purego
// build tag forces.
//
//	C = op(A)·op(B)          (accumulate false)
//	C = C + op(A)·op(B)      (accumulate true)
//
// op(X) is X or Xᵀ. Matrices are row-major with a leading dimension (the
// distance in elements between rows as stored). Packing absorbs the
// transposes: A is copied into MR-row panels and B into NR-column panels
// of KC depth (Goto and van de Geijn, "Anatomy of high-performance matrix
// multiplication", 2008), and the micro-kernel multiplies one MR×NR tile.
// GemmOperands takes operands that pack themselves (Operand), so a caller
// can compute a matrix while packing it — nn's convolution packs im2col
// patches straight from its input.
//
// The inference runtime's fused kernels (gemm_epilogue.go, conv.go,
// pool.go) reuse the packing and micro-kernels on weights packed once:
// Linear and Conv with a bias and ReLU/ReLU6 epilogue, ConvImage (an
// implicit im2col, no patch matrix), ConvImagesProj (a ResNet's 1×1
// projection shortcut folded into the block's last convolution as extra
// depths), Depthwise, MaxPool, GlobalAvgPool and Add; each has a float64
// reference twin in the tests with a stated error bound.
//
// GemmOffsets and DotRows multiply without packing the operand that a
// convolution reads at fixed offsets (B's rows, or both operands' rows, in
// a zero-padded input): nn's direct convolutions, which never form an
// im2col matrix. ZSum, ZSqDev, ZAffine, ZSumDot and ZGrad are the row
// loops of the training-time batch normalization, in 16 lanes.
//
// PeakLoops are the float32 FMA peak loops (independent VFMADD231PS
// chains on registers at the micro-kernel's width; a scalar Go loop in
// the portable build) that infer.MeasureFloatPeak times: the roof of
// bench --layers for a float model.
//
// Adam is the optimizer's elementwise update, vectorised with the same
// operation order as the scalar loop, so its results are bit-identical.
//
// Every element of C is a sum over k in the same order whatever the sizes,
// the micro-kernel or the number of goroutines: k is cut into the same KC
// blocks, each block's products are accumulated in a register starting from
// zero, and the block sums are added to C in increasing k. Work is shared
// between goroutines by output tiles, never by k (GemmOffsets and DotRows
// hand out fixed ranges of tiles to whichever goroutine is free), so a
// result does not depend on the core count. The AVX2, AVX-512 and Go micro-kernels differ
// only in fused versus separate multiply-add rounding.
//
// A Go twin of an assembly kernel that multiplies and adds separately
// (VMULPS then VADDPS) rounds every product explicitly, with mul32(a, b)
// or float32(a*b): the Go spec lets the compiler fuse x*y + z into one
// multiply-add, and it does so on amd64 under GOAMD64=v3, which would
// change the twin's bits; an explicit conversion forbids the fusion, so
// GOAMD64 cannot change the twins' results (CI runs the bit-for-bit tests under
// GOAMD64=v3 too). Twins of fused kernels call fma32 instead.
package f32
