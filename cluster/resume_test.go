package cluster

import (
	"bytes"
	"context"
	"errors"
	"path/filepath"
	"testing"

	"github.com/tinyqat/tinyqat/internal/stfile"
	"github.com/tinyqat/tinyqat/rundir"
	"github.com/tinyqat/tinyqat/train"
)

// TestClusterResumeExact: a cluster run killed after its first epoch (in
// the crash window: epoch 2's metrics line written, its checkpoint not)
// and resumed with Resume ends with the same checkpoint tensors,
// byte for byte, as the run that was never interrupted, with and without
// re-clustering. There was no resume: the centroids' Adam state and the
// shadow weights were not in the checkpoint.
func TestClusterResumeExact(t *testing.T) {
	data := resumeData()
	fl := clusterFloat(t, data)
	tc := rundir.Config{Epochs: 3, Batch: 32, LR: 1e-3}
	for _, cc := range []Config{{Bits: 2}, {Bits: 2, Recluster: true, PerChannel: true}} {
		straight := t.TempDir()
		if _, err := FineTune(context.Background(), fl, data, Options{Cluster: cc, Train: tc, RunDir: straight}); err != nil {
			t.Fatal(err)
		}
		dir := t.TempDir()
		// Stop after epoch 1's checkpoint, then write epoch 2's metrics
		// line as a run killed between that line and its checkpoint
		// would have left it.
		ctx, cancel := context.WithCancel(context.Background())
		prog := train.Lines(&cancelAfter{mark: "cluster epoch 1/3", cancel: cancel})
		_, err := FineTune(ctx, fl, data, Options{Cluster: cc, Train: tc, RunDir: dir, Progress: prog})
		cancel()
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("%+v: crash run: %v", cc, err)
		}
		if err := rundir.AppendMetrics(filepath.Join(dir, rundir.MetricsFile), rundir.EpochMetrics{Epoch: 2, Phase: rundir.PhaseCluster, TestAcc: 0.5}); err != nil {
			t.Fatal(err)
		}
		ck, err := rundir.LoadCheckpoint(dir)
		if err != nil {
			t.Fatal(err)
		}
		if ck.Epoch != 1 {
			t.Fatalf("interrupted at epoch %d, want 1", ck.Epoch)
		}
		res, err := Resume(context.Background(), ck, data, ResumeOptions{RunDir: dir})
		if err != nil {
			t.Fatalf("%+v: resume: %v", cc, err)
		}
		res.Trainer.Close()
		a, _, err := stfile.Read(filepath.Join(straight, rundir.CheckpointFile))
		if err != nil {
			t.Fatal(err)
		}
		b, _, err := stfile.Read(filepath.Join(dir, rundir.CheckpointFile))
		if err != nil {
			t.Fatal(err)
		}
		if len(a) != len(b) {
			t.Fatalf("%+v: %d tensors straight, %d resumed", cc, len(a), len(b))
		}
		for name, ta := range a {
			tb, ok := b[name]
			if !ok || !bytes.Equal(ta.Data, tb.Data) {
				t.Errorf("%+v: tensor %s differs after the resume", cc, name)
			}
		}
		ma, _ := rundir.ReadMetrics(straight)
		mb, _ := rundir.ReadMetrics(dir)
		if sa, sb := stripTimes(ma), stripTimes(mb); len(sa) != len(sb) || sa[len(sa)-1] != sb[len(sb)-1] {
			t.Errorf("%+v: metrics differ:\n straight %+v\n resumed  %+v", cc, sa, sb)
		}
	}
}
