package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/tinyqat/tinyqat/datasets"
	"github.com/tinyqat/tinyqat/export"
	"github.com/tinyqat/tinyqat/infer"
	"github.com/tinyqat/tinyqat/plots"
	"github.com/tinyqat/tinyqat/rundir"
)

func benchCmd() *cobra.Command {
	var model, from, data, batches string
	var rounds int
	var roofline string
	var asJSON, peakOnly, layers bool
	c := &cobra.Command{
		Use:   "bench --model MODEL [--from RUN_DIR] [--batches 1,64,1000] [--layers [--roofline FILE.png]] | bench --from RUN_DIR | bench --peak",
		Short: "Time a model on the runtime (and, with --from, the run's float32 model on the float runtime) on test images",
		Long: `Time a model file on its runtime (integer or float32) on test images.
With --from RUN_DIR, the run's float model (export.Float: batch norm
folded, float32 weights and arithmetic) is timed on the float runtime
beside it, in alternating rounds; --from alone times that float model.
--peak measures the machine's int8 dot-product peak, its float32
multiply-add (FMA) peak and memory bandwidth; --layers times each layer
(µs, G MAC/s, share of the peak: the int8 peak for an integer model, the
float32 peak for a float model, where a MAC is one float multiply-add).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if roofline != "" && !layers {
				return errors.New("bench: --roofline needs --layers (its points are the layers' timings)")
			}
			if ext := strings.ToLower(filepath.Ext(roofline)); roofline != "" && ext != ".png" && ext != ".svg" {
				return fmt.Errorf("bench: --roofline %s: the file name must end in .png or .svg", roofline)
			}
			if roofline != "" {
				// Refused before the timings, not after them.
				if fi, err := os.Stat(roofline); err == nil && fi.IsDir() {
					return fmt.Errorf("bench: --roofline %s is a folder, not a file name", roofline)
				}
				if err := checkChartOut("bench: --roofline", roofline); err != nil {
					return err
				}
			}
			timing := model != "" || !peakOnly
			var sizes []int
			if timing {
				// The flags of the timings are checked before the peaks are
				// measured (a second and a half).
				if model == "" && from == "" {
					return errors.New("bench: --model MODEL or --from RUN_DIR is required")
				}
				if rounds < 1 || rounds > 1000 {
					return fmt.Errorf("bench: --rounds must be in [1, 1000], got %d", rounds)
				}
				var err error
				if sizes, err = parseBatches(batches); err != nil {
					return err
				}
			}
			var peak, fpeak infer.Peak
			var bw []infer.Bandwidth
			if peakOnly || layers {
				peak = infer.MeasurePeak(200 * time.Millisecond)
				if !asJSON {
					fmt.Printf("int8 peak: %.1f G MAC/s per core (%s)\n", peak.GMACs, peak.Level)
				}
				fpeak = infer.MeasureFloatPeak(200 * time.Millisecond)
				if !asJSON {
					fmt.Printf("float32 peak: %.1f G FMA/s per core (%s)\n", fpeak.GMACs, fpeak.Level)
				}
			}
			if peakOnly || roofline != "" {
				var err error
				if bw, err = measureBandwidths(asJSON); err != nil {
					return err
				}
			}
			if !timing {
				if asJSON {
					return printJSON(map[string]any{"peak": peak, "float_peak": fpeak, "bandwidth": bw})
				}
				return nil
			}
			var ck *rundir.Checkpoint
			var err error
			if from != "" {
				if ck, err = rundir.LoadCheckpoint(from); err != nil {
					return err
				}
			}
			im, fm, test, err := benchModels(cmd, model, from, data, ck)
			if err != nil {
				return err
			}
			// The layers' roof: the float peak for a float model.
			roof, roofName := peak, "int8 peak ("+peak.Level+")"
			if im.Mode == infer.F32 {
				roof, roofName = fpeak, "float32 peak ("+fpeak.Level+")"
			}
			var rows []map[string]any
			var series []plots.RooflineSeries
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
				if layers {
					times, err := im.TimeLayers(x, b, rounds)
					if err != nil {
						return err
					}
					row["layers"] = layerRows(im, times, b, roof, bw, asJSON)
					series = append(series, rooflineSeries(im, times, b))
				}
			}
			if roofline != "" {
				if err := plots.RooflineChart(roofline, rooflineChart(im.Arch, roof, roofName, bw, series)); err != nil {
					return fmt.Errorf("bench: --roofline: %w", err)
				}
				if !asJSON {
					fmt.Printf("roofline: %s\n", roofline)
				}
			}
			if asJSON {
				out := map[string]any{"model": model, "arch": im.Arch, "rounds": rounds, "results": rows}
				if peakOnly || layers {
					out["peak"] = peak
					out["float_peak"] = fpeak
				}
				if bw != nil {
					out["bandwidth"] = bw
				}
				return printJSON(out)
			}
			return nil
		},
	}
	f := c.Flags()
	f.StringVar(&model, "model", "", "model file (integer or float32)")
	f.StringVar(&from, "from", "", "run whose float32 model to time on the float runtime (beside --model, if given)")
	f.StringVar(&data, "data", "", "dataset directory: IDX files, image folders or CIFAR-10 binaries, read as the model's training data was (its --resize) (default: with --from, the data the run was trained on; else the data of the run the model was exported from, if that run is still there; else MNIST from the Go module cache)")
	f.StringVar(&batches, "batches", "1,64,1000", "comma-separated batch sizes")
	f.IntVar(&rounds, "rounds", 10, "timed rounds per batch size (the fastest counts)")
	f.BoolVar(&asJSON, "json", false, "print the result as one JSON line at the end")
	f.BoolVar(&peakOnly, "peak", false, "measure this CPU's int8 dot-product peak, float32 FMA peak and streaming memory bandwidth per core (alone, or before the timings)")
	f.BoolVar(&layers, "layers", false, "time each layer on one thread: µs, G MAC/s, the fraction of the measured peak (int8, or float32 for a float model) and the arithmetic intensity")
	f.StringVar(&roofline, "roofline", "", "with --layers, draw the layers on a roofline chart (FILE.png or .svg) under the measured peak and bandwidths")
	c.RunE = namedStage("bench", c.RunE)
	return c
}

// layerRows prints (unless asJSON) and returns the table of a batch of b
// timed by TimeLayers: µs, G MAC/s, the fraction of peak and the
// arithmetic intensity (MACs per byte of infer.Layer.Traffic); with
// bandwidths measured, the roofs under which a layer sits ("mem": the
// memory line caps it below the peak; "cache": the cache line does too).
func layerRows(im *infer.Model, times []infer.LayerTime, b int, peak infer.Peak, bw []infer.Bandwidth, asJSON bool) []map[string]any {
	var rows []map[string]any
	var total time.Duration
	var macs int64
	for _, t := range times {
		total += t.Time
		macs += t.MACs
		us := float64(t.Time.Nanoseconds()) / 1e3
		row := map[string]any{"layer": t.Layer, "kind": t.Kind, "shape": t.Shape, "macs": t.MACs, "us": us,
			"gmacs": t.GMACs(b), "peak_fraction": t.GMACs(b) / peak.GMACs}
		line := fmt.Sprintf("  %3d %-14s %-28s %10.1f µs %7.1f G MAC/s %5.1f%% of peak", t.Layer, t.Kind, t.Shape, us, t.GMACs(b), 100*t.GMACs(b)/peak.GMACs)
		if t.MACs > 0 {
			ai := intensity(im, t, b)
			row["intensity"] = ai
			line += fmt.Sprintf(" %7.1f MAC/B", ai)
			under := []string{} // [] in JSON when no roof caps the layer
			for _, w := range bw {
				if w.ReadGBs*ai < peak.GMACs {
					under = append(under, bandwidthName(w))
				}
			}
			if bw != nil {
				row["under"] = under
				line += " " + strings.Join(under, ",")
			}
		}
		rows = append(rows, row)
		if !asJSON {
			fmt.Println(line)
		}
	}
	if !asJSON && total > 0 {
		g := float64(macs) * float64(b) / float64(total.Nanoseconds())
		fmt.Printf("  all %-43s %10.1f µs %7.1f G MAC/s %5.1f%% of peak (one thread)\n", "", float64(total.Nanoseconds())/1e3, g, 100*g/peak.GMACs)
	}
	return rows
}

// intensity is t's arithmetic intensity at batch b: MACs per byte of its
// layer's traffic (infer.Model.LayerTraffic: 1-byte weights and
// activations in an integer model, 4-byte ones in a float model).
func intensity(im *infer.Model, t infer.LayerTime, b int) float64 {
	return float64(t.MACs) * float64(b) / float64(im.LayerTraffic(t.Layer, b))
}

// measureBandwidths measures one thread's read and copy bandwidth on a
// cache-sized and a memory-sized buffer and prints them unless quiet.
func measureBandwidths(quiet bool) ([]infer.Bandwidth, error) {
	var out []infer.Bandwidth
	for _, size := range []int{infer.CacheBytes, infer.MemoryBytes} {
		w, err := infer.MeasureBandwidth(size, 300*time.Millisecond)
		if err != nil {
			return nil, fmt.Errorf("bench: %w", err)
		}
		if !quiet {
			fmt.Printf("bandwidth, %s (%s): read %.1f GB/s, copy %.1f GB/s (read + written) per core (%s)\n",
				bandwidthName(w), sizeName(w.Bytes), w.ReadGBs, w.CopyGBs, w.Level)
		}
		out = append(out, w)
	}
	return out, nil
}

// bandwidthName names a measured buffer size: "cache" or "mem".
func bandwidthName(w infer.Bandwidth) string {
	if w.Bytes >= infer.MemoryBytes {
		return "mem"
	}
	return "cache"
}

// sizeName is n bytes in KiB or, from 1 MiB, MiB.
func sizeName(n int) string {
	if n >= 1<<20 {
		return fmt.Sprintf("%d MiB", n>>20)
	}
	return fmt.Sprintf("%d KiB", n>>10)
}

// rooflineSeries is batch b's layers with multiply-accumulates as
// roofline points labelled with their layer index.
func rooflineSeries(im *infer.Model, times []infer.LayerTime, b int) plots.RooflineSeries {
	s := plots.RooflineSeries{Name: fmt.Sprintf("batch %d", b)}
	for _, t := range times {
		if t.MACs > 0 && t.GMACs(b) > 0 {
			s.Points = append(s.Points, plots.RooflinePoint{Label: strconv.Itoa(t.Layer), Intensity: intensity(im, t, b), GMACs: t.GMACs(b)})
		}
	}
	return s
}

// rooflineChart is the roofline of series under peak (named peakName)
// and the read bandwidths bw.
func rooflineChart(arch string, peak infer.Peak, peakName string, bw []infer.Bandwidth, series []plots.RooflineSeries) plots.Roofline {
	r := plots.Roofline{Title: "Roofline of " + arch + "'s layers (one thread)", PeakGMACs: peak.GMACs,
		PeakName: peakName, Series: series,
		XLabel: "MAC per byte moved (weights once a batch + activations in and out; log)"}
	for _, w := range bw {
		r.Roofs = append(r.Roofs, plots.Roof{Name: "read, " + sizeName(w.Bytes) + " (" + bandwidthName(w) + ")", GBs: w.ReadGBs})
	}
	return r
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
