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
	"github.com/tinyqat/tinyqat/nn"
	"github.com/tinyqat/tinyqat/rundir"
)

func benchCmd() *cobra.Command {
	var model, from, data, batches string
	var rounds int
	var asJSON, peakOnly, layers bool
	c := &cobra.Command{
		Use:   "bench --model MODEL [--from RUN_DIR] [--batches 1,64,1000] [--layers] | bench --peak",
		Short: "Time the integer runtime (and, with --from, the float model) on test images",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var peak infer.Peak
			if peakOnly || layers {
				peak = infer.MeasurePeak(200 * time.Millisecond)
				if !asJSON {
					fmt.Printf("int8 peak: %.1f G MAC/s per core (%s)\n", peak.GMACs, peak.Level)
				}
			}
			if model == "" && peakOnly {
				if asJSON {
					return printJSON(map[string]any{"peak": peak})
				}
				return nil
			}
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
				if layers {
					if row["layers"], err = benchLayers(im, x, b, rounds, peak, asJSON); err != nil {
						return err
					}
				}
			}
			if asJSON {
				out := map[string]any{"model": model, "arch": im.Arch, "rounds": rounds, "results": rows}
				if peakOnly || layers {
					out["peak"] = peak
				}
				return printJSON(out)
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
	f.BoolVar(&peakOnly, "peak", false, "measure this CPU's int8 dot-product peak per core (alone, or before the timings)")
	f.BoolVar(&layers, "layers", false, "time each layer on one thread: µs, G MAC/s and the fraction of the measured peak")
	return c
}

// benchLayers times im's layers on one thread (the fastest of rounds per
// layer) and prints a table unless asJSON; it returns the rows for JSON.
func benchLayers(im *infer.Model, x []float32, b, rounds int, peak infer.Peak, asJSON bool) ([]map[string]any, error) {
	times, err := im.TimeLayers(x, b, rounds)
	if err != nil {
		return nil, err
	}
	var rows []map[string]any
	var total time.Duration
	var macs int64
	for _, t := range times {
		total += t.Time
		macs += t.MACs
		us := float64(t.Time.Nanoseconds()) / 1e3
		rows = append(rows, map[string]any{"layer": t.Layer, "kind": t.Kind, "shape": t.Shape, "macs": t.MACs, "us": us,
			"gmacs": t.GMACs(b), "peak_fraction": t.GMACs(b) / peak.GMACs})
		if !asJSON {
			fmt.Printf("  %3d %-14s %-28s %10.1f µs %7.1f G MAC/s %5.1f%% of peak\n", t.Layer, t.Kind, t.Shape, us, t.GMACs(b), 100*t.GMACs(b)/peak.GMACs)
		}
	}
	if !asJSON && total > 0 {
		g := float64(macs) * float64(b) / float64(total.Nanoseconds())
		fmt.Printf("  all %-43s %10.1f µs %7.1f G MAC/s %5.1f%% of peak (one thread)\n", "", float64(total.Nanoseconds())/1e3, g, 100*g/peak.GMACs)
	}
	return rows, nil
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
