package infer

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestInferDependencies fails if a program that only runs models would link
// the training stack: Gorgonia, gonum's graph and lapack packages, tinyqat's
// trainer, layers, calibration, estimators, fake-quant op, the progress
// bar, the MNIST data module or the CLI library.
func TestInferDependencies(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	banned := []string{"gorgonia.org/", "gonum.org/v1/gonum/graph", "gonum.org/v1/gonum/lapack",
		"github.com/tinyqat/tinyqat/train", "github.com/tinyqat/tinyqat/nn", "github.com/tinyqat/tinyqat/calibrate",
		"github.com/tinyqat/tinyqat/ste", "github.com/tinyqat/tinyqat/fakequant", "github.com/tinyqat/tinyqat/datasets",
		"github.com/tinyqat/tinyqat/export", "progressbar", "GoMNIST", "github.com/spf13/cobra"}
	deps := strings.Fields(string(out))
	for _, d := range deps {
		for _, b := range banned {
			if strings.Contains(d, b) {
				t.Errorf("infer depends on %s", d)
			}
		}
	}
	t.Logf("%d packages in go list -deps ./infer", len(deps))
}

func TestEmptyBatch(t *testing.T) {
	for _, mode := range Modes {
		m := testModel("cnn", mode, 9)
		p, err := m.Predict(nil, 0)
		if err != nil || len(p) != 0 {
			t.Errorf("%s: Predict of 0 samples: %v, %v", mode, p, err)
		}
	}
	m := testModel("mlp", W8Only, 9)
	if out, err := m.FloatLogits([]float32{}, 0); err != nil || len(out) != 0 {
		t.Errorf("w8-only FloatLogits of 0 samples: %v, %v", out, err)
	}
}

func TestHugeSampleCount(t *testing.T) {
	m := testModel("mlp", W8A8, 10)
	// 64·n overflows to 64 for n = 2^58 + 1: the length check must not
	// pass (it used to, then makeslice panicked).
	n := 1<<58 + 1
	var ie *InputError
	if _, err := m.Logits(make([]float32, 64), n); !errors.As(err, &ie) {
		t.Errorf("n = 2^58+1 with 64 floats: %v", err)
	}
}

func TestLoadRefusesOddFiles(t *testing.T) {
	m := testModel("mlp", W8A8, 11)
	dir := t.TempDir()
	good := filepath.Join(dir, "m")
	if err := m.Save(good); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(good)
	write := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	cases := map[string]struct{ path, want string }{
		"/dev/zero":     {"/dev/zero", "not a regular file"},
		"directory":     {dir, "not a regular file"},
		"trailing data": {write("long", append(append([]byte{}, b...), make([]byte, 100)...)), "trailing data"},
		"truncated":     {write("short", b[:len(b)-10]), "truncated"},
		"huge header":   {write("hdr", []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0, 0, '{', '}'}), "header declares"},
	}
	for name, c := range cases {
		if _, err := os.Stat(c.path); err != nil {
			continue // no /dev/zero here
		}
		_, err := Load(c.path)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want an error containing %q", name, err, c.want)
		}
	}
	if _, err := Load(good); err != nil {
		t.Errorf("the good file: %v", err)
	}
}

func TestSaveErrorsNameTheTarget(t *testing.T) {
	m := testModel("mlp", W8A8, 12)
	target := filepath.Join(t.TempDir(), "missing-dir", "m.safetensors")
	err := m.Save(target)
	if err == nil || !strings.Contains(err.Error(), target) || strings.Contains(err.Error(), ".tmp") {
		t.Errorf("save into a missing folder: %v; want the target named, no temporary file", err)
	}
}

func TestSaveRemovesStaleTemps(t *testing.T) {
	m := testModel("mlp", W8A8, 13)
	dir := t.TempDir()
	target := filepath.Join(dir, "m.safetensors")
	stale := filepath.Join(dir, ".m.safetensors.tmp123")
	fresh := filepath.Join(dir, ".m.safetensors.tmp456")
	for _, f := range []string{stale, fresh} {
		if err := os.WriteFile(f, []byte("partial"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	old := time.Now().Add(-time.Hour) // a write killed an hour ago
	if err := os.Chtimes(stale, old, old); err != nil {
		t.Fatal(err)
	}
	if err := m.Save(target); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(stale); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("stale temporary file left: %v", err)
	}
	if _, err := os.Stat(fresh); err != nil {
		t.Errorf("a recent temporary file (a write in progress?) was removed: %v", err)
	}
}

// TestZeroModelIsAnError: a zero-value Model (never loaded or built) is
// an error, not a division by zero.
func TestZeroModelIsAnError(t *testing.T) {
	var m Model
	if _, err := m.Predict(nil, 0); err == nil {
		t.Error("Predict on a zero Model: no error")
	}
	if _, err := m.Logits([]float32{1}, 1); err == nil {
		t.Error("Logits on a zero Model: no error")
	}
	if err := m.LogitsInto(make([]int32, 1), []float32{1}, 1); err == nil {
		t.Error("LogitsInto on a zero Model: no error")
	}
	wo := Model{Mode: W8Only}
	if _, err := wo.FloatLogits([]float32{1}, 1); err == nil {
		t.Error("FloatLogits on a zero w8-only Model: no error")
	}
}
