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
	"github.com/tinyqat/tinyqat/infer"
	"github.com/tinyqat/tinyqat/rundir"
)

func benchCmd() *cobra.Command {
	var model, from, data, batches string
	var rounds int
	var asJSON bool
	c := &cobra.Command{
		Use:   "bench --model MODEL [--from RUN_DIR] [--batches 1,64,1000]",
		Short: "Time a model on the runtime (and, with --from, the run's float32 model on the float runtime) on test images",
		Long: `Time a model file on its runtime (integer or float32) on test images.
With --from RUN_DIR, the run's float model (export.Float: batch norm
folded, float32 weights and arithmetic) is timed on the float runtime
beside it, in alternating rounds; --from alone times that float model.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if model == "" && from == "" {
				return errors.New("bench: --model MODEL or --from RUN_DIR is required")
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
			im, fm, test, err := benchModels(cmd, model, from, data, ck)
			if err != nil {
				return err
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
				var logits []float32
				if fm != nil {
					logits = make([]float32, b*fm.Classes)
					if err := fm.FloatLogitsInto(logits, x, b); err != nil { // warm-up: packed weights
						return fmt.Errorf("bench: %w", err)
					}
				}
				if _, err := im.Predict(x, b); err != nil { // warm-up
					return fmt.Errorf("bench: %w", err)
				}
				for r := 0; r < rounds; r++ {
					t0 := time.Now()
					if _, err := im.Predict(x, b); err != nil {
						return err
					}
					intBest = minDur(intBest, time.Since(t0))
					if fm != nil {
						t0 = time.Now()
						if err := fm.FloatLogitsInto(logits, x, b); err != nil {
							return err
						}
						floatBest = minDur(floatBest, time.Since(t0))
					}
				}
				perImage := func(d time.Duration) float64 { return float64(d.Nanoseconds()) / 1e3 / float64(b) }
				row["int_us_per_image"] = perImage(intBest)
				line := fmt.Sprintf("batch %5d: %s %9.1f µs/image", b, im.Precision(), perImage(intBest))
				if fm != nil {
					row["float_us_per_image"] = perImage(floatBest)
					row["speedup"] = float64(floatBest) / float64(intBest)
					line += fmt.Sprintf("   float32 runtime %9.1f µs/image   %.2fx", perImage(floatBest), float64(floatBest)/float64(intBest))
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
	f.StringVar(&model, "model", "", "model file (integer or float32)")
	f.StringVar(&from, "from", "", "run whose float32 model to time on the float runtime (beside --model, if given)")
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

// benchModels loads what bench times: the model file (im) and, with a
// run, its float model on the float runtime (fm); with a run and no model
// file, the float model alone (im, fm nil). test is the test set they fit.
func benchModels(cmd *cobra.Command, model, from, data string, ck *rundir.Checkpoint) (im, fm *infer.Model, test *datasets.Set, err error) {
	if ck != nil {
		if fm, err = export.Float(cmd.Context(), ck); err != nil {
			return nil, nil, nil, fmt.Errorf("bench: --from %s: %w", from, err)
		}
	}
	if model == "" {
		ds, err := loadRunData(cmd, data, ck)
		if err != nil {
			return nil, nil, nil, fmt.Errorf("bench: %w", err)
		}
		if err := fm.CheckData(ds.Test.C, ds.Test.H, ds.Test.W, ds.Test.Classes); err != nil {
			return nil, nil, nil, fmt.Errorf("bench: %w", err)
		}
		return fm, nil, ds.Test, nil
	}
	if im, test, err = loadModelAndTest(cmd, model, data, ck); err != nil {
		return nil, nil, nil, err
	}
	// A checkpoint that is not the model's source would time a different
	// network (or feed it reinterpreted buffers).
	if ck != nil {
		if err := export.CheckSource(im, ck); err != nil {
			return nil, nil, nil, fmt.Errorf("bench: --from %s: %w", from, err)
		}
	}
	return im, fm, test, nil
}
