package cluster

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/tinyqat/tinyqat/nn"
	"github.com/tinyqat/tinyqat/qat"
	"github.com/tinyqat/tinyqat/rundir"
)

// clusterMeta is the cluster part of the checkpoint's quantizer metadata
// (next to QAT's, so LoadQAT still reads the uniform part).
type clusterMeta struct {
	Cfg    Config           `json:"config"`
	Groups map[string][]int `json:"shapes"` // slot → [axis, shape...]
}

// State implements train.StatefulQuantizer: QAT's state plus, per weight slot,
// "<slot>.codebook" (the centroids) and "<slot>.index" (the indices),
// with Recluster "<slot>.shadow" (the float shadow weights, which the
// checkpoint's parameters are not once the run ends), and the centroids'
// Adam state under "cluster.opt.": what an exact resume needs.
func (c *Quantizer) State() (rundir.QuantState, error) {
	qs, err := c.Quantizer.State()
	if err != nil {
		return rundir.QuantState{}, err
	}
	var all map[string]json.RawMessage
	if err := json.Unmarshal([]byte(qs.Meta), &all); err != nil {
		return rundir.QuantState{}, fmt.Errorf("cluster: cluster state: %v", err)
	}
	cm := clusterMeta{Cfg: c.Cfg, Groups: map[string][]int{}}
	for _, name := range c.order {
		cb := c.books[name].Codebook()
		qs.Tensors[name+".codebook"] = cb.Centroids
		idx := make([]float32, len(cb.Index))
		for i, v := range cb.Index {
			idx[i] = float32(v)
		}
		qs.Tensors[name+".index"] = idx
		if c.Cfg.Recluster {
			qs.Tensors[name+".shadow"] = slices.Clone(c.model.Param(name).Data())
		}
		cm.Groups[name] = append([]int{cb.Axis}, cb.Shape...)
	}
	for k, v := range c.opt.State() {
		qs.Tensors[clusterOptPrefix+k] = slices.Clone(v)
	}
	if all["cluster"], err = json.Marshal(cm); err != nil {
		return rundir.QuantState{}, err
	}
	b, err := json.Marshal(all)
	if err != nil {
		return rundir.QuantState{}, err
	}
	qs.Meta = string(b)
	return qs, nil
}

// SetState implements train.StatefulQuantizer.
func (c *Quantizer) SetState(qs rundir.QuantState) error {
	if err := c.Quantizer.SetState(qs); err != nil {
		return err
	}
	books, _, err := codebooksOf(qs.Tensors, qs.Meta)
	if err != nil {
		return err
	}
	for _, name := range c.order {
		cb := books[name]
		if cb == nil {
			return fmt.Errorf("cluster: checkpoint has no codebook for %s", name)
		}
		if err := c.books[name].SetCodebook(cb); err != nil {
			return fmt.Errorf("cluster: checkpoint codebook: %w", err)
		}
	}
	c.resetOpt()
	opt := map[string][]float32{}
	for k, v := range qs.Tensors {
		if rest, ok := strings.CutPrefix(k, clusterOptPrefix); ok {
			opt[rest] = v
		}
	}
	if len(opt) > 0 { // files before it start the centroids' Adam afresh
		if err := c.opt.SetState(opt); err != nil {
			return fmt.Errorf("cluster: checkpoint centroid optimizer: %w", err)
		}
	}
	if c.Cfg.Recluster {
		// Files before the shadow weights have none (the weights are
		// then the checkpoint's); one with some has them all, else a
		// missing one would silently become the checkpoint's weights.
		var has, lacks []string
		for _, name := range c.order {
			if _, ok := qs.Tensors[name+".shadow"]; ok {
				has = append(has, name)
			} else {
				lacks = append(lacks, name)
			}
		}
		if len(has) > 0 && len(lacks) > 0 {
			return fmt.Errorf("cluster: checkpoint has shadow weights of %v but not of %v", has, lacks)
		}
		for _, name := range c.order {
			p := c.model.Param(name).Data()
			if sh, ok := qs.Tensors[name+".shadow"]; ok {
				if len(sh) != len(p) {
					return fmt.Errorf("cluster: checkpoint shadow weights %s have %d values, the weight %d", name, len(sh), len(p))
				}
				copy(p, sh)
			}
		}
	} else {
		c.WriteWeights()
	}
	return nil
}

