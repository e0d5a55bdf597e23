package cluster

import (
	"context"
	"fmt"

	"github.com/tinyqat/tinyqat/nn"
	"github.com/tinyqat/tinyqat/qat"
	"github.com/tinyqat/tinyqat/rundir"
	"github.com/tinyqat/tinyqat/train"
	G "gorgonia.org/gorgonia"
)

// Quantizer is the quantizer of a clustered model: each weight goes through
// its codebook node, then through an 8-bit uniform fake-quant node (per
// tensor for a per-tensor codebook, per channel otherwise), so the table
// the integer runtime stores (the centroids quantized to int8) is what the
// simulation computes with; activations and
// biases keep the uniform fake-quant of QAT. Centroids train with their own
// Adam on the summed gradients of their weights (Centroid).
type Quantizer struct {
	*qat.Quantizer
	Cfg   Config
	model *nn.Model
	books map[string]*CodebookState
	order []string // weight slots with a codebook, in model order

	opt       train.Optimizer // over the centroid tables, in order
	stepEpoch int             // optimizer steps per epoch (re-clustering)
	// ctx stops k-means (the first clustering, and re-clustering between
	// epochs) when the run is cancelled.
	ctx context.Context
}

var (
	_ nn.Quantizer            = (*Quantizer)(nil)
	_ train.StatefulQuantizer = (*Quantizer)(nil)
	_ train.Modal             = (*Quantizer)(nil)
	_ train.StepHook          = (*Quantizer)(nil)
)

// New clusters every weight of m and wraps q (whose weight slots
// must be 8-bit). Without Recluster the model's weights are replaced by
// their centroids.
func New(m *nn.Model, q *qat.Quantizer, cfg Config) (*Quantizer, error) {
	return newCluster(context.Background(), m, q, cfg)
}

// newCluster is New stopping with ctx.Err() when ctx is cancelled.
func newCluster(ctx context.Context, m *nn.Model, q *qat.Quantizer, cfg Config) (*Quantizer, error) {
	cfg = cfg.Defaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	c := &Quantizer{Quantizer: q, Cfg: cfg, model: m, books: map[string]*CodebookState{}, ctx: ctx}
	est := Centroid{PassThrough: cfg.Recluster}
	for _, s := range m.Slots {
		if s.Kind != nn.Weight {
			continue
		}
		cb, err := c.cluster(m.Param(s.Name), s)
		if err != nil {
			return nil, err
		}
		if c.books[s.Name], err = NewCodebookState(s.Name, cb, est); err != nil {
			return nil, err
		}
		c.order = append(c.order, s.Name)
	}
	c.resetOpt()
	return c, nil
}

func (c *Quantizer) cluster(p *nn.Param, s *nn.Slot) (*Codebook, error) {
	axis := -1
	if c.Cfg.PerChannel {
		axis = s.Axis
	}
	ctx := c.ctx
	if ctx == nil {
		ctx = context.Background()
	}
	cb, err := KMeansCodebook(ctx, c.Cfg.kmeans(), p.Data(), p.Value.Shape(), axis)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, fmt.Errorf("cluster: clustering %s: %w", s.Name, err)
	}
	return cb, nil
}

func (c *Quantizer) resetOpt() {
	var sizes []int
	for _, name := range c.order {
		sizes = append(sizes, len(c.books[name].Codebook().Centroids))
	}
	c.opt, _ = train.NewOptimizer(rundir.Adam, sizes, 0, 0)
}

// Codebook returns a copy of a weight slot's codebook, or nil.
func (c *Quantizer) Codebook(slot string) *Codebook {
	if b := c.books[slot]; b != nil {
		return b.Codebook()
	}
	return nil
}

// WriteWeights replaces every clustered weight of the model by its centroid.
func (c *Quantizer) WriteWeights() {
	for _, name := range c.order {
		c.books[name].Codebook().Decode(c.model.Param(name).Data())
	}
}

// Quantize implements nn.Quantizer.
func (c *Quantizer) Quantize(s *nn.Slot, x *G.Node) (*G.Node, error) {
	if b := c.books[s.Name]; b != nil {
		y, err := NewCodebook(x, b)
		if err != nil {
			return nil, err
		}
		x = y
	}
	return c.Quantizer.Quantize(s, x)
}

// BeforeStep runs the QAT schedule and, with Recluster, moves every
// shadow weight to its nearest centroid before each step (so that a
// weight's drift shows in the forward pass, as in TensorFlow Model
// Optimization's clustering) and clusters the shadow weights afresh at
// every epoch boundary.
func (c *Quantizer) BeforeStep(step int) error {
	if c.Cfg.Recluster {
		for _, name := range c.order {
			c.books[name].Reassign(c.model.Param(name).Data())
		}
	}
	if c.Cfg.Recluster && c.stepEpoch > 0 && step > 0 && step%c.stepEpoch == 0 {
		for _, s := range c.model.Slots {
			b := c.books[s.Name]
			if b == nil {
				continue
			}
			cb, err := c.cluster(c.model.Param(s.Name), s)
			if err != nil {
				return err
			}
			if err := b.SetCodebook(cb); err != nil {
				return err
			}
		}
		c.resetOpt()
	}
	return c.Quantizer.BeforeStep(step)
}

// AfterStep moves the centroids by Adam on ∂L/∂c at the weights' rate.
func (c *Quantizer) AfterStep(lr float64) {
	c.Quantizer.AfterStep(lr)
	params := make([][]float32, len(c.order))
	grads := make([][]float32, len(c.order))
	for i, name := range c.order {
		b := c.books[name]
		params[i] = b.Codebook().Centroids
		grads[i] = make([]float32, len(params[i]))
		for j, g := range b.TakeGrad() {
			grads[i][j] = float32(g)
		}
	}
	c.opt.Step(params, grads, lr)
	for i, name := range c.order {
		// A non-finite centroid keeps its old value; the loss check of the
		// next step reports a diverging run.
		_ = c.books[name].SetCentroids(params[i])
	}
	if !c.Cfg.Recluster {
		c.WriteWeights()
	}
}
