package attack

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/tinyqat/tinyqat/export"
	"github.com/tinyqat/tinyqat/infer"
	"github.com/tinyqat/tinyqat/rundir"
)

// SourceRun is a run that a model file under attack may come from: its
// directory and its checkpoint.
type SourceRun struct {
	Dir        string
	Checkpoint *rundir.Checkpoint
}

// ProvenanceError reports a model file that none of the runs of a suite
// exported: its accuracy would be reported as theirs.
type ProvenanceError struct {
	File string   // the model file
	Runs []string // the runs' directories
	// Recorded is the run the file says it was exported from
	// (infer.Source.Run); "" when it does not say.
	Recorded string
	// Reasons say, run by run, why it is not that run's export.
	Reasons []string
}

func (e *ProvenanceError) Error() string {
	var b strings.Builder
	runs := strings.Join(e.Runs, ", ")
	if len(e.Runs) > 1 {
		runs = "any of " + runs
	}
	fmt.Fprintf(&b, "attack: --int8 %s was not exported from %s", e.File, runs)
	if e.Recorded != "" {
		fmt.Fprintf(&b, ": it records %s as its run", e.Recorded)
	} else {
		b.WriteString(": it does not record which run it was exported from")
	}
	if len(e.Reasons) > 0 {
		fmt.Fprintf(&b, " (%s)", strings.Join(e.Reasons, "; "))
	}
	b.WriteString("; export the model from one of these runs (tinyqat export --from RUN --out FILE), or pass the run it was exported from with --quant")
	return b.String()
}

// ExportedFrom returns the index of the run in runs that model m, read
// from file, was exported from, or a *ProvenanceError. A run is m's
// source when export.CheckSource accepts it (the same network and, for a
// quantized run, the phase, bit-widths and test accuracy m records) and
// either m records the run's directory (infer.Source.Run, written by
// `tinyqat export`) or exporting the run's checkpoint again in m's mode
// gives m's layers bit for bit (a file written by the Go API or the demo,
// which record no directory, or a run directory that was moved). A float
// model (infer.F32) can come only from a float run, an integer model only
// from a PTQ, QAT or cluster run.
func ExportedFrom(ctx context.Context, m *infer.Model, file string, runs []SourceRun) (int, error) {
	perr := &ProvenanceError{File: file, Recorded: m.Source.Run}
	for i, r := range runs {
		perr.Runs = append(perr.Runs, r.Dir)
		ck := r.Checkpoint
		if (m.Mode == infer.F32) != (ck.Phase == rundir.PhaseFloat) {
			continue // a float run exports float models only, and only it does
		}
		if err := export.CheckSource(m, ck); err != nil {
			perr.Reasons = append(perr.Reasons, fmt.Sprintf("%s: %s", r.Dir, strings.TrimPrefix(err.Error(), notSource)))
			continue
		}
		if m.Source.Run != "" && sameDir(m.Source.Run, r.Dir) {
			return i, nil
		}
		e, err := export.Export(ctx, ck, m.Mode)
		if err != nil {
			if ctx.Err() != nil {
				return -1, ctx.Err()
			}
			perr.Reasons = append(perr.Reasons, fmt.Sprintf("%s: %v", r.Dir, err))
			continue
		}
		if SameModel(m, e) {
			return i, nil
		}
		perr.Reasons = append(perr.Reasons, fmt.Sprintf("%s exports other weights", r.Dir))
	}
	return -1, perr
}

// notSource opens export.CheckSource's list of the fields that differ.
const notSource = "export: the checkpoint is not the model's source: "

// sameDir tells whether two paths name one directory (links followed);
// paths that cannot be read are compared as absolute paths.
func sameDir(a, b string) bool {
	sa, errA := os.Stat(a)
	sb, errB := os.Stat(b)
	if errA == nil && errB == nil {
		return os.SameFile(sa, sb)
	}
	aa, errA := filepath.Abs(a)
	ab, errB := filepath.Abs(b)
	return errA == nil && errB == nil && aa == ab
}

// SameModel tells whether a and b are the same model: the same network,
// quantization parameters and tensors, bit for bit. Their Source (where
// they say they came from) and format version are not compared.
func SameModel(a, b *infer.Model) bool {
	head := func(m *infer.Model) []byte {
		h, err := json.Marshal(struct {
			Arch                   string
			Mode                   infer.Mode
			InC, InH, InW, Classes int
			Input                  infer.QParams
			Layers                 []*infer.Layer
			ClassNames             []string
			Norm                   *infer.InputNorm
		}{m.Arch, m.Mode, m.InC, m.InH, m.InW, m.Classes, m.Input, m.Layers, m.ClassNames, m.Norm})
		if err != nil {
			return nil
		}
		return h
	}
	ha, hb := head(a), head(b)
	if ha == nil || !bytes.Equal(ha, hb) {
		return false
	}
	for i, x := range a.Layers {
		y := b.Layers[i] // the headers hold as many layers
		if !slices.Equal(x.W, y.W) || !slices.Equal(x.Bias, y.Bias) || !slices.Equal(x.M0, y.M0) || !slices.Equal(x.Shift, y.Shift) ||
			!slices.Equal(x.WScale, y.WScale) || !slices.Equal(x.FBias, y.FBias) || !slices.Equal(x.LUT, y.LUT) ||
			!slices.Equal(x.Centroids, y.Centroids) || !slices.Equal(x.FW, y.FW) || !slices.Equal(x.Index, y.Index) || !slices.Equal(x.Packed, y.Packed) {
			return false
		}
	}
	return true
}