// clusterOptPrefix names the centroids' optimizer state in the quantizer state.
const clusterOptPrefix = "cluster.opt."

// codebooksOf decodes the codebooks of a cluster checkpoint's quantizer state.
func codebooksOf(ts map[string][]float32, meta string) (map[string]*Codebook, Config, error) {
	var all struct {
		Cluster *clusterMeta `json:"cluster"`
	}
	if err := json.Unmarshal([]byte(meta), &all); err != nil || all.Cluster == nil {
		return nil, Config{}, fmt.Errorf("cluster: the checkpoint has no codebooks (not a cluster run)")
	}
	cm := all.Cluster
	if err := cm.Cfg.Validate(); err != nil {
		return nil, cm.Cfg, fmt.Errorf("cluster: checkpoint cluster settings: %w", err)
	}
	out := map[string]*Codebook{}
	for name, g := range cm.Groups {
		if len(g) < 2 {
			return nil, cm.Cfg, fmt.Errorf("cluster: checkpoint codebook %s: bad shape %v", name, g)
		}
		cb := &Codebook{Bits: cm.Cfg.Bits, Axis: g[0], Shape: slices.Clone(g[1:]), Centroids: ts[name+".codebook"]}
		idx := ts[name+".index"]
		cb.Index = make([]uint8, len(idx))
		for i, v := range idx {
			if v < 0 || v > 255 || v != float32(int(v)) {
				return nil, cm.Cfg, fmt.Errorf("cluster: checkpoint codebook %s: index %d is %v", name, i, v)
			}
			cb.Index[i] = uint8(v)
		}
		if err := cb.Validate(); err != nil {
			return nil, cm.Cfg, fmt.Errorf("cluster: checkpoint codebook %s: %w", name, err)
		}
		out[name] = cb
	}
	return out, cm.Cfg, nil
}

// Load rebuilds the model, quantizer and codebooks of a cluster
// checkpoint; the model's weights are the decoded centroids.
func Load(ck *rundir.Checkpoint) (*nn.Model, *Quantizer, error) {
	if ck.Phase != rundir.PhaseCluster {
		return nil, nil, fmt.Errorf("cluster: the checkpoint is a %q run, not a cluster run", ck.Phase)
	}
	m, q, err := qat.Load(ck)
	if err != nil {
		return nil, nil, err
	}
	books, cfg, err := codebooksOf(ck.Quant, ck.QuantMeta)
	if err != nil {
		return nil, nil, err
	}
	c := &Quantizer{Quantizer: q, Cfg: cfg, model: m, books: map[string]*CodebookState{}}
	est := Centroid{PassThrough: cfg.Recluster}
	for _, s := range m.Slots {
		if s.Kind != nn.Weight {
			continue
		}
		cb := books[s.Name]
		if cb == nil {
			return nil, nil, fmt.Errorf("cluster: checkpoint has no codebook for %s", s.Name)
		}
		if p := m.Param(s.Name); !slices.Equal(cb.Shape, p.Value.Shape()) {
			return nil, nil, fmt.Errorf("cluster: codebook %s has shape %v, the weight is %v", s.Name, cb.Shape, p.Value.Shape())
		}
		if c.books[s.Name], err = NewCodebookState(s.Name, cb, est); err != nil {
			return nil, nil, err
		}
		c.order = append(c.order, s.Name)
	}
	if len(books) != len(c.order) {
		return nil, nil, fmt.Errorf("cluster: the checkpoint has %d codebooks, the model %d weights", len(books), len(c.order))
	}
	c.WriteWeights()
	c.resetOpt()
	return m, c, nil
}
