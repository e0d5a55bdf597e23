package imageinput

import (
	"fmt"
	"math"

	"github.com/tinyqat/tinyqat/infer"
)

// Prediction is a model's answer for one image.
type Prediction struct {
	Class int `json:"class"`
	// Logits are the model's outputs in real units (the integer logits
	// times the output scale, minus the zero point, for an integer model).
	Logits []float32 `json:"logits"`
	// Scores are the softmax of the logits: they sum to 1.
	Scores []float32 `json:"scores"`
}

// ModelShape is the input shape of m.
func ModelShape(m *infer.Model) Shape { return Shape{m.InC, m.InH, m.InW} }

// Classify runs the images through m in one batch.
func Classify(m *infer.Model, imgs []*Image) ([]Prediction, error) {
	s := ModelShape(m)
	size := s.C * s.H * s.W
	x := make([]float32, 0, len(imgs)*size)
	for i, img := range imgs {
		if len(img.Pixels) != size {
			return nil, fmt.Errorf("imageinput: image %d has %d values, the model takes %dx%dx%d", i, len(img.Pixels), s.C, s.H, s.W)
		}
		x = append(x, img.Pixels...)
	}
	n, k := len(imgs), m.Classes
	logits := make([]float32, n*k)
	if m.Mode == infer.W8Only {
		f, err := m.FloatLogits(x, n)
		if err != nil {
			return nil, err
		}
		copy(logits, f)
	} else {
		q, err := m.Logits(x, n)
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
