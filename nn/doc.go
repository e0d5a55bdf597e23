// Package nn builds float32 neural networks as Gorgonia expression graphs:
// layers (Linear, Conv2D, MaxPool2D, ReLU, Flatten), a sequential Model with
// named parameters and seeded initialisation, and the two architectures of
// the project, lenet300 and lenet5.
//
// Conventions:
//
//	activations   NCHW; a Linear layer sees (N, features)
//	Linear        y = x·W + b,    W: (in, out),   b: (out)        output channel axis of W = 1
//	Conv2D        y = W ⋆ x + b,  W: (out, in, k, k), b: (out)    output channel axis of W = 0
//	He init       W ~ N(0, 2/fan_in) for layers followed by ReLU,
//	Glorot init   W ~ U(±sqrt(6/(fan_in+fan_out))) otherwise; biases start at 0
//
// # Quantizer slots
//
// Every tensor that the int8 runtime quantizes has a Slot: the network input,
// each weight, each bias and each layer output (taken after a following ReLU,
// which the integer runtime fuses into the requantization clamp). When a
// graph is built, each slot's node is passed through a Quantizer, which may
// return it unchanged (the float model) or wrap it in a fake-quant node.
// Layers never change for quantization: the Quantizer decides.
//
// # Fast float ops
//
// Linear (with the ReLU that follows it fused in), Conv2D and MaxPool2D are
// single Gorgonia nodes whose forward and gradient nodes call the packed
// SGEMM of internal/f32 (AVX-512 or AVX2/FMA, chosen at run time; purego
// forces the Go kernel). Conv2D packs its im2col patches straight from the
// input, so no patch matrix is stored; its input gradient is a GEMM into
// patch gradients followed by col2im. The first weighted layer computes no
// input gradient. Work is split over cores by output blocks, never inside a
// sum, so a result does not depend on GOMAXPROCS. Model.GorgoniaOps builds
// the previous graph of Gorgonia's generic ops instead (the reference for
// tests and before/after benchmarks); the two agree to float32 rounding
// (summation order differs), not bit for bit.
//
// Parameters live in the Model as tensors; every graph built from a model
// (one per batch size) binds the same tensors, so an optimiser that updates
// them in place updates every graph.
package nn
