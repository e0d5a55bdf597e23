package cluster

import (
	"slices"
	"testing"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// TestCentroidGradient runs L = Σ a ⊙ codebook(w) through a Gorgonia graph.
// By hand: ∂L/∂ŵ = a, so ∂L/∂c_{g,k} is the sum of a over the weights of
// group g assigned to k.
func TestCentroidGradient(t *testing.T) {
	// A (3, 2) Linear weight, channels on axis 1 (element i is channel i%2),
	// 1-bit codebooks per channel: channel 0 = {−1, 1}, channel 1 = {0.5, 2}.
	cb := &Codebook{Bits: 1, Axis: 1, Shape: []int{3, 2},
		Centroids: []float32{-1, 1, 0.5, 2},
		Index:     []uint8{0, 1, 1, 1, 1, 0}}
	a := []float32{1, 2, 3, 4, 5, 6}
	// forward, by hand: c0[0], c1[1], c0[1], c1[1], c0[1], c1[0]
	wantFwd := []float32{-1, 2, 1, 2, 1, 0.5}
	// centroid gradients, by hand: c0[0] ← a0 = 1; c0[1] ← a2+a4 = 8;
	// c1[0] ← a5 = 6; c1[1] ← a1+a3 = 6.
	wantDC := []float64{1, 8, 6, 6}
	for _, pass := range []bool{false, true} {
		st, err := NewCodebookState("fc.weight", cb, Centroid{PassThrough: pass})
		if err != nil {
			t.Fatal(err)
		}
		g := G.NewGraph()
		w := G.NewTensor(g, tensor.Float32, 2, G.WithShape(3, 2), G.WithName("w"),
			G.WithValue(tensor.New(tensor.WithShape(3, 2), tensor.WithBacking([]float32{9, 9, 9, 9, 9, 9}))))
		an := G.NewTensor(g, tensor.Float32, 2, G.WithShape(3, 2), G.WithName("a"),
			G.WithValue(tensor.New(tensor.WithShape(3, 2), tensor.WithBacking(slices.Clone(a)))))
		y, err := NewCodebook(w, st)
		if err != nil {
			t.Fatal(err)
		}
		prod, err := G.HadamardProd(y, an)
		if err != nil {
			t.Fatal(err)
		}
		loss, err := G.Sum(prod)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := G.Grad(loss, w); err != nil {
			t.Fatal(err)
		}
		vm := G.NewTapeMachine(g, G.BindDualValues(w))
		if err := vm.RunAll(); err != nil {
			t.Fatal(err)
		}
		if got := y.Value().Data().([]float32); !slices.Equal(got, wantFwd) {
			t.Errorf("forward %v, want %v", got, wantFwd)
		}
		if got := st.TakeGrad(); !slices.Equal(got, wantDC) {
			t.Errorf("centroid gradient %v, want %v", got, wantDC)
		}
		gw, _ := w.Grad()
		wantDW := make([]float32, 6) // no pass-through: the weights get nothing
		if pass {
			wantDW = a // straight through
		}
		if got := gw.Data().([]float32); !slices.Equal(got, wantDW) {
			t.Errorf("pass=%v: weight gradient %v, want %v", pass, got, wantDW)
		}
		vm.Close()
		if st.TakeGrad() != nil {
			t.Error("TakeGrad did not clear")
		}
	}
}

func TestCodebookValidate(t *testing.T) {
	good := Codebook{Bits: 1, Axis: -1, Shape: []int{2}, Centroids: []float32{0, 1}, Index: []uint8{0, 1}}
	if err := good.Validate(); err != nil {
		t.Fatal(err)
	}
	for name, mod := range map[string]func(c *Codebook){
		"index out of range": func(c *Codebook) { c.Index[1] = 2 },
		"too few indices":    func(c *Codebook) { c.Index = c.Index[:1] },
		"too few centroids":  func(c *Codebook) { c.Centroids = c.Centroids[:1] },
		"bits 9":             func(c *Codebook) { c.Bits = 9 },
		"axis":               func(c *Codebook) { c.Axis = 1 },
	} {
		c := good.Clone()
		mod(c)
		if err := c.Validate(); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

func TestCodebookReassign(t *testing.T) {
	// An unsorted 2-bit table (fine-tuning may reorder centroids).
	cb := &Codebook{Bits: 2, Axis: -1, Shape: []int{5}, Centroids: []float32{2, -1, 0.5, 5}, Index: make([]uint8, 5)}
	cb.Reassign([]float32{-3, 0.2, 1.25, 10, 2})
	// By hand: −3 → −1 (index 1); 0.2 → 0.5 (|0.3| < |1.2|, index 2);
	// 1.25 is 0.75 from both 0.5 and 2 → the smaller, 0.5 (index 2);
	// 10 → 5 (index 3); 2 → 2 (index 0).
	if want := []uint8{1, 2, 2, 3, 0}; !slices.Equal(cb.Index, want) {
		t.Errorf("indices %v, want %v", cb.Index, want)
	}
}

// TestCodebookStateNeedsEstimator: a state without an estimator is an
// error, not a panic.
func TestCodebookStateNeedsEstimator(t *testing.T) {
	cb := &Codebook{Bits: 1, Axis: -1, Shape: []int{2}, Centroids: []float32{-1, 1}, Index: []uint8{0, 1}}
	if _, err := NewCodebookState("w", cb, nil); err == nil {
		t.Fatal("no error without an estimator")
	}
}
