package nn

import (
	"errors"
	"fmt"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/tinyqat/tinyqat/infer"
)

// ErrSize is wrapped by the errors of calls given a batch size below one
// or buffers too short for it (Build, BuildTrain, Predictor.Logits,
// Predictor.Net), so errors.Is(err, ErrSize) tells them apart.
var ErrSize = errors.New("bad size")

// Predictor runs the forward pass of a model (float, or through a
// quantizer) on batches of any size. It builds one graph per batch size
// that it meets and keeps it, so a fixed batch size with a smaller last
// batch costs two graphs. A Predictor is not safe for concurrent use.
type Predictor struct {
	m    *Model
	q    Quantizer
	runs map[int]*run
}

type run struct {
	net *Net
	x   *tensor.Dense
	vm  G.VM
}

// NewPredictor returns a predictor for m; q may be nil (float).
func NewPredictor(m *Model, q Quantizer) *Predictor {
	return &Predictor{m: m, q: q, runs: map[int]*run{}}
}

// Logits computes the logits of n samples whose pixels (n·C·H·W floats,
// NCHW) are in x, into out (n·Classes floats). A negative n, or x or out
// too short for n samples, is an error wrapping ErrSize; n = 0 computes
// nothing.
func (p *Predictor) Logits(out, x []float32, n int) error {
	size := p.m.In.Size()
	switch {
	case n < 0:
		return fmt.Errorf("nn: Logits of %d samples: %w", n, ErrSize)
	case n == 0:
		return nil
	case size < 1 || len(x)/size < n:
		return fmt.Errorf("nn: Logits: %d input values for %d samples of %v: %w", len(x), n, p.m.In, ErrSize)
	case p.m.Classes < 1 || len(out)/p.m.Classes < n:
		return fmt.Errorf("nn: Logits: room for %d logits, %d samples of %d classes need %d: %w", len(out), n, p.m.Classes, n*p.m.Classes, ErrSize)
	}
	r, err := p.get(n)
	if err != nil {
		return err
	}
	copy(r.x.Data().([]float32), x[:n*size])
	if err := G.Let(r.net.X, r.x); err != nil {
		return err
	}
	defer r.vm.Reset()
	if err := r.vm.RunAll(); err != nil {
		return fmt.Errorf("nn: forward pass: %w", err)
	}
	copy(out, r.net.Out.Value().Data().([]float32)[:n*p.m.Classes])
	return nil
}

// Net returns the graph used for batches of n samples (building it if needed).
func (p *Predictor) Net(n int) (*Net, error) {
	r, err := p.get(n)
	if err != nil {
		return nil, err
	}
	return r.net, nil
}

func (p *Predictor) get(n int) (*run, error) {
	if r, ok := p.runs[n]; ok {
		return r, nil
	}
	net, err := p.m.Build(n, p.q)
	if err != nil {
		return nil, err
	}
	r := &run{
		net: net,
		x:   tensor.New(tensor.WithShape(n, p.m.In.C, p.m.In.H, p.m.In.W), tensor.Of(tensor.Float32)),
		vm:  G.NewTapeMachine(net.G),
	}
	p.runs[n] = r
	return r, nil
}

// Close releases the predictor's graphs.
func (p *Predictor) Close() {
	for k, r := range p.runs {
		r.vm.Close()
		delete(p.runs, k)
	}
}

// Argmax returns the index of the largest value of each row of k columns
// (infer.Argmax: the first of equal values; a NaN never beats an earlier
// value).
func Argmax(dst []int, logits []float32, k int) { infer.Argmax(dst, logits, k) }
