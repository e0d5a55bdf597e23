package train

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/tinyqat/tinyqat/rundir"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// slowDistill is the reference twin of DistillLoss, in float64 from the
// definition, with no shared helper:
//
//	L = (1/N) Σ_n (1−α)·(−Σ_k y_nk log s_nk) + α·T²·Σ_k p_nk (log p_nk − log q_nk)
//	s = softmax(z), q = softmax(z/T), p = softmax(t/T)
func slowDistill(z, y, tl []float64, n, k int, alpha, temp float64) float64 {
	softmax := func(v []float64, scale float64) []float64 {
		m := math.Inf(-1)
		for _, x := range v {
			m = math.Max(m, x/scale)
		}
		out := make([]float64, len(v))
		var s float64
		for i, x := range v {
			out[i] = math.Exp(x/scale - m)
			s += out[i]
		}
		for i := range out {
			out[i] /= s
		}
		return out
	}
	var total float64
	for i := 0; i < n; i++ {
		zr, yr, tr := z[i*k:(i+1)*k], y[i*k:(i+1)*k], tl[i*k:(i+1)*k]
		s, q, p := softmax(zr, 1), softmax(zr, temp), softmax(tr, temp)
		var ce, kl float64
		for j := 0; j < k; j++ {
			if yr[j] != 0 {
				ce -= yr[j] * math.Log(s[j])
			}
			if p[j] != 0 {
				kl += p[j] * (math.Log(p[j]) - math.Log(q[j]))
			}
		}
		total += (1-alpha)*ce + alpha*temp*temp*kl
	}
	return total / float64(n)
}

// distillRun runs DistillLoss (or, with xent, SoftmaxCrossEntropy) on a
// graph and returns the loss and ∂L/∂z.
func distillRun(t *testing.T, z, y, tl []float32, k int, alpha, temp float64, xent bool) (float32, []float32) {
	t.Helper()
	n := len(z) / k
	g := G.NewGraph()
	mat := func(name string, v []float32) *G.Node {
		return G.NewMatrix(g, tensor.Float32, G.WithShape(n, k), G.WithName(name), G.WithValue(tensor.New(tensor.WithShape(n, k), tensor.WithBacking(slices.Clone(v)))))
	}
	zn, yn, tn := mat("z", z), mat("y", y), mat("t", tl)
	var loss *G.Node
	var err error
	if xent {
		loss, err = SoftmaxCrossEntropy(zn, yn)
	} else {
		loss, err = DistillLoss(zn, yn, tn, alpha, temp)
	}
	if err != nil {
		t.Fatal(err)
	}
	if _, err := G.Grad(loss, zn); err != nil {
		t.Fatal(err)
	}
	vm := G.NewTapeMachine(g, G.BindDualValues(zn))
	defer vm.Close()
	if err := vm.RunAll(); err != nil {
		t.Fatal(err)
	}
	gv, _ := zn.Grad()
	return loss.Value().Data().(float32), slices.Clone(gv.Data().([]float32))
}

func f64s(v []float32) []float64 {
	out := make([]float64, len(v))
	for i, x := range v {
		out[i] = float64(x)
	}
	return out
}

// distillCase is a random batch: logits of scale sz and st, one-hot labels.
func distillCase(seed uint64, n, k int, sz, st float64) (z, y, tl []float32) {
	r := rand.New(rand.NewPCG(seed, 7))
	z, y, tl = make([]float32, n*k), make([]float32, n*k), make([]float32, n*k)
	for i := range z {
		z[i] = float32(sz * r.NormFloat64())
		tl[i] = float32(st * r.NormFloat64())
	}
	for i := 0; i < n; i++ {
		y[i*k+r.IntN(k)] = 1
	}
	return z, y, tl
}

func TestDistillLossMatchesReference(t *testing.T) {
	for _, c := range []struct {
		name          string
		n, k          int
		alpha, temp   float64
		sz, st        float64
		fdH, fdTolRel float64
	}{
		{"alpha 0.9 T 4", 5, 10, 0.9, 4, 2, 3, 1e-4, 1e-5},
		{"alpha 0.5 T 1", 3, 7, 0.5, 1, 1, 1, 1e-4, 1e-5},
		{"alpha 1 T 2", 4, 3, 1, 2, 1, 2, 1e-4, 1e-5},
		{"alpha 0.3 T 0.5", 2, 5, 0.3, 0.5, 1, 1, 1e-5, 1e-4},
		// Logits far apart: a naive exp would overflow, the teacher's
		// softened probabilities underflow for some classes.
		{"large logits", 3, 4, 0.7, 1, 300, 800, 1e-4, 1e-4},
	} {
		t.Run(c.name, func(t *testing.T) {
			z, y, tl := distillCase(uint64(c.n*100+c.k), c.n, c.k, c.sz, c.st)
			loss, grad := distillRun(t, z, y, tl, c.k, c.alpha, c.temp, false)
			ref := slowDistill(f64s(z), f64s(y), f64s(tl), c.n, c.k, c.alpha, c.temp)
			// The op sums in float64 and rounds once to float32: within
			// a few float32 ulps of the reference.
			if math.IsNaN(float64(loss)) || math.Abs(float64(loss)-ref) > 1e-6*math.Max(1, math.Abs(ref)) {
				t.Fatalf("loss %v, reference %v", loss, ref)
			}
			// Central differences of the float64 reference: its error
			// is O(h²) times the third derivative (small at these scales)
			// plus rounding of order 1e-16/h.
			for i := range z {
				zp, zm := f64s(z), f64s(z)
				zp[i] += c.fdH
				zm[i] -= c.fdH
				fd := (slowDistill(zp, f64s(y), f64s(tl), c.n, c.k, c.alpha, c.temp) -
					slowDistill(zm, f64s(y), f64s(tl), c.n, c.k, c.alpha, c.temp)) / (2 * c.fdH)
				if math.Abs(float64(grad[i])-fd) > c.fdTolRel*math.Max(1, math.Abs(fd))+1e-7 {
					t.Fatalf("∂L/∂z[%d] = %v, finite difference %v", i, grad[i], fd)
				}
			}
		})
	}
}

