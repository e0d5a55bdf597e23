// Package ste holds the gradient estimators of the fake-quant node's
// backward pass. round has a zero derivative almost everywhere, so the
// true gradient is useless for training; an estimator replaces it.
//
// With u = round(x/S) + Z the unclipped integer and [q_min, q_max] the grid:
//
//	STE (Bengio et al. 2013)            ∂r̂/∂x = 1
//	clipped STE (the default)           ∂r̂/∂x = 1 if q_min ≤ u ≤ q_max, else 0
//	LSQ (Esser et al. 2019, eq. 3)      ∂r̂/∂x as clipped STE, and
//	                                    ∂r̂/∂S = (q − Z) − x/S  inside the grid
//	                                           = q_min − Z or q_max − Z  outside
//	                                    scaled by g = 1/√(N·Q_p) (their §2.2),
//	                                    N the elements per scale, Q_p = q_max − Z
//
// The clipping mask uses exactly the forward pass's decision (the same
// rounding of the same float32 quotient), so an element is passed through
// if and only if the forward pass did not clip it.
package ste
