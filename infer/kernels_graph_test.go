package infer

import (
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"unsafe"

	"github.com/tinyqat/tinyqat/internal/stfile"
	"github.com/tinyqat/tinyqat/quant"
)

// TestDWConvU8MatchesReference compares the depthwise kernel at every
// boundary level of this CPU (AVX-512 or AVX2 assembly, Go; tap-major weights,
// corrected bias, a padded copy of the image) with dwConvRef (the layer's
// own weights and bias, operands s − Z, padding skipped) on ragged channel
// counts, kernels, strides, paddings and storage offsets.
func TestDWConvU8MatchesReference(t *testing.T) {
	rng := rand.New(rand.NewPCG(21, 21))
	for _, c := range []int{1, 3, 7, 16, 17, 64, 65} {
		for _, k := range []int{1, 3, 5} {
			for _, hw := range [][2]int{{1, 1}, {2, 3}, {5, 5}, {8, 7}} {
				for stride := 1; stride <= 2; stride++ {
					for pad := 0; pad < k; pad++ {
						h, w := hw[0], hw[1]
						if h+2*pad < k || w+2*pad < k {
							continue
						}
						oh, ow := (h+2*pad-k)/stride+1, (w+2*pad-k)/stride+1
						lo := -rng.Int32N(128) // storage offset: signed (−127) to unsigned (0)
						z := lo + rng.Int32N(256)
						l := &Layer{Kind: KindConv2D, InC: c, OutC: c, Groups: c, K: k, In: QParams{Zero: z}}
						l.W = make([]int8, c*k*k)
						for i := range l.W {
							l.W[i] = int8(rng.IntN(255) - 127)
						}
						for ch := 0; ch < c; ch++ {
							l.Bias = append(l.Bias, rng.Int32N(1<<20)-1<<19)
						}
						src := make([]uint8, h*w*c)
						for i := range src {
							src[i] = uint8(rng.IntN(256))
							if rng.IntN(8) == 0 {
								src[i] = []uint8{0, 255}[rng.IntN(2)]
							}
						}
						want := make([]int32, oh*ow*c)
						dwConvRef(want, src, c, h, w, k, stride, pad, oh, ow, l.W, l.Bias, lo, z)
						for _, vec := range boundaryLevels() {
							// Padded with its border into a buffer of
							// guard bytes, and, after another sample wrote
							// the border, padded with the border left as it is.
							for _, border := range []bool{true, false} {
								got := make([]int32, oh*ow*c)
								padded := make([]uint8, (h+2*pad)*(w+2*pad)*c)
								for i := range padded {
									padded[i] = guard
								}
								withLevel(vec, func() {
									if !border {
										dwConvU8(got, make([]uint8, len(src)), padded, c, h, w, k, stride, pad, oh, ow, newDWWeights(l, lo), true)
									}
									dwConvU8(got, src, padded, c, h, w, k, stride, pad, oh, ow, newDWWeights(l, lo), border)
								})
								if !slices.Equal(got, want) {
									t.Fatalf("level %v: c=%d k=%d %dx%d stride %d pad %d lo %d z %d border %v: differ", vec, c, k, h, w, stride, pad, lo, z, border)
								}
							}
						}
					}
				}
			}
		}
	}
}

