package imageinput

import (
	"fmt"
	"math"

	"github.com/tinyqat/tinyqat/infer"
)

// Prediction is a model's answer for one image.
type Prediction struct {
	Class int `json:"class"`
	// Name is the class's name when the model has names (Model.ClassNames).
	Name string `json:"name,omitempty"`
	// Logits are the model's outputs in real units (the integer logits
	// times the output scale, minus the zero point, for an integer model).
	Logits []float32 `json:"logits"`
	// Scores are the softmax of the logits: they sum to 1.
	Scores []float32 `json:"scores"`
}

// ModelShape is the input shape of m.
func ModelShape(m *infer.Model) Shape { return Shape{m.InC, m.InH, m.InW} }

// ModelOptions are the default Options for m: what its file says of its
// training data (Options.Data and DataSHA, so that PrepAuto reads a photo
// for a model trained on an image folder as the folder's images were
// read, and gives MNIST's digit preparation only to MNIST models).
func ModelOptions(m *infer.Model) Options {
	return Options{Data: m.Source.Data, DataSHA: m.Source.DataSHA}
}

// Classify runs the images through m in one batch. An integer model
// takes their bytes (infer.Model.LogitsBytes: no float arithmetic on the
// way in, the model's input normalization folded into its tables) when
// every image has them, else their float pixels (the same logits: the
// byte path equals the float path on p/255); a w8-only model takes the
// float pixels; a float32 model (F32) takes the bytes too
// (Model.FloatLogitsBytes) or else the float pixels. The model normalizes
// its input itself (Model.Norm).
func Classify(m *infer.Model, imgs []*Image) ([]Prediction, error) {
	s := ModelShape(m)
	size := s.C * s.H * s.W
	x := make([]float32, 0, len(imgs)*size)
	pix := make([]uint8, 0, len(imgs)*size)
	for i, img := range imgs {
		if len(img.Pixels) != size {
			return nil, fmt.Errorf("imageinput: image %d has %d values, the model takes %dx%dx%d", i, len(img.Pixels), s.C, s.H, s.W)
		}
		x = append(x, img.Pixels...)
		if pix != nil && len(img.Bytes) == size {
			pix = append(pix, img.Bytes...)
		} else {
			pix = nil
		}
	}
	n, k := len(imgs), m.Classes
	logits := make([]float32, n*k)
	if m.Mode == infer.W8Only || m.Mode == infer.F32 {
		var f []float32
		var err error
		if m.Mode == infer.F32 && pix != nil {
			f, err = m.FloatLogitsBytes(pix, n)
		} else {
			f, err = m.FloatLogits(x, n)
		}
		if err != nil {
			return nil, err
		}
		copy(logits, f)
	} else {
		var q []int32
		var err error
		if pix != nil {
			q, err = m.LogitsBytes(pix, n)
		} else {
			q, err = m.Logits(x, n)
		}
		if err != nil {
			return nil, err
		}
		out := m.Output()
		for i, v := range q {
			logits[i] = float32(v-out.Zero) * out.Scale
		}
	}
	preds := make([]Prediction, n)
	for i := range preds {
		l := logits[i*k : (i+1)*k]
		p := Prediction{Logits: l, Scores: make([]float32, k)}
		best := math.Inf(-1)
		for j, v := range l {
			if float64(v) > best {
				best, p.Class = float64(v), j
			}
		}
		if m.ClassNames != nil {
			p.Name = m.ClassNames[p.Class]
		}
		var sum float64
		for j, v := range l {
			e := math.Exp(float64(v) - best)
			p.Scores[j] = float32(e)
			sum += e
		}
		for j := range p.Scores {
			p.Scores[j] = float32(float64(p.Scores[j]) / sum)
		}
		preds[i] = p
	}
	return preds, nil
}
