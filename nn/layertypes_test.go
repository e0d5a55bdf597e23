package nn

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
)

// layerSwitchFiles are the only files allowed to switch on (or assert)
// nn's layer types: the lowering (view) and the spec codec.
var layerSwitchFiles = map[string]bool{"nn/lower.go": true, "nn/spec.go": true}

// layerTypeNames are nn's layer types (every type with a setup method,
// the implementations of Layer) and the interfaces over them.
func layerTypeNames(t *testing.T) map[string]bool {
	t.Helper()
	fset := token.NewFileSet()
	entries, err := os.ReadDir(".")
	if err != nil {
		t.Fatal(err)
	}
	var files []*ast.File
	for _, e := range entries {
		if n := e.Name(); strings.HasSuffix(n, ".go") && !strings.HasSuffix(n, "_test.go") {
			f, err := parser.ParseFile(fset, n, nil, 0)
			if err != nil {
				t.Fatal(err)
			}
			files = append(files, f)
		}
	}
	names := map[string]bool{"Layer": true, "weighted": true}
	{
		for _, f := range files {
			for _, d := range f.Decls {
				fd, ok := d.(*ast.FuncDecl)
				if !ok || fd.Recv == nil || fd.Name.Name != "setup" {
					continue
				}
				typ := fd.Recv.List[0].Type
				if st, ok := typ.(*ast.StarExpr); ok {
					typ = st.X
				}
				if id, ok := typ.(*ast.Ident); ok {
					names[id.Name] = true
				}
			}
		}
	}
	if len(names) < 11 {
		t.Fatalf("found only the layer types %v", names)
	}
	return names
}

// layerTypeSwitches counts, per file of the module (non-test Go files,
// path relative to the module root), the type switch cases and type
// assertions on nn's layer types.
func layerTypeSwitches(t *testing.T, root string) map[string]int {
	t.Helper()
	names := layerTypeNames(t)
	counts := map[string]int{}
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if n := d.Name(); path != root && (strings.HasPrefix(n, ".") || n == "testdata" || n == "node_modules") {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(token.NewFileSet(), path, nil, parser.SkipObjectResolution)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		rel = filepath.ToSlash(rel)
		// The name nn goes by in this file ("" inside package nn).
		qual := "-"
		if f.Name.Name == "nn" && strings.HasPrefix(rel, "nn/") && strings.Count(rel, "/") == 1 {
			qual = ""
		}
		for _, im := range f.Imports {
			if p, _ := strconv.Unquote(im.Path.Value); p == "github.com/tinyqat/tinyqat/nn" {
				qual = "nn"
				if im.Name != nil {
					qual = im.Name.Name
				}
			}
		}
		if qual == "-" {
			return nil
		}
		isLayer := func(e ast.Expr) bool {
			if st, ok := e.(*ast.StarExpr); ok {
				e = st.X
			}
			switch e := e.(type) {
			case *ast.Ident:
				return qual == "" && names[e.Name]
			case *ast.SelectorExpr:
				x, ok := e.X.(*ast.Ident)
				return ok && qual != "" && x.Name == qual && names[e.Sel.Name]
			}
			return false
		}
		ast.Inspect(f, func(n ast.Node) bool {
			switch n := n.(type) {
			case *ast.TypeAssertExpr:
				if n.Type != nil && isLayer(n.Type) {
					counts[rel]++
				}
			case *ast.TypeSwitchStmt:
				for _, c := range n.Body.List {
					for _, e := range c.(*ast.CaseClause).List {
						if isLayer(e) {
							counts[rel]++
						}
					}
				}
			}
			return true
		})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return counts
}

// TestLayerTypesSwitchedOnInTwoPlaces (issue 19): every backend reads the
// lowered form (Model.Lower); only the lowering and the spec codec look
// at nn's layer types. The count covers type switch cases and type
// assertions on them, in every non-test Go file of the module.
func TestLayerTypesSwitchedOnInTwoPlaces(t *testing.T) {
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		t.Fatalf("module root: %v", err)
	}
	counts := layerTypeSwitches(t, root)
	var files []string
	for f := range counts {
		files = append(files, f)
	}
	sort.Strings(files)
	for _, f := range files {
		t.Logf("%-20s %d", f, counts[f])
		if !layerSwitchFiles[f] {
			t.Errorf("%s switches on (or asserts) nn layer types %d times: read the lowered form (Model.Lower) instead; see the package doc, \"Adding a layer kind\"", f, counts[f])
		}
	}
	// The test cannot pass vacuously: the lowering's view is found.
	if counts["nn/lower.go"] == 0 || counts["nn/spec.go"] == 0 {
		t.Errorf("found no layer type switch in nn/lower.go or nn/spec.go (%v): the count is broken", counts)
	}
}
