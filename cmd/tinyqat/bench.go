package main

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/tinyqat/tinyqat/datasets"
	"github.com/tinyqat/tinyqat/export"
	"github.com/tinyqat/tinyqat/nn"
	"github.com/tinyqat/tinyqat/rundir"
)

func benchCmd() *cobra.Command {
	var model, from, data, batches string
	var rounds int
	var asJSON bool
	c := &cobra.Command{
		Use:   "bench --model MODEL [--from RUN_DIR] [--batches 1,64,1000]",
		Short: "Time the integer runtime (and, with --from, the float model) on test images",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if model == "" {
				return errors.New("bench: --model MODEL is required")
			}
			if rounds < 1 || rounds > 1000 {
				return fmt.Errorf("bench: --rounds must be in [1, 1000], got %d", rounds)
			}
			sizes, err := parseBatches(batches)
			if err != nil {
				return err
			}
			var ck *rundir.Checkpoint
			if from != "" {
				if ck, err = rundir.LoadCheckpoint(from); err != nil {
					return err
				}
			}
			im, test, err := loadModelAndTest(cmd, model, data, ck)
			if err != nil {
				return err
			}
			var fm *nn.Model
			if ck != nil {
				// A checkpoint that is not the model's source would time a
				// different network (or feed it reinterpreted buffers).
				if err := export.CheckSource(im, ck); err != nil {
					return fmt.Errorf("bench: --from %s: %w", from, err)
				}
				if fm, err = ck.Model(); err != nil {
					return err
				}
			}
			var rows []map[string]any
			for _, b := range sizes {
				x := make([]float32, b*test.Size())
				for i := 0; i < b; i++ {
					datasets.ToFloat(x[i*test.Size():(i+1)*test.Size()], test.Image(i%test.N))
				}
				row := map[string]any{"batch": b, "mode": im.Mode}
				// Alternate the two implementations round by round so that
				// machine noise falls on both alike; keep the best round.
				var intBest, floatBest time.Duration
				var p *nn.Predictor
				var logits []float32
				if fm != nil {
					p = nn.NewPredictor(fm, nil)
					logits = make([]float32, b*fm.Classes)
				}
				for r := 0; r < rounds; r++ {
					t0 := time.Now()
					if _, err := im.Predict(x, b); err != nil {
						return err
					}
					intBest = minDur(intBest, time.Since(t0))
					if p != nil {
						t0 = time.Now()
						if err := p.Logits(logits, x, b); err != nil {
							return err
						}
						floatBest = minDur(floatBest, time.Since(t0))
					}
				}
				if p != nil {
					p.Close()
				}
				perImage := func(d time.Duration) float64 { return float64(d.Nanoseconds()) / 1e3 / float64(b) }
				row["int_us_per_image"] = perImage(intBest)
				line := fmt.Sprintf("batch %5d: %s %9.1f µs/image", b, im.Precision(), perImage(intBest))
				if p != nil {
					row["float_us_per_image"] = perImage(floatBest)
					row["speedup"] = float64(floatBest) / float64(intBest)
					line += fmt.Sprintf("   float32 %9.1f µs/image   %.2fx", perImage(floatBest), float64(floatBest)/float64(intBest))
				}
				rows = append(rows, row)
				if !asJSON {
					fmt.Println(line)
				}
			}
			if asJSON {
				return printJSON(map[string]any{"model": model, "arch": im.Arch, "rounds": rounds, "results": rows})
			}
			return nil
		},
	}
	f := c.Flags()
	f.StringVar(&model, "model", "", "integer model file")
	f.StringVar(&from, "from", "", "checkpoint whose float model to time beside it")
	f.StringVar(&data, "data", "", "directory with the four IDX files (default: with --from, the data the run was trained on; else MNIST from the Go module cache)")
	f.StringVar(&batches, "batches", "1,64,1000", "comma-separated batch sizes")
	f.IntVar(&rounds, "rounds", 10, "timed rounds per batch size (the fastest counts)")
	f.BoolVar(&asJSON, "json", false, "print the result as one JSON line at the end")
	return c
}

func minDur(best, d time.Duration) time.Duration {
	if best == 0 || d < best {
		return d
	}
	return best
}

func parseBatches(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		b, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || b < 1 || b > 1<<16 {
			return nil, fmt.Errorf("bench: bad batch size %q in --batches (want integers in [1, 65536])", f)
		}
		out = append(out, b)
	}
	return out, nil
}
