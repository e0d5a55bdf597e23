package infer

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/tinyqat/tinyqat/internal/stfile"
)

// TestEveryBadFileIsAFormatError: whatever is wrong inside a file —
// truncated, a flipped byte, a foreign safetensors file, an ONNX file, an
// unknown version, integer or float — Load and Parse return a
// *FormatError naming the file (errors.As finds it), as image/jpeg does.
func TestEveryBadFileIsAFormatError(t *testing.T) {
	dir := t.TempDir()
	models := map[string]*Model{"int8": testModel("mlp", W8A8, 2), "float": floatModels(t)["mlp"]}
	var bad [][]byte
	for name, m := range models {
		p := filepath.Join(dir, name)
		if err := m.Save(p); err != nil {
			t.Fatal(err)
		}
		good, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		for n := 0; n < len(good); n += 1 + len(good)/200 {
			bad = append(bad, good[:n])
		}
		for i := 0; i < len(good); i += 1 + len(good)/300 {
			b := slices.Clone(good)
			b[i] ^= 0x21
			bad = append(bad, b)
		}
	}
	other := filepath.Join(dir, "ck")
	if err := stfile.Write(other, map[string]stfile.Tensor{"w": stfile.F32([]float32{1, 2}, 2)}, map[string]string{"format": "tinyqat-checkpoint"}); err != nil {
		t.Fatal(err)
	}
	ck, _ := os.ReadFile(other)
	bad = append(bad, ck, []byte("\x08\x07\x12\x07tinyqat:\x10onnx graph bytes"), nil,
		[]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0, 0, '{', '}'}) // a header larger than any file
	refused := 0
	for i, b := range bad {
		path := filepath.Join(dir, "bad.tqm")
		if err := os.WriteFile(path, b, 0o644); err != nil {
			t.Fatal(err)
		}
		_, perr := Parse(b, "bad.tqm")
		_, lerr := Load(path)
		if (perr == nil) != (lerr == nil) {
			t.Fatalf("case %d: Parse says %v, Load %v", i, perr, lerr)
		}
		if perr == nil {
			continue // a flip in JSON white space, say
		}
		refused++
		for _, err := range []error{perr, lerr} {
			var fe *FormatError
			if !errors.As(err, &fe) {
				t.Fatalf("case %d (%d bytes): %v (%T) is not a *FormatError", i, len(b), err, err)
			}
			if fe.Name != "bad.tqm" && fe.Name != path {
				t.Fatalf("case %d: FormatError names %q", i, fe.Name)
			}
		}
	}
	// A directory is no model file either; errors.Is still finds why.
	_, err := Load(dir)
	var fe *FormatError
	if !errors.As(err, &fe) || !errors.Is(err, stfile.ErrNotRegular) {
		t.Errorf("a directory: %v, want a *FormatError wrapping stfile.ErrNotRegular", err)
	}
	if refused < len(bad)*9/10 {
		t.Fatalf("only %d of %d damaged files refused", refused, len(bad))
	}
}
