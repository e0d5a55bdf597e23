package attack

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
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
		if m.SameAs(e) {
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