// TestDistillAlphaZeroIsCrossEntropy: with α = 0 the loss and its
// gradient are SoftmaxCrossEntropy's, bit for bit, whatever the teacher
// and temperature.
func TestDistillAlphaZeroIsCrossEntropy(t *testing.T) {
	for _, temp := range []float64{1, 4, 0.25} {
		z, y, tl := distillCase(3, 6, 10, 3, 5)
		lx, gx := distillRun(t, z, y, tl, 10, 0, temp, true)
		ld, gd := distillRun(t, z, y, tl, 10, 0, temp, false)
		if math.Float32bits(lx) != math.Float32bits(ld) {
			t.Fatalf("T %v: loss %v, cross-entropy %v", temp, ld, lx)
		}
		for i := range gx {
			if math.Float32bits(gx[i]) != math.Float32bits(gd[i]) {
				t.Fatalf("T %v: ∂L/∂z[%d] = %v, cross-entropy's %v", temp, i, gd[i], gx[i])
			}
		}
	}
}

// TestDistillTeacherEqualsStudent: with t = z the KL term and its
// gradient vanish, so the loss is (1−α) times the cross-entropy.
func TestDistillTeacherEqualsStudent(t *testing.T) {
	z, y, _ := distillCase(5, 4, 6, 2, 0)
	lx, gx := distillRun(t, z, y, z, 6, 0, 1, true)
	ld, gd := distillRun(t, z, y, z, 6, 0.75, 3, false)
	if math.Abs(float64(ld)-0.25*float64(lx)) > 1e-6 {
		t.Fatalf("loss %v, want ¼·%v", ld, lx)
	}
	for i := range gx {
		if math.Abs(float64(gd[i])-0.25*float64(gx[i])) > 1e-7 {
			t.Fatalf("∂L/∂z[%d] = %v, want ¼·%v", i, gd[i], gx[i])
		}
	}
}

func TestDistillLossRefusesBadSettings(t *testing.T) {
	g := G.NewGraph()
	z := G.NewMatrix(g, tensor.Float32, G.WithShape(2, 3), G.WithName("z"))
	y := G.NewMatrix(g, tensor.Float32, G.WithShape(2, 3), G.WithName("y"))
	tn := G.NewMatrix(g, tensor.Float32, G.WithShape(2, 3), G.WithName("t"))
	t4 := G.NewMatrix(g, tensor.Float32, G.WithShape(2, 4), G.WithName("t4"))
	for _, c := range []struct {
		name        string
		teacher     *G.Node
		alpha, temp float64
	}{
		{"alpha above 1", tn, 1.5, 4},
		{"alpha negative", tn, -0.1, 4},
		{"alpha NaN", tn, math.NaN(), 4},
		{"temperature 0", tn, 0.5, 0},
		{"temperature negative", tn, 0.5, -1},
		{"temperature Inf", tn, 0.5, math.Inf(1)},
		{"temperature NaN", tn, 0.5, math.NaN()},
		// Positive and finite, but z/T or T² overflows: NaN losses.
		{"temperature subnormal", tn, 0.5, 1e-310},
		{"temperature huge", tn, 0.5, 1e160},
		{"temperature below the range", tn, 0.5, 0.0099},
		{"temperature above the range", tn, 0.5, 100.5},
		{"teacher shape", t4, 0.5, 4},
	} {
		if _, err := DistillLoss(z, y, c.teacher, c.alpha, c.temp); err == nil {
			t.Errorf("%s: no error", c.name)
		}
	}
}

// TestDistillLossFiniteInRange: at both ends of the temperature range,
// large logits (a logit gap of about 1e6) give a finite loss and
// gradient.
func TestDistillLossFiniteInRange(t *testing.T) {
	z, y, tl := distillCase(5, 4, 10, 3e5, 3e5)
	for _, temp := range []float64{rundir.DistillTempMin, 1, rundir.DistillTempMax} {
		loss, grad := distillRun(t, z, y, tl, 10, 0.5, temp, false)
		if math.IsNaN(float64(loss)) || math.IsInf(float64(loss), 0) {
			t.Errorf("T %v: loss %v", temp, loss)
		}
		for i, g := range grad {
			if math.IsNaN(float64(g)) || math.IsInf(float64(g), 0) {
				t.Fatalf("T %v: gradient %d is %v", temp, i, g)
			}
		}
	}
}
