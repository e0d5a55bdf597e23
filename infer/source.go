package infer

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
)

// Source says where a model came from: the run, the checkpoint's phase
// and what its quantization recorded. Every field is optional; the zero
// value records nothing.
//
// In a model file Source is a JSON object of strings (the form written
// before Source was typed): {"bits_a":"8","bits_w":"8","phase":"qat",…},
// keys sorted, only the recorded fields. Each field's comment names its
// key. A file's keys that this version does not know, and values it
// cannot read back exactly (a "bits_w" of "08", an "estimator" of ""),
// are kept verbatim in Other, so a model loaded and saved again is
// byte for byte the file it was.
type Source struct {
	Run       string // "run": the run folder, an absolute path
	Phase     string // "phase": the checkpoint's phase (float, ptq, qat, cluster)
	Precision string // "precision": "f32" for a float model
	// BitsW and BitsA are the checkpoint's weight and activation
	// bit-widths ("bits_w", "bits_a"; 0: not recorded). SlotBits
	// ("slot_bits") lists the per-slot widths of a mixed-precision run.
	BitsW, BitsA int
	SlotBits     string
	Estimator    string // "estimator": the gradient estimator of QAT
	Observer     string // "observer": the range observer
	// TestAcc ("test_acc", a float model's) and TestAccSim
	// ("test_acc_sim", the simulation's) are the test accuracies the
	// checkpoint recorded (nil: not recorded).
	TestAcc, TestAccSim *float64
	// Weights is "codebook" for a cluster export ("weights"); the
	// codebook's bits, initialization and per-channel choice are
	// CodebookBits ("cb_bits", 0: none), CodebookInit ("cb_init") and
	// CodebookPerChannel ("cb_per_channel", nil: not recorded).
	Weights            string
	CodebookBits       int
	CodebookInit       string
	CodebookPerChannel *bool
	// Data is the layout of the data the run was trained on ("data":
	// "idx", "folder" or "cifar10"; "" not recorded), and ResizeH×ResizeW
	// the size the run scaled its images to ("resize", "HxW", each side
	// at least 1; 0: their own size, the model's input). A model trained on an image folder
	// reads photos as the folder's images were read (imageinput's
	// PrepData), so that it sees the pixels it was trained on.
	Data             string
	ResizeH, ResizeW int
	// DataSHA ("data_sha256") is the fingerprint of that data
	// (datasets.Pair.Fingerprint: SHA-256 of both splits' shapes, labels
	// and pixels; "" not recorded): predict gives MNIST's digit
	// preparation to models whose data was MNIST (imageinput.MNISTDataSHA).
	DataSHA string
	// Other holds the keys this version does not know and the values
	// it cannot read back exactly, verbatim. The fields above win over
	// an entry of Other with the same key.
	Other map[string]string
}

// sourceField is one field of Source: its key in the file, and how it
// is written (ok false: not recorded) and read.
type sourceField struct {
	key string
	get func(*Source) (string, bool)
	set func(*Source, string) error
}

func strField(key string, f func(*Source) *string) sourceField {
	return sourceField{key,
		func(s *Source) (string, bool) { return *f(s), *f(s) != "" },
		func(s *Source, v string) error { *f(s) = v; return nil }}
}

func intField(key string, f func(*Source) *int) sourceField {
	return sourceField{key,
		func(s *Source) (string, bool) { return strconv.Itoa(*f(s)), *f(s) != 0 },
		func(s *Source, v string) (err error) { *f(s), err = strconv.Atoi(v); return err }}
}

func floatField(key string, f func(*Source) **float64) sourceField {
	return sourceField{key,
		func(s *Source) (string, bool) {
			if *f(s) == nil {
				return "", false
			}
			return strconv.FormatFloat(**f(s), 'g', -1, 64), true
		},
		func(s *Source, v string) error {
			x, err := strconv.ParseFloat(v, 64)
			*f(s) = &x
			return err
		}}
}

func boolField(key string, f func(*Source) **bool) sourceField {
	return sourceField{key,
		func(s *Source) (string, bool) {
			if *f(s) == nil {
				return "", false
			}
			return strconv.FormatBool(**f(s)), true
		},
		func(s *Source, v string) error {
			b, err := strconv.ParseBool(v)
			*f(s) = &b
			return err
		}}
}

