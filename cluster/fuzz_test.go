package cluster

import (
	"bytes"
	"context"
	"encoding/binary"
	"math"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/tinyqat/tinyqat/datasets"
	"github.com/tinyqat/tinyqat/nn"
	"github.com/tinyqat/tinyqat/qat"
	"github.com/tinyqat/tinyqat/rundir"
)

// The fuzz target of the codebook state a cluster checkpoint restores
// (SetState on a resume, Load on an export): codebooks, indices, shadow
// weights, the centroids' Adam state and the "cluster" metadata. Bad state
// never panics and is an error that says what is wrong; accepted, every
// weight has a valid codebook of its shape, and the state reads back as
// given.

// fuzzClusterConfigs are the clusterings of the base states.
var fuzzClusterConfigs = []Config{{Bits: 2}, {Bits: 1, PerChannel: true, Recluster: true}}

// fuzzCluster is a clustered quantizer of a small convolution network.
func fuzzCluster(t testing.TB, i int) (*nn.Model, *Quantizer) {
	m, err := nn.NewSequential("fuzznet", nn.Shape{C: 1, H: 4, W: 4}, 2,
		[]nn.Layer{&nn.Conv2D{Name: "c", Out: 3, K: 3, Pad: 1}, &nn.ReLU{}, &nn.Flatten{}, &nn.Linear{Name: "f", Out: 2}}, 1)
	if err != nil {
		t.Fatal(err)
	}
	q, err := qat.New(m, qat.Config{FreezeAfter: 5, FreezeBNAfter: qat.FreezeNever})
	if err != nil {
		t.Fatal(err)
	}
	if err := q.Calibrate(context.Background(), m, datasets.Synthetic(16, 8, 4, 4, 2, 60, 1).Train, 8, 1); err != nil {
		t.Fatal(err)
	}
	c, err := New(m, q, fuzzClusterConfigs[i])
	if err != nil {
		t.Fatal(err)
	}
	return m, c
}

// clusterKeys are the sorted keys of qs the cluster adds to QAT's.
func clusterKeys(qs rundir.QuantState) []string {
	var ks []string
	for k := range qs.Tensors {
		if strings.HasSuffix(k, ".codebook") || strings.HasSuffix(k, ".index") || strings.HasSuffix(k, ".shadow") || strings.HasPrefix(k, clusterOptPrefix) {
			ks = append(ks, k)
		}
	}
	slices.Sort(ks)
	return ks
}

// changeTensor changes the cluster tensor at as op%5 says: 0 XORs data
// into its float32 bytes, 1 drops it, 2 cuts it to len(data)/4 values, 3
// appends data's, 4 replaces it by data's.
func changeTensor(qs rundir.QuantState, op, at uint8, data []byte) {
	ks := clusterKeys(qs)
	key := ks[int(at)%len(ks)]
	var b []byte
	for _, v := range qs.Tensors[key] {
		b = binary.LittleEndian.AppendUint32(b, math.Float32bits(v))
	}
	switch op % 5 {
	case 0:
		for j := range min(len(b), len(data)) {
			b[j] ^= data[j]
		}
	case 1:
		delete(qs.Tensors, key)
		return
	case 2:
		b = b[:min(len(b), len(data)&^3)]
	case 3:
		b = append(b, data...)
	case 4:
		b = bytes.Clone(data)
	}
	v := make([]float32, len(b)/4)
	for j := range v {
		v[j] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*j:]))
	}
	qs.Tensors[key] = v
}

// checkClustered checks a quantizer that accepted qs.
func checkClustered(t *testing.T, m *nn.Model, c *Quantizer, qs rundir.QuantState) {
	t.Helper()
	for _, name := range c.order {
		cb := c.Codebook(name)
		if err := cb.Validate(); err != nil {
			t.Fatalf("%s: invalid codebook accepted: %v", name, err)
		}
		p := m.Param(name)
		if !slices.Equal(cb.Shape, p.Value.Shape()) || cb.Bits != c.Cfg.Bits {
			t.Fatalf("%s: codebook of shape %v, %d bits accepted for a weight %v, %d bits", name, cb.Shape, cb.Bits, p.Value.Shape(), c.Cfg.Bits)
		}
		if !c.Cfg.Recluster {
			w := make([]float32, len(cb.Index))
			cb.Decode(w)
			if !slices.Equal(w, p.Data()) {
				t.Fatalf("%s: weights are not the decoded centroids", name)
			}
		}
	}
	back, err := c.State()
	if err != nil {
		t.Fatalf("accepted, but State fails: %v", err)
	}
	for _, k := range clusterKeys(qs) {
		want := qs.Tensors[k]
		if strings.HasSuffix(k, "adam.t") && len(want) == 1 {
			// A step count of the files before the pair: written as one.
			want = []float32{float32(math.Mod(float64(want[0]), 1<<24)), float32(math.Floor(float64(want[0]) / (1 << 24)))}
		}
		if !slices.Equal(back.Tensors[k], want) {
			t.Fatalf("%s changed in a set and get:\n%v\n%v", k, want, back.Tensors[k])
		}
	}
	if !reflect.DeepEqual(clusterKeys(back), clusterKeys(qs)) {
		t.Fatalf("keys %v read back as %v", clusterKeys(qs), clusterKeys(back))
	}
}

