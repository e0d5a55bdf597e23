package infer

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/tinyqat/tinyqat/internal/stfile"
)

func TestSaveLoadRoundTrip(t *testing.T) {
	for _, mode := range []Mode{W8A8, W8A8Asym, W8Only} {
		m := testModel("cnn", mode, 1)
		path := filepath.Join(t.TempDir(), "m.safetensors")
		if err := m.Save(path); err != nil {
			t.Fatal(err)
		}
		back, err := Load(path)
		if err != nil {
			t.Fatal(err)
		}
		x := testInput(m, 10, 1)
		a, err1 := m.Predict(x, 10)
		b, err2 := back.Predict(x, 10)
		if err1 != nil || err2 != nil || !slices.Equal(a, b) {
			t.Fatalf("%s: predictions differ after a round trip: %v %v", mode, err1, err2)
		}
	}
}

func TestLoadRejectsDamage(t *testing.T) {
	m := testModel("mlp", W8A8, 2)
	path := filepath.Join(t.TempDir(), "m")
	if err := m.Save(path); err != nil {
		t.Fatal(err)
	}
	good, _ := os.ReadFile(path)
	// Truncations at many points, flips across the file.
	for n := 0; n < len(good); n += 1 + len(good)/300 {
		if _, err := Parse(good[:n], "m"); err == nil {
			t.Fatalf("truncated to %d bytes: accepted", n)
		}
	}
	for i := 0; i < len(good); i += 1 + len(good)/500 {
		b := slices.Clone(good)
		b[i] ^= 0x21
		if _, err := Parse(b, "m"); err == nil && good[i] != ' ' {
			t.Fatalf("byte %d flipped: accepted", i)
		}
	}
	// Inconsistent but well-formed and checksummed files: Save refuses an
	// invalid model, so build them by hand through the writer.
	mutations := map[string]func(*Model){
		"version":    func(m *Model) { m.Version = 99 },
		"shape":      func(m *Model) { m.Layers[1].OutC++ },
		"multiplier": func(m *Model) { m.Layers[1].M0[0] = 5 },
		"weights":    func(m *Model) { m.Layers[1].W = m.Layers[1].W[:10] },
		"zero point": func(m *Model) { m.Layers[1].Out.Zero = 3 },
		"clamp":      func(m *Model) { m.Layers[1].Lo = 100; m.Layers[1].Hi = 0 },
		"classes":    func(m *Model) { m.Classes = 7 },
	}
	for name, mutate := range mutations {
		mm := testModel("mlp", W8A8, 2)
		mutate(mm)
		if err := mm.Validate(); err == nil {
			t.Errorf("%s: Validate accepted", name)
		}
		p := filepath.Join(t.TempDir(), "bad")
		if err := mm.Save(p); err == nil {
			t.Errorf("%s: Save accepted an invalid model", name)
		}
	}
	if _, err := Load(filepath.Join(t.TempDir(), "none")); err == nil || !strings.Contains(err.Error(), "no model file") {
		t.Errorf("missing file: %v", err)
	}
	// An ONNX file (protobuf bytes) is refused with the reason.
	onnx := filepath.Join(t.TempDir(), "m.onnx")
	if err := os.WriteFile(onnx, []byte("\x08\x07\x12\x07tinyqat:\x10onnx graph bytes"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(onnx); err == nil || !strings.Contains(err.Error(), "an ONNX file runs in ONNX Runtime") {
		t.Errorf("ONNX file: %v", err)
	}
	// Another safetensors file (a checkpoint, say) is not a model file.
	other := filepath.Join(t.TempDir(), "ck")
	if err := stfile.Write(other, map[string]stfile.Tensor{"w": stfile.F32([]float32{1, 2}, 2)}, map[string]string{"format": "tinyqat-checkpoint"}); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(other); err == nil || !strings.Contains(err.Error(), "not a tinyqat integer model") || !strings.Contains(err.Error(), "tinyqat export --from RUN") {
		t.Errorf("checkpoint as model: %v", err)
	}
	// An image or a run directory where the model file belongs (predict
	// --model photo.jpg) is named as such, not as a corrupt tensor file.
	dir := t.TempDir()
	for _, tc := range []struct{ name, content, want string }{
		{"photo.jpg", "\xff\xd8\xff\xe0\x00\x10JFIF\x00", "the file is a JPEG image, not a model file"},
		{"photo.png", "\x89PNG\r\n\x1a\n\x00\x00\x00\x0dIHDR", "the file is a PNG image, not a model file"},
		{"anim.gif", "GIF89a\x01\x00\x01\x00", "the file is a GIF image, not a model file"},
		{"model.tqm", "GIF89a\x01\x00\x01\x00", "the file is a GIF image"},
		{"notes.txt", "hello, world", "not a tensor file"},
		{"run", "", "not a regular file (a directory) (a model file is what export writes"},
	} {
		p := filepath.Join(dir, tc.name)
		if tc.name == "run" {
			if err := os.Mkdir(p, 0o755); err != nil {
				t.Fatal(err)
			}
		} else if err := os.WriteFile(p, []byte(tc.content), 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := Load(p); err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), p) {
			t.Errorf("%s: %v, want an error naming the file and saying %q", tc.name, err, tc.want)
		}
	}
}

func TestBadInput(t *testing.T) {
	m := testModel("mlp", W8A8, 3)
	var ie *InputError
	if _, err := m.Logits(make([]float32, 63), 1); !errors.As(err, &ie) {
		t.Errorf("short input: %v", err)
	}
	x := make([]float32, 64)
	x[5] = float32(math.NaN())
	if _, err := m.Logits(x, 1); !errors.As(err, &ie) || !strings.Contains(err.Error(), "element 5") {
		t.Errorf("NaN input: %v", err)
	}
}

func TestConcurrentUse(t *testing.T) {
	m := testModel("cnn", W8A8, 4)
	n := 16
	x := testInput(m, n, 4)
	want, err := m.Logits(x, n)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 5; i++ {
				got, err := m.Logits(x, n)
				if err != nil || !slices.Equal(got, want) {
					errs <- errors.New("concurrent result differs")
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

func FuzzParse(f *testing.F) {
	m := testModel("mlp", W8A8, 5)
	path := filepath.Join(f.TempDir(), "m")
	m.Save(path)
	good, _ := os.ReadFile(path)
	f.Add(good)
	f.Add(good[:100])
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := Parse(b, "fuzz")
		if err != nil {
			return
		}
		// Anything that loads must run.
		x := make([]float32, m.InC*m.InH*m.InW)
		if _, err := m.Predict(x, 1); err != nil {
			t.Fatalf("loaded model fails to run: %v", err)
		}
	})
}

// FuzzDecode mutates the JSON header of a valid model while keeping its
// tensors, past the checksum (which would stop almost every mutation of a
// file): whatever Validate accepts must run without panicking.
func FuzzDecode(f *testing.F) {
	m := testModel("cnn", W8A8, 6)
	path := filepath.Join(f.TempDir(), "m")
	if err := m.Save(path); err != nil {
		f.Fatal(err)
	}
	ts, meta, err := stfile.Read(path)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(meta["model"])
	f.Add(strings.Replace(meta["model"], `"k":5`, `"k":4`, 1))
	f.Add(strings.Replace(meta["model"], `"stride":2`, `"stride":1`, 1))
	// With class names and an input normalization (version 4).
	named := strings.Replace(meta["model"], `"layers":`,
		`"class_names":["a","b","c","d","e"],"input_norm":{"mean":[0.5],"std":[0.25]},"layers":`, 1)
	f.Add(named)
	f.Add(strings.Replace(named, `"std":[0.25]`, `"std":[1e-45]`, 1))
	f.Add(strings.Replace(named, `"e"]`, `"e","f"]`, 1))
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
		pix := make([]uint8, len(x))
		for i := range pix {
			pix[i] = uint8(i * 37)
		}
		if _, err := got.PredictBytes(pix, 2); err != nil {
			t.Fatalf("a validated model fails to run bytes: %v", err)
		}
	})
}

