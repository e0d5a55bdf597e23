//go:build !unix

package rundir

import (
	"errors"
	"io/fs"
	"os"
)

// errLocked is never returned here: without flock, run directories are
// not locked on this platform (tinyqat's supported platforms are unix).
var errLocked = errors.New("locked")

// No O_NOFOLLOW here: openRunFile Lstat-checks the path instead.
const (
	oNoFollow = 0
	oNonBlock = 0
)

func tryLock(*os.File) error { return nil }

func unlock(*os.File) {}

func links(fs.FileInfo) uint64 { return 1 }