// TestAddU8MatchesReference compares the table kernel with addRef
// (quant.RequantizeAdd per element) on all 256×256 operand pairs, for
// extreme multiplier pairs (shift gaps of 28 and more, the largest M0,
// the extreme operand offsets, ties) and random ones, and addRef with
// quant.RequantizeAdd on stored values.
func TestAddU8MatchesReference(t *testing.T) {
	rng := rand.New(rand.NewPCG(22, 22))
	x, y := make([]uint8, 256*256), make([]uint8, 256*256)
	for i := range x {
		x[i], y[i] = uint8(i/256), uint8(i%256)
	}
	got, want := make([]uint8, len(x)), make([]uint8, len(x))
	type cfg struct{ offA, za, offB, zb, m0a, na, m0b, nb, offO, zo, lo, hi int32 }
	cfgs := []cfg{
		{-127, 0, -127, 0, quant.MaxM0, 1, quant.MaxM0, 29, -127, 0, -127, 127},    // gap 28, |d| = 127·2
		{0, 255, 0, 0, quant.MaxM0, 35, quant.MaxM0, 63, 0, 128, 0, 255},           // gap 28, d = −255 and 255
		{0, 0, 0, 255, quant.MinM0, 24, quant.MinM0, 24, 0, 0, 0, 255},             // ties: ½ steps
		{0, 17, 0, 200, quant.MinM0 + 1, 23, quant.MaxM0, 25, 0, 100, 100, 255},    // a ReLU clamp
		{-127, 0, 0, 3, quant.MaxM0 - 5, 40, quant.MinM0 + 99, 11, -127, 0, -5, 6}, // a narrow clamp
	}
	for range 20 {
		offA, offB, offO := -rng.Int32N(128), -rng.Int32N(128), -rng.Int32N(128)
		cfgs = append(cfgs, cfg{offA, offA + rng.Int32N(256), offB, offB + rng.Int32N(256),
			quant.MinM0 + rng.Int32N(1<<23), 1 + rng.Int32N(63), quant.MinM0 + rng.Int32N(1<<23), 1 + rng.Int32N(63),
			offO, offO + rng.Int32N(256), offO, offO + 255})
	}
	for range 20 { // shifts at most 7 apart: the vector kernel's domain
		offA, offB, offO := -rng.Int32N(128), -rng.Int32N(128), -rng.Int32N(128)
		na := 1 + rng.Int32N(56)
		cfgs = append(cfgs, cfg{offA, offA + rng.Int32N(256), offB, offB + rng.Int32N(256),
			quant.MinM0 + rng.Int32N(1<<23), na, quant.MinM0 + rng.Int32N(1<<23), na + rng.Int32N(8),
			offO, offO + rng.Int32N(256), offO, offO + 255})
	}
	vec := 0
	for i, c := range cfgs {
		l := &Layer{In: QParams{Zero: c.za}, In2: QParams{Zero: c.zb}, Out: QParams{Zero: c.zo},
			M0: []int32{c.m0a, c.m0b}, Shift: []int32{c.na, c.nb}, Lo: c.lo, Hi: c.hi}
		ac := newAddConsts(l, &value{off: c.offA}, &value{off: c.offB}, &value{off: c.offO})
		// The vector kernel takes every layer whose shifted multipliers
		// fit 31 bits (newAddVec's bound).
		n := max(c.na, c.nb)
		fits := n-c.na <= 7 && n-c.nb <= 7 && int64(c.m0a)<<(n-c.na) < 1<<31 && int64(c.m0b)<<(n-c.nb) < 1<<31
		if fits != (ac.vec != nil) {
			t.Fatalf("case %d %+v: vector constants %v, want them: %v", i, c, ac.vec, fits)
		} else if fits {
			vec++
		}
		addRef(want, x, y, ac)
		for _, lv := range boundaryLevels() {
			// Offsets 0 and 3 and a ragged length move the vector kernel's
			// steps against the table's tail.
			for _, o := range []int{0, 3} {
				withLevel(lv, func() { addU8(got[o:len(got)-5], x[o:len(x)-5], y[o:len(y)-5], ac) })
				if !slices.Equal(got[o:len(got)-5], want[o:len(want)-5]) {
					j := o
					for got[j] == want[j] {
						j++
					}
					t.Fatalf("case %d %+v, level %v: u = (%d, %d) gives %d, want %d", i, c, lv, x[j], y[j], got[j], want[j])
				}
			}
		}
		// addRef in stored values: s = u + off.
		for j := range want {
			s := quant.RequantizeAdd(int32(x[j])+c.offA-c.za, int32(y[j])+c.offB-c.zb, c.m0a, c.na, c.m0b, c.nb, c.zo, c.lo, c.hi)
			if int32(want[j])+c.offO != s {
				t.Fatalf("case %d: addRef stores %d, RequantizeAdd gives %d", i, int32(want[j])+c.offO, s)
			}
		}
	}
	if vec < 20 {
		t.Errorf("only %d cases in the vector kernel's domain", vec)
	}
}

