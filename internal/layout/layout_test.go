// Package layout holds tests of the module's layout: the package layers,
// the size of files and what library packages may not import.
package layout

import (
	"bufio"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

const module = "github.com/tinyqat/tinyqat/"

// layers lists the module's packages in pipeline order (DESIGN.md): a
// package imports only packages of earlier layers, never one of its own
// layer or a later one. Test files are free (an external test package may
// import a later layer, as train's QAT benchmark imports qat).
//
// infer sits low: the deployable runtime takes nothing of the training
// stack (nn, rundir, train, qat, cluster, Gorgonia's users).
var layers = [][]string{
	{"internal/par", "internal/nnref", "internal/pixels"},
	{"internal/f32", "internal/stfile", "internal/onnxpb", "quant"},
	{"datasets", "fakequant", "infer"},
	{"ste", "imageinput"},
	{"calibrate"},
	{"nn"},
	{"rundir"},
	{"train"},
	{"qat"},
	{"cluster", "mixed"},
	{"export", "plots"},
	{"export/cgen"},
	{"attack"},
	{"report"},
	{"examples/custom", "examples/pipeline", "examples/predict",
		"scripts/attackchart", "scripts/clusterchart", "scripts/mcucheck", "scripts/onnxdata", "scripts/ort_bench", "cmd/tinyqat"},
}

// maxLines bounds a hand-written Go file.
const maxLines = 600

// longFiles are files over maxLines that other work is splitting (none
// today). The list may only shrink: a file listed here that fits again
// fails the test until it is removed from the list.
var longFiles = []string{}

// terminalOnly are imports that only the command line may use: the
// libraries report progress through train.Progress and draw nothing.
var terminalOnly = []string{"github.com/schollz/progressbar/v3", "golang.org/x/term"}

func root(t *testing.T) string {
	t.Helper()
	dir, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "go.mod")); err != nil {
		t.Fatalf("module root: %v", err)
	}
	return dir
}

// goFiles lists the module's Go files (slash paths relative to the root).
func goFiles(t *testing.T) []string {
	t.Helper()
	base := root(t)
	var out []string
	err := filepath.WalkDir(base, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && p != base && (strings.HasPrefix(d.Name(), ".") || d.Name() == "testdata" || d.Name() == "node_modules") {
			return filepath.SkipDir
		}
		if d.IsDir() && p != base {
			// A nested module (scripts/serialprof) is not this module's,
			// as for the go command.
			if _, err := os.Stat(filepath.Join(p, "go.mod")); err == nil {
				return filepath.SkipDir
			}
		}
		if !d.IsDir() && strings.HasSuffix(p, ".go") {
			rel, _ := filepath.Rel(base, p)
			out = append(out, filepath.ToSlash(rel))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// generated reports whether a file carries Go's generated-code marker.
func generated(path string) (bool, error) {
	f, err := os.Open(path)
	if err != nil {
		return false, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "// Code generated ") && strings.HasSuffix(line, " DO NOT EDIT.") {
			return true, nil
		}
		if strings.HasPrefix(line, "package ") {
			return false, nil
		}
	}
	return false, sc.Err()
}

func lineCount(path string) (int, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	return strings.Count(string(b), "\n"), nil
}

// TestFileLength: no hand-written Go file is over maxLines lines, apart
// from longFiles (assembly is not Go; generated code is exempt).
func TestFileLength(t *testing.T) {
	base := root(t)
	var long []string
	for _, rel := range goFiles(t) {
		p := filepath.Join(base, rel)
		gen, err := generated(p)
		if err != nil {
			t.Fatal(err)
		}
		if gen {
			continue
		}
		n, err := lineCount(p)
		if err != nil {
			t.Fatal(err)
		}
		if n > maxLines {
			long = append(long, rel)
			if !slices.Contains(longFiles, rel) {
				t.Errorf("%s has %d lines, more than %d: split it by concern", rel, n, maxLines)
			}
		}
	}
	for _, rel := range longFiles {
		if !slices.Contains(long, rel) {
			t.Errorf("%s is no longer over %d lines (or is gone): remove it from longFiles", rel, maxLines)
		}
	}
}

// imports returns the module-internal and external imports of the
// non-test files of each package directory.
func imports(t *testing.T) map[string][]string {
	t.Helper()
	base := root(t)
	fset := token.NewFileSet()
	out := map[string][]string{}
	for _, rel := range goFiles(t) {
		if strings.HasSuffix(rel, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, filepath.Join(base, rel), nil, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		dir := filepath.ToSlash(filepath.Dir(rel))
		for _, im := range f.Imports {
			path, _ := strconv.Unquote(im.Path.Value)
			if !slices.Contains(out[dir], path) {
				out[dir] = append(out[dir], path)
			}
		}
	}
	return out
}

func layerOf(pkg string) int {
	for i, l := range layers {
		if slices.Contains(l, pkg) {
			return i
		}
	}
	return -1
}

// TestLayers: every package is in layers, and imports only packages of
// earlier layers (so there is no cycle, and no library reaches up the
// pipeline).
func TestLayers(t *testing.T) {
	all := imports(t)
	if len(all) < 20 {
		t.Fatalf("found %d packages: the walk missed the module", len(all))
	}
	for dir, ims := range all {
		if dir == "." {
			continue
		}
		own := layerOf(dir)
		if own < 0 {
			t.Errorf("package %s is not in layers: place it in the pipeline order", dir)
			continue
		}
		for _, im := range ims {
			dep, ok := strings.CutPrefix(im, module)
			if !ok {
				continue
			}
			if l := layerOf(dep); l < 0 || l >= own {
				t.Errorf("%s imports %s, which is not in an earlier layer", dir, dep)
			}
		}
	}
}

// TestLibrariesDrawNothing: only programs (cmd/, examples/, scripts/)
// import the terminal packages.
func TestLibrariesDrawNothing(t *testing.T) {
	for dir, ims := range imports(t) {
		if strings.HasPrefix(dir, "cmd/") || strings.HasPrefix(dir, "examples/") || strings.HasPrefix(dir, "scripts/") {
			continue
		}
		for _, im := range ims {
			if slices.Contains(terminalOnly, im) {
				t.Errorf("library package %s imports %s: report through train.Progress instead", dir, im)
			}
		}
	}
}
