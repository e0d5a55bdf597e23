package main

import (
	"encoding/json"
	"reflect"
	"testing"

	"github.com/tinyqat/tinyqat/attack"
)

// TestDemoSummaryJSON: the typed summary writes the JSON the demo wrote
// when the summary was a map[string]any (the map below is built as that
// code built it), and a summary.json read and written again (as `report`
// does) keeps every key, known or not, and every value.
func TestDemoSummaryJSON(t *testing.T) {
	attacks := []*attack.Result{
		{Config: attack.Config{Method: attack.FGSM}, Eps: []float64{0, 0.1}, Samples: 200,
			Curves: []attack.Curve{{Model: "float", Threat: "white-box", Acc: []float64{0.98, 0.5}}, {Model: "w8a8", Threat: "transfer", Acc: []float64{0.97, 0.6}}}},
		{Config: attack.Config{Method: attack.PGD, Steps: 5}, Eps: []float64{0, 0.1}, Samples: 200,
			Curves: []attack.Curve{{Model: "float", Threat: "white-box", Acc: []float64{0.98, 0.1}}}},
	}
	// The map the demo and report wrote (demo.go and demo_report.go
	// before the summary was typed).
	oldAdv := map[string]any{}
	for _, res := range attacks {
		m := map[string]any{"eps": res.Eps, "samples": res.Samples}
		if res.Config.Method == attack.PGD {
			m["steps"] = res.Config.Steps
		}
		for _, c := range res.Curves {
			th, _ := m[c.Threat].(map[string][]float64)
			if th == nil {
				th = map[string][]float64{}
				m[c.Threat] = th
			}
			th[c.Model] = c.Acc
		}
		oldAdv[string(res.Config.Method)] = m
	}
	var size, floatBytes, maxLSB = int64(61234), 1066440, int32(0)
	lat := map[string]map[string]float64{"int8": {"1": 2.1, "64": 0.7}}
	old := map[string]any{"model": "lenet300", "data": "/d", "epochs": 3, "qat_epochs": 2,
		"table":          []map[string]any{{"bits": "W8A8", "float": 0.98, "ptq": 0.97, "qat": 0.975, "cluster": 0.96}, {"bits": "W2A8", "float": 0.98, "ptq": 0.1, "qat": 0.9}},
		"float_test_acc": 0.98, "model_bytes": size, "float32_bytes": floatBytes,
		"cluster_4bit": map[string]any{"bits": 4, "bits_a": 8, "epochs": 1, "train_images": 60000, "float_test_acc": 0.98, "before_finetune_acc": 0.9,
			"test_acc": 0.97, "runtime_test_acc": 0.97, "bytes": int64(40000), "precision": "w4a8", "model_file": "/d/c.tqm"},
		"int8_test_acc": 0.975, "sim_test_acc": 0.975, "agreement": 1.0, "exact_samples": 1.0, "max_lsb_diff": maxLSB,
		"float_forward_seconds": 0.5, "int8_forward_seconds": 0.1, "latency_us_per_image": lat, "adversarial": oldAdv,
		"size_bytes": map[string]int64{"float32": 1066440, "int8": 61234}, "seconds": 12.5}
	want, err := json.Marshal(old)
	if err != nil {
		t.Fatal(err)
	}
	cl := 0.96
	s := &demoSummary{Model: new("lenet300"), Data: new("/d"), Epochs: new(3), QATEpochs: new(2),
		Table:        []demoRow{{Bits: "W8A8", Float: 0.98, PTQ: 0.97, QAT: 0.975, Cluster: &cl}, {Bits: "W2A8", Float: 0.98, PTQ: 0.1, QAT: 0.9}},
		FloatTestAcc: new(0.98), ModelBytes: new(size), Float32Bytes: new(floatBytes),
		Cluster4Bit: &clusterSummary{Bits: 4, BitsA: 8, Epochs: 1, TrainImages: 60000, FloatTestAcc: 0.98, BeforeFinetuneAcc: 0.9,
			TestAcc: 0.97, RuntimeTestAcc: 0.97, Bytes: 40000, Precision: "w4a8", ModelFile: "/d/c.tqm"},
		Int8TestAcc: new(0.975), SimTestAcc: new(0.975), Agreement: new(1.0), ExactSamples: new(1.0), MaxLSBDiff: new(maxLSB),
		FloatForwardSeconds: new(0.5), Int8ForwardSeconds: new(0.1), LatencyUS: lat, Adversarial: adversarialSummary(attacks),
		SizeBytes: map[string]int64{"float32": 1066440, "int8": 61234}, Seconds: new(12.5)}
	got, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != string(want) {
		t.Errorf("typed summary\n%s\nwant\n%s", got, want)
	}

	// Read and written again: the same bytes, also with keys this version
	// does not know and a partial summary (an older demo's).
	for _, in := range []string{string(want),
		`{"note":{"by":"me"},"seconds":12,"table":null,"zeta":[1,2]}`,
		`{"max_lsb_diff":0,"size_bytes":{}}`,
	} {
		var back demoSummary
		if err := json.Unmarshal([]byte(in), &back); err != nil {
			t.Fatalf("%s: %v", in, err)
		}
		again, err := json.Marshal(&back)
		if err != nil || string(again) != in {
			t.Errorf("read and written again:\n%s, %v\nwant\n%s", again, err, in)
		}
	}
	var back demoSummary
	if err := json.Unmarshal(want, &back); err != nil || !reflect.DeepEqual(back.Adversarial, s.Adversarial) || *back.MaxLSBDiff != 0 {
		t.Errorf("adversarial read back %+v, %v", back.Adversarial, err)
	}
}

// FuzzDemoSummaryJSON: `report` reads summary.json and writes it back.
// Whatever it accepts must write, and what it writes must read back and
// write the same bytes (nothing lost or changed by a second report).
func FuzzDemoSummaryJSON(f *testing.F) {
	for _, s := range []string{
		`{"agreement":1,"model":"lenet300","table":[{"bits":"W8A8","float":0.98,"ptq":0.97,"qat":0.98}],"future_key":{"a":[1,2]}}`,
		`{"adversarial":{"fgsm":{"eps":[0,0.1],"samples":200,"white-box":{"float":[0.98,0.5]}},"pgd":{"eps":[0],"samples":1,"steps":5}}}`,
		`{"adversarial":{"fgsm":null},"agreement":null,"latency_us_per_image":{"int8":{"1":3.5}},"size_bytes":{"int8":275560}}`,
		`{"cluster_4bit":{"bits":4,"bits_a":8,"test_acc":0.97},"max_lsb_diff":0,"epochs":10}`,
		`{}`, `null`, `[]`, `{"table":null}`, `{"adversarial":{"fgsm":{"eps":"x"}}}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var s demoSummary
		if err := json.Unmarshal(b, &s); err != nil {
			return
		}
		out, err := json.Marshal(&s)
		if err != nil {
			t.Fatalf("accepted %q, cannot write it: %v", b, err)
		}
		var s2 demoSummary
		if err := json.Unmarshal(out, &s2); err != nil {
			t.Fatalf("wrote %q from %q, cannot read it back: %v", out, b, err)
		}
		out2, err := json.Marshal(&s2)
		if err != nil || string(out2) != string(out) {
			t.Fatalf("%q read back and written again: %q (%v), want %q", b, out2, err, out)
		}
	})
}