// FuzzClusterState: one cluster tensor of a valid state changed
// (changeTensor), and the metadata replaced when meta is not empty; set
// on a fresh quantizer (SetState) and loaded from a checkpoint (Load).
func FuzzClusterState(f *testing.F) {
	var bases []rundir.QuantState
	for i := range fuzzClusterConfigs {
		_, c := fuzzCluster(f, i)
		qs, err := c.State()
		if err != nil {
			f.Fatal(err)
		}
		bases = append(bases, qs)
		for at := range len(clusterKeys(qs)) {
			f.Add(uint8(i), uint8(at%5), uint8(at), []byte{0, 0, 0xc0, 0x7f}, "")
		}
		f.Add(uint8(i), uint8(0), uint8(0), []byte{}, qs.Meta)
		f.Add(uint8(i), uint8(0), uint8(0), []byte{}, strings.Replace(qs.Meta, `"bits":`, `"bits":1`, 1))
		f.Add(uint8(i), uint8(0), uint8(0), []byte{}, strings.Replace(qs.Meta, `"shapes":{`, `"shapes":{"x":[-1,1],`, 1))
	}
	f.Fuzz(func(t *testing.T, base, op, at uint8, data []byte, meta string) {
		i := int(base) % len(bases)
		qs := bases[i].Clone()
		changeTensor(qs, op, at, data)
		if meta != "" {
			qs.Meta = meta
		}
		m, c := fuzzCluster(t, i)
		if err := c.SetState(qs.Clone()); err != nil {
			if msg := err.Error(); !strings.HasPrefix(msg, "cluster: ") && !strings.HasPrefix(msg, "qat: ") {
				t.Fatalf("error %q does not say it is the quantizer state", msg)
			}
		} else {
			checkClustered(t, m, c, qs)
		}

		ck := &rundir.Checkpoint{Version: rundir.CheckpointVersion, Phase: rundir.PhaseCluster, Quant: qs.Tensors, QuantBlobs: qs.Blobs, QuantMeta: qs.Meta}
		if err := ck.SetModel(m); err != nil {
			t.Fatal(err)
		}
		m2, c2, err := Load(ck)
		if err != nil {
			if err.Error() == "" || m2 != nil || c2 != nil {
				t.Fatalf("error %q, or one with a result", err)
			}
			return
		}
		for _, name := range c2.order {
			cb := c2.Codebook(name)
			if err := cb.Validate(); err != nil || !slices.Equal(cb.Shape, m2.Param(name).Value.Shape()) {
				t.Fatalf("%s: codebook %v accepted for a weight %v (%v)", name, cb.Shape, m2.Param(name).Value.Shape(), err)
			}
		}
	})
}

// TestClusterSetStateRefuses: state FuzzClusterState found accepted. A
// re-clustering checkpoint with the shadow weights of one slot but not
// of another restored the one and silently kept the checkpoint's
// weights for the other; all or none (files before them) is accepted.
func TestClusterSetStateRefuses(t *testing.T) {
	_, c := fuzzCluster(t, 1)
	base, err := c.State()
	if err != nil {
		t.Fatal(err)
	}
	qs := base.Clone()
	delete(qs.Tensors, "f.weight.shadow")
	_, c = fuzzCluster(t, 1)
	if err := c.SetState(qs); err == nil || !strings.Contains(err.Error(), "cluster: checkpoint has shadow weights of [c.weight] but not of [f.weight]") {
		t.Errorf("one shadow missing: %v", err)
	}
	qs = base.Clone()
	delete(qs.Tensors, "f.weight.shadow")
	delete(qs.Tensors, "c.weight.shadow")
	_, c = fuzzCluster(t, 1)
	if err := c.SetState(qs); err != nil {
		t.Errorf("no shadows (a file before them): %v", err)
	}
}
