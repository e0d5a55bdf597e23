package nn

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestCIFARModels (issue 20): resnet8-mlperf and resnet20 on RGB 32×32
// inputs with 10 classes have the reference's parameter and MAC counts,
// meet the lowering rules, round-trip through their spec, give finite
// logits of the right shape on a batch of 2 that match the plain-Go
// reference forward pass, and take a training step (batch statistics)
// whose gradients are finite and lower the loss.
func TestCIFARModels(t *testing.T) {
	for _, tc := range []struct {
		arch         string
		params, macs int
		buffers      int // batch-norm running means and variances
	}{
		// MLPerf Tiny's resnet_v1_eembc (mlcommons/tiny,
		// benchmark/training/image_classification/keras_model.py, 16
		// filters): Keras counts 78,666 parameters, 480 of them batch-norm
		// running statistics (non-trainable, Model.Buffers here) and 240
		// the biases of the convolutions before a batch norm; tinyqat, like
		// the PyTorch peer (77,946, shared/DESIGN.md), has no such biases:
		//   stem 3·16·9 + BN 2·16
		//   stack1 2·(16·16·9 + BN 2·16)
		//   stack2 32·16·9 + 32·32·9 + 2 BN 2·32 + shortcut 32·16 + 32
		//   stack3 64·32·9 + 64·64·9 + 2 BN 2·64 + shortcut 64·32 + 64
		//   fc 64·10 + 10
		// MACs: 32·32·16·27 + 2·32·32·16·144 + 16·16·32·(144 + 288 + 16)
		// + 8·8·64·(288 + 576 + 32) + 640 = 12,501,632 (MLPerf Tiny: 12.5 M).
		{"resnet8-mlperf", 77946, 12501632, 2 * (16 + 2*16 + 2*32 + 2*64)},
		// He et al. 2016 §4.2 ResNet-20 with option-B shortcuts (1×1
		// projection + BN at the two stride-2 blocks): option A's 269,722
		// (0.27 M, as pytorch_resnet_cifar10 counts it, BN γ and β
		// included) + 16·32 + 2·32 + 32·64 + 2·64 = 272,474.
		//   stem 3·16·9 + 2·16; stage 1: 6·(16·16·9 + 2·16)
		//   stage 2: 32·16·9 + 5·32·32·9 + 6·2·32 + projection 32·16 + 2·32
		//   stage 3: 64·32·9 + 5·64·64·9 + 6·2·64 + projection 64·32 + 2·64
		//   fc 64·10 + 10
		// MACs: option A's 40,551,040 + projections 16·16·32·16 + 8·8·64·32.
		{"resnet20", 272474, 40551040 + 16*16*32*16 + 8*8*64*32, 2 * (16 + 6*16 + 7*32 + 7*64)},
	} {
		t.Run(tc.arch, func(t *testing.T) {
			in := Shape{C: 3, H: 32, W: 32}
			m, err := New(tc.arch, in, 10, 1)
			if err != nil {
				t.Fatal(err)
			}
			if m.NumParams() != tc.params || m.MACs() != tc.macs {
				t.Errorf("%d parameters and %d MACs, want %d and %d", m.NumParams(), m.MACs(), tc.params, tc.macs)
			}
			nb := 0
			for _, b := range m.Buffers {
				nb += b.Value.Size()
			}
			if nb != tc.buffers {
				t.Errorf("%d buffer values, want %d", nb, tc.buffers)
			}
			if err := m.CheckLowering(); err != nil {
				t.Errorf("lowering: %v", err)
			}
			spec, err := m.Spec()
			if err != nil {
				t.Fatal(err)
			}
			m2, err := FromSpec(spec, 1)
			if err != nil || m2.In != in || m2.NumParams() != m.NumParams() || m2.MACs() != m.MACs() {
				t.Fatalf("rebuilt from its spec: %v", err)
			}

			rng := rand.New(rand.NewPCG(20, 20))
			perturb(m, rng) // batch normalization away from γ = 1, β = 0, μ = 0, σ² = 1
			const n = 2
			x := randSlice(rng, n*in.Size(), 1)
			pred := NewPredictor(m, nil)
			defer pred.Close()
			got := make([]float32, n*10)
			if err := pred.Logits(got, x, n); err != nil {
				t.Fatal(err)
			}
			want := refForward(m, x, n)
			if len(want) != len(got) {
				t.Fatalf("reference gives %d logits, want %d", len(want), len(got))
			}
			for i, v := range got {
				if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) || math.Abs(float64(v-want[i])) > 1e-4*(1+math.Abs(float64(want[i]))) {
					t.Fatalf("logit %d = %v, reference %v", i, v, want[i])
				}
			}

			// One training step: L = Σ c·logits with batch statistics.
			c := randSlice(rng, n*10, 1)
			r := newGradRun(t, m, true, nil, x, c, n)
			l0, grads := r.run(t, true)
			if len(grads) != len(m.Params) {
				t.Fatalf("%d gradients for %d parameters", len(grads), len(m.Params))
			}
			var norm float64
			for i, g := range grads {
				var s float64
				for _, v := range g {
					if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
						t.Fatalf("gradient of %s is %v", m.Params[i].Name, v)
					}
					s += float64(v) * float64(v)
				}
				if s == 0 {
					t.Errorf("gradient of %s is zero", m.Params[i].Name)
				}
				norm += s
			}
			step := 1e-3 / math.Sqrt(norm) // a step of length 1e-3 down the gradient
			for i, g := range grads {
				d := m.Params[i].Data()
				for j, v := range g {
					d[j] -= float32(step * float64(v))
				}
			}
			l1, _ := r.run(t, false)
			if !(l1 < l0-0.5e-3*math.Sqrt(norm)) {
				t.Errorf("loss %v → %v after a step down a gradient of norm %v", l0, l1, math.Sqrt(norm))
			}
		})
	}
}
