package main

import (
	"encoding/json"
	"fmt"

	"github.com/tinyqat/tinyqat/attack"
)

// demoSummary is summary.json of a demo directory: what the demo
// measured at each step, and what `report` adds (latency, adversarial
// accuracy, file sizes). A nil field was not measured (a summary.json
// from an older demo, or a step that did not run) and is not written;
// keys this version does not know are kept in other, so `report`
// rewrites a summary without losing anything. Fields are in the order
// of their keys, as the file lists them.
type demoSummary struct {
	Adversarial         map[string]*adversarialRecord `json:"adversarial,omitempty"`
	Agreement           *float64                      `json:"agreement,omitempty"`
	Cluster4Bit         *clusterSummary               `json:"cluster_4bit,omitempty"`
	Data                *string                       `json:"data,omitempty"`
	Epochs              *int                          `json:"epochs,omitempty"`
	ExactSamples        *float64                      `json:"exact_samples,omitempty"`
	Float32Bytes        *int                          `json:"float32_bytes,omitempty"`
	FloatForwardSeconds *float64                      `json:"float_forward_seconds,omitempty"`
	FloatTestAcc        *float64                      `json:"float_test_acc,omitempty"`
	Int8ForwardSeconds  *float64                      `json:"int8_forward_seconds,omitempty"`
	Int8TestAcc         *float64                      `json:"int8_test_acc,omitempty"`
	// LatencyUS is µs per image by engine and batch size.
	LatencyUS  map[string]map[string]float64 `json:"latency_us_per_image,omitempty"`
	MaxLSBDiff *int32                        `json:"max_lsb_diff,omitempty"`
	Model      *string                       `json:"model,omitempty"`
	ModelBytes *int64                        `json:"model_bytes,omitempty"`
	QATEpochs  *int                          `json:"qat_epochs,omitempty"`
	Seconds    *float64                      `json:"seconds,omitempty"`
	SimTestAcc *float64                      `json:"sim_test_acc,omitempty"`
	SizeBytes  map[string]int64              `json:"size_bytes,omitempty"`
	Table      []demoRow                     `json:"table,omitempty"`
	other      map[string]json.RawMessage
}

// demoRow is one bit-width of the accuracy table (fractions in [0, 1]).
type demoRow struct {
	Bits    string   `json:"bits"` // "W8A8", ...
	Cluster *float64 `json:"cluster,omitempty"`
	Float   float64  `json:"float"`
	PTQ     float64  `json:"ptq"`
	QAT     float64  `json:"qat"`
}

// clusterSummary is the 4-bit codebook model's record.
type clusterSummary struct {
	BeforeFinetuneAcc float64 `json:"before_finetune_acc"`
	Bits              int     `json:"bits"`
	BitsA             int     `json:"bits_a"`
	Bytes             int64   `json:"bytes"`
	Epochs            int     `json:"epochs"`
	FloatTestAcc      float64 `json:"float_test_acc"`
	ModelFile         string  `json:"model_file"`
	Precision         string  `json:"precision"`
	RuntimeTestAcc    float64 `json:"runtime_test_acc"`
	TestAcc           float64 `json:"test_acc"`
	TrainImages       int     `json:"train_images"`
}

// adversarialRecord is one attack method's results in the summary:
// {"eps": [...], "samples": N, "steps": S (PGD only), THREAT: {MODEL:
// [accuracy per eps]}}.
type adversarialRecord struct {
	Eps     []float64
	Samples int
	Steps   int                             // PGD's steps; 0: not written (FGSM)
	Curves  map[string]map[string][]float64 // threat → model → accuracy per eps
}

func (a *adversarialRecord) MarshalJSON() ([]byte, error) {
	m := map[string]any{"eps": a.Eps, "samples": a.Samples}
	if a.Steps != 0 {
		m["steps"] = a.Steps
	}
	for t, c := range a.Curves {
		if t == "eps" || t == "samples" || t == "steps" {
			return nil, fmt.Errorf("summary: an attack threat is named %q", t)
		}
		m[t] = c
	}
	return json.Marshal(m)
}

func (a *adversarialRecord) UnmarshalJSON(b []byte) error {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		return err
	}
	*a = adversarialRecord{}
	for k, v := range m {
		var err error
		switch k {
		case "eps":
			err = json.Unmarshal(v, &a.Eps)
		case "samples":
			err = json.Unmarshal(v, &a.Samples)
		case "steps":
			err = json.Unmarshal(v, &a.Steps)
		default:
			var c map[string][]float64
			if err = json.Unmarshal(v, &c); err == nil {
				if a.Curves == nil {
					a.Curves = map[string]map[string][]float64{}
				}
				a.Curves[k] = c
			}
		}
		if err != nil {
			return fmt.Errorf("%s: %w", k, err)
		}
	}
	return nil
}

// adversarialSummary is the summary's record of attack results, by method.
func adversarialSummary(attacks []*attack.Result) map[string]*adversarialRecord {
	adv := map[string]*adversarialRecord{}
	for _, res := range attacks {
		a := &adversarialRecord{Eps: res.Eps, Samples: res.Samples, Curves: map[string]map[string][]float64{}}
		if res.Config.Method == attack.PGD {
			a.Steps = res.Config.Steps
		}
		for _, c := range res.Curves {
			if a.Curves[c.Threat] == nil {
				a.Curves[c.Threat] = map[string][]float64{}
			}
			a.Curves[c.Threat][c.Model] = c.Acc
		}
		adv[string(res.Config.Method)] = a
	}
	return adv
}

// summaryFields is demoSummary without its methods, for the standard
// encoding of the typed fields.
type summaryFields demoSummary

// MarshalJSON writes the typed fields and the kept unknown keys in one
// object, keys sorted.
func (s *demoSummary) MarshalJSON() ([]byte, error) {
	b, err := json.Marshal((*summaryFields)(s))
	if err != nil || len(s.other) == 0 {
		return b, err
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, err
	}
	for k, v := range s.other {
		if _, ok := m[k]; !ok {
			m[k] = v
		}
	}
	return json.Marshal(m)
}

// UnmarshalJSON reads the typed fields and keeps the other keys.
func (s *demoSummary) UnmarshalJSON(b []byte) error {
	var f summaryFields
	if err := json.Unmarshal(b, &f); err != nil {
		return err
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		return err
	}
	known, err := json.Marshal(&f)
	if err != nil {
		return err
	}
	var km map[string]json.RawMessage
	if err := json.Unmarshal(known, &km); err != nil {
		return err
	}
	for k := range m {
		if _, ok := km[k]; ok {
			delete(m, k)
		}
	}
	*s = demoSummary(f)
	if len(m) > 0 {
		s.other = m
	}
	return nil
}

// deref is *p, or the zero value for nil (a figure not measured).
func deref[T any](p *T) T {
	if p == nil {
		var zero T
		return zero
	}
	return *p
}
