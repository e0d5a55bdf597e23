package export

import (
	"context"
	"math/rand/v2"
	"testing"

	"github.com/tinyqat/tinyqat/datasets"
	"github.com/tinyqat/tinyqat/infer"
	"github.com/tinyqat/tinyqat/nn"
)

// rgbSet is n random RGB 32×32 images with labels k mod classes.
func rgbSet(name string, n, classes int, rng *rand.Rand) *datasets.Set {
	s := &datasets.Set{Name: name, N: n, C: 3, H: 32, W: 32, Classes: classes, Pix: make([]uint8, n*3*32*32), Labels: make([]uint8, n)}
	for i := range s.Pix {
		s.Pix[i] = uint8(rng.IntN(256))
	}
	for k := range s.Labels {
		s.Labels[k] = uint8(k % classes)
	}
	return s
}

// TestCIFARModelsExport (issue 20): the CIFAR-10 models, built for RGB
// 32×32 inputs, calibrate (PTQ) and export to an integer model that the
// runtime validates and runs on RGB images.
func TestCIFARModelsExport(t *testing.T) {
	rng := rand.New(rand.NewPCG(20, 3))
	data := &datasets.Pair{Train: rgbSet("train", 64, 10, rng), Test: rgbSet("test", 16, 10, rng)}
	for _, arch := range []string{"resnet8-mlperf", "resnet20"} {
		m, err := nn.New(arch, nn.Shape{C: 3, H: 32, W: 32}, 10, 1)
		if err != nil {
			t.Fatal(err)
		}
		ck := ptqOfUntrained(t, m, data)
		im, err := Export(context.Background(), ck, infer.W8A8)
		if err != nil {
			t.Fatalf("%s: %v", arch, err)
		}
		if im.InC != 3 || im.InH != 32 || im.InW != 32 || im.Classes != 10 {
			t.Errorf("%s: integer model takes %dx%dx%d, %d classes", arch, im.InC, im.InH, im.InW, im.Classes)
		}
		if _, err := Accuracy(context.Background(), im, data.Test, 8); err != nil {
			t.Errorf("%s: running the integer model: %v", arch, err)
		}
	}
}