// TestLoadRefusesReshapedTensors: a weight matrix with the right number
// of elements in another shape (transposed, or flattened) is refused, not
// read in the wrong order; so is a per-channel vector stored as a matrix.
func TestLoadRefusesReshapedTensors(t *testing.T) {
	m := randModel(t, rand.New(rand.NewPCG(31, 31)), "mlp", W8A8)
	path := filepath.Join(t.TempDir(), "m.tqm")
	if err := m.Save(path); err != nil {
		t.Fatal(err)
	}
	i := slices.IndexFunc(m.Layers, func(l *Layer) bool { return l.Kind.Weighted() })
	l := m.Layers[i]
	fan := l.fanIn()
	for _, c := range []struct {
		key   string
		shape []int
	}{
		{fmt.Sprintf("layers.%d.weight", i), []int{fan, l.OutC}},
		{fmt.Sprintf("layers.%d.weight", i), []int{fan * l.OutC}},
		{fmt.Sprintf("layers.%d.bias", i), []int{1, l.OutC}},
	} {
		ts, meta, err := stfile.Read(path)
		if err != nil {
			t.Fatal(err)
		}
		tn := ts[c.key]
		tn.Shape = c.shape
		ts[c.key] = tn
		bad := filepath.Join(t.TempDir(), "bad.tqm")
		if err := stfile.Write(bad, ts, meta); err != nil {
			t.Fatal(err)
		}
		if _, err := Load(bad); err == nil || !strings.Contains(err.Error(), "has shape") {
			t.Errorf("%s as %v: %v", c.key, c.shape, err)
		}
	}
}
