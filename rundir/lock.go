package rundir

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

// LockedError reports a run directory that another process is using.
type LockedError struct {
	Dir string
	PID int // the holder's process id, 0 if it could not be read
}

func (e *LockedError) Error() string {
	who := "another process"
	if e.PID > 0 {
		who = fmt.Sprintf("process %d", e.PID)
	}
	return fmt.Sprintf("rundir: run directory %s is in use by %s (lock %s); wait for it to finish or stop it",
		e.Dir, who, filepath.Join(e.Dir, LockFile))
}

// runLocks counts this process's holds on each run directory, so that
// nested users (the command line around Trainer.Run) share one lock, and
// records which run has claimed the directory (Claim):
// two runs in one process share the flock but not the claim.
var runLocks = struct {
	sync.Mutex
	held map[string]*heldLock
}{held: map[string]*heldLock{}}

type heldLock struct {
	f      *os.File
	count  int
	owner  any // the run that claimed the directory (Claim), or nil
	claims int // nested claims of owner
}

// pidWidth is the width the lock file's pid is written in: the file is
// never truncated (truncating a file we did not create destroys it), so
// every pid overwrites the same bytes.
const pidWidth = 20

// Lock creates dir if needed and takes an exclusive lock on it for this
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
func Lock(dir string) (release func(), err error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("rundir: cannot create run directory: %w", err)
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("rundir: %w", err)
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
		var rf *FileError
		if errors.As(err, &rf) {
			return nil, err // already names the lock file, with the prefix
		}
		return nil, fmt.Errorf("rundir: run directory lock: %w", err)
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
			return nil, &LockedError{Dir: dir, PID: pid}
		}
		return nil, fmt.Errorf("rundir: locking %s: %w", path, err)
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

// ExistsError reports a run directory that already holds a checkpoint
// where a new run (or the resume of another network) would replace it.
type ExistsError struct {
	Dir  string
	Arch string // the checkpoint's network
	// Other is the network of the run that was refused, when it is a
	// resume of another network than the one in Dir.
	Other string
}

func (e *ExistsError) Error() string {
	if e.Other != "" {
		return fmt.Sprintf("rundir: %s holds a checkpoint of %s, not of the %s being resumed; refusing to replace it (choose another directory)", e.Dir, e.Arch, e.Other)
	}
	return fmt.Sprintf("rundir: %s already holds a checkpoint (a %s run); refusing to replace it (resume it, or choose another directory)", e.Dir, e.Arch)
}

// Claim takes dir's lock (Lock) and claims the directory for owner (a
// trainer, compared by identity) within this process: another owner of
// this process writing there is refused like another process. Claims of
// one owner nest; release undoes one.
func Claim(dir string, owner any) (release func(), err error) {
	unlock, err := Lock(dir)
	if err != nil {
		return nil, err
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		unlock()
		return nil, fmt.Errorf("rundir: %w", err)
	}
	runLocks.Lock()
	h := runLocks.held[abs]
	if h.owner != nil && h.owner != owner {
		runLocks.Unlock()
		unlock()
		return nil, &LockedError{Dir: dir, PID: os.Getpid()}
	}
	h.owner = owner
	h.claims++
	runLocks.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			runLocks.Lock()
			if h.claims--; h.claims == 0 {
				h.owner = nil
			}
			runLocks.Unlock()
			unlock()
		})
	}, nil
}

// RemoveEmpty is for a command that created dir, locked it (Lock)
// and failed: it removes the lock file and dir itself if dir holds nothing
// else and the caller's Lock is the only hold on it in this process
// (another run of this process sharing the lock keeps it). The lock file
// is removed while the lock is still held; call release afterwards.
// It reports whether dir was removed.
func RemoveEmpty(dir string) bool {
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
