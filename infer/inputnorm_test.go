package infer

import (
	"errors"
	"math"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// testNorm is a normalization of c channels with CIFAR-like statistics
// (means near ½, stds near ¼) and one small std (0.07) that stretches the
// byte grid over several input steps.
func testNorm(c int) *InputNorm {
	n := &InputNorm{}
	for i := range c {
		n.Mean = append(n.Mean, []float32{0.4914, 0.4822, 0.4465}[i%3])
		n.Std = append(n.Std, []float32{0.247, 0.07, 0.2616}[i%3])
	}
	return n
}

// batcherNorm normalizes x (planes of hw values, channel = plane mod
// len(mean)) as datasets.Batcher.Next does, written out independently:
// m, inv := Mean[c], 1/Std[c]; p = (p − m)·inv, all float32.
func batcherNorm(x []float32, n *InputNorm, hw int) []float32 {
	out := slices.Clone(x)
	for k := 0; k*hw < len(out); k++ {
		c := k % len(n.Mean)
		m, inv := n.Mean[c], 1/n.Std[c]
		p := out[k*hw : (k+1)*hw]
		for j := range p {
			p[j] = (p[j] - m) * inv
		}
	}
	return out
}

// withNorm returns a copy of m (sharing its layers, with a plan of its
// own) with class names and norm (nil: neither).
func withNorm(m *Model, norm *InputNorm) *Model {
	mm := &Model{Version: m.Version, Arch: m.Arch, Mode: m.Mode, InC: m.InC, InH: m.InH, InW: m.InW,
		Classes: m.Classes, Input: m.Input, Layers: m.Layers, Source: m.Source, Norm: norm}
	if norm != nil {
		for i := range m.Classes {
			mm.ClassNames = append(mm.ClassNames, "class "+string(rune('a'+i)))
		}
	}
	return mm
}

// TestNormMatchesBatcher: a model with Norm run on raw pixels gives the
// logits of the same model without it run on pixels normalized the
// Batcher's way, bit for bit (float and byte inputs, every mode, one and
// several channels, batches that run in parallel).
func TestNormMatchesBatcher(t *testing.T) {
	for _, arch := range []string{"mlp", "cnn"} {
		for _, mode := range []Mode{W8A8, W8A8Asym} {
			plain := randModel(t, rand.New(rand.NewPCG(41, 41)), arch, mode)
			norm := testNorm(plain.InC)
			m := withNorm(plain, norm)
			if err := m.Validate(); err != nil {
				t.Fatal(err)
			}
			hw := m.InH * m.InW
			for _, n := range []int{1, 7, 100} {
				pix := make([]uint8, n*m.InC*hw)
				rng := rand.New(rand.NewPCG(uint64(n), 42))
				for i := range pix {
					pix[i] = uint8(rng.IntN(256))
				}
				x := BytesToFloat(pix)
				want, err := plain.Logits(batcherNorm(x, norm, hw), n)
				if err != nil {
					t.Fatal(err)
				}
				got, err := m.Logits(x, n)
				if err != nil || !slices.Equal(got, want) {
					t.Fatalf("%s %s n=%d: Logits with Norm differ from the Batcher's normalization (%v)", arch, mode, n, err)
				}
				gotB, err := m.LogitsBytes(pix, n)
				if err != nil || !slices.Equal(gotB, want) {
					t.Fatalf("%s %s n=%d: LogitsBytes differ from the float path (%v)", arch, mode, n, err)
				}
				p, err := m.PredictBytes(pix, n)
				if err != nil || !slices.Equal(p, argmaxRows(want, n, m.Classes)) {
					t.Fatalf("%s %s n=%d: PredictBytes %v (%v)", arch, mode, n, p, err)
				}
				if slices.Equal(got, must(plain.Logits(x, n))) {
					t.Fatalf("%s %s n=%d: the normalization changes nothing: the test is vacuous", arch, mode, n)
				}
			}
		}
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// TestByteTablesEqualFloatPath checks every byte of every channel: the
// table entry is the reference input quantization (quantizeInput, not the
// runtime's quantizeU8) of the Batcher-normalized float32(p)/255, and a
// batch of images holding every byte value in every channel gives
// LogitsBytes = Logits on their float pixels, with and without Norm.
func TestByteTablesEqualFloatPath(t *testing.T) {
	for _, mode := range []Mode{W8A8, W8A8Asym} {
		for _, norm := range []bool{false, true} {
			m := randModel(t, rand.New(rand.NewPCG(43, 43)), "cnn", mode)
			if norm {
				m = withNorm(m, testNorm(m.InC))
			}
			mp, err := m.prepare()
			if err != nil {
				t.Fatal(err)
			}
			hw := m.InH * m.InW
			for c := 0; c < m.InC; c++ {
				x := make([]float32, 256)
				for p := range x {
					x[p] = float32(p) / 255
				}
				if norm {
					x = batcherNorm(x, &InputNorm{Mean: m.Norm.Mean[c : c+1], Std: m.Norm.Std[c : c+1]}, 256)
				}
				want := make([]int32, 256)
				if mode == W8A8 {
					q := make([]int8, 256)
					quantizeInput(m, q, x)
					for p, v := range q {
						want[p] = int32(v)
					}
				} else {
					q := make([]uint8, 256)
					quantizeInput(m, q, x)
					for p, v := range q {
						want[p] = int32(v)
					}
				}
				distinct := map[int32]bool{}
				for p := range 256 {
					if got := int32(mp.lut[c][p]) + mp.in.off; got != want[p] {
						t.Fatalf("%s norm=%v channel %d byte %d: table %d, float path %d", mode, norm, c, p, got, want[p])
					}
					distinct[want[p]] = true
				}
				if len(distinct) < 32 {
					t.Fatalf("%s channel %d: only %d distinct inputs: a vacuous table", mode, c, len(distinct))
				}
			}
			// Every byte in every channel: image k's pixel j of channel c
			// is (k·hw + j + 37c) mod 256.
			n := (256 + hw - 1) / hw
			pix := make([]uint8, n*m.InC*hw)
			for k := range n {
				for c := 0; c < m.InC; c++ {
					for j := range hw {
						pix[(k*m.InC+c)*hw+j] = uint8(k*hw + j + 37*c)
					}
				}
			}
			a, err1 := m.LogitsBytes(pix, n)
			b, err2 := m.Logits(BytesToFloat(pix), n)
			if err1 != nil || err2 != nil || !slices.Equal(a, b) {
				t.Fatalf("%s norm=%v: LogitsBytes %v, Logits %v (%v, %v)", mode, norm, a, b, err1, err2)
			}
		}
	}
}

// TestPredictBytesWeightOnly: a w8-only model takes bytes as their float
// pixels, normalized.
func TestPredictBytesWeightOnly(t *testing.T) {
	m := withNorm(testModel("cnn", W8Only, 44), testNorm(1))
	pix := make([]uint8, 3*m.InH*m.InW)
	for i := range pix {
		pix[i] = uint8(i * 7)
	}
	x := BytesToFloat(pix)
	want, err := m.Predict(x, 3)
	if err != nil {
		t.Fatal(err)
	}
	got, err := m.PredictBytes(pix, 3)
	if err != nil || !slices.Equal(got, want) {
		t.Fatalf("PredictBytes %v, Predict %v (%v)", got, want, err)
	}
	plain := withNorm(m, nil)
	a := must(m.FloatLogits(x, 3))
	b := must(plain.FloatLogits(batcherNorm(x, m.Norm, m.InH*m.InW), 3))
	if !slices.Equal(a, b) {
		t.Fatalf("w8-only FloatLogits with Norm differ from the Batcher's normalization")
	}
}

// TestClassNamesNormSaveLoad: names and normalization survive a file
// round trip bit for bit; a version-3 model without them still saves,
// loads and runs.
func TestClassNamesNormSaveLoad(t *testing.T) {
	m := withNorm(randModel(t, rand.New(rand.NewPCG(45, 45)), "cnn", W8A8), testNorm(2))
	m.Norm.Mean[0] = math.Nextafter32(0.5, 1) // needs all 24 bits
	path := filepath.Join(t.TempDir(), "m.tqm")
	if err := m.Save(path); err != nil {
		t.Fatal(err)
	}
	back, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if back.Version != 4 || !slices.Equal(back.ClassNames, m.ClassNames) || back.Norm == nil ||
		!slices.Equal(back.Norm.Mean, m.Norm.Mean) || !slices.Equal(back.Norm.Std, m.Norm.Std) {
		t.Fatalf("round trip: version %d, names %q, norm %+v", back.Version, back.ClassNames, back.Norm)
	}
	old := randModel(t, rand.New(rand.NewPCG(45, 45)), "cnn", W8A8)
	old.Version = 3
	p3 := filepath.Join(t.TempDir(), "v3.tqm")
	if err := old.Save(p3); err != nil {
		t.Fatal(err)
	}
	back3, err := Load(p3)
	if err != nil || back3.Norm != nil || back3.ClassNames != nil {
		t.Fatalf("version 3: %v", err)
	}
	if _, err := back3.PredictBytes(make([]uint8, 2*8*8), 1); err != nil {
		t.Fatal(err)
	}
}

// TestValidateInputMeta: bad names and normalizations are refused with an
// error naming the problem, by Validate and when loading.
func TestValidateInputMeta(t *testing.T) {
	for _, c := range []struct {
		name   string
		mutate func(*Model)
		want   string
	}{
		{"too few names", func(m *Model) { m.ClassNames = m.ClassNames[:3] }, "3 class names for 10 classes"},
		{"empty name", func(m *Model) { m.ClassNames[2] = "" }, "class name 2"},
		{"control character", func(m *Model) { m.ClassNames[1] = "cat\x1b[2J" }, "control character"},
		{"bad UTF-8", func(m *Model) { m.ClassNames[1] = "\xff" }, "UTF-8"},
		{"long name", func(m *Model) { m.ClassNames[1] = strings.Repeat("a", 257) }, "257 bytes"},
		{"duplicate", func(m *Model) { m.ClassNames[4] = m.ClassNames[0] }, "both"},
		{"one mean", func(m *Model) { m.Norm.Mean = m.Norm.Mean[:1] }, "1 means and 2 stds for 2 channels"},
		{"NaN mean", func(m *Model) { m.Norm.Mean[1] = float32(math.NaN()) }, "channel 1"},
		{"Inf std", func(m *Model) { m.Norm.Std[0] = float32(math.Inf(1)) }, "channel 0"},
		{"zero std", func(m *Model) { m.Norm.Std[1] = 0 }, "channel 1"},
		{"negative std", func(m *Model) { m.Norm.Std[1] = -0.2 }, "channel 1"},
		{"std with an infinite reciprocal", func(m *Model) { m.Norm.Std[0] = 1e-45 }, "reciprocal"},
		{"overflowing pixels", func(m *Model) { m.Norm.Mean[0], m.Norm.Std[0] = 3e38, 0.05 }, "take pixels in [0, 1]"},
		{"version 3", func(m *Model) { m.Version = 3 }, "need format version 4"},
	} {
		m := withNorm(randModel(t, rand.New(rand.NewPCG(46, 46)), "cnn", W8A8), testNorm(2))
		if err := m.Validate(); err != nil {
			t.Fatal(err)
		}
		c.mutate(m)
		err := m.Validate()
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: Validate: %v, want an error with %q", c.name, err, c.want)
		}
		if _, err := m.PredictBytes(make([]uint8, 2*8*8), 1); err == nil {
			t.Errorf("%s: an invalid model ran", c.name)
		}
	}
}

// TestNormOverflowIsAnInputError: a finite pixel far outside [0, 1] that
// the normalization takes to ±Inf is refused, and the error says why.
func TestNormOverflowIsAnInputError(t *testing.T) {
	m := withNorm(randModel(t, rand.New(rand.NewPCG(47, 47)), "mlp", W8A8), testNorm(1))
	x := make([]float32, 2*64)
	x[64+5] = 3e38
	_, err := m.Logits(x, 2)
	var ie *InputError
	if !errors.As(err, &ie) || !strings.Contains(err.Error(), "sample 1, element 5") || !strings.Contains(err.Error(), "normalization") {
		t.Fatalf("got %v", err)
	}
	if _, err := m.LogitsBytes(make([]uint8, 63), 1); !errors.As(err, &ie) || !strings.Contains(err.Error(), "63 bytes") {
		t.Fatalf("short byte input: %v", err)
	}
}

// TestNormalizeIsBatcherExpression: the runtime's normalization gives the
// Batcher's float32 values bit for bit, on every byte's pixel and on
// random pixels (a reordered expression, such as x·inv − m·inv, differs
// in the last bit on many of them, which the quantization mostly hides).
func TestNormalizeIsBatcherExpression(t *testing.T) {
	norm := testNorm(3)
	hw := 300
	x := make([]float32, 2*3*hw)
	rng := rand.New(rand.NewPCG(48, 48))
	for i := range x {
		if i%hw < 256 {
			x[i] = float32(i%hw) / 255
		} else {
			x[i] = rng.Float32()
		}
	}
	m := &Model{Norm: norm}
	mean, inv := m.normConsts()
	got := make([]float32, len(x))
	normalizeCHW(got, x, mean, inv, hw)
	want := batcherNorm(x, norm, hw)
	for i := range got {
		if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
			t.Fatalf("pixel %d (%v): %v, the Batcher's %v", i, x[i], got[i], want[i])
		}
	}
}
