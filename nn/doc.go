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
// Parameters live in the Model as tensors; every graph built from a model
// (one per batch size) binds the same tensors, so an optimiser that updates
// them in place updates every graph.
package nn
