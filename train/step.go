package train

import (
	"errors"
	"fmt"
	"hash"
	"hash/fnv"
	"math"

	"github.com/chewxy/hm"
	"github.com/tinyqat/tinyqat/nn"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// bindDualValues forces the dual-value path (tests compare the two).
var bindDualValues = false

// stepGraph is a training graph for one batch size.
type stepGraph struct {
	net   *nn.Net
	y     *G.Node
	loss  *G.Node
	vm    G.VM
	x, yT *tensor.Dense
	// teacher and tT are the teacher's logits of a distilling graph, nil
	// otherwise.
	teacher *G.Node
	tT      *tensor.Dense
	// grads are the gradient nodes of net.Params, read after each run, or
	// nil when the graph binds dual values instead (see graph).
	grads G.Nodes
}

// graph returns the training graph for batch size n, building it once.
// An epoch needs at most two: the batch size and the last, partial batch.
func (t *Trainer) graph(n int) (*stepGraph, error) {
	if sg, ok := t.graphs[n]; ok {
		return sg, nil
	}
	net, err := t.Model.BuildTrain(n, t.Quant)
	if err != nil {
		return nil, err
	}
	y := G.NewMatrix(net.G, tensor.Float32, G.WithShape(n, t.Model.Classes), G.WithName("y"))
	var teacher *G.Node
	var loss *G.Node
	if d := t.Cfg.Distill; d != nil {
		teacher = G.NewMatrix(net.G, tensor.Float32, G.WithShape(n, t.Model.Classes), G.WithName("teacher"))
		loss, err = DistillLoss(net.Out, y, teacher, d.Weight, d.Temp)
	} else {
		loss, err = SoftmaxCrossEntropy(net.Out, y)
	}
	if err != nil {
		return nil, err
	}
	grads, err := G.Grad(loss, net.Params...)
	if err != nil {
		return nil, fmt.Errorf("train: differentiating the graph: %w", err)
	}
	// Binding dual values makes the tape machine add each gradient into the
	// parameter's gradient buffer, one serial pass over every parameter per
	// step (a tenth of a lenet300 step). Instead the step reads the gradient
	// nodes' values. A node nothing reads may have its register reused by a
	// later instruction, so a sink op reads them all (and the loss): when
	// the sink is the graph's only root it is the last instruction, and
	// every gradient stays intact until the run ends. Otherwise fall back
	// to the dual values.
	sink := &gradSink{}
	for _, g := range grads {
		sink.dims = append(sink.dims, g.Dims())
	}
	opts := []G.VMOpt{G.WithEngine(gradEngine{})}
	if _, err := G.ApplyOp(sink, append(G.Nodes{loss}, grads...)...); err != nil || len(net.G.Roots()) != 1 || bindDualValues {
		grads, opts = nil, append(opts, G.BindDualValues(net.Params...))
	}
	sg := &stepGraph{net: net, y: y, loss: loss, vm: G.NewTapeMachine(net.G, opts...), grads: grads,
		x:  tensor.New(tensor.WithShape(n, t.Model.In.C, t.Model.In.H, t.Model.In.W), tensor.Of(tensor.Float32)),
		yT: tensor.New(tensor.WithShape(n, t.Model.Classes), tensor.Of(tensor.Float32))}
	if teacher != nil {
		sg.teacher, sg.tT = teacher, tensor.New(tensor.WithShape(n, t.Model.Classes), tensor.Of(tensor.Float32))
	}
	t.graphs[n] = sg
	return sg, nil
}

// step runs forward and backward on the batch already in sg's tensors and
// updates the parameters. It returns the loss and the number correct.
func (t *Trainer) step(sg *stepGraph, labels []int, lr float64) (float64, int, error) {
	if err := G.Let(sg.net.X, sg.x); err != nil {
		return 0, 0, err
	}
	if err := G.Let(sg.y, sg.yT); err != nil {
		return 0, 0, err
	}
	if sg.teacher != nil {
		if t.teacher == nil {
			return 0, 0, errors.New("train: Cfg.Distill was set after NewTrainer, which loads the teacher: set it in the config NewTrainer gets")
		}
		// With α = 0 the loss is the cross-entropy and never reads the
		// teacher's logits (sg.tT stays zero): skip its forward pass.
		if t.Cfg.Distill.Weight != 0 {
			if err := t.teacher.logits(sg.tT.Data().([]float32), sg.x.Data().([]float32), len(labels)); err != nil {
				return 0, 0, err
			}
		}
		if err := G.Let(sg.teacher, sg.tT); err != nil {
			return 0, 0, err
		}
	}
	defer sg.vm.Reset()
	if err := sg.vm.RunAll(); err != nil {
		// A fake-quant node refuses a NaN or Inf weight or activation with
		// a VM dump; when the previous steps made the model non-finite, or
		// so large that its forward pass overflows, say so instead.
		if name := ModelNonFinite(t.Model); name != "" {
			return 0, 0, &DivergedError{Tensor: name, Epoch: t.Epoch + 1, Step: t.Step, Err: err}
		}
		if t.Step > 0 && ForwardOverflows(t.Model, sg.x.Data().([]float32), len(labels)) {
			return 0, 0, &DivergedError{Epoch: t.Epoch + 1, Step: t.Step, Err: err}
		}
		return 0, 0, fmt.Errorf("train: step %d: %w", t.Step, err)
	}
	loss := float64(sg.loss.Value().Data().(float32))
	if math.IsNaN(loss) || math.IsInf(loss, 0) {
		return loss, 0, fmt.Errorf("train: loss is %v at epoch %d, step %d: training diverged (try a lower learning rate); the last checkpoint is untouched", loss, t.Epoch+1, t.Step)
	}
	k := t.Model.Classes
	logits := sg.net.Out.Value().Data().([]float32)
	pred := make([]int, len(labels))
	nn.Argmax(pred, logits, k)
	correct := 0
	for i, l := range labels {
		if pred[i] == l {
			correct++
		}
	}
	params := make([][]float32, len(t.Model.Params))
	grads := make([][]float32, len(t.Model.Params))
	for i, p := range t.Model.Params {
		params[i] = p.Data()
		if sg.grads != nil {
			g, ok := sg.grads[i].Value().Data().([]float32)
			if !ok {
				return 0, 0, fmt.Errorf("train: gradient of %s is %T, want float32", p.Name, sg.grads[i].Value().Data())
			}
			// The dual value held 0 + g (cleared, then g added): the
			// optimizers read −0 as +0, so g gives the same bits.
			grads[i] = g
			continue
		}
		g, err := sg.net.Params[i].Grad()
		if err != nil {
			return 0, 0, fmt.Errorf("train: gradient of %s: %w", p.Name, err)
		}
		grads[i] = g.Data().([]float32)
	}
	t.opt.Step(params, grads, lr)
	if h, ok := t.Quant.(StepHook); ok {
		h.AfterStep(lr)
	}
	if sg.grads == nil {
		// Gorgonia accumulates into bound gradients: clear them for the next step.
		for _, g := range grads {
			clear(g)
		}
	}
	t.Step++
	return loss, correct, nil
}

// gradSink is an op that reads its inputs, the loss (a scalar) and then
// the gradients (of the given dimensions), and does nothing: it keeps the
// gradient nodes live to the end of the tape (see graph). Its output is a
// one-element vector.
type gradSink struct{ dims []int }

func (s *gradSink) Arity() int { return len(s.dims) + 1 }
func (s *gradSink) Type() hm.Type {
	a := hm.TypeVariable('a')
	ts := hm.Types{a}
	for _, d := range s.dims {
		ts = append(ts, G.TensorType{Dims: d, Of: a})
	}
	return hm.NewFnType(append(ts, G.TensorType{Dims: 1, Of: a})...)
}
func (s *gradSink) InferShape(...G.DimSizer) (tensor.Shape, error) { return tensor.Shape{1}, nil }
func (s *gradSink) Do(...G.Value) (G.Value, error) {
	return tensor.New(tensor.WithShape(1), tensor.Of(tensor.Float32)), nil
}
func (s *gradSink) ReturnsPtr() bool      { return false }
func (s *gradSink) CallsExtern() bool     { return false }
func (s *gradSink) OverwritesInput() int  { return -1 }
func (s *gradSink) WriteHash(h hash.Hash) { fmt.Fprintf(h, "gradSink%v", s.dims) }
func (s *gradSink) Hashcode() uint32      { h := fnv.New32a(); s.WriteHash(h); return h.Sum32() }
func (s *gradSink) String() string        { return "gradSink" }
