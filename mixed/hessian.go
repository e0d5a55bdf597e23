package mixed

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/tinyqat/tinyqat/nn"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// perturber is the quantizer of the Hessian graph: every measured
// activation slot becomes x + p, p a leaf tensor of zeros, so ∂L/∂p is
// the gradient with respect to the activation.
type perturber struct {
	slots map[string]bool
	nodes map[string]*G.Node
}

func (p *perturber) Quantize(s *nn.Slot, x *G.Node) (*G.Node, error) {
	if !p.slots[s.Name] {
		return x, nil
	}
	v := tensor.New(tensor.WithShape(x.Shape().Clone()...), tensor.Of(tensor.Float32))
	n := G.NewTensor(x.Graph(), tensor.Float32, x.Dims(), G.WithShape(x.Shape().Clone()...), G.WithName("mixed.p."+s.Name), G.WithValue(v))
	p.nodes[s.Name] = n
	return G.Add(x, n)
}

// traces estimates Tr(H) of every slot of res by Hutchinson's method
// through the Gauss-Newton factorization (package documentation), on the
// batches bs: per batch and probe, one backward pass of u = L r from the
// logits, L Lᵀ = diag(p) − p pᵀ per sample, r Rademacher.
func traces(ctx context.Context, m *nn.Model, lw *nn.Lowered, bs []batch, res *Sensitivity, opt Options) error {
	// The graph differentiates with respect to the input too (the input
	// slot's perturbation) and runs batch normalization folded, as the
	// quantized model will.
	inGrad, frozen := m.InputGrad, m.BNFrozen()
	m.InputGrad = true
	m.SetBNFrozen(true)
	defer func() { m.InputGrad = inGrad; m.SetBNFrozen(frozen) }()
	pt := &perturber{slots: map[string]bool{}, nodes: map[string]*G.Node{}}
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
	n, k := opt.Batch, m.Classes
	net, err := m.BuildTrain(n, pt)
	if err != nil {
		return fmt.Errorf("mixed: Hessian graph: %w", err)
	}
	// cost = Σ z ⊙ U: its gradient with respect to the logits z is U.
	uT := tensor.New(tensor.WithShape(n, k), tensor.Of(tensor.Float32))
	u := G.NewMatrix(net.G, tensor.Float32, G.WithShape(n, k), G.WithName("mixed.u"), G.WithValue(uT))
	zu, err := G.HadamardProd(net.Out, u)
	if err != nil {
		return err
	}
	cost, err := G.Sum(zu)
	if err != nil {
		return err
	}
	paramNode := map[string]*G.Node{}
	for i, p := range m.Params {
		paramNode[p.Name] = net.Params[i]
	}
	// wrt[i] is the node of res.Slots[i]: its weight parameter or its
	// activation's perturbation (0: the activation itself).
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
	if _, err := G.Grad(cost, wrt...); err != nil {
		return fmt.Errorf("mixed: differentiating the Hessian graph: %w", err)
	}
	vm := G.NewTapeMachine(net.G, G.BindDualValues(wrt...))
	defer vm.Close()
	xT := tensor.New(tensor.WithShape(n, m.In.C, m.In.H, m.In.W), tensor.Of(tensor.Float32))

	// run runs batch b with U = u and returns the logits; the gradients
	// are then in wrt's dual values (f reads them, then they are cleared).
	run := func(b batch, f func(i int, g []float32)) ([]float32, error) {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		copy(xT.Data().([]float32), b.x)
		if err := G.Let(net.X, xT); err != nil {
			return nil, err
		}
		if err := G.Let(u, uT); err != nil {
			return nil, err
		}
		defer vm.Reset()
		if err := vm.RunAll(); err != nil {
			return nil, fmt.Errorf("mixed: Hessian graph: %w", err)
		}
		for i, node := range wrt {
			g, err := node.Grad()
			if err != nil {
				return nil, fmt.Errorf("mixed: gradient of %s: %w", res.Slots[i].Name, err)
			}
			gd := g.Data().([]float32)
			if f != nil {
				f(i, gd)
			}
			clear(gd) // bound gradients accumulate
		}
		return append([]float32(nil), net.Out.Value().Data().([]float32)...), nil
	}
	// The softmax of every batch (U = 0: a forward pass).
	probs := make([][]float64, len(bs))
	clear(uT.Data().([]float32))
	for bi, b := range bs {
		z, err := run(b, nil)
		if err != nil {
			return err
		}
		probs[bi] = softmax(z, k)
	}
	rng := rand.New(rand.NewPCG(opt.Seed, 0x68757463)) // "hutc"
	tr := make([]float64, len(res.Slots))
	r := make([]float64, k)
	for probe := 0; probe < opt.Probes; probe++ {
		for bi, b := range bs {
			ud := uT.Data().([]float32)
			for s := 0; s < n; s++ {
				p := probs[bi][s*k : (s+1)*k]
				var dot float64 // Σ_j √p_j r_j
				for j := range r {
					r[j] = float64(2*int(rng.Uint32()&1) - 1)
					dot += math.Sqrt(p[j]) * r[j]
				}
				for j := range r {
					ud[s*k+j] = float32(math.Sqrt(p[j])*r[j] - p[j]*dot)
				}
			}
			if _, err := run(b, func(i int, g []float32) {
				var sq float64
				for _, v := range g {
					sq += float64(v) * float64(v)
				}
				tr[i] += sq / float64(n)
			}); err != nil {
				return err
			}
		}
		if opt.Progress != nil {
			opt.Progress(fmt.Sprintf("sensitivity: Hutchinson probe %d/%d", probe+1, opt.Probes))
		}
	}
	for i := range res.Slots {
		res.Slots[i].Trace = tr[i] / float64(opt.Probes*len(bs))
	}
	return nil
}

// softmax of n rows of k logits.
func softmax(z []float32, k int) []float64 {
	p := make([]float64, len(z))
	for s := 0; s+k <= len(z); s += k {
		mx := math.Inf(-1)
		for _, v := range z[s : s+k] {
			mx = math.Max(mx, float64(v))
		}
		var sum float64
		for j, v := range z[s : s+k] {
			p[s+j] = math.Exp(float64(v) - mx)
			sum += p[s+j]
		}
		for j := range k {
			p[s+j] /= sum
		}
	}
	return p
}
