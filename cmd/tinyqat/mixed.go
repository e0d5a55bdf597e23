package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/tinyqat/tinyqat/export"
	"github.com/tinyqat/tinyqat/infer"
	"github.com/tinyqat/tinyqat/internal/stfile"
	"github.com/tinyqat/tinyqat/mixed"
	"github.com/tinyqat/tinyqat/plots"
	"github.com/tinyqat/tinyqat/qat"
	"github.com/tinyqat/tinyqat/rundir"
	"github.com/tinyqat/tinyqat/train"
)

// MixedFile is the sensitivity table, the budget and the chosen bits of a
// mixed run, in its run directory.
const MixedFile = "mixed.json"

// mixedOptions are the flags of `mixed`: qat's (quantFlags) and the
// budget and sensitivity pass.
type mixedOptions struct {
	metric      string
	noTrain     bool
	uniformBits int
	budget      mixed.Budget
	sens        mixed.Options
	quantFlags
}

func mixedCmd() *cobra.Command {
	o := &mixedOptions{}
	c := &cobra.Command{
		Use:   "mixed --from RUN_DIR (--size-bytes N | --avg-bits B | --size-of-uniform B) --out DIR",
		Short: "Mixed precision: per-layer sensitivity, bit-widths under a budget, then QAT with them",
		Long: `mixed measures how sensitive each weight and activation of a float run is to
each bit-width (the loss increase with only that tensor quantized, and
HAWQ-V2's Hessian trace times the quantization error), chooses per-layer
weight bit-widths that minimize the summed sensitivity within the budget
(exactly), prints both, writes them to DIR/mixed.json and runs QAT with them
(the flags of qat).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return o.run(cmd) },
	}
	c.RunE = namedStage("mixed", c.RunE)
	c.AddCommand(paretoCmd())
	// The flags of qat, with the bit-widths' help saying what mixed
	// makes of them.
	o.register(c, true)
	f := c.Flags()
	f.Lookup("bits-w").Usage = "weight bits of layers the allocation leaves at the default (every layer is allocated: only the recorded default)"
	f.Lookup("bits-a").Usage = "activation bits, 2 to 8"
	f.BoolVar(&o.noTrain, "no-train", false, "measure and allocate only: write DIR/mixed.json, run no QAT")
	// The budget.
	f.Int64Var(&o.budget.SizeBytes, "size-bytes", 0, "budget: packed weight bytes (Σ ⌈n·bits/8⌉ over the layers)")
	f.Float64Var(&o.budget.AvgBits, "avg-bits", 0, "budget: average weight bits (weighted by each layer's weight count)")
	f.IntVar(&o.uniformBits, "size-of-uniform", 0, "budget: the packed weight bytes of this model at uniform B-bit weights")
	f.Float64Var(&o.budget.ActAvgBits, "act-avg-bits", 0, "also allocate activation bits (4 or 8) under this average (weighted by elements per image); 0: all at --bits-a")
	f.StringVar(&o.metric, "sensitivity", string(mixed.MetricHAWQ), "what the allocation minimizes: hawq (Hessian trace × quantization error; it ranked lenet5 MNIST runs better) or loss (measured loss increase; with 4-bit unsigned activations (--act-scheme affine) its allocation beat uniform W3A4 on resnet8-mlperf in three runs of three, by 0.8 points on average)")
	// The sensitivity pass.
	f.IntVar(&o.sens.Batch, "sens-batch", 128, "sensitivity pass: batch size")
	f.IntVar(&o.sens.Batches, "sens-batches", 16, "sensitivity pass: training batches the loss increases are measured on")
	f.IntVar(&o.sens.HessianBatches, "hessian-batches", 4, "sensitivity pass: of those, batches the Hessian traces are estimated on")
	f.IntVar(&o.sens.Probes, "probes", 16, "sensitivity pass: Hutchinson probe vectors")
	return c
}

// mixedResult is DIR/mixed.json and the --json line.
type mixedResult struct {
	From string `json:"from"`
	// Seed drew the sensitivity pass's batches and probes (and the QAT
	// run's calibration, shuffling and augmentation).
	Seed        uint64             `json:"seed"`
	Sensitivity *mixed.Sensitivity `json:"sensitivity"`
	Allocation  *mixed.Allocation  `json:"allocation"`
	Config      qat.Config         `json:"config"`
	// Uniform are the packed weight bytes at uniform 2 to 8 bits.
	Uniform map[int]int64 `json:"uniform_weight_bytes"`
	// TestAcc, FloatAcc and PTQAcc are the QAT run's (absent with --no-train).
	TestAcc  *float64 `json:"test_acc,omitempty"`
	FloatAcc *float64 `json:"float_test_acc,omitempty"`
	PTQAcc   *float64 `json:"ptq_test_acc,omitempty"`
	Epochs   int      `json:"epochs,omitempty"`
	// Distill is the QAT run's knowledge distillation (--teacher), if any.
	Distill *rundir.Distill `json:"distill,omitempty"`
	Seconds float64         `json:"seconds"`
	RunDir  string          `json:"run_dir"`
}

func (o *mixedOptions) check(cmd *cobra.Command) error {
	if o.out == "" {
		return errors.New("--out DIR is required")
	}
	if o.from == "" {
		return errors.New("--from RUN_DIR (a float training run) is required")
	}
	n := 0
	for _, name := range []string{"size-bytes", "avg-bits", "size-of-uniform"} {
		if cmd.Flags().Changed(name) {
			n++
		}
	}
	if n != 1 {
		return errors.New("give exactly one budget: --size-bytes N, --avg-bits B or --size-of-uniform B")
	}
	switch {
	case cmd.Flags().Changed("size-bytes") && o.budget.SizeBytes < 1:
		return fmt.Errorf("--size-bytes must be at least 1, got %d", o.budget.SizeBytes)
	case cmd.Flags().Changed("avg-bits") && !(o.budget.AvgBits >= 2 && o.budget.AvgBits <= 8):
		return fmt.Errorf("--avg-bits must be in [2, 8], got %v", o.budget.AvgBits)
	case cmd.Flags().Changed("size-of-uniform") && (o.uniformBits < 2 || o.uniformBits > 8):
		return fmt.Errorf("--size-of-uniform must be in [2, 8], got %d", o.uniformBits)
	case o.budget.ActAvgBits != 0 && !(o.budget.ActAvgBits >= 4 && o.budget.ActAvgBits <= 8):
		return fmt.Errorf("--act-avg-bits must be in [4, 8], got %v", o.budget.ActAvgBits)
	case o.metric != string(mixed.MetricLoss) && o.metric != string(mixed.MetricHAWQ):
		return fmt.Errorf("--sensitivity must be loss or hawq, got %q", o.metric)
	case o.qc.BitsA > 8:
		return fmt.Errorf("--bits-a must be at most 8 (the integer runtime), got %d", o.qc.BitsA)
	case o.sens.Batch < 1 || o.sens.Batches < 1 || o.sens.HessianBatches < 1 || o.sens.Probes < 1:
		return errors.New("--sens-batch, --sens-batches, --hessian-batches and --probes must be at least 1")
	case o.sens.Batch > 1<<16:
		return fmt.Errorf("--sens-batch must be in [1, 65536], got %d", o.sens.Batch)
	}
	o.qc.ActScheme = qat.ActScheme(o.actScheme)
	if err := o.qc.Validate(); err != nil {
		return err
	}
	if err := checkTrainFlags(cmd, o.tc); err != nil {
		return err
	}
	if o.noTrain && cmd.Flags().Changed("teacher") {
		return errors.New("--teacher with --no-train: distillation needs the QAT run that --no-train skips")
	}
	var err error
	if o.tc.Distill, err = o.dist.config(cmd, o.from); err != nil {
		return err
	}
	for _, name := range []string{rundir.CheckpointFile, MixedFile} {
		if exists, err := runDirFile("mixed", o.out, name); err != nil {
			return err
		} else if exists {
			return fmt.Errorf("mixed: %s already holds %s; choose another --out", o.out, name)
		}
	}
	return nil
}

func (o *mixedOptions) run(cmd *cobra.Command) (err error) {
	if err := o.check(cmd); err != nil {
		return err
	}
	start := time.Now()
	ck, err := rundir.LoadCheckpoint(o.from)
	if err != nil {
		return err
	}
	if ck.Phase != rundir.PhaseFloat {
		return fmt.Errorf("mixed: --from %s is a %s run; mixed starts from a float run", o.from, ck.Phase)
	}
	ds, err := loadRunData(cmd, o.data, ck)
	if err != nil {
		return err
	}
	m, err := ck.Model()
	if err != nil {
		return err
	}
	if err := train.CheckStepSize(m, o.sens.Batch, ds.Train.N); err != nil {
		return fmt.Errorf("mixed: --sens-batch: %s", strings.TrimPrefix(err.Error(), "train: "))
	}
	finish, err := openRun(o.out)
	if err != nil {
		return err
	}
	defer func() { finish(err != nil) }()
	prog := newProgress(os.Stdout)
	if !cmd.Flags().Changed("seed") {
		o.tc.Seed = ck.Config.Seed
	}
	o.sens.Seed, o.sens.Observer, o.sens.ActScheme, o.sens.Norm = o.tc.Seed, o.qc.Observer, o.qc.ActScheme, ck.Norm()
	o.sens.Progress = func(line string) { prog.Step(line) }
	prog.Start("sensitivity", 0)
	sens, err := mixed.Measure(cmd.Context(), m, ds.Train, o.sens)
	if err != nil {
		return err
	}
	prog.Done(fmt.Sprintf("sensitivity of %d slot(s) on %d images (Hessian on %d, %d probes) in %.1fs", len(sens.Slots), sens.Samples, sens.HessianSamples, sens.Probes, sens.Seconds))
	res := &mixedResult{From: o.from, Seed: o.tc.Seed, Sensitivity: sens, Uniform: map[int]int64{}, RunDir: o.out}
	for b := 2; b <= 8; b++ {
		res.Uniform[b] = mixed.WeightBytes(sens, nil, b)
	}
	if o.uniformBits > 0 {
		o.budget.SizeBytes = res.Uniform[o.uniformBits]
	}
	if res.Allocation, err = mixed.Allocate(sens, mixed.Metric(o.metric), o.budget, o.qc.BitsA); err != nil {
		return fmt.Errorf("mixed: %w", err)
	}
	res.Config = res.Allocation.Config(o.qc, sens)
	if !o.asJSON {
		printSensitivity(os.Stdout, sens, res.Allocation, res.Uniform)
	}
	if !o.noTrain {
		prog.Printf("%s", runSettings(cmd, ck, &o.tc, "train-limit", "test-limit", "seed", "shift", "flip"))
		if line := distillLine(o.tc.Distill); line != "" {
			prog.Printf("%s", line)
		}
		qr, err := qat.Quantize(cmd.Context(), ck, ds, qat.Options{Quant: res.Config, Train: o.tc, RunDir: o.out, Progress: prog})
		if err != nil {
			return err
		}
		defer qr.Trainer.Close()
		res.TestAcc, res.FloatAcc, res.PTQAcc, res.Epochs = &qr.TestAcc, &qr.FloatAcc, &qr.PTQAcc, qr.Trainer.Epoch
		res.Distill = qr.Trainer.Cfg.Distill
	}
	res.Seconds = time.Since(start).Seconds()
	if err := stfile.WriteAtomic(filepath.Join(o.out, MixedFile), func(w io.Writer) error {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(res)
	}); err != nil {
		return fmt.Errorf("mixed: writing %s: %w", MixedFile, err)
	}
	if o.asJSON {
		return printJSON(res)
	}
	if res.TestAcc != nil {
		prog.Printf("mixed %.3f average weight bits, %d weight bytes: test accuracy %.2f%% (fake-quant simulation); checkpoint in %s",
			res.Allocation.AvgBits, res.Allocation.WeightBytes, 100**res.TestAcc, filepath.Join(o.out, rundir.CheckpointFile))
	}
	return nil
}

// printSensitivity prints the table (one row per slot: loss increase and
// HAWQ Ω per candidate) and the chosen bits.
func printSensitivity(w io.Writer, s *mixed.Sensitivity, a *mixed.Allocation, uniform map[int]int64) {
	fmt.Fprintf(w, "float loss %.4f on %d images; Δloss with only the slot quantized | HAWQ Ω = Tr(H)/n·‖Q(x)−x‖²\n", s.FloatLoss, s.Samples)
	for _, sl := range s.Slots {
		kind := "act"
		if sl.Weight {
			kind = "weight"
		}
		var cells []string
		for _, c := range sl.Candidates {
			cells = append(cells, fmt.Sprintf("%d: %+.4f | %.2e", c.Bits, c.LossDelta, c.HAWQ))
		}
		fmt.Fprintf(w, "  %-22s %-6s %8d  tr %9.3e  %s  → %d bits\n", sl.Name, kind, sl.Elems, sl.Trace, strings.Join(cells, "   "), a.Bits[sl.Name])
	}
	fmt.Fprintf(w, "chosen (%s): %d weight bytes, %.3f average bits (uniform: 8 → %d, 4 → %d, 3 → %d, 2 → %d bytes); budget: %v\n",
		a.Metric, a.WeightBytes, a.AvgBits, uniform[8], uniform[4], uniform[3], uniform[2], a.Budget)
}

// paretoRow is one run of `mixed pareto`.
type paretoRow struct {
	Run         string  `json:"run"`
	Series      string  `json:"series"`
	Label       string  `json:"label"`
	Bits        string  `json:"weight_bits"` // per weighted layer, in model order
	AvgBits     float64 `json:"avg_bits"`
	WeightBytes int64   `json:"weight_bytes"`
	FileBytes   int64   `json:"file_bytes,omitempty"`
	SimAcc      float64 `json:"test_acc"`
	IntAcc      float64 `json:"int_test_acc,omitempty"`
	MaxLSBDiff  int32   `json:"max_lsb_diff"`
	Exact       float64 `json:"exact_samples,omitempty"`
	// SumLoss and SumHAWQ are the run's bits' summed sensitivities in
	// the --sens table (with --sens).
	SumLoss *float64 `json:"sum_loss_delta,omitempty"`
	SumHAWQ *float64 `json:"sum_hawq,omitempty"`
	bits    map[string]int
}

func paretoCmd() *cobra.Command {
	var png, float, sensFile string
	var asJSON, compare bool
	c := &cobra.Command{
		Use:   "pareto RUN_DIR... [--float FLOAT_RUN] [--png FILE]",
		Short: "Accuracy against weight size of quantized runs (uniform and mixed): a table and a Pareto chart",
		Long: `pareto lists quantized runs (qat, ptq, mixed) with their per-layer weight
bits, packed weight size and test accuracy; with --compare (the default) it
also exports each to the integer runtime and reports the runtime's accuracy,
its file size and the largest logit difference from the simulation.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if png != "" {
				if ext := strings.ToLower(filepath.Ext(png)); ext != ".png" && ext != ".svg" {
					return fmt.Errorf("mixed pareto: --png %s: the file name must end in .png or .svg", png)
				}
				if err := checkChartOut("mixed pareto: --png", png); err != nil {
					return err
				}
			}
			rows, floatAcc, err := paretoRows(cmd, args, float, compare)
			if err != nil {
				return err
			}
			var corr map[string]float64
			if sensFile != "" {
				if corr, err = predictions(sensFile, rows); err != nil {
					return err
				}
			}
			if png != "" {
				var pts []plots.ParetoPoint
				for _, r := range rows {
					pts = append(pts, plots.ParetoPoint{Series: r.Series, Label: r.Label, Size: float64(r.WeightBytes) / 1000, Acc: 100 * r.SimAcc})
				}
				arch := ""
				if ck, err := rundir.LoadCheckpoint(args[0]); err == nil {
					arch = ck.Arch
				}
				if err := plots.Pareto(png, arch+": accuracy against weight size", "packed weights (kB)", 100*floatAcc, pts); err != nil {
					return err
				}
			}
			if asJSON {
				return printJSON(map[string]any{"runs": rows, "float_test_acc": floatAcc, "spearman": corr})
			}
			fmt.Println("| run | series | weight bits (per layer) | avg bits | weight bytes | file bytes | sim acc | int acc | max LSB diff |")
			fmt.Println("|---|---|---|---|---|---|---|---|---|")
			for _, r := range rows {
				file, intAcc, diff := "–", "–", "–"
				if compare {
					file, intAcc, diff = strconv.FormatInt(r.FileBytes, 10), fmt.Sprintf("%.2f%%", 100*r.IntAcc), strconv.Itoa(int(r.MaxLSBDiff))
				}
				fmt.Printf("| %s | %s | %s | %.3f | %d | %s | %.2f%% | %s | %s |\n", r.Run, r.Series, r.Bits, r.AvgBits, r.WeightBytes, file, 100*r.SimAcc, intAcc, diff)
			}
			if floatAcc > 0 {
				fmt.Printf("float: %.2f%%\n", 100*floatAcc)
			}
			if corr != nil {
				fmt.Printf("Spearman correlation of the summed sensitivity with the test error over the %d runs: loss increase %.3f, HAWQ %.3f\n",
					len(rows), corr["loss"], corr["hawq"])
				for _, r := range rows {
					fmt.Printf("  %-20s Σ loss increase %+.4f  Σ HAWQ %.3e  test error %.2f%%\n", r.Run, *r.SumLoss, *r.SumHAWQ, 100*(1-r.SimAcc))
				}
			}
			return nil
		},
	}
	c.RunE = namedStage("mixed pareto", c.RunE)
	f := c.Flags()
	f.StringVar(&png, "png", "", "write the chart to FILE (.png or .svg)")
	f.StringVar(&float, "float", "", "the float run the runs came from (its accuracy is the chart's dashed line)")
	f.BoolVar(&compare, "compare", true, "export each run to the integer runtime and compare it with the simulation on the test set")
	f.BoolVar(&asJSON, "json", false, "print the rows as one JSON line at the end")
	f.StringVar(&sensFile, "sens", "", "a mixed run's "+MixedFile+": sum each run's sensitivities from its table and report how well each kind ranks the runs' accuracy (Spearman)")
	return c
}

