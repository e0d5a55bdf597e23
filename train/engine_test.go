package train

import (
	"math"
	"math/rand/v2"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/tinyqat/tinyqat/datasets"
	"github.com/tinyqat/tinyqat/nn"
	"github.com/tinyqat/tinyqat/rundir"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// TestGradEngineAddSameBits: gradEngine's Add gives Gorgonia's sums bit
// for bit on 1, 2 and 3 cores, in place (unsafe), into a reused tensor
// and on the paths it leaves to Gorgonia (a new tensor, an increment),
// at sizes below and above par's split (4096 elements).
func TestGradEngineAddSameBits(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	mk := func(n int) *tensor.Dense {
		d := make([]float32, n)
		for i := range d {
			d[i] = float32(r.NormFloat64() * math.Pow(10, float64(r.IntN(12)-6)))
		}
		return tensor.New(tensor.WithShape(n), tensor.WithBacking(d))
	}
	for _, n := range []int{1, 7, 4096, 70001} {
		a, b, inc := mk(n), mk(n), mk(n)
		want := func(opts ...tensor.FuncOpt) []float32 {
			out, err := G.StandardEngine{}.Add(a.Clone().(*tensor.Dense), b, opts...)
			if err != nil {
				t.Fatal(err)
			}
			return out.Data().([]float32)
		}
		wantSum := want()
		wantIncr := want(tensor.WithIncr(inc.Clone().(*tensor.Dense)))
		for _, procs := range []int{1, 2, 3} {
			func() {
				defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(procs))
				for _, tc := range []struct {
					name string
					a    *tensor.Dense
					opts []tensor.FuncOpt
					want []float32
				}{
					{"unsafe", a.Clone().(*tensor.Dense), []tensor.FuncOpt{tensor.UseUnsafe()}, wantSum},
					{"reuse", a.Clone().(*tensor.Dense), []tensor.FuncOpt{tensor.WithReuse(tensor.New(tensor.WithShape(n), tensor.Of(tensor.Float32)))}, wantSum},
					{"new", a.Clone().(*tensor.Dense), nil, wantSum},
					// (tensor's own Add of one element also changes a here.)
					{"incr", a.Clone().(*tensor.Dense), []tensor.FuncOpt{tensor.WithIncr(inc.Clone().(*tensor.Dense))}, wantIncr},
				} {
					out, err := gradEngine{}.Add(tc.a, b, tc.opts...)
					if err != nil {
						t.Fatalf("n=%d %s: %v", n, tc.name, err)
					}
					got := out.Data().([]float32)
					for i := range got {
						if math.Float32bits(got[i]) != math.Float32bits(tc.want[i]) {
							t.Fatalf("n=%d %s, %d cores: element %d is %v, want %v", n, tc.name, procs, i, got[i], tc.want[i])
						}
					}
				}
			}()
		}
	}
}

// TestGradEngineAddReuseShape: a reused tensor of the inputs' size but
// another shape comes back in the inputs' shape holding the sum, as from
// Gorgonia's engine (tensor's handleFuncOpts reshapes it), and one of
// another size is Gorgonia's error. Expected results are StdEng's.
func TestGradEngineAddReuseShape(t *testing.T) {
	mk := func(s ...int) *tensor.Dense {
		n := tensor.Shape(s).TotalSize()
		d := make([]float32, n)
		for i := range d {
			d[i] = float32(i) + 0.5
		}
		return tensor.New(tensor.WithShape(s...), tensor.WithBacking(d))
	}
	for _, tc := range []struct {
		name      string
		in, reuse []int
	}{
		{"same", []int{2, 3}, []int{2, 3}},
		{"transposed", []int{2, 3}, []int{3, 2}},
		{"flat", []int{2, 3}, []int{6}},
		{"big", []int{64, 100}, []int{100, 64}}, // above par's split
		{"short", []int{2, 3}, []int{5}},
		{"rowvec", []int{6}, []int{1, 6}}, // Shape.Eq takes these as equal
		{"colvec", []int{6}, []int{6, 1}},
	} {
		want, wantErr := G.StandardEngine{}.Add(mk(tc.in...), mk(tc.in...), tensor.WithReuse(mk(tc.reuse...)))
		got, err := gradEngine{}.Add(mk(tc.in...), mk(tc.in...), tensor.WithReuse(mk(tc.reuse...)))
		if (err != nil) != (wantErr != nil) {
			t.Fatalf("%s: error %v, Gorgonia's %v", tc.name, err, wantErr)
		}
		if err != nil {
			continue
		}
		if !slices.Equal(got.Shape(), want.Shape()) { // exact: Eq takes (6) and (1, 6) as equal
			t.Errorf("%s: shape %v, Gorgonia's %v", tc.name, got.Shape(), want.Shape())
		}
		g, w := got.Data().([]float32), want.Data().([]float32)
		for i := range w {
			if math.Float32bits(g[i]) != math.Float32bits(w[i]) {
				t.Fatalf("%s: element %d is %v, Gorgonia's %v", tc.name, i, g[i], w[i])
			}
		}
	}
}

