// Package calibrate holds observers: they watch the tensors flowing through
// a model's quantizer slots, minibatch by minibatch, and propose the range
// [r_min, r_max] from which package fakequant derives scale and zero point.
//
//	minmax      r_min = min x, r_max = max x over everything seen
//	ema         exponential moving average of each batch's min and max,
//	            m ← (1−c)·m + c·m_batch with c = 0.01 (PyTorch's
//	            MovingAverageMinMaxObserver); the first batch initialises
//	percentile  the p-th and (1−p)-th quantiles (p = 99.99% by default) of a
//	            2048-bin histogram whose symmetric range doubles as needed
//	            (merging bin pairs, so no sample is ever re-read)
//	mse         the clipping range that minimises the expected squared
//	            quantization error over the histogram (Banner et al. 2019,
//	            "Post-training 4-bit quantization", searched on a grid of 100
//	            fractions of the observed range for the bit-width and scheme
//	            being calibrated)
//
// Every observer works per tensor (axis −1) or per channel along an axis.
// NaN or Inf in the data, and asking for a range before any sample, are
// errors.
package calibrate
