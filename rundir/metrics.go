package rundir

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/tinyqat/tinyqat/internal/stfile"
)

// MetricsFile is the metrics log's name inside a run directory.
const MetricsFile = "metrics.jsonl"

// EpochMetrics is one line of metrics.jsonl.
type EpochMetrics struct {
	Epoch     int     `json:"epoch"`
	Phase     Phase   `json:"phase"`
	TrainLoss float64 `json:"train_loss"`
	TrainAcc  float64 `json:"train_acc"`
	TestAcc   float64 `json:"test_acc"`
	LR        float64 `json:"lr"`
	Seconds   float64 `json:"seconds"` // training time of the epoch (without evaluation)
	EvalSecs  float64 `json:"eval_seconds"`
	HeapMB    float64 `json:"heap_mb"` // live heap after a GC at the end of the epoch
	Steps     int     `json:"steps"`
}

// check reports what makes m a record no run writes (nil: none): JSON
// null and {} parse as a record of epoch 0 and no phase.
func (m EpochMetrics) check() error {
	switch m.Phase {
	case PhaseFloat, PhasePTQ, PhaseQAT, PhaseCluster:
	default:
		return fmt.Errorf("phase %q (want float, ptq, qat or cluster)", m.Phase)
	}
	switch {
	case m.Epoch < 0 || m.Steps < 0:
		return fmt.Errorf("epoch %d, steps %d (want ≥ 0)", m.Epoch, m.Steps)
	case !(m.TestAcc >= 0 && m.TestAcc <= 1) || !(m.TrainAcc >= 0 && m.TrainAcc <= 1):
		return fmt.Errorf("accuracy %v (test), %v (train): want fractions in [0, 1]", m.TestAcc, m.TrainAcc)
	}
	return nil
}

// AppendMetrics appends one JSON line to path. It does not follow a
// symbolic link at path and refuses anything but a regular file there
// (openRunFile): the line belongs to the run, not to where a link points.
func AppendMetrics(path string, m any) error {
	line, err := json.Marshal(m)
	if err != nil {
		return err
	}
	f, err := openRunFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY)
	if err != nil {
		return fmt.Errorf("rundir: metrics log: %w", err)
	}
	if _, err := f.Write(append(line, '\n')); err != nil {
		f.Close()
		return fmt.Errorf("rundir: metrics log: %w", err)
	}
	return f.Close()
}

// maxMetricsBytes bounds a metrics log: a line is about 230 bytes, so
// this is over 250,000 epochs.
const maxMetricsBytes = 64 << 20

// ReadMetrics reads a metrics.jsonl log (a run directory or the file).
func ReadMetrics(path string) ([]EpochMetrics, error) {
	if st, err := os.Stat(path); err == nil && st.IsDir() {
		path = filepath.Join(path, MetricsFile)
	}
	b, err := stfile.ReadRegular(path, maxMetricsBytes)
	if err != nil {
		return nil, fmt.Errorf("rundir: metrics log: %w", err)
	}
	// Blank lines are skipped, as RepairMetrics skips them (a log it
	// accepts for a resume reads here too); i+1 is the file's line number.
	var out []EpochMetrics
	for i, line := range strings.Split(string(b), "\n") {
		if strings.TrimSpace(line) == "" {
			continue
		}
		var m EpochMetrics
		err := json.Unmarshal([]byte(line), &m)
		if err == nil {
			err = m.check()
		}
		if err != nil {
			return nil, fmt.Errorf("rundir: %s line %d is not a metrics record (a line of JSON): %v", path, i+1, err)
		}
		out = append(out, m)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("rundir: %s holds no metrics", path)
	}
	return out, nil
}

// RepairMetrics rewrites the log at path (atomically) keeping the lines
// for which keep is true, and drops a torn last line (a crash during its
// write). A missing log is fine; an unreadable line elsewhere is an error.
func RepairMetrics(path string, keep func(EpochMetrics) bool) error {
	b, err := stfile.ReadRegular(path, maxMetricsBytes)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("rundir: metrics log: %w", err)
	}
	lines := bytes.SplitAfter(b, []byte("\n"))
	var out []byte
	changed := false
	for i, line := range lines {
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		var m EpochMetrics
		err := json.Unmarshal(line, &m)
		if err == nil {
			err = m.check()
		}
		if err != nil || !bytes.HasSuffix(line, []byte("\n")) {
			if i == len(lines)-1 || (i == len(lines)-2 && len(lines[len(lines)-1]) == 0) {
				changed = true // torn last line
				continue
			}
			// Only a torn last line is a crash's: one before it is damage
			// that dropping it would hide.
			return fmt.Errorf("rundir: %s line %d is not a metrics record (%v): the log is damaged before its last line; fix or remove that line to resume (the checkpoint is not affected)", path, i+1, err)
		}
		if !keep(m) {
			changed = true
			continue
		}
		out = append(out, line...)
	}
	if !changed {
		return nil
	}
	return stfile.WriteAtomic(path, func(w io.Writer) error {
		_, err := w.Write(out)
		return err
	})
}

// WriteJSON writes v as indented JSON to path atomically.
func WriteJSON(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return stfile.WriteAtomic(path, func(w io.Writer) error {
		_, err := w.Write(append(b, '\n'))
		return err
	})
}
