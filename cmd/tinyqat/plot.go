package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"
	"github.com/tinyqat/tinyqat/cluster"
	"github.com/tinyqat/tinyqat/plots"
	"github.com/tinyqat/tinyqat/qat"
	"github.com/tinyqat/tinyqat/rundir"
)

func plotCmd() *cobra.Command {
	var runs []string
	var out, metric string
	c := &cobra.Command{
		Use:   "plot --run RUN_DIR [--run RUN_DIR …] --out FILE.png|FILE.svg [--metric test_acc]",
		Short: "Chart a metric per epoch from the metrics logs of one or more runs",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if len(runs) == 0 || out == "" {
				return errors.New("plot: --run and --out are required")
			}
			if err := checkChartOut("plot: --out", out); err != nil {
				return err
			}
			series, err := metricSeries(runs, metric)
			if err != nil {
				return err
			}
			if err := plots.Curves(out, metricTitle[metric], "epoch", metricTitle[metric], series); err != nil {
				return err
			}
			fmt.Printf("wrote %s\n", out)
			return nil
		},
	}
	c.Flags().StringArrayVar(&runs, "run", nil, "run directory with metrics.jsonl (repeatable)")
	c.Flags().StringVar(&out, "out", "", "chart file (.png or .svg)")
	c.Flags().StringVar(&metric, "metric", "test_acc", "test_acc, train_acc, train_loss or seconds")
	c.RunE = namedStage("plot", c.RunE)
	return c
}

var metricTitle = map[string]string{"test_acc": "test accuracy (%)", "train_acc": "training accuracy (%)", "train_loss": "training loss", "seconds": "seconds per epoch"}

// metricSeries reads each run's log. Fine-tuning runs (QAT) continue the
// float runs before them in the list: their epochs are numbered after the
// float run's last one, so the chart reads as one timeline.
func metricSeries(runs []string, metric string) ([]plots.Series, error) {
	if _, ok := metricTitle[metric]; !ok {
		return nil, fmt.Errorf("plot: unknown metric %q (test_acc, train_acc, train_loss, seconds)", metric)
	}
	var series []plots.Series
	floatEnd := 0
	for _, r := range runs {
		ms, err := rundir.ReadMetrics(r)
		if err != nil {
			return nil, err
		}
		name, err := runLabel(r, ms)
		if err != nil {
			return nil, err
		}
		s := plots.Series{Name: name}
		offset := 0
		if ms[0].Phase != rundir.PhaseFloat {
			offset = floatEnd
		}
		for _, m := range ms {
			if m.Phase == rundir.PhaseFloat {
				floatEnd = max(floatEnd, m.Epoch)
			}
			if m.Phase == rundir.PhasePTQ && metric != "test_acc" {
				continue // a calibration has no training loss or time
			}
			v := map[string]float64{"test_acc": 100 * m.TestAcc, "train_acc": 100 * m.TrainAcc, "train_loss": m.TrainLoss, "seconds": m.Seconds}[metric]
			s.X = append(s.X, float64(m.Epoch+offset))
			s.Y = append(s.Y, v)
		}
		series = append(series, s)
	}
	// Two runs of one kind (two float seeds) are told apart by folder.
	count := map[string]int{}
	for _, s := range series {
		count[s.Name]++
	}
	for i := range series {
		if count[series[i].Name] > 1 {
			series[i].Name += " (" + filepath.Base(filepath.Clean(runs[i])) + ")"
		}
	}
	return series, nil
}

// runLabel names a run by what its checkpoint records, as attack names
// its models: "float", "ptq-w8a8", "qat-w4a8", "cluster-c4a8". A folder's
// name is not evidence (a chart of swapped folders used to swap the
// labels). A run without a checkpoint yet (a training in progress) is
// named by its log's phase and its folder.
func runLabel(dir string, ms []rundir.EpochMetrics) (string, error) {
	if !isDir(dir) {
		dir = filepath.Dir(dir) // --run RUN/metrics.jsonl
	}
	if _, err := os.Lstat(filepath.Join(dir, rundir.CheckpointFile)); errors.Is(err, fs.ErrNotExist) {
		return fmt.Sprintf("%s (%s)", ms[len(ms)-1].Phase, filepath.Base(filepath.Clean(dir))), nil
	}
	ck, err := rundir.LoadCheckpoint(dir)
	if err != nil {
		return "", err
	}
	var meta struct {
		Cfg     qat.Config `json:"config"`
		Cluster *struct {
			Cfg cluster.Config `json:"config"`
		} `json:"cluster"`
	}
	switch {
	case ck.Phase == rundir.PhaseFloat:
		return "float", nil
	case json.Unmarshal([]byte(ck.QuantMeta), &meta) != nil:
		return "", fmt.Errorf("plot: %s: the checkpoint's quantizer metadata is not readable", dir)
	case meta.Cluster != nil:
		c := meta.Cluster.Cfg.Defaults()
		return fmt.Sprintf("%s-c%da%d", ck.Phase, c.Bits, c.BitsA), nil
	}
	q := meta.Cfg.Defaults()
	return fmt.Sprintf("%s-w%da%d", ck.Phase, q.BitsW, q.BitsA), nil
}

// refuseForeignChart refuses to replace an existing file that is not a
// chart tinyqat drew (plots.Drawn): `plot --out photo.png` must not lose
// the photo.
func refuseForeignChart(flag, path string) error {
	if _, err := os.Lstat(path); err != nil || plots.Drawn(path) {
		return nil
	}
	return fmt.Errorf("%s %s exists and is not a chart tinyqat drew; refusing to replace it (choose another file, or remove it first)", flag, path)
}

// checkChartOut checks a chart's output path before any work, as every
// command that draws one must (`bench --roofline` and `mixed pareto
// --png` used to replace any file, a photo or a model, and to fail on a
// missing folder only after the timings): no model, checkpoint or run
// file (refuseReplace), no file that is not a chart tinyqat drew
// (refuseForeignChart), and a writable folder (checkOutDir).
func checkChartOut(flag, path string) error {
	if err := refuseReplace(flag, path, false); err != nil {
		return err
	}
	if err := refuseForeignChart(flag, path); err != nil {
		return err
	}
	return checkOutDir(flag, path)
}
