package main

import (
	"go/parser"
	"go/token"
	"strconv"
	"strings"
	"testing"
)

// TestImportsRuntimeOnly keeps the example a deployment: it may import the
// standard library, the runtime (infer) and the image preprocessing
// (imageinput), nothing of the training stack.
func TestImportsRuntimeOnly(t *testing.T) {
	f, err := parser.ParseFile(token.NewFileSet(), "main.go", nil, parser.ImportsOnly)
	if err != nil {
		t.Fatal(err)
	}
	for _, im := range f.Imports {
		p, _ := strconv.Unquote(im.Path.Value)
		if strings.Contains(strings.SplitN(p, "/", 2)[0], ".") &&
			p != "github.com/tinyqat/tinyqat/infer" && p != "github.com/tinyqat/tinyqat/imageinput" {
			t.Errorf("main.go imports %s", p)
		}
	}
}
