package main

import (
	"fmt"
	"path/filepath"

	"github.com/spf13/cobra"
	"github.com/tinyqat/tinyqat/datasets"
	"github.com/tinyqat/tinyqat/export"
	"github.com/tinyqat/tinyqat/infer"
	"github.com/tinyqat/tinyqat/rundir"
)

// floatMode is export's --mode for a float run's model: float32 weights
// and arithmetic, run by infer's float runtime.
const floatMode = string(infer.F32)

// exportFloat writes the float model (float32, batch norm folded) of the
// float run ck to out.
func exportFloat(cmd *cobra.Command, ck *rundir.Checkpoint, from, out, mode string, asJSON bool) error {
	if cmd.Flags().Changed("mode") && mode != floatMode {
		if _, err := infer.ParseMode(mode); err != nil {
			return fmt.Errorf("%w (a float run exports as f32)", err)
		}
		return fmt.Errorf("export: %s holds a float model: it exports as --mode f32 (float32); for --mode %s quantize it first (tinyqat ptq, qat or cluster --from %[1]s), or write its float graph with --format onnx", from, mode)
	}
	m, err := export.Float(cmd.Context(), ck)
	if err != nil {
		return err
	}
	if abs, err := filepath.Abs(from); err == nil {
		m.Source.Run = abs
	}
	if err := m.Save(out); err != nil {
		return err
	}
	size, err := infer.FileSize(out)
	if err != nil {
		return err
	}
	params := 0
	for _, l := range m.Layers {
		params += len(l.FW) + len(l.FBias)
	}
	if asJSON {
		return printJSON(map[string]any{"model": out, "mode": m.Mode, "precision": m.Precision(), "arch": m.Arch, "bytes": size,
			"params": params, "source": m.Source})
	}
	fmt.Printf("wrote %s (%s, %s: float32 weights and arithmetic, batch norm folded): %d bytes, %d parameters\n",
		out, m.Arch, m.Precision(), size, params)
	return nil
}

// evalCompareFloat is eval --compare of a float model: infer's float
// runtime beside the run's Gorgonia float graph on the test set.
func evalCompareFloat(cmd *cobra.Command, m *infer.Model, ck *rundir.Checkpoint, test *datasets.Set, batch int, result map[string]any, asJSON bool) error {
	if ck.Phase != rundir.PhaseFloat {
		return fmt.Errorf("eval: %s is a float32 model: --compare takes the float run it was exported from, not a %s run", result["model"], ck.Phase)
	}
	cmp, err := export.CompareFloat(cmd.Context(), m, ck, test, batch)
	if err != nil {
		return fmt.Errorf("eval: %w", err)
	}
	result["test_acc"], result["graph_test_acc"], result["agreement"] = cmp.RuntimeAcc, cmp.GraphAcc, cmp.Agreement
	result["max_logit_diff"], result["max_logit"] = cmp.MaxLogitDiff, cmp.MaxLogit
	if asJSON {
		return nil
	}
	const row = "%-40s %s\n"
	fmt.Printf(row, "float graph (Gorgonia, the run's model)", fmt.Sprintf("%.2f%%", 100*cmp.GraphAcc))
	fmt.Printf(row, "float runtime ("+m.Precision()+")", fmt.Sprintf("%.2f%%", 100*cmp.RuntimeAcc))
	fmt.Printf(row, "top-1 agreement graph/runtime", fmt.Sprintf("%.4f%%  (%d images)", 100*cmp.Agreement, cmp.Samples))
	fmt.Printf(row, "largest |Δlogit|", fmt.Sprintf("%.3g (largest |logit| %.3g)", cmp.MaxLogitDiff, cmp.MaxLogit))
	if cmp.Agreement < 1 {
		fmt.Printf("the images whose top-1 class differs: the graph's two best logits are %.3g or more apart\n", cmp.MinMarginDisagree)
	}
	return nil
}
