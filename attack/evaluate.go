package attack

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"

	"github.com/tinyqat/tinyqat/datasets"
)

// Threat names in results.
const (
	// WhiteBox: images made with the gradient of the model under attack.
	WhiteBox = "white-box"
	// Transfer: images made on the source (float) model.
	Transfer = "transfer"
	// Twin: images made white-box on the fake-quant model a runtime was
	// exported from (the runtime computes the same integers, so this is a
	// white-box attack on the runtime by its simulation).
	Twin = "white-box via simulation"
)

// Runtime is a classifier without gradients, attacked by transfer.
type Runtime struct {
	Name       string
	Classifier Classifier
	// Twin names a Model of the suite that the runtime was exported from
	// (or ""): that model's white-box images are also fed to the runtime.
	Twin string
}

// Suite is what Evaluate attacks.
type Suite struct {
	// Source makes the transfer images; it is also attacked white-box
	// (there both threat models coincide).
	Source *Model
	// Models are attacked white-box and by transfer from Source.
	Models []*Model
	// Runtimes are attacked by transfer only.
	Runtimes []Runtime
}

// Curve is accuracy against eps for one model under one threat model.
type Curve struct {
	Model  string    `json:"model"`
	Threat string    `json:"threat"`
	Acc    []float64 `json:"acc"`
}

// Result is the outcome of Evaluate.
type Result struct {
	Config  Config    `json:"config"`
	Eps     []float64 `json:"eps"`
	Samples int       `json:"samples"`
	Curves  []Curve   `json:"curves"`
	// MaxLinf is, per eps, the largest |x'−x| over every image crafted
	// (a check that the budget held).
	MaxLinf []float64 `json:"max_linf"`
}

// Curve returns the named curve, or nil.
func (r *Result) Curve(model, threat string) *Curve {
	for i := range r.Curves {
		if r.Curves[i].Model == model && r.Curves[i].Threat == threat {
			return &r.Curves[i]
		}
	}
	return nil
}

// Masking lists the (model, eps) points where the white-box attack left
// the model more accurate than the transfer attack did, by more than tol:
// the gradient the attack used was worse than a borrowed one, the mark of
// gradient masking (Athalye et al. 2018, §2; Papernot et al. 2017).
func (r *Result) Masking(tol float64) []MaskingPoint {
	var out []MaskingPoint
	for _, c := range r.Curves {
		if c.Threat != WhiteBox {
			continue
		}
		t := r.Curve(c.Model, Transfer)
		if t == nil {
			continue
		}
		for i, e := range r.Eps {
			if c.Acc[i] > t.Acc[i]+tol {
				out = append(out, MaskingPoint{Model: c.Model, Eps: e, WhiteBox: c.Acc[i], Transfer: t.Acc[i]})
			}
		}
	}
	return out
}

// MaskingPoint is one point where white-box was weaker than transfer.
type MaskingPoint struct {
	Model    string  `json:"model"`
	Eps      float64 `json:"eps"`
	WhiteBox float64 `json:"white_box"`
	Transfer float64 `json:"transfer"`
}

