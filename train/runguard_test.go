package train

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/tinyqat/tinyqat/rundir"
)

// TestConcurrentRunsOneWins: two new runs started together into one
// directory: exactly one succeeds, the other is refused (in use, or a
// checkpoint is already there), and the winner's checkpoint is the one
// on disk. Before the check moved under the lock, both finished and one
// result was lost.
func TestConcurrentRunsOneWins(t *testing.T) {
	dir := t.TempDir()
	trs := []*Trainer{newTiny(t, rundir.Config{Epochs: 1, Batch: 128, Seed: 1}), newTiny(t, rundir.Config{Epochs: 1, Batch: 128, Seed: 2})}
	errs := make([]error, 2)
	var start, done sync.WaitGroup
	start.Add(1)
	for i, tr := range trs {
		tr.RunDir = dir
		done.Add(1)
		go func() {
			defer done.Done()
			start.Wait()
			errs[i] = tr.Run(context.Background())
		}()
	}
	start.Done()
	done.Wait()
	won := -1
	for i, err := range errs {
		var le *rundir.LockedError
		var ee *rundir.ExistsError
		switch {
		case err == nil:
			if won >= 0 {
				t.Fatal("both runs into one directory succeeded")
			}
			won = i
		case errors.As(err, &le), errors.As(err, &ee):
		default:
			t.Fatalf("run %d: unexpected error %v", i, err)
		}
	}
	if won < 0 {
		t.Fatalf("no run succeeded: %v", errs)
	}
	ck, err := rundir.LoadCheckpoint(dir)
	if err != nil {
		t.Fatal(err)
	}
	if ck.Config.Seed != trs[won].Cfg.Seed {
		t.Errorf("the checkpoint is seed %d's, the winner was seed %d", ck.Config.Seed, trs[won].Cfg.Seed)
	}
}

// TestRunFilesNoFollow: a symbolic link (or another non-regular entry)
// at RUN/.lock or RUN/metrics.jsonl is refused and the file it points to
// keeps its content; the lock file is never truncated (a pid shorter than
// what the file held overwrites only its own bytes).
func TestRunFilesNoFollow(t *testing.T) {
	for _, name := range []string{rundir.LockFile, rundir.MetricsFile, rundir.CheckpointFile} {
		t.Run(name, func(t *testing.T) {
			base := t.TempDir()
			victim := filepath.Join(base, "passwd")
			const content = "root:x:0:0::/root:/bin/sh\n"
			os.WriteFile(victim, []byte(content), 0o644)
			dir := filepath.Join(base, "run")
			os.Mkdir(dir, 0o755)
			if err := os.Symlink(filepath.Join("..", "passwd"), filepath.Join(dir, name)); err != nil {
				t.Fatal(err)
			}
			tr := newTiny(t, rundir.Config{Epochs: 1, Batch: 128})
			tr.RunDir = dir
			err := tr.Run(context.Background())
			var fe *rundir.FileError
			if !errors.As(err, &fe) || !strings.Contains(err.Error(), "symbolic link") {
				t.Errorf("got %v, want a rundir.FileError naming the link", err)
			}
			if err != nil && strings.Count(err.Error(), "rundir:")+strings.Count(err.Error(), "train:") != 1 {
				t.Errorf("%q: want one package prefix", err)
			}
			if b, _ := os.ReadFile(victim); string(b) != content {
				t.Errorf("the file outside the run now holds %q", b)
			}
		})
	}
	// rundir.AppendMetrics on its own refuses a link too.
	base := t.TempDir()
	victim := filepath.Join(base, "outside")
	os.WriteFile(victim, nil, 0o644)
	link := filepath.Join(base, rundir.MetricsFile)
	os.Symlink(victim, link)
	if err := rundir.AppendMetrics(link, rundir.EpochMetrics{Epoch: 1}); err == nil {
		t.Error("rundir.AppendMetrics followed a link")
	}
	if b, _ := os.ReadFile(victim); len(b) != 0 {
		t.Errorf("the metrics line went to the link's target: %q", b)
	}
	// A hard link to an outside file at .lock is refused as well.
	dir := t.TempDir()
	os.WriteFile(victim, []byte("keep"), 0o644)
	if err := os.Link(victim, filepath.Join(dir, rundir.LockFile)); err == nil {
		if _, err := rundir.Lock(dir); err == nil {
			t.Error("rundir.Lock wrote into a lock file with another name")
		}
		if b, _ := os.ReadFile(victim); string(b) != "keep" {
			t.Errorf("hard-linked file now holds %q", b)
		}
	}
	// No truncation: a long lock file keeps its length, our pid leads it.
	dir = t.TempDir()
	long := strings.Repeat("9", 40) + "\n"
	os.WriteFile(filepath.Join(dir, rundir.LockFile), []byte(long), 0o644)
	release, err := rundir.Lock(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	b, _ := os.ReadFile(filepath.Join(dir, rundir.LockFile))
	if len(b) != len(long) || strings.Fields(string(b))[0] != strings.TrimSpace(strings.Fields(string(b))[0]) {
		t.Errorf("lock file %q: truncated or rewritten", b)
	}
}
