// Package cluster is non-linear (codebook) weight quantization: weight
// clustering as in Deep Compression (Han et al. 2016, §3).
//
// Each weight tensor (or each output channel, with PerChannel) is
// clustered by k-means (calibrate.KMeans) into K = 2^Bits centroids; a
// weight stores the index of its centroid:
//
//	ŵ_i = c_{g(i), idx_i}
//
// The Quantizer puts a codebook node before the 8-bit uniform fake-quant
// of each weight (the integer runtime stores the centroids quantized to
// int8 with those scales), and keeps qat's uniform quantizers for
// activations and biases. Fine-tuning moves the centroids by Adam on
//
//	∂L/∂c_{g,k} = Σ_{i : g(i) = g, idx_i = k} ∂L/∂ŵ_i    (Centroid)
//
// with the assignments fixed, or, with Recluster, trains float shadow
// weights straight through, reassigns them to their nearest centroid
// before every step and clusters them afresh at every epoch boundary.
//
// FineTune is the pipeline from a float checkpoint; its checkpoint
// (phase rundir.PhaseCluster) holds the decoded centroids as the weights
// and, in the quantizer state, per weight slot "<slot>.codebook",
// "<slot>.index", with Recluster "<slot>.shadow", and the centroids' Adam
// moments under "cluster.opt.", so Resume continues a run exactly. Load
// rebuilds a cluster checkpoint's model and quantizer for export.
package cluster