// TestGapU8MatchesReference compares the channels-last mean with gapRef
// on ragged channel counts (words of 8 and a tail), pixel counts (around
// the flushes of 256), offsets, and inputs built to land on ties or fill
// the 16-bit lanes.
func TestGapU8MatchesReference(t *testing.T) {
	rng := rand.New(rand.NewPCG(23, 23))
	for _, c := range []int{1, 7, 8, 9, 16, 31, 32, 33, 63, 64, 65, 130, 256} {
		for _, hw := range []int{1, 2, 4, 16, 49, 196, 255, 256, 257, 513, 1 << 16} {
			for _, pattern := range []string{"random", "ties", "max"} {
				off := -rng.Int32N(128)
				z := off + rng.Int32N(256)
				src := make([]uint8, hw*c)
				for i := range src {
					switch pattern {
					case "random":
						src[i] = uint8(rng.IntN(256))
					case "ties": // half the pixels one value, half the next: means k + ½
						src[i] = uint8(100 + (i/c)%2)
					case "max":
						src[i] = 255
					}
				}
				want := make([]uint8, c)
				gapRef(want, src, c, hw, off, z)
				for _, lv := range boundaryLevels() { // AVX-512 sums, AVX2 sums (c a multiple of 16), Go words
					got := make([]uint8, c)
					withLevel(lv, func() { gapU8(got, src, c, hw, off-z) })
					if !slices.Equal(got, want) {
						t.Fatalf("level %s: c=%d hw=%d %s off %d z %d: %v, want %v", lv.name, c, hw, pattern, off, z, got, want)
					}
				}
			}
		}
	}
}

// TestVersion2FileStillRuns: a version-2 file (written as the previous
// build wrote it: no new kinds, fields or tensors) loads and runs
// bit-identically to the reference; version-3 features in a version-2
// file, and a header version that contradicts the metadata, are errors.
func TestVersion2FileStillRuns(t *testing.T) {
	rng := rand.New(rand.NewPCG(24, 24))
	for _, mode := range []Mode{W8A8, W8A8Asym} {
		m := randModel(t, rng, "cnn", mode)
		m.Version = 2
		if err := m.Validate(); err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(t.TempDir(), "v2")
		if err := m.Save(path); err != nil {
			t.Fatal(err)
		}
		_, meta, err := stfile.Read(path)
		if err != nil || meta["version"] != "2" || strings.Contains(meta["model"], "inputs") || strings.Contains(meta["model"], "groups") {
			t.Fatalf("not a version-2 file: %v %q", err, meta["version"])
		}
		got, err := Load(path)
		if err != nil {
			t.Fatal(err)
		}
		x := randInput(rng, m, 9)
		var want [][]int32
		if mode == W8A8 {
			want = refRun[int8](m, x, 9)
		} else {
			want = refRun[uint8](m, x, 9)
		}
		out, err := got.Logits(x, 9)
		if err != nil || !slices.Equal(out, want[len(want)-1]) {
			t.Fatalf("%s: version-2 logits differ (%v)", mode, err)
		}
	}
	g := resModel(t, rng, W8A8, false)
	g.Version = 2
	if err := g.Validate(); err == nil || !strings.Contains(err.Error(), "version 3") {
		t.Fatalf("a version-2 graph model: %v", err)
	}
	g.Version = 3
	path := filepath.Join(t.TempDir(), "v3")
	if err := g.Save(path); err != nil {
		t.Fatal(err)
	}
	ts, meta, err := stfile.Read(path)
	if err != nil {
		t.Fatal(err)
	}
	meta["version"] = "2"
	if _, err := decode(ts, meta); err == nil {
		t.Fatal("metadata version 2 with a version-3 header accepted")
	}
}