// predictions sums each row's sensitivities from the table in file and
// returns the Spearman rank correlation of each sum with the test error.
func predictions(file string, rows []paretoRow) (map[string]float64, error) {
	b, err := stfile.ReadRegular(file, maxReportJSON)
	if err != nil {
		return nil, fmt.Errorf("mixed pareto: --sens: %w", err)
	}
	var mr mixedResult
	if err := json.Unmarshal(b, &mr); err != nil {
		return nil, fmt.Errorf("mixed pareto: --sens %s: not a %s (%v)", file, MixedFile, err)
	}
	if mr.Sensitivity == nil {
		return nil, fmt.Errorf("mixed pareto: --sens %s: not a %s (it holds no sensitivity table)", file, MixedFile)
	}
	errs := make([]float64, len(rows))
	sums := map[string][]float64{"loss": make([]float64, len(rows)), "hawq": make([]float64, len(rows))}
	for i := range rows {
		r := &rows[i]
		var l, h float64
		for _, sl := range mr.Sensitivity.Slots {
			bits, ok := r.bits[sl.Name]
			c := sl.Candidate(bits)
			if !ok || c == nil {
				return nil, fmt.Errorf("%s: run %s has %s at %d bits, which the table did not measure", file, r.Run, sl.Name, bits)
			}
			l, h = l+c.LossDelta, h+c.HAWQ
		}
		r.SumLoss, r.SumHAWQ = &l, &h
		errs[i], sums["loss"][i], sums["hawq"][i] = 1-r.SimAcc, l, h
	}
	return map[string]float64{"loss": spearman(sums["loss"], errs), "hawq": spearman(sums["hawq"], errs)}, nil
}

