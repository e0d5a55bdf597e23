// Package qat prepares a float model for integer inference: post-training
// quantization (PTQ) and quantization-aware training (QAT, Jacob et al.
// 2018; Krishnamoorthi 2018).
//
// A Quantizer puts a fake-quant node (fakequant) on every quantizer slot
// of a model (nn.Slot: weights, activations, biases) and runs the
// schedule
//
//	float       a float checkpoint (rundir.PhaseFloat) is the start
//	calibrate   fake-quant off, observers on, Config.CalibBatches
//	            shuffled training minibatches; then every slot's scale
//	            and zero point are set from its observer (the rule of
//	            package quant) and fake quantization turns on
//	fine-tune   fake-quant on; observers keep updating for FreezeAfter
//	            steps, then freeze; batch norm uses batch statistics for
//	            FreezeBNAfter steps, then its frozen running statistics
//	            (the folded form the integer runtime runs); with the LSQ
//	            estimator (Esser et al. 2019) the scales train instead:
//	            S ← S − lr/10 · S · m̂/(√v̂ + ε), Adam on ∂L/∂S
//	evaluate    fake-quant on, observers off
//
// Weights are symmetric, per output channel unless PerTensorWeights;
// activations symmetric (ActSymmetric) or affine uint8 (ActAffine);
// biases int32 at S_in·S_w. Unless FloatRequant, a layer's output is
// requantized from its integer accumulator exactly as the integer runtime
// does, so the simulation and the runtime agree bit for bit.
//
// PTQ (calibrate only) and Quantize (calibrate, then fine-tune with a
// train.Trainer) are the pipelines from a float checkpoint; Resume
// continues a QAT checkpoint exactly: the quantizer state (scales, zero
// points, observer statistics, step count, frozen flag, LSQ moments)
// is saved in the checkpoint (Quantizer.State, rundir.QuantState).
package qat
