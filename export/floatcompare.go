package export

import (
	"context"
	"fmt"
	"math"

	"github.com/tinyqat/tinyqat/datasets"
	"github.com/tinyqat/tinyqat/infer"
	"github.com/tinyqat/tinyqat/nn"
	"github.com/tinyqat/tinyqat/rundir"
	"github.com/tinyqat/tinyqat/train"
)

// FloatComparison sets a float model run by infer's float runtime beside
// the Gorgonia float model of the checkpoint it was exported from, on one
// dataset.
type FloatComparison struct {
	Samples    int     `json:"samples"`
	RuntimeAcc float64 `json:"test_acc"`       // the float runtime (infer, F32)
	GraphAcc   float64 `json:"graph_test_acc"` // the Gorgonia float model
	// Agreement is the fraction of samples whose top-1 class is the same
	// in both.
	Agreement float64 `json:"agreement"`
	// MaxLogitDiff is the largest |logit_runtime − logit_graph| over all
	// samples and classes; MaxLogit the largest |logit_graph|, its scale.
	MaxLogitDiff float64 `json:"max_logit_diff"`
	MaxLogit     float64 `json:"max_logit"`
	// MinMarginDisagree is, over the samples whose top-1 differs, the
	// smallest gap between the graph's two best logits (0 when all agree):
	// a disagreement on a near-tie is summation order, not a bug.
	MinMarginDisagree float64 `json:"min_margin_disagree,omitempty"`
}

// CompareFloat runs the float model m (Mode F32, exported by Float from
// c) with infer's float runtime and c's float network on Gorgonia on set,
// in batches of at most batch images; ctx is checked between batches.
// With an input normalization (m.Norm) the graph takes the normalized
// batches (datasets.Batcher.SetNorm, as in training) and the runtime the
// raw pixels, which it normalizes itself.
func CompareFloat(ctx context.Context, m *infer.Model, c *rundir.Checkpoint, set *datasets.Set, batch int) (*FloatComparison, error) {
	if m.Mode != infer.F32 {
		return nil, fmt.Errorf("export: a %s model is not a float model; compare it with Compare", m.Mode)
	}
	if err := CheckSource(m, c); err != nil {
		return nil, err
	}
	nm, err := c.Model()
	if err != nil {
		return nil, err
	}
	return compareFloatWith(ctx, m, m.FloatLogitsInto, nm, set, batch)
}

// compareFloatWith is CompareFloat with the network loaded and the
// runtime given as run (a test alters its output).
func compareFloatWith(ctx context.Context, m *infer.Model, run func(dst, x []float32, n int) error, nm *nn.Model, set *datasets.Set, batch int) (*FloatComparison, error) {
	if set.N == 0 {
		return nil, fmt.Errorf("export: compare: %w", train.ErrEmptySet)
	}
	if err := m.CheckData(set.C, set.H, set.W, set.Classes); err != nil {
		return nil, err
	}
	if batch < 1 {
		return nil, fmt.Errorf("export: batch %d, want at least 1", batch)
	}
	batch = compareChunk(m, batch)
	pred := nn.NewPredictor(nm, nil)
	defer pred.Close()
	k := m.Classes
	rlog, glog := make([]float32, batch*k), make([]float32, batch*k)
	rpred, gpred := make([]int, batch), make([]int, batch)
	pb, err := newPairedBatches(set, batch, m.Norm)
	if err != nil {
		return nil, err
	}
	x, xn, labels := pb.x, pb.xn, pb.labels
	res := &FloatComparison{Samples: set.N}
	var rOK, gOK, agree int
	minMargin := math.Inf(1)
	for {
		n, err := pb.next()
		if err != nil {
			return nil, err
		}
		if n == 0 {
			break
		}
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if err := run(rlog[:n*k], x[:n*set.Size()], n); err != nil {
			return nil, err
		}
		if err := pred.Logits(glog, xn[:n*set.Size()], n); err != nil {
			return nil, err
		}
		infer.Argmax(rpred[:n], rlog[:n*k], k)
		infer.Argmax(gpred[:n], glog[:n*k], k)
		for s := 0; s < n; s++ {
			r, g := rlog[s*k:(s+1)*k], glog[s*k:(s+1)*k]
			rp, gp := rpred[s], gpred[s]
			if rp == gp {
				agree++
			} else {
				minMargin = math.Min(minMargin, margin(g))
			}
			if rp == labels[s] {
				rOK++
			}
			if gp == labels[s] {
				gOK++
			}
			for j := range r {
				res.MaxLogitDiff = math.Max(res.MaxLogitDiff, math.Abs(float64(r[j])-float64(g[j])))
				res.MaxLogit = math.Max(res.MaxLogit, math.Abs(float64(g[j])))
			}
		}
	}
	N := float64(max(1, set.N))
	res.RuntimeAcc, res.GraphAcc, res.Agreement = float64(rOK)/N, float64(gOK)/N, float64(agree)/N
	if agree < set.N {
		res.MinMarginDisagree = minMargin
	}
	return res, nil
}

// margin is the gap between the two largest values of v.
func margin(v []float32) float64 {
	a, b := math.Inf(-1), math.Inf(-1)
	for _, x := range v {
		f := float64(x)
		if f > a {
			a, b = f, a
		} else if f > b {
			b = f
		}
	}
	return a - b
}
