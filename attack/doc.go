// Package attack measures accuracy under adversarial perturbation: the fast
// gradient sign method (FGSM) and projected gradient descent (PGD) in the
// L∞ ball, on float models, on fake-quant (PTQ/QAT) models through their
// Gorgonia graphs, and, by transfer, on any classifier without gradients
// (the integer runtime).
//
//	FGSM (Goodfellow et al. 2015)   x' = clip(x + ε·sign(∇ₓL(x, y)), lo, hi)
//	PGD  (Madry et al. 2018)        x₀ = clip(x + U(−ε, ε)),   α = 2.5·ε/steps
//	                                x_{t+1} = Π(x_t + α·sign(∇ₓL(x_t, y)))
//	                                Π = clip to [x−ε, x+ε] ∩ [lo, hi]
//
// L is the mean softmax cross-entropy of the model's logits. PGD keeps, for
// each sample, the first iterate that the attacked model misclassifies (a
// later step can walk back across the boundary), so it is never weaker than
// its own iterates.
//
// # Threat models
//
// White-box: the gradient is taken through the model under attack. For a
// fake-quant model the graph holds quantize→dequantize nodes whose backward
// is the model's straight-through estimator, so the gradient is the STE's
// approximation — the one a defender's own training used. For input
// bit-depth reduction (feature squeezing, Xu et al. 2017) the gradient is
// taken at the squeezed input and passed straight through the squeezer
// (BPDA, Athalye et al. 2018).
//
// Transfer: the adversarial images are made on a source model (the float
// model) and fed unchanged to every other model. A model that resists the
// white-box attack but not the transfer attack is masking its gradients
// rather than being robust: the transfer row is the check.
//
// # Determinism
//
// Pixels are in [Lo, Hi] (default [0, 1]: datasets scales bytes as p/255).
// The random start of PGD is drawn from a PCG generator seeded by the
// configured seed and the index of the batch, so results depend only on the
// seed, the data and the batch size.
package attack
