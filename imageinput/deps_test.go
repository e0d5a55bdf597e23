package imageinput

import (
	"go/parser"
	"go/token"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestImports keeps the package deployable: its own files import the
// standard library, golang.org/x/image, tinyqat's runtime (infer) and
// internal/pixels (the training data's decoding, standard library only) only,
// never Gorgonia or training code. (infer's own dependency list is guarded
// by infer's tests.)
func TestImports(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		ast, err := parser.ParseFile(fset, f, nil, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		for _, im := range ast.Imports {
			p, _ := strconv.Unquote(im.Path.Value)
			first := strings.SplitN(p, "/", 2)[0]
			ok := !strings.Contains(first, ".") || // the standard library
				strings.HasPrefix(p, "golang.org/x/image/") || p == "github.com/tinyqat/tinyqat/infer" ||
				p == "github.com/tinyqat/tinyqat/internal/pixels"
			if !ok {
				t.Errorf("%s imports %s", f, p)
			}
		}
	}
}
