package infer

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

// TestSourceFixturesResave: model files written by the code that kept
// Source as a map[string]string (testdata/source_*.tqm, written by
// commit 42c01d7's Save from the maps below) load with the typed fields
// set, keep what they cannot type in Other, and save again byte for byte.
func TestSourceFixturesResave(t *testing.T) {
	f64 := func(x float64) *float64 { return &x }
	no := false
	for _, tc := range []struct {
		file string
		want Source
	}{
		// The keys export, cluster export, float export and the CLI write.
		{"source_export.tqm", Source{Run: "/runs/lenet300-qat", Phase: "qat", Precision: "f32", BitsW: 4, BitsA: 8,
			SlotBits: "fc1.weight=3", Estimator: "clipped", Observer: "minmax", TestAcc: f64(0.98125), TestAccSim: f64(0.9787),
			Weights: "codebook", CodebookBits: 4, CodebookInit: "kmeans++", CodebookPerChannel: &no}},
		// Unknown keys and values that do not read back exactly.
		{"source_odd.tqm", Source{Phase: "ptq", TestAcc: f64(1e-05), TestAccSim: f64(0),
			Other: map[string]string{"epoch": "3", "bits_w": "08", "bits_a": "", "estimator": "", "cb_per_channel": "no", "cb_bits": "0", "zzz": "x"}}},
	} {
		t.Run(tc.file, func(t *testing.T) {
			path := filepath.Join("testdata", tc.file)
			old, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			m, err := Load(path)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(m.Source, tc.want) {
				t.Errorf("loaded Source\n%+v, want\n%+v", m.Source, tc.want)
			}
			out := filepath.Join(t.TempDir(), tc.file)
			if err := m.Save(out); err != nil {
				t.Fatal(err)
			}
			got, err := os.ReadFile(out)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, old) {
				t.Errorf("re-saved file differs from the one written with a map (%d vs %d bytes)", len(got), len(old))
			}
		})
	}
}

// TestSourceJSON: a Source encodes as the map of strings it was before
// it was typed (keys sorted, only the recorded fields), and a model
// without one has no "source" at all.
func TestSourceJSON(t *testing.T) {
	acc, yes := 0.5, true
	for _, tc := range []struct {
		src  Source
		want string
	}{
		{Source{}, `{}`},
		{Source{Run: "r", BitsW: 8, BitsA: 4, TestAccSim: &acc}, `{"bits_a":"4","bits_w":"8","run":"r","test_acc_sim":"0.5"}`},
		{Source{CodebookPerChannel: &yes, Other: map[string]string{"epoch": "2", "run": "stale"}, Run: "new"},
			`{"cb_per_channel":"true","epoch":"2","run":"new"}`},
	} {
		b, err := json.Marshal(tc.src)
		if err != nil || string(b) != tc.want {
			t.Errorf("%+v: %s, %v; want %s", tc.src, b, err, tc.want)
		}
	}
	m := &Model{Arch: "a"}
	b, _ := json.Marshal(m)
	if bytes.Contains(b, []byte(`"source"`)) {
		t.Errorf("a model without Source writes one: %s", b)
	}
	var s Source
	if err := json.Unmarshal([]byte(`{"bits_w": 8}`), &s); err == nil {
		t.Error("a non-string value is accepted")
	}
	if err := json.Unmarshal([]byte(`null`), &s); err != nil || !s.IsZero() {
		t.Errorf("null: %+v, %v", s, err)
	}
}

// TestSourceDataResize: the training data's layout and resize travel as
// "data" and "resize" ("HxW"); a resize that does not read back exactly,
// or with a side below 1, stays in Other, and a file without them reads as not recorded.
func TestSourceDataResize(t *testing.T) {
	for _, tc := range []struct {
		file string
		want Source
	}{
		{`{"data":"folder","resize":"24x32"}`, Source{Data: "folder", ResizeH: 24, ResizeW: 32}},
		{`{"data":"idx"}`, Source{Data: "idx"}},
		{`{"data":"idx","data_sha256":"a7fe"}`, Source{Data: "idx", DataSHA: "a7fe"}},
		{`{"phase":"qat"}`, Source{Phase: "qat"}},
		{`{"resize":"24"}`, Source{Other: map[string]string{"resize": "24"}}},
		{`{"resize":"024x32"}`, Source{Other: map[string]string{"resize": "024x32"}}},
		{`{"resize":"0x0"}`, Source{Other: map[string]string{"resize": "0x0"}}},
		{`{"resize":"-24x32"}`, Source{Other: map[string]string{"resize": "-24x32"}}},
		{`{"resize":"24x0"}`, Source{Other: map[string]string{"resize": "24x0"}}},
	} {
		var s Source
		if err := json.Unmarshal([]byte(tc.file), &s); err != nil || !reflect.DeepEqual(s, tc.want) {
			t.Errorf("%s: %+v, %v; want %+v", tc.file, s, err, tc.want)
		}
		if b, err := json.Marshal(s); err != nil || string(b) != tc.file {
			t.Errorf("%s: written back as %s, %v", tc.file, b, err)
		}
	}
}
