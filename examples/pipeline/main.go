// Command pipeline is tinyqat's whole pipeline from Go, in one screen:
// train lenet300 in float32, fine-tune it with quantization-aware training
// at W8A8, export the integer model, save it, and classify the test images
// with the integer runtime.
//
//	go run ./examples/pipeline -out runs/pipeline
//
// With the defaults (1 float epoch and 1 QAT epoch on 12,000 MNIST
// images) it takes about 2 s on 2 cores (float 93.6%, integer 94.8% on the 10,000 test images, measured 2026-12-06). The README's "From Go" section
// shows this file's run function; the test builds and runs it on a small
// synthetic set.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"

	"github.com/tinyqat/tinyqat/datasets"
	"github.com/tinyqat/tinyqat/export"
	"github.com/tinyqat/tinyqat/infer"
	"github.com/tinyqat/tinyqat/nn"
	"github.com/tinyqat/tinyqat/qat"
	"github.com/tinyqat/tinyqat/rundir"
	"github.com/tinyqat/tinyqat/train"
)

func main() {
	out := flag.String("out", filepath.Join("runs", "pipeline"), "directory for the runs and the model file")
	data := flag.String("data", "", "directory with the four IDX files (default: MNIST from the Go module cache)")
	epochs := flag.Int("epochs", 1, "float epochs (the QAT fine-tuning runs one more)")
	trainLimit := flag.Int("train-limit", 12000, "training images to use (0: all)")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	ds, err := datasets.Load(*data)
	if err == nil {
		err = run(ctx, ds, *out, *epochs, *trainLimit)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "pipeline:", err)
		os.Exit(1)
	}
}

// run trains, quantizes, exports and evaluates; every run directory and
// the model file go under out.
func run(ctx context.Context, ds *datasets.Pair, out string, epochs, trainLimit int) error {
	// 1. The float baseline.
	in := nn.Shape{C: ds.Train.C, H: ds.Train.H, W: ds.Train.W}
	m, err := nn.New("lenet300", in, ds.Train.Classes, 1)
	if err != nil {
		return err
	}
	tr, err := train.NewTrainer(m, ds, rundir.Config{Epochs: epochs, Seed: 1, TrainLimit: trainLimit})
	if err != nil {
		return err
	}
	defer tr.Close()
	tr.RunDir = filepath.Join(out, "float")
	tr.Progress = nil
	if err := tr.Run(ctx); err != nil {
		return err
	}

	// 2. Quantization-aware fine-tuning at W8A8 (qat.PTQ calibrates only).
	fck, err := tr.Checkpoint()
	if err != nil {
		return err
	}
	res, err := qat.Quantize(ctx, fck, ds, qat.Options{Quant: qat.Config{BitsW: 8, BitsA: 8}, Train: rundir.Config{Epochs: 1, LR: 1e-3, Seed: 1, TrainLimit: trainLimit}, RunDir: filepath.Join(out, "qat")})
	if err != nil {
		return err
	}

	// 3. The integer model: int8 weights, int32 biases, fixed-point multipliers.
	qck, err := res.Trainer.Checkpoint()
	if err != nil {
		return err
	}
	model, err := export.Export(ctx, qck, infer.W8A8)
	if err != nil {
		return err
	}
	path := filepath.Join(out, "lenet300.tqm")
	if err := model.Save(path); err != nil {
		return err
	}
	model, err = infer.Load(path) // what a deployed program does: infer alone
	if err != nil {
		return err
	}

	// 4. Classify the test set with the integer runtime. Predict takes
	// float32 pixels in [0, 1], N×C×H×W; the model quantizes them itself.
	test := ds.Test
	const batch = 256
	x := make([]float32, batch*test.Size())
	correct := 0
	for i := 0; i < test.N; i += batch {
		n := min(batch, test.N-i)
		datasets.ToFloat(x[:n*test.Size()], test.Pix[i*test.Size():(i+n)*test.Size()])
		pred, err := model.Predict(x[:n*test.Size()], n) // safe from many goroutines
		if err != nil {
			return err
		}
		for j, p := range pred {
			if p == int(test.Labels[i+j]) {
				correct++
			}
		}
	}
	fmt.Printf("float %.2f%%, QAT W8A8 simulation %.2f%%, integer runtime %.2f%% on %d test images; model %s\n",
		100*tr.TestAcc, 100*res.TestAcc, 100*float64(correct)/float64(test.N), test.N, path)
	return nil
}
