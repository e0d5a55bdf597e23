// Package rundir is the run directory: what a training run leaves on disk
// and the rules for writing it.
//
// A run directory holds
//
//	.lock                   flock held by the writing process, its pid inside
//	checkpoint.safetensors  Checkpoint: parameters, buffers, optimizer and
//	                        quantizer state, settings (Config), Phase, data
//	                        identity; replaced atomically after each epoch
//	metrics.jsonl           one EpochMetrics JSON line per epoch
//
// The checkpoint is a safetensors file (internal/stfile) with string
// metadata. Tensor names carry their role as a prefix: "param.",
// "buffer.", "opt." (optimizer), "quant." (quantizer scales, zero points,
// learned-scale moments, codebooks) and "qstate." (observer statistics,
// bytes). Metadata keys: format, version (CheckpointVersion), arch, input
// "C,H,W", classes, epoch, step, phase, config (Config as JSON), quant
// (quantizer metadata, JSON), test_acc, data_dir, data_sha256, bn_frozen,
// spec (the architecture, nn.Model.Spec), class_names (a JSON list) and,
// in a quantized run, parent_sha256 (Checkpoint.WeightsSHA of the float
// checkpoint it started from).
// Every file version from 1 on still loads; LoadCheckpoint refuses NaN
// and ±Inf tensors (NonFiniteError) and names the file in every error.
//
// The contract between a run's files, which a crash at any instant keeps:
//
//   - Writes are atomic (temporary file, then rename); Lock removes the
//     temporaries a killed writer left.
//   - One writer: Lock takes an exclusive flock on .lock (the kernel
//     drops it when its holder dies); Claim additionally claims the
//     directory for one run inside the process.
//   - The metrics line of an epoch is appended before its checkpoint
//     replaces the previous one, so the log never lacks the checkpoint's
//     epoch; RepairMetrics drops lines after the checkpoint's epoch and a
//     torn last line.
//   - Run files are opened without following symbolic links and must be
//     regular files with one link (FileError otherwise): a planted link
//     never redirects a run's writes outside its directory.
//
// Config holds the training settings a run records (its zero fields mean
// the documented defaults); RunData returns the data settings of a
// checkpoint that commands continuing a run inherit.
package rundir
