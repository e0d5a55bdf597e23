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
// With knowledge distillation (rundir.Config.Distill: Hinton et al. 2015,
// §2; in QAT Mishra & Marr 2018, "Apprentice", and Kim et al. 2019, QKD),
// a float teacher's logits t_b join the labels, with weight α in [0, 1]
// and temperature T in [0.01, 100] (DistillLoss, rundir.CheckDistill):
//
//	loss   L = (1/B) Σ_b (1−α)·CE(softmax(z_b), y_b) + α·T²·KL(softmax(t_b/T) ‖ softmax(z_b/T))
//	grad   ∂L/∂z_b = ( (1−α)(softmax(z_b) − y_b) + α·T·(softmax(z_b/T) − softmax(t_b/T)) ) / B
//
// The soft term's own gradient is (softmax(z/T) − softmax(t/T))/T, and
// for large T the difference of the softened probabilities is itself
// about (z − t)/(K·T): it shrinks as 1/T² (Hinton §2.1). The T² factor
// keeps it comparable to the hard term's as T changes, so α alone sets
// their balance. α = 0 is the cross-entropy above, bit for bit. The teacher
// (LoadTeacher: a float run) runs on infer's float runtime, batch norm
// folded (eval mode), on the very batch the student sees, converted to
// the teacher's input normalization when it differs; the metrics' train
// loss is then L. NewTrainer records the teacher's absolute path and
// weights fingerprint in the config, so the checkpoint carries them and
// a resumed run refuses a teacher that changed (TeacherChangedError).
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
