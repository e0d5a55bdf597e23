package mixed

import (
	"context"
	"fmt"
	"math/rand/v2"

	"github.com/tinyqat/tinyqat/nn"
	"github.com/tinyqat/tinyqat/train"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// perturber is the quantizer of the Hessian graph: every measured
// activation slot becomes x + p, p a leaf tensor (zero for a plain
// gradient), so ∂L/∂p is the gradient with respect to the activation.
type perturber struct {
	slots map[string]bool
	nodes map[string]*G.Node
	vals  map[string]*tensor.Dense
}

func (p *perturber) Quantize(s *nn.Slot, x *G.Node) (*G.Node, error) {
	if !p.slots[s.Name] {
		return x, nil
	}
	v := tensor.New(tensor.WithShape(x.Shape().Clone()...), tensor.Of(tensor.Float32))
	n := G.NewTensor(x.Graph(), tensor.Float32, x.Dims(), G.WithShape(x.Shape().Clone()...), G.WithName("mixed.p."+s.Name), G.WithValue(v))
	p.nodes[s.Name], p.vals[s.Name] = n, v
	return G.Add(x, n)
}

// traces estimates Tr(H) of every slot of res by Hutchinson's method with
// finite-difference Hessian-vector products (package documentation), on
// the batches bs.
func traces(ctx context.Context, m *nn.Model, lw *nn.Lowered, bs []batch, res *Sensitivity, opt Options) error {
	// The graph differentiates with respect to the input too (the input
	// slot's perturbation) and runs batch normalization folded, as the
	// quantized model will.
	inGrad, frozen := m.InputGrad, m.BNFrozen()
	m.InputGrad = true
	m.SetBNFrozen(true)
	defer func() { m.InputGrad = inGrad; m.SetBNFrozen(frozen) }()
	pt := &perturber{slots: map[string]bool{}, nodes: map[string]*G.Node{}, vals: map[string]*tensor.Dense{}}
	weights := map[string]*nn.Param{}
	for i := range lw.Units {
		if u := &lw.Units[i]; u.Kind.Weighted() {
			weights[u.WeightSlot] = u.W
		}
	}
	for _, s := range res.Slots {
		if !s.Weight {
			pt.slots[s.Name] = true
		}
	}
	n := opt.Batch
	net, err := m.BuildTrain(n, pt)
	if err != nil {
		return fmt.Errorf("mixed: Hessian graph: %w", err)
	}
	y := G.NewMatrix(net.G, tensor.Float32, G.WithShape(n, m.Classes), G.WithName("mixed.y"))
	loss, err := train.SoftmaxCrossEntropy(net.Out, y)
	if err != nil {
		return err
	}
	// wrt[i] is the node of res.Slots[i]: its weight parameter or its
	// activation's perturbation.
	paramNode := map[string]*G.Node{}
	for i, p := range m.Params {
		paramNode[p.Name] = net.Params[i]
	}
	wrt := make(G.Nodes, len(res.Slots))
	for i, s := range res.Slots {
		if s.Weight {
			wrt[i] = paramNode[weights[s.Name].Name]
		} else {
			wrt[i] = pt.nodes[s.Name]
		}
		if wrt[i] == nil {
			return fmt.Errorf("mixed: Hessian graph has no node for slot %s", s.Name)
		}
	}
	if _, err := G.Grad(loss, wrt...); err != nil {
		return fmt.Errorf("mixed: differentiating the Hessian graph: %w", err)
	}
	vm := G.NewTapeMachine(net.G, G.BindDualValues(wrt...))
	defer vm.Close()
	xT := tensor.New(tensor.WithShape(n, m.In.C, m.In.H, m.In.W), tensor.Of(tensor.Float32))
	yT := tensor.New(tensor.WithShape(n, m.Classes), tensor.Of(tensor.Float32))

	// gradSum runs every batch and returns Σ_batches ∂L/∂wrt.
	gradSum := func() ([][]float32, error) {
		sum := make([][]float32, len(wrt))
		for _, b := range bs {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			copy(xT.Data().([]float32), b.x)
			yd := yT.Data().([]float32)
			clear(yd)
			for i, l := range b.labels {
				yd[i*m.Classes+l] = 1
			}
			if err := G.Let(net.X, xT); err != nil {
				return nil, err
			}
			if err := G.Let(y, yT); err != nil {
				return nil, err
			}
			if err := vm.RunAll(); err != nil {
				vm.Reset()
				return nil, fmt.Errorf("mixed: Hessian graph: %w", err)
			}
			for i, node := range wrt {
				g, err := node.Grad()
				if err != nil {
					vm.Reset()
					return nil, fmt.Errorf("mixed: gradient of %s: %w", res.Slots[i].Name, err)
				}
				gd := g.Data().([]float32)
				if sum[i] == nil {
					sum[i] = make([]float32, len(gd))
				}
				for j, v := range gd {
					sum[i][j] += v
				}
				clear(gd) // bound gradients accumulate
			}
			vm.Reset()
		}
		return sum, nil
	}

	rng := rand.New(rand.NewPCG(opt.Seed, 0x68757463)) // "hutc"
	eps := opt.Epsilon
	scale := make([]float64, len(res.Slots)) // D_s
	orig := make([][]float32, len(res.Slots))
	for i, s := range res.Slots {
		scale[i] = max(s.RMS, 1e-6)
		if s.Weight {
			orig[i] = append([]float32(nil), weights[s.Name].Data()...)
		}
	}
	restore := func() {
		for i, s := range res.Slots {
			if s.Weight {
				copy(weights[s.Name].Data(), orig[i])
			} else {
				clear(pt.vals[s.Name].Data().([]float32))
			}
		}
	}
	defer restore()
	tr := make([]float64, len(res.Slots))
	v := make([][]float32, len(res.Slots))
	for k := 0; k < opt.Probes; k++ {
		for i := range res.Slots {
			size := wrt[i].Shape().TotalSize()
			v[i] = v[i][:0]
			for range size {
				v[i] = append(v[i], float32(2*int(rng.Uint32()&1)-1))
			}
		}
		var g [2][][]float32
		for si, sign := range []float64{1, -1} {
			for i, s := range res.Slots {
				d := float32(sign * eps * scale[i])
				dst := orig[i]
				var out []float32
				if s.Weight {
					out = weights[s.Name].Data()
				} else {
					out = pt.vals[s.Name].Data().([]float32)
					dst = nil
				}
				for j, r := range v[i] {
					base := float32(0)
					if dst != nil {
						base = dst[j]
					}
					out[j] = base + d*r
				}
			}
			var err error
			if g[si], err = gradSum(); err != nil {
				return err
			}
		}
		for i := range res.Slots {
			var dot float64
			for j, r := range v[i] {
				dot += float64(r) * float64(g[0][i][j]-g[1][i][j])
			}
			// Σ over batches of the mean-loss gradients: divide by their
			// count for the Hessian of one batch's mean loss.
			tr[i] += dot / (2 * eps * scale[i]) / float64(len(bs))
		}
		if opt.Progress != nil {
			opt.Progress(fmt.Sprintf("sensitivity: Hutchinson probe %d/%d", k+1, opt.Probes))
		}
	}
	for i := range res.Slots {
		res.Slots[i].Trace = tr[i] / float64(opt.Probes)
	}
	return nil
}
