package train

import (
	"errors"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tinyqat/tinyqat/rundir"
)

// TestConfigFloatFields: every float setting refuses NaN, ±Inf and values
// outside its range with a *rundir.ConfigError naming the field (a NaN weight
// decay used to pass and fail an epoch later as a NaN loss).
func TestConfigFloatFields(t *testing.T) {
	nan, inf := math.NaN(), math.Inf(1)
	cases := []struct {
		field string
		set   func(*rundir.Config, float64)
		bad   []float64
		good  []float64
	}{
		{"lr", func(c *rundir.Config, v float64) { c.LR = v },
			// 1e39 is above math.MaxFloat32 (≈3.4e38): +Inf in the optimizers' float32.
			[]float64{nan, inf, -inf, -1, 1e39}, []float64{1e-9, 0.5, math.MaxFloat32}},
		{"momentum", func(c *rundir.Config, v float64) { c.Momentum = v },
			[]float64{nan, inf, -inf, -0.1, 1, 1.5}, []float64{0.5, 0.99}},
		{"weight_decay", func(c *rundir.Config, v float64) { c.WeightDecay = v },
			[]float64{nan, inf, -inf, -1e-4, 1e39}, []float64{0, 5e-4, 1}},
	}
	for _, tc := range cases {
		for _, v := range tc.bad {
			var c rundir.Config
			tc.set(&c, v)
			err := c.Defaults().Validate()
			var ce *rundir.ConfigError
			if !errors.As(err, &ce) || ce.Field != tc.field || !strings.Contains(err.Error(), tc.field) {
				t.Errorf("%s = %v: got %v, want a rundir.ConfigError naming %s", tc.field, v, err, tc.field)
			}
		}
		for _, v := range tc.good {
			var c rundir.Config
			tc.set(&c, v)
			if err := c.Defaults().Validate(); err != nil {
				t.Errorf("%s = %v refused: %v", tc.field, v, err)
			}
		}
	}
}

// TestCheckpointSaveRefusesNonFinite: the pre-save check covers every
// tensor group of a checkpoint, not only the model.
func TestCheckpointSaveRefusesNonFinite(t *testing.T) {
	tr := newTiny(t, rundir.Config{Epochs: 1, Batch: 64})
	good, err := tr.Checkpoint()
	if err != nil {
		t.Fatal(err)
	}
	if err := tr.checkSaveable(good); err != nil {
		t.Fatalf("a fresh model refused: %v", err)
	}
	tr.Step = 1 // Adam's moments exist after a step; fill one in
	for _, tc := range []struct {
		name  string
		spoil func(c *rundir.Checkpoint)
		want  string
	}{
		{"param", func(c *rundir.Checkpoint) { c.Params["fc2.bias"][1] = float32(math.Inf(-1)) }, "fc2.bias"},
		{"buffer", func(c *rundir.Checkpoint) { c.Buffers = map[string][]float32{"bn.var": {1, float32(math.NaN())}} }, "bn.var (buffer)"},
		{"optimizer", func(c *rundir.Checkpoint) { c.Opt["adam.v.0"] = []float32{float32(math.Inf(1))} }, "adam.v.0 (optimizer state)"},
		{"quantizer", func(c *rundir.Checkpoint) { c.Quant = map[string][]float32{"fc1.weight.scale": {float32(math.NaN())}} }, "fc1.weight.scale (quantizer state)"},
	} {
		c, _ := tr.Checkpoint()
		tc.spoil(c)
		path := filepath.Join(t.TempDir(), rundir.CheckpointFile)
		err := tr.save(path, c)
		var de *DivergedError
		if !errors.As(err, &de) || de.Tensor != tc.want {
			t.Errorf("%s: got %v, want a DivergedError naming %s", tc.name, err, tc.want)
		}
		if _, err := os.Stat(path); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("%s: the checkpoint was written", tc.name)
		}
	}
}