// spearman is the rank correlation of x and y (ties get their mean rank).
func spearman(x, y []float64) float64 {
	rank := func(v []float64) []float64 {
		idx := make([]int, len(v))
		for i := range idx {
			idx[i] = i
		}
		sort.SliceStable(idx, func(a, b int) bool { return v[idx[a]] < v[idx[b]] })
		r := make([]float64, len(v))
		for i := 0; i < len(idx); {
			j := i
			for j+1 < len(idx) && v[idx[j+1]] == v[idx[i]] {
				j++
			}
			for k := i; k <= j; k++ {
				r[idx[k]] = float64(i+j)/2 + 1
			}
			i = j + 1
		}
		return r
	}
	rx, ry := rank(x), rank(y)
	var mx, my float64
	for i := range rx {
		mx, my = mx+rx[i], my+ry[i]
	}
	mx, my = mx/float64(len(rx)), my/float64(len(ry))
	var sxy, sxx, syy float64
	for i := range rx {
		sxy += (rx[i] - mx) * (ry[i] - my)
		sxx += (rx[i] - mx) * (rx[i] - mx)
		syy += (ry[i] - my) * (ry[i] - my)
	}
	if sxx == 0 || syy == 0 {
		return 0
	}
	return sxy / math.Sqrt(sxx*syy)
}

