package fakequant

import (
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"strings"
	"testing"
)

// TestNoQuantAliases: fakequant does not re-export package quant's names
// (one way to say each thing): no alias type, no constant copied from
// quant, no function that only forwards to quant, apart from the
// forwarders listed here, which other packages' tests still use.
func TestNoQuantAliases(t *testing.T) {
	allowed := map[string]bool{"Requantize": true}
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	parsed := 0
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		parsed++
		fromQuant := func(e ast.Expr) bool {
			for {
				switch x := e.(type) {
				case *ast.StarExpr:
					e = x.X
					continue
				case *ast.CallExpr:
					e = x.Fun
					continue
				case *ast.SelectorExpr:
					id, ok := x.X.(*ast.Ident)
					return ok && id.Name == "quant"
				}
				return false
			}
		}
		for _, d := range f.Decls {
			switch d := d.(type) {
			case *ast.GenDecl:
				for _, s := range d.Specs {
					switch s := s.(type) {
					case *ast.TypeSpec:
						if s.Assign.IsValid() && fromQuant(s.Type) {
							t.Errorf("%s: type %s is an alias of a quant type", name, s.Name)
						}
					case *ast.ValueSpec:
						for i, v := range s.Values {
							if sel, ok := v.(*ast.SelectorExpr); ok && fromQuant(sel) {
								t.Errorf("%s: %s copies %s from quant", name, s.Names[i], sel.Sel)
							}
						}
					}
				}
			case *ast.FuncDecl:
				if d.Recv != nil || d.Body == nil || len(d.Body.List) != 1 || allowed[d.Name.Name] {
					continue
				}
				var e ast.Expr
				switch st := d.Body.List[0].(type) {
				case *ast.ReturnStmt:
					if len(st.Results) == 1 {
						e = st.Results[0]
					}
				case *ast.ExprStmt:
					e = st.X
				}
				if c, ok := e.(*ast.CallExpr); ok && fromQuant(c) {
					t.Errorf("%s: %s only forwards to quant: call quant directly", name, d.Name)
				}
			}
		}
	}
	if parsed < 5 {
		t.Fatalf("parsed %d files: the test looks in the wrong place", parsed)
	}
}