// TestGraphValidateRejects: each damage to a valid graph model is an
// error naming it, never a panic at run time.
func TestGraphValidateRejects(t *testing.T) {
	rng := rand.New(rand.NewPCG(25, 25))
	cases := []struct {
		name string
		edit func(m *Model)
		want string
	}{
		{"forward input", func(m *Model) { m.Layers[5].Inputs = []int{3, 7} }, "earlier layer"},
		{"self input", func(m *Model) { m.Layers[4].Inputs = []int{4} }, "earlier layer"},
		{"bad input", func(m *Model) { m.Layers[4].Inputs = []int{-2} }, "earlier layer"},
		{"add with one input", func(m *Model) { m.Layers[5].Inputs = []int{3} }, "inputs"},
		{"conv with two inputs", func(m *Model) { m.Layers[4].Inputs = []int{0, 0} }, "inputs"},
		{"add shapes", func(m *Model) { m.Layers[5].Inputs = []int{3, 1} }, "add of"},
		{"add params", func(m *Model) { m.Layers[5].In2.Scale *= 2 }, "differ"},
		{"add multipliers", func(m *Model) { m.Layers[5].M0 = m.Layers[5].M0[:1] }, "multipliers"},
		{"add m0", func(m *Model) { m.Layers[5].M0[1] = 5 }, "multiplier"},
		{"add shift", func(m *Model) { m.Layers[5].Shift[0] = 64 }, "shift"},
		{"add clamp", func(m *Model) { m.Layers[5].Hi = 300 }, "clamp"},
		{"add weights", func(m *Model) { m.Layers[5].W = []int8{1} }, "no weights"},
		{"groups", func(m *Model) { m.Layers[6].Groups = 3 }, "groups"},
		{"negative groups", func(m *Model) { m.Layers[6].Groups = -4 }, "groups"},
		{"linear groups", func(m *Model) { m.Layers[10].Groups = 2 }, "groups"},
		{"gap params", func(m *Model) { m.Layers[8].Out.Zero++ }, "parameters"},
		{"gap shape", func(m *Model) { m.Layers[8].OutH = 2 }, "output"},
		{"max in w8a8", func(m *Model) { m.Layers[2].Max = 6 }, "max"},
		{"relu6 clamp", func(m *Model) { m.Layers[2].Hi = m.Layers[2].Lo - 1 }, "clamp"},
	}
	for _, c := range cases {
		m := resModel(t, rng, W8A8, false)
		c.edit(m)
		err := m.Validate()
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v", c.name, err)
		}
	}
}

// FuzzDecodeGraph is FuzzDecode for the graph model: header mutations
// (inputs, groups, kinds, shapes, parameters) over its tensors never make
// a validated model panic.
func FuzzDecodeGraph(f *testing.F) {
	m := resModel(f, rand.New(rand.NewPCG(26, 26)), W8A8Asym, false)
	path := filepath.Join(f.TempDir(), "m")
	if err := m.Save(path); err != nil {
		f.Fatal(err)
	}
	ts, meta, err := stfile.Read(path)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(meta["model"])
	f.Add(strings.Replace(meta["model"], `"inputs":[3,4]`, `"inputs":[4,3]`, 1))
	f.Add(strings.Replace(meta["model"], `"groups":4`, `"groups":2`, 1))
	f.Add(strings.Replace(meta["model"], `"groups":8`, `"groups":1`, 1))
	f.Add(strings.Replace(meta["model"], `"kind":"globalavgpool"`, `"kind":"maxpool2d"`, 1))
	f.Fuzz(func(t *testing.T, header string) {
		mm := map[string]string{"format": meta["format"], "version": meta["version"], "model": header}
		got, err := decode(ts, mm)
		if err != nil {
			return
		}
		x := make([]float32, got.InC*got.InH*got.InW*2)
		if _, err := got.Predict(x, 2); err != nil {
			t.Fatalf("a validated model fails to run: %v", err)
		}
		if _, err := got.LogitsTrace(x, 2, func(int, []int32) {}); err != nil {
			t.Fatal(err)
		}
	})
}

// TestAddVecLayout pins addVec's field offsets, which addU8AVX512 and
// addU8AVX2 read.
func TestAddVecLayout(t *testing.T) {
	var v addVec
	got := []uintptr{unsafe.Offsetof(v.a), unsafe.Offsetof(v.b), unsafe.Offsetof(v.k), unsafe.Offsetof(v.h), unsafe.Offsetof(v.pow),
		unsafe.Offsetof(v.z), unsafe.Offsetof(v.lo), unsafe.Offsetof(v.hi), unsafe.Offsetof(v.n), unsafe.Offsetof(v.h63), unsafe.Offsetof(v.zs)}
	for i, o := range got {
		if o != uintptr(8*i) {
			t.Fatalf("field %d at offset %d, want %d", i, o, 8*i)
		}
	}
}