// sourceFields are Source's fields, one entry each.
var sourceFields = []sourceField{
	strField("run", func(s *Source) *string { return &s.Run }),
	strField("phase", func(s *Source) *string { return &s.Phase }),
	strField("precision", func(s *Source) *string { return &s.Precision }),
	intField("bits_w", func(s *Source) *int { return &s.BitsW }),
	intField("bits_a", func(s *Source) *int { return &s.BitsA }),
	strField("slot_bits", func(s *Source) *string { return &s.SlotBits }),
	strField("estimator", func(s *Source) *string { return &s.Estimator }),
	strField("observer", func(s *Source) *string { return &s.Observer }),
	floatField("test_acc", func(s *Source) **float64 { return &s.TestAcc }),
	floatField("test_acc_sim", func(s *Source) **float64 { return &s.TestAccSim }),
	strField("weights", func(s *Source) *string { return &s.Weights }),
	intField("cb_bits", func(s *Source) *int { return &s.CodebookBits }),
	strField("cb_init", func(s *Source) *string { return &s.CodebookInit }),
	boolField("cb_per_channel", func(s *Source) **bool { return &s.CodebookPerChannel }),
	strField("data", func(s *Source) *string { return &s.Data }),
	strField("data_sha256", func(s *Source) *string { return &s.DataSHA }),
	{"resize",
		func(s *Source) (string, bool) {
			return strconv.Itoa(s.ResizeH) + "x" + strconv.Itoa(s.ResizeW), s.ResizeH != 0 || s.ResizeW != 0
		},
		func(s *Source, v string) (err error) {
			h, w, ok := strings.Cut(v, "x")
			if !ok {
				return fmt.Errorf("resize %q: want HxW", v)
			}
			if s.ResizeH, err = strconv.Atoi(h); err != nil {
				return err
			}
			if s.ResizeW, err = strconv.Atoi(w); err != nil {
				return err
			}
			if s.ResizeH < 1 || s.ResizeW < 1 {
				return fmt.Errorf("resize %q: sides below 1", v)
			}
			return nil
		}},
}

// Map returns s in its file form, key → value, with the recorded
// fields and Other (nil when nothing is recorded).
func (s Source) Map() map[string]string {
	var m map[string]string
	for k, v := range s.Other {
		if m == nil {
			m = map[string]string{}
		}
		m[k] = v
	}
	for _, f := range sourceFields {
		if v, ok := f.get(&s); ok {
			if m == nil {
				m = map[string]string{}
			}
			m[f.key] = v
		}
	}
	return m
}

// SourceFromMap reads the file form of a Source (see Map). It never
// fails: a key it does not know, or a value that does not read back as
// it was written, stays in Other.
func SourceFromMap(m map[string]string) Source {
	var s Source
	for _, f := range sourceFields {
		v, ok := m[f.key]
		if !ok {
			continue
		}
		var t Source
		if err := f.set(&t, v); err == nil {
			if w, ok := f.get(&t); ok && w == v {
				f.set(&s, v) // cannot fail: it did on t
				continue
			}
		}
		if s.Other == nil {
			s.Other = map[string]string{}
		}
		s.Other[f.key] = v
	}
	for k, v := range m {
		if !knownSourceKey(k) {
			if s.Other == nil {
				s.Other = map[string]string{}
			}
			s.Other[k] = v
		}
	}
	return s
}

func knownSourceKey(key string) bool {
	for _, f := range sourceFields {
		if f.key == key {
			return true
		}
	}
	return false
}

// IsZero reports whether s records nothing (a model file then has no
// "source").
func (s Source) IsZero() bool { return len(s.Map()) == 0 }

// MarshalJSON writes the file form (Map): an object of strings, keys
// sorted.
func (s Source) MarshalJSON() ([]byte, error) {
	m := s.Map()
	if m == nil {
		m = map[string]string{}
	}
	return json.Marshal(m)
}

// UnmarshalJSON reads the file form (SourceFromMap); null is the zero
// Source.
func (s *Source) UnmarshalJSON(b []byte) error {
	var m map[string]string
	if err := json.Unmarshal(b, &m); err != nil {
		return fmt.Errorf("source: %w", err)
	}
	*s = SourceFromMap(m)
	return nil
}
