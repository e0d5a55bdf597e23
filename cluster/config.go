package cluster

import (
	"fmt"
	"slices"

	"github.com/tinyqat/tinyqat/calibrate"
)

// Config says how a model's weights are clustered (non-linear
// quantization, Deep Compression §3). The zero value of each field other
// than Bits means the documented default.
type Config struct {
	Bits int `json:"bits"` // index bits, [1, 8]
	// Init is Lloyd's initialisation: linear (default), density or kmeans++.
	Init string `json:"init"`
	// Exact uses the optimal dynamic programme instead of Lloyd.
	Exact bool `json:"exact,omitempty"`
	// PerChannel gives each output channel its own codebook.
	PerChannel bool `json:"per_channel,omitempty"`
	// Recluster keeps float shadow weights (trained straight through),
	// assigns each to its nearest centroid before every step, and clusters
	// them afresh at the start of every fine-tuning epoch after the first;
	// without it the assignments stay fixed throughout.
	Recluster bool `json:"recluster,omitempty"`
	// BitsA is the activations' uniform bit-width, [2, 8]; default 8.
	BitsA int `json:"bits_a"`
	// Seed drives kmeans++.
	Seed uint64 `json:"seed,omitempty"`
}

// Defaults returns c with zero fields set to their defaults.
func (c Config) Defaults() Config {
	if c.Init == "" {
		c.Init = "linear"
	}
	if c.BitsA == 0 {
		c.BitsA = 8
	}
	return c
}

// Validate reports settings that cannot work.
func (c Config) Validate() error {
	if c.Bits < 1 || c.Bits > 8 {
		return fmt.Errorf("cluster: codebook bits must be in [1, 8], got %d", c.Bits)
	}
	if c.BitsA < 2 || c.BitsA > 8 {
		return fmt.Errorf("cluster: activation bits must be in [2, 8], got %d", c.BitsA)
	}
	if !slices.Contains(calibrate.Inits, c.Init) {
		return fmt.Errorf("cluster: unknown k-means initialisation %q (known: %v)", c.Init, calibrate.Inits)
	}
	return nil
}

func (c Config) kmeans() calibrate.KMeans {
	return calibrate.KMeans{Bits: c.Bits, Init: c.Init, Exact: c.Exact, Seed: c.Seed}
}