func paretoRows(cmd *cobra.Command, runs []string, float string, compare bool) ([]paretoRow, float64, error) {
	var floatAcc float64
	// parent, parentOf: the float run every point must come from (one
	// chart compares quantizations of one float model), as --float or the
	// first run that records it; runs written before tinyqat recorded it
	// cannot be checked.
	var parent, parentOf string
	if float != "" {
		fck, err := rundir.LoadCheckpoint(float)
		if err != nil {
			return nil, 0, err
		}
		if fck.Phase != rundir.PhaseFloat {
			return nil, 0, fmt.Errorf("mixed pareto: --float %s is a %s run, not a float run", float, fck.Phase)
		}
		floatAcc = fck.TestAcc
		parent, parentOf = fck.WeightsSHA(), "--float "+float
	}
	var rows []paretoRow
	for _, dir := range runs {
		ck, err := rundir.LoadCheckpoint(dir)
		if err != nil {
			return nil, 0, err
		}
		if ck.Phase == rundir.PhaseFloat {
			return nil, 0, fmt.Errorf("mixed pareto: %s is a float run; the runs are PTQ, QAT and mixed runs (give their float run with --float)", dir)
		}
		if ck.Parent != "" {
			if parent == "" {
				parent, parentOf = ck.Parent, dir
			} else if ck.Parent != parent {
				return nil, 0, fmt.Errorf("%s was quantized from another float run than %s: one chart compares the quantizations of one float model", dir, parentOf)
			}
		}
		m, q, err := qat.Load(ck)
		if err != nil {
			return nil, 0, fmt.Errorf("%s: %w", dir, err)
		}
		lw, err := m.Lower()
		if err != nil {
			return nil, 0, err
		}
		r := paretoRow{Run: filepath.Base(filepath.Clean(dir)), SimAcc: ck.TestAcc, bits: map[string]int{}}
		for _, name := range q.Slots() {
			r.bits[name] = q.Slot(name).Bits
		}
		var bits []string
		var nb, n float64
		for _, u := range lw.Units {
			if !u.Kind.Weighted() {
				continue
			}
			b, size := q.Slot(u.WeightSlot).Bits, u.W.Value.Size()
			bits = append(bits, strconv.Itoa(b))
			r.WeightBytes += int64(infer.PackedLen(size, b))
			nb, n = nb+float64(b*size), n+float64(size)
		}
		r.Bits, r.AvgBits = strings.Join(bits, "/"), nb/n
		r.Series, r.Label = "uniform", fmt.Sprintf("W%d", q.Cfg.BitsW)
		if q.Cfg.Mixed() {
			r.Series, r.Label = "mixed", fmt.Sprintf("%.2f b", r.AvgBits)
			var mr struct {
				Allocation *mixed.Allocation `json:"allocation"`
			}
			if b, err := os.ReadFile(filepath.Join(dir, MixedFile)); err == nil && json.Unmarshal(b, &mr) == nil && mr.Allocation != nil {
				r.Series = fmt.Sprintf("mixed (%s)", mr.Allocation.Metric)
			}
		}
		if compare {
			if err := compareRow(cmd, ck, q.Cfg, &r); err != nil {
				return nil, 0, fmt.Errorf("%s: %w", dir, err)
			}
		}
		rows = append(rows, r)
	}
	return rows, floatAcc, nil
}

// compareRow exports ck to the integer runtime, measures its file size
// and compares it with the simulation on the run's test set.
func compareRow(cmd *cobra.Command, ck *rundir.Checkpoint, qc qat.Config, r *paretoRow) error {
	mode := infer.W8A8
	if qc.ActScheme == qat.ActAffine {
		mode = infer.W8A8Asym
	}
	im, err := export.Export(cmd.Context(), ck, mode)
	if err != nil {
		return err
	}
	tmp, err := os.MkdirTemp("", "tinyqat-pareto-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	path := filepath.Join(tmp, "model.tqm")
	if err := im.Save(path); err != nil {
		return err
	}
	if r.FileBytes, err = infer.FileSize(path); err != nil {
		return err
	}
	ds, err := loadRunData(cmd, "", ck)
	if err != nil {
		return err
	}
	test := ds.Test
	if ck.Config.TestLimit > 0 {
		test = test.Subset(ck.Config.TestLimit)
	}
	cmp, err := export.Compare(cmd.Context(), im, ck, test, 256)
	if err != nil {
		return err
	}
	r.IntAcc, r.MaxLSBDiff, r.Exact = cmp.IntAcc, cmp.MaxLSBDiff, cmp.ExactSamples
	return nil
}
