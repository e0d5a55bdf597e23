package train

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/tinyqat/tinyqat/rundir"
	"golang.org/x/sys/unix"
)

// TestRunLock: a run directory locked by another holder (here a second
// open file description with flock, which conflicts exactly as another
// process does) is refused with the holder's pid; a lock file left by a
// dead process does not block; nested locks in one process share it.
func TestRunLock(t *testing.T) {
	dir := t.TempDir()
	f, err := os.OpenFile(filepath.Join(dir, rundir.LockFile), os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		t.Fatal(err)
	}
	f.WriteString("4242\n") // the holder's pid, as rundir.Lock writes it
	tr := newTiny(t, rundir.Config{Epochs: 1, Batch: 128})
	tr.RunDir = dir
	err = tr.Run(context.Background())
	var le *rundir.LockedError
	if !errors.As(err, &le) || le.PID != 4242 || !strings.Contains(err.Error(), "process 4242") {
		t.Fatalf("second writer: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, rundir.MetricsFile)); err == nil {
		t.Fatal("the refused run wrote metrics")
	}
	// The holder dies (its descriptor closes): the stale file does not block.
	f.Close()
	if err := tr.Run(context.Background()); err != nil {
		t.Fatalf("after the holder died: %v", err)
	}
	b, _ := os.ReadFile(filepath.Join(dir, rundir.LockFile))
	if strings.TrimSpace(string(b)) != strconv.Itoa(os.Getpid()) {
		t.Errorf("lock file holds %q, want our pid", b)
	}
	// Nested holds within one process.
	r1, err := rundir.Lock(dir)
	if err != nil {
		t.Fatal(err)
	}
	r2, err := rundir.Lock(dir)
	if err != nil {
		t.Fatalf("nested lock: %v", err)
	}
	r2()
	r2() // idempotent
	g, _ := os.OpenFile(filepath.Join(dir, rundir.LockFile), os.O_RDWR, 0)
	defer g.Close()
	if unix.Flock(int(g.Fd()), unix.LOCK_EX|unix.LOCK_NB) == nil {
		t.Fatal("lock released while an outer hold remains")
	}
	r1()
	if err := unix.Flock(int(g.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		t.Fatalf("lock not released: %v", err)
	}
}

// TestStaleTempsRemoved: temporary files of atomic writes left by a killed
// process are removed by the next run; other hidden files are not.
func TestStaleTempsRemoved(t *testing.T) {
	dir := t.TempDir()
	stale := []string{".checkpoint.safetensors.tmp123", ".metrics.jsonl.tmp9"}
	for _, n := range append(stale, ".mine.tmp1") {
		os.WriteFile(filepath.Join(dir, n), []byte("partial"), 0o644)
	}
	tr := newTiny(t, rundir.Config{Epochs: 1, Batch: 128})
	tr.RunDir = dir
	if err := tr.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	for _, n := range stale {
		if _, err := os.Stat(filepath.Join(dir, n)); err == nil {
			t.Errorf("%s left behind", n)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, ".mine.tmp1")); err != nil {
		t.Error("removed a file that is not the run's")
	}
}

// TestMetricsAndCheckpointConsistent: a failure between an epoch's metrics
// line and its checkpoint (the crash window) leaves a log one line ahead;
// resuming drops that line and logs the epoch again, so the log equals an
// uninterrupted run's. With the old order (checkpoint first) the same
// failure left a checkpoint whose epoch had no line at all.
func TestMetricsAndCheckpointConsistent(t *testing.T) {
	straight := newTiny(t, rundir.Config{Epochs: 2, Batch: 64, Seed: 2})
	straight.RunDir = t.TempDir()
	if err := straight.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	crash := newTiny(t, rundir.Config{Epochs: 2, Batch: 64, Seed: 2})
	crash.RunDir = dir
	boom := errors.New("killed")
	afterMetrics = func(epoch int) error {
		if epoch == 2 {
			return boom
		}
		return nil
	}
	err := crash.Run(context.Background())
	afterMetrics = nil
	if err != boom {
		t.Fatalf("crash run: %v", err)
	}
	ck, err := rundir.LoadCheckpoint(dir)
	if err != nil {
		t.Fatal(err)
	}
	if ms, _ := rundir.ReadMetrics(dir); ck.Epoch != 1 || len(ms) != 2 {
		t.Fatalf("after the crash: checkpoint epoch %d, %d log lines; want 1 and 2", ck.Epoch, len(ms))
	}
	// A torn line from a crash during the append is dropped as well.
	lf, _ := os.OpenFile(filepath.Join(dir, rundir.MetricsFile), os.O_APPEND|os.O_WRONLY, 0)
	lf.WriteString(`{"epoch":3,"pha`)
	lf.Close()
	m, _ := ck.Model()
	tr, _ := NewTrainer(m, tiny(), ck.Config)
	tr.Progress, tr.RunDir = nil, dir
	if err := tr.Resume(ck); err != nil {
		t.Fatal(err)
	}
	if err := tr.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	a, _ := rundir.ReadMetrics(straight.RunDir)
	b, err := rundir.ReadMetrics(dir)
	if err != nil {
		t.Fatal(err)
	}
	sa, sb := stripTimes(a), stripTimes(b)
	if len(sa) != len(sb) {
		t.Fatalf("log lines: straight %d, interrupted and resumed %d", len(sa), len(sb))
	}
	for i := range sa {
		if sa[i] != sb[i] {
			t.Fatalf("line %d: straight %+v, resumed %+v", i+1, sa[i], sb[i])
		}
	}
}
