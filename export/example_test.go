package export_test

import (
	"context"
	"fmt"

	"github.com/tinyqat/tinyqat/datasets"
	"github.com/tinyqat/tinyqat/export"
	"github.com/tinyqat/tinyqat/infer"
	"github.com/tinyqat/tinyqat/nn"
	"github.com/tinyqat/tinyqat/qat"
	"github.com/tinyqat/tinyqat/rundir"
	"github.com/tinyqat/tinyqat/train"
)

// The whole pipeline from Go: train in float, quantize (PTQ here; give
// rundir.Config an Epochs count for QAT), export to integers, and check the
// integer runtime against the fake-quant simulation.
func Example() {
	data := datasets.Synthetic(512, 128, 8, 8, 4, 60, 1) // or datasets.Load("") for MNIST
	m, _ := nn.New("lenet300", nn.Shape{C: 1, H: 8, W: 8}, 4, 1)
	tr, _ := train.NewTrainer(m, data, rundir.Config{Epochs: 2, Seed: 1})
	tr.Progress = nil
	if err := tr.Run(context.Background()); err != nil {
		panic(err)
	}
	ck, err := tr.Checkpoint()
	if err != nil {
		panic(err)
	}
	res, err := qat.PTQ(context.Background(), ck, data, qat.Options{Quant: qat.Config{BitsW: 8, BitsA: 8}})
	if err != nil {
		panic(err)
	}
	qck, err := res.Trainer.Checkpoint()
	if err != nil {
		panic(err)
	}
	model, err := export.Export(context.Background(), qck, infer.W8A8)
	if err != nil {
		panic(err)
	}
	cmp, err := export.Compare(context.Background(), model, qck, data.Test, 64)
	if err != nil {
		panic(err)
	}
	fmt.Printf("int8 accuracy %.2f, top-1 agreement %.2f, bit-identical logits %.2f\n", cmp.IntAcc, cmp.Agreement, cmp.ExactSamples)
	// Output: int8 accuracy 1.00, top-1 agreement 1.00, bit-identical logits 1.00
}
