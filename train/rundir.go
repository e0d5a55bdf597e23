package train

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
)

// LockFile is the lock's name inside a run directory.
const LockFile = ".lock"

// RunLockedError reports a run directory that another process is using.
type RunLockedError struct {
	Dir string
	PID int // the holder's process id, 0 if it could not be read
}

func (e *RunLockedError) Error() string {
	who := "another process"
	if e.PID > 0 {
		who = fmt.Sprintf("process %d", e.PID)
	}
	return fmt.Sprintf("train: run directory %s is in use by %s (lock %s); wait for it to finish or stop it",
		e.Dir, who, filepath.Join(e.Dir, LockFile))
}

// runLocks counts this process's holds on each run directory, so that
// nested users (Quantize around Trainer.Run) share one lock.
var runLocks = struct {
	sync.Mutex
	held map[string]*heldLock
}{held: map[string]*heldLock{}}

type heldLock struct {
	f     *os.File
	count int
}

// LockRun creates dir if needed and takes an exclusive lock on it for this
// process (flock on dir/.lock, holding our pid), so that two processes
// never write the same run. The kernel drops the lock when its holder
// dies, so a lock file left by a killed process does not block. Taking
// the lock also removes hidden temporary files that an atomic write of
// the run's files left when its process was killed. Calls nest within a
// process; release undoes one call.
func LockRun(dir string) (release func(), err error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("train: cannot create run directory: %w", err)
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("train: %w", err)
	}
	runLocks.Lock()
	defer runLocks.Unlock()
	if h := runLocks.held[abs]; h != nil {
		h.count++
		return releaser(abs), nil
	}
	path := filepath.Join(dir, LockFile)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("train: run directory lock: %w", err)
	}
	if err := tryLock(f); err != nil {
		b := make([]byte, 32)
		n, _ := f.ReadAt(b, 0)
		f.Close()
		if errors.Is(err, errLocked) {
			pid, _ := strconv.Atoi(strings.TrimSpace(string(b[:n])))
			return nil, &RunLockedError{Dir: dir, PID: pid}
		}
		return nil, fmt.Errorf("train: locking %s: %w", path, err)
	}
	if err := f.Truncate(0); err == nil {
		f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	runLocks.held[abs] = &heldLock{f: f, count: 1}
	removeStaleTemps(dir)
	return releaser(abs), nil
}

func releaser(abs string) func() {
	var once sync.Once
	return func() {
		once.Do(func() {
			runLocks.Lock()
			defer runLocks.Unlock()
			h := runLocks.held[abs]
			if h == nil {
				return
			}
			if h.count--; h.count == 0 {
				unlock(h.f)
				h.f.Close()
				delete(runLocks.held, abs)
			}
		})
	}
}

// removeStaleTemps deletes the temporary files of the run's own atomic
// writes (".checkpoint.safetensors.tmp…", ".metrics.jsonl.tmp…"): with the
// lock held nobody else is writing them.
func removeStaleTemps(dir string) {
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		for _, base := range []string{CheckpointFile, MetricsFile} {
			if strings.HasPrefix(e.Name(), "."+base+".tmp") && e.Type().IsRegular() {
				os.Remove(filepath.Join(dir, e.Name()))
			}
		}
	}
}

// openNewRun locks dir for a new run of t and starts its metrics log:
// lines left by an attempt that died before its first checkpoint are not
// part of it and are dropped. finish(failed) releases the lock; if the run
// failed before t wrote its first checkpoint it first removes the log:
// every line in it is then this failed run's own (the epoch-0 line of a
// quantized run), describing a run that has no checkpoint, and an empty
// log is not a valid one either (ReadMetrics refuses it).
func (t *Trainer) openNewRun(dir string) (finish func(failed bool), err error) {
	release, err := LockRun(dir)
	if err != nil {
		return nil, err
	}
	path := filepath.Join(dir, MetricsFile)
	if err := repairMetrics(path, func(EpochMetrics) bool { return false }); err != nil {
		release()
		return nil, err
	}
	return func(failed bool) {
		if failed && t.saved == 0 {
			_ = os.Remove(path) // best effort: the run's own error is the one to report
		}
		release()
	}, nil
}
