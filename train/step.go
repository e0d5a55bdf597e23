package train

import (
	"fmt"
	"math"

	"github.com/tinyqat/tinyqat/nn"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// stepGraph is a training graph for one batch size.
type stepGraph struct {
	net   *nn.Net
	y     *G.Node
	loss  *G.Node
	vm    G.VM
	x, yT *tensor.Dense
}

// graph returns the training graph for batch size n, building it once.
// An epoch needs at most two: the batch size and the last, partial batch.
func (t *Trainer) graph(n int) (*stepGraph, error) {
	if sg, ok := t.graphs[n]; ok {
		return sg, nil
	}
	net, err := t.Model.Build(n, t.Quant)
	if err != nil {
		return nil, err
	}
	y := G.NewMatrix(net.G, tensor.Float32, G.WithShape(n, t.Model.Classes), G.WithName("y"))
	loss, err := SoftmaxCrossEntropy(net.Out, y)
	if err != nil {
		return nil, err
	}
	if _, err := G.Grad(loss, net.Params...); err != nil {
		return nil, fmt.Errorf("train: differentiating the graph: %w", err)
	}
	sg := &stepGraph{net: net, y: y, loss: loss, vm: G.NewTapeMachine(net.G, G.BindDualValues(net.Params...)),
		x:  tensor.New(tensor.WithShape(n, t.Model.In.C, t.Model.In.H, t.Model.In.W), tensor.Of(tensor.Float32)),
		yT: tensor.New(tensor.WithShape(n, t.Model.Classes), tensor.Of(tensor.Float32))}
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
	defer sg.vm.Reset()
	if err := sg.vm.RunAll(); err != nil {
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
	// Gorgonia accumulates into bound gradients: clear them for the next step.
	for _, g := range grads {
		clear(g)
	}
	t.Step++
	return loss, correct, nil
}