// TestStepSameBitsAnyCoreCount: two resnet8 training steps (residual
// blocks, whose inputs' two gradients the tape adds on gradEngine), with
// Adam and with SGD (updates split over cores by eachPiece), leave the
// same parameters, bit for bit, on 1, 2 and 3 cores, and the tape's adds
// of those gradients ran on gradEngine: their values carry it, and its
// own split add ran (parAdds; the tape stamps every value with its
// engine, whichever added).
func TestStepSameBitsAnyCoreCount(t *testing.T) {
	for _, opt := range []rundir.Optimizer{rundir.Adam, rundir.SGD} {
		t.Run(string(opt), func(t *testing.T) { stepSameBits(t, rundir.Config{Batch: 16, Optimizer: opt, WeightDecay: 5e-4}) })
	}
}

func stepSameBits(t *testing.T, cfg rundir.Config) {
	batch := cfg.Batch
	data := datasets.Synthetic(batch*2, 4, 28, 28, 10, 40, 1)
	run := func(procs int) [][]float32 {
		defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(procs))
		m, err := nn.New("resnet8", nn.Shape{C: 1, H: 28, W: 28}, 10, 5)
		if err != nil {
			t.Fatal(err)
		}
		tr, err := NewTrainer(m, data, cfg)
		if err != nil {
			t.Fatal(err)
		}
		sg, err := tr.graph(batch)
		if err != nil {
			t.Fatal(err)
		}
		labels := make([]int, batch)
		datasets.NewBatcher(data.Train, batch, true, 1).Next(sg.x.Data().([]float32), labels)
		for i, l := range labels {
			sg.yT.Data().([]float32)[i*10+l] = 1
		}
		ran := parAdds.Load()
		for step := 0; step < 2; step++ {
			if _, _, err := tr.step(sg, labels, 1e-3); err != nil {
				t.Fatal(err)
			}
		}
		if ran = parAdds.Load() - ran; ran < 2*3 {
			t.Errorf("%d cores: gradEngine added %d times in two steps, want one per residual block a step at least", procs, ran)
		}
		adds := 0
		for _, n := range sg.net.G.AllNodes() {
			if v, ok := n.Value().(*tensor.Dense); ok && n.Op() != nil && strings.HasPrefix(n.Op().String(), "+") {
				if _, ok := v.Engine().(gradEngine); !ok {
					t.Errorf("%d cores: %v's value is on %T", procs, n, v.Engine())
				}
				adds++
			}
		}
		if adds < 3 {
			t.Errorf("%d cores: %d gradient additions, want one per residual block at least", procs, adds)
		}
		var out [][]float32
		for _, p := range m.Params {
			out = append(out, append([]float32(nil), p.Data()...))
		}
		return out
	}
	one := run(1)
	for _, procs := range []int{2, 3} {
		got := run(procs)
		for i := range one {
			for j := range one[i] {
				if math.Float32bits(one[i][j]) != math.Float32bits(got[i][j]) {
					t.Fatalf("parameter %d[%d] differs between 1 and %d cores: %v vs %v", i, j, procs, one[i][j], got[i][j])
				}
			}
		}
	}
}
