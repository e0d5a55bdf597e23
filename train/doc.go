// Package train runs the training loop: a Trainer takes a model (nn), a
// data set (datasets) and a rundir.Config, and trains it epoch by epoch
// on the Gorgonia graph built from the model's lowered units, logging
// metrics and checkpointing into a run directory (rundir).
//
// One step on a minibatch of B samples with one-hot targets y:
//
//	loss   L = −(1/B) Σ_b Σ_k y_bk · log softmax(z_b)_k     (SoftmaxCrossEntropy)
//	grad   ∂L/∂z_b = (softmax(z_b) − y_b) / B
//	adam   m ← β1·m + (1−β1)·g,  v ← β2·v + (1−β2)·g²,
//	       w ← w·(1 − lr·λ) − lr · m̂/(√v̂ + ε)            (AdamW when λ > 0)
//	sgd    u ← μ·u + g + λ·w,  w ← w − lr·u
//	lr     cosine from LR to LR/100 over the run, by fractional epoch
//	       (LearningRate), so a resumed run follows the same curve
//
// A quantizer (Trainer.Quant, e.g. a qat.Quantizer) is consulted for every
// slot; quantizers with a training mode (Modal) or trainable state of
// their own (StepHook, e.g. LSQ scales or codebook centroids) are told
// so, and their state is saved in checkpoints (StatefulQuantizer).
//
// Run writes, after each epoch, the metrics line and then the checkpoint
// (rundir's crash contract), refuses to replace another run's checkpoint,
// and stops with a DivergedError, saving nothing, when a parameter,
// buffer or optimizer state turns NaN or ±Inf. A resumed run (Resume)
// continues bit for bit: shuffling, augmentation and learning rate
// depend only on the seed, the epoch and the step.
//
// Long work is reported through the Progress interface; the library
// draws nothing itself (the command line draws bars).
package train