// Evaluate attacks every model of the suite on set at each eps and returns
// top-1 accuracies (fractions). progress, if not nil, is called after each
// eps with a one-line summary. It stops with ctx.Err() when ctx is
// cancelled.
func Evaluate(ctx context.Context, set *datasets.Set, s Suite, eps []float64, cfg Config, progress func(string)) (*Result, error) {
	cfg = cfg.Defaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if err := cfg.CheckEps(eps); err != nil {
		return nil, err
	}
	if s.Source == nil {
		return nil, &ConfigError{"suite", "no source model"}
	}
	if set == nil || set.N == 0 {
		return nil, &ConfigError{"data", "no images"}
	}
	models := []*Model{s.Source}
	names := map[string]bool{s.Source.Name: true}
	for _, m := range s.Models {
		if m == s.Source {
			continue
		}
		if names[m.Name] {
			return nil, &ConfigError{"suite", fmt.Sprintf("two models named %q", m.Name)}
		}
		names[m.Name] = true
		models = append(models, m)
	}
	for _, rt := range s.Runtimes {
		if names[rt.Name] {
			return nil, &ConfigError{"suite", fmt.Sprintf("two models named %q", rt.Name)}
		}
		if rt.Twin != "" && !names[rt.Twin] {
			return nil, &ConfigError{"suite", fmt.Sprintf("runtime %s: no model named %q", rt.Name, rt.Twin)}
		}
		names[rt.Name] = true
	}
	for _, m := range models {
		in := m.Net.In
		if in.C != set.C || in.H != set.H || in.W != set.W || m.Net.Classes < set.Classes {
			return nil, &ConfigError{"data", fmt.Sprintf("model %s takes %v images and %d classes, the data has %dx%dx%d and %d", m.Name, in, m.Net.Classes, set.C, set.H, set.W, set.Classes)}
		}
	}
	atk := make([]*Attacker, len(models))
	for i, m := range models {
		a, err := NewAttacker(m, cfg)
		if err != nil {
			return nil, err
		}
		defer a.Close()
		atk[i] = a
	}

	res := &Result{Config: cfg, Eps: eps, Samples: set.N, MaxLinf: make([]float64, len(eps))}
	// Curves in a fixed order: white-box of every model, then transfer,
	// then the runtimes.
	idx := map[[2]string]int{}
	add := func(model, threat string) {
		idx[[2]string{model, threat}] = len(res.Curves)
		res.Curves = append(res.Curves, Curve{Model: model, Threat: threat, Acc: make([]float64, len(eps))})
	}
	for _, m := range models {
		add(m.Name, WhiteBox)
	}
	for _, m := range models {
		add(m.Name, Transfer)
	}
	for _, rt := range s.Runtimes {
		add(rt.Name, Transfer)
		if rt.Twin != "" {
			add(rt.Name, Twin)
		}
	}
	correct := make([]int, len(res.Curves))
	count := func(model, threat string, pred, labels []int) {
		c := 0
		for i, p := range pred {
			if p == labels[i] {
				c++
			}
		}
		correct[idx[[2]string{model, threat}]] += c
	}

	size := set.Size()
	x := make([]float32, cfg.Batch*size)
	labels := make([]int, cfg.Batch)
	trans := make([]float32, cfg.Batch*size)
	wb := make([]float32, cfg.Batch*size)
	for ei, e := range eps {
		clear(correct)
		bt := datasets.NewBatcher(set, cfg.Batch, false, 0)
		for b := 0; ; b++ {
			n := bt.Next(x, labels)
			if n == 0 {
				break
			}
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			xs, ls := x[:n*size], labels[:n]
			seed := func() *rand.Rand { return rand.New(rand.NewPCG(cfg.Seed, uint64(ei)<<32|uint64(b))) }
			if err := atk[0].Perturb(ctx, trans, xs, ls, e, seed()); err != nil {
				return nil, err
			}
			res.MaxLinf[ei] = max(res.MaxLinf[ei], linf(trans[:n*size], xs))
			for i, a := range atk {
				pred, err := a.Predict(trans, n)
				if err != nil {
					return nil, err
				}
				count(a.Name(), Transfer, pred, ls)
				adv := trans
				if i > 0 {
					// Each model gets the same random start as the source.
					if err := a.Perturb(ctx, wb, xs, ls, e, seed()); err != nil {
						return nil, err
					}
					res.MaxLinf[ei] = max(res.MaxLinf[ei], linf(wb[:n*size], xs))
					if pred, err = a.Predict(wb, n); err != nil {
						return nil, err
					}
					adv = wb
				}
				count(a.Name(), WhiteBox, pred, ls)
				for _, rt := range s.Runtimes {
					if rt.Twin != a.Name() {
						continue
					}
					p, err := rt.Classifier.Predict(adv[:n*size], n)
					if err != nil {
						return nil, fmt.Errorf("attack: %s: %w", rt.Name, err)
					}
					count(rt.Name, Twin, p, ls)
				}
			}
			for _, rt := range s.Runtimes {
				p, err := rt.Classifier.Predict(trans[:n*size], n)
				if err != nil {
					return nil, fmt.Errorf("attack: %s: %w", rt.Name, err)
				}
				count(rt.Name, Transfer, p, ls)
			}
		}
		for i := range res.Curves {
			res.Curves[i].Acc[ei] = float64(correct[i]) / float64(set.N)
		}
		if progress != nil {
			line := fmt.Sprintf("%s eps %.3g:", cfg.Method, e)
			for _, c := range res.Curves {
				line += fmt.Sprintf(" %s/%s %.1f%%", c.Model, c.Threat, 100*c.Acc[ei])
			}
			progress(line)
		}
	}
	return res, nil
}

func linf(a, b []float32) float64 {
	m := 0.0
	for i, v := range a {
		m = math.Max(m, math.Abs(float64(v)-float64(b[i])))
	}
	return m
}

// Markdown formats the result as a markdown table: one row per model and
// threat, one column per eps, accuracies in percent.
func (r *Result) Markdown() string {
	var b strings.Builder
	b.WriteString("| model | threat |")
	for _, e := range r.Eps {
		fmt.Fprintf(&b, " ε=%g |", e)
	}
	b.WriteString("\n|---|---|")
	for range r.Eps {
		b.WriteString("---:|")
	}
	b.WriteString("\n")
	for _, c := range r.Curves {
		fmt.Fprintf(&b, "| %s | %s |", c.Model, c.Threat)
		for _, a := range c.Acc {
			fmt.Fprintf(&b, " %.2f |", 100*a)
		}
		b.WriteString("\n")
	}
	return b.String()
}
