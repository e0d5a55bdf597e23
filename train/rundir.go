package train

import (
	"errors"
	"fmt"
	"io/fs"
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
// nested users (the command line around Trainer.Run) share one lock, and
// records which trainer has claimed the directory for its run (claimRun):
// two runs in one process share the flock but not the claim.
var runLocks = struct {
	sync.Mutex
	held map[string]*heldLock
}{held: map[string]*heldLock{}}

type heldLock struct {
	f      *os.File
	count  int
	owner  *Trainer // the run that claimed the directory, or nil
	claims int      // nested claims of owner
}

// pidWidth is the width the lock file's pid is written in: the file is
// never truncated (truncating a file we did not create destroys it), so
// every pid overwrites the same bytes.
const pidWidth = 20

// LockRun creates dir if needed and takes an exclusive lock on it for this
// process (flock on dir/.lock, holding our pid), so that two processes
// never write the same run. The kernel drops the lock when its holder
// dies, so a lock file left by a killed process does not block. Taking
// the lock also removes hidden temporary files that an atomic write of
// the run's files left when its process was killed. Calls nest within a
// process; release undoes one call.
//
// The lock file is opened without following a symbolic link and must be
// a regular file of its own (openRunFile), as must the run's metrics log
// and checkpoint if present: a link planted there would redirect the
// run's writes outside the directory.
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
	f, err := openRunFile(path, os.O_RDWR|os.O_CREATE)
	if err != nil {
		var rf *RunFileError
		if errors.As(err, &rf) {
			return nil, err // already says "train:" and names the lock file
		}
		return nil, fmt.Errorf("train: run directory lock: %w", err)
	}
	if err := tryLock(f); err != nil {
		b := make([]byte, 64)
		n, _ := f.ReadAt(b, 0)
		f.Close()
		if errors.Is(err, errLocked) {
			pid := 0
			if fields := strings.Fields(string(b[:n])); len(fields) > 0 {
				pid, _ = strconv.Atoi(fields[0])
			}
			return nil, &RunLockedError{Dir: dir, PID: pid}
		}
		return nil, fmt.Errorf("train: locking %s: %w", path, err)
	}
	if err := checkRunEntries(dir); err != nil {
		unlock(f)
		f.Close()
		return nil, err
	}
	f.WriteAt([]byte(fmt.Sprintf("%-*d\n", pidWidth, os.Getpid())), 0)
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

// RunExistsError reports a run directory that already holds a checkpoint
// where a new run (or the resume of another network) would replace it.
type RunExistsError struct {
	Dir  string
	Arch string // the checkpoint's network
	// Other is the network of the run that was refused, when it is a
	// resume of another network than the one in Dir.
	Other string
}

func (e *RunExistsError) Error() string {
	if e.Other != "" {
		return fmt.Sprintf("train: %s holds a checkpoint of %s, not of the %s being resumed; refusing to replace it (choose another directory)", e.Dir, e.Arch, e.Other)
	}
	return fmt.Sprintf("train: %s already holds a checkpoint (a %s run); refusing to replace it (resume it, or choose another directory)", e.Dir, e.Arch)
}

// claimRun opens t's run in dir: it takes the directory's lock (LockRun),
// claims it for t within this process (another trainer of this process
// writing there is refused like another process), and refuses a
// checkpoint already there unless t wrote it or t resumes that very
// network (Resume). This is the one place where a run decides that it may
// write its checkpoint into dir, and it decides under the lock: two runs
// started together into one directory cannot both pass.
func (t *Trainer) claimRun(dir string) (release func(), err error) {
	unlockRun, err := LockRun(dir)
	if err != nil {
		return nil, err
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		unlockRun()
		return nil, fmt.Errorf("train: %w", err)
	}
	runLocks.Lock()
	h := runLocks.held[abs]
	if h.owner != nil && h.owner != t {
		runLocks.Unlock()
		unlockRun()
		return nil, &RunLockedError{Dir: dir, PID: os.Getpid()}
	}
	h.owner = t
	h.claims++
	runLocks.Unlock()
	release = func() {
		runLocks.Lock()
		if h.claims--; h.claims == 0 {
			h.owner = nil
		}
		runLocks.Unlock()
		unlockRun()
	}
	if t.saved == 0 {
		if err := t.mayWrite(dir); err != nil {
			release()
			return nil, err
		}
	}
	return release, nil
}

// mayWrite refuses a checkpoint in dir that t would replace: any, unless
// t resumes a run of the same network.
func (t *Trainer) mayWrite(dir string) error {
	path := filepath.Join(dir, CheckpointFile)
	if _, err := os.Lstat(path); errors.Is(err, fs.ErrNotExist) {
		return nil
	} else if err != nil {
		return fmt.Errorf("train: %w", err)
	}
	ck, err := LoadCheckpoint(path)
	if err != nil {
		return fmt.Errorf("train: %s holds a checkpoint that cannot be read; refusing to replace it: %w", dir, err)
	}
	if !t.resumed {
		return &RunExistsError{Dir: dir, Arch: ck.Arch}
	}
	spec, serr := t.Model.Spec()
	same := ck.Arch == t.Model.Arch && ck.In == t.Model.In && ck.Classes == t.Model.Classes &&
		(serr != nil || ck.Spec == "" || ck.Spec == string(spec))
	if !same {
		return &RunExistsError{Dir: dir, Arch: ck.Arch, Other: t.Model.Arch}
	}
	return nil
}

// openNewRun opens a new run of t in dir (claimRun: locked, no checkpoint
// there) and starts its metrics log: lines left by an attempt that died
// before its first checkpoint are not part of it and are dropped.
// finish(failed) releases the lock; if the run failed before t wrote its
// first checkpoint it first removes the log: every line in it is then
// this failed run's own (the epoch-0 line of a quantized run), describing
// a run that has no checkpoint, and an empty log is not a valid one
// either (ReadMetrics refuses it).
func (t *Trainer) openNewRun(dir string) (finish func(failed bool), err error) {
	if t.resumed {
		panic("train: openNewRun on a resumed trainer")
	}
	release, err := t.claimRun(dir)
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

// RemoveEmptyRun is for a command that created dir, locked it (LockRun)
// and failed: it removes the lock file and dir itself if dir holds nothing
// else and the caller's LockRun is the only hold on it in this process
// (another run of this process sharing the lock keeps it). The lock file
// is removed while the lock is still held; call release afterwards.
// It reports whether dir was removed.
func RemoveEmptyRun(dir string) bool {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return false
	}
	runLocks.Lock()
	defer runLocks.Unlock()
	h := runLocks.held[abs]
	if h == nil || h.count != 1 || h.owner != nil {
		return false
	}
	entries, err := os.ReadDir(dir)
	if err != nil || len(entries) != 1 || entries[0].Name() != LockFile || !entries[0].Type().IsRegular() {
		return false
	}
	if os.Remove(filepath.Join(dir, LockFile)) != nil {
		return false
	}
	return os.Remove(dir) == nil
}
