package rundir

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"syscall"

	"github.com/tinyqat/tinyqat/internal/stfile"
)

// openRunFile opens a file of a run directory (the lock, the metrics log)
// without following a symbolic link at its last component and refuses
// anything but a regular file: a link planted at RUN/.lock or
// RUN/metrics.jsonl must not redirect the run's writes to a file outside
// it. On unix the kernel refuses the link (O_NOFOLLOW) and O_NONBLOCK
// keeps a named pipe from blocking the open; elsewhere the path is
// Lstat-checked first and the opened file compared with what was checked.
// A regular file with more than one hard link is refused too (writing it
// would change the other names' content).
func openRunFile(path string, flag int) (*os.File, error) {
	var before fs.FileInfo
	if oNoFollow == 0 {
		st, err := os.Lstat(path)
		switch {
		case err == nil:
			if !st.Mode().IsRegular() {
				return nil, &FileError{Path: path, Kind: stfile.FileKind(st.Mode())}
			}
			before = st
		case !errors.Is(err, fs.ErrNotExist) || flag&os.O_CREATE == 0:
			return nil, err
		}
	}
	f, err := os.OpenFile(path, flag|oNoFollow|oNonBlock, 0o644)
	if err != nil {
		if errors.Is(err, syscall.ELOOP) || errors.Is(err, syscall.ENXIO) {
			// ELOOP: the last component is a link (O_NOFOLLOW); ENXIO: a
			// named pipe without a reader (O_NONBLOCK).
			if st, lerr := os.Lstat(path); lerr == nil && !st.Mode().IsRegular() {
				return nil, &FileError{Path: path, Kind: stfile.FileKind(st.Mode())}
			}
		}
		return nil, err
	}
	st, err := f.Stat()
	if err == nil && !st.Mode().IsRegular() {
		err = &FileError{Path: path, Kind: stfile.FileKind(st.Mode())}
	} else if err == nil && before != nil && !os.SameFile(before, st) {
		err = &FileError{Path: path, Kind: "a file that was replaced while it was opened"}
	} else if err == nil && links(st) > 1 {
		err = &FileError{Path: path, Kind: fmt.Sprintf("a file with %d hard links", links(st))}
	}
	if err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// FileError reports an entry of a run directory (its lock, metrics log
// or checkpoint) that is not a plain regular file of its own.
type FileError struct {
	Path string
	Kind string // "a symbolic link", "a named pipe", ...
}

func (e *FileError) Error() string {
	return fmt.Sprintf("rundir: %s is %s, not a regular file; refusing to use it as a run file (remove it)", e.Path, e.Kind)
}

// checkRunEntries refuses a run directory whose metrics log or checkpoint
// is anything but a regular file (a link would be read as the run's, and
// its replacement would silently drop it).
func checkRunEntries(dir string) error {
	for _, name := range []string{MetricsFile, CheckpointFile} {
		p := dir + string(os.PathSeparator) + name
		st, err := os.Lstat(p)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return fmt.Errorf("rundir: %w", err)
		}
		if !st.Mode().IsRegular() {
			return &FileError{Path: p, Kind: stfile.FileKind(st.Mode())}
		}
	}
	return nil
}
