package api

import (
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"strings"
	"testing"
)

// Every handler reads its request body through Server.body (body.go), after
// authentication and within its route's limit: no source file of the
// package but body.go's requestStream touches Fiber's or fasthttp's body
// readers, which inflate without a cap or read before the route's checks.
// A handler added with c.Body(), BodyParser, FormValue and the like fails
// here, naming its place.
func TestBodiesReadThroughServerBody(t *testing.T) {
	forbidden := map[string]bool{"Body": true, "BodyRaw": true, "BodyParser": true, "FormValue": true, "FormFile": true,
		"MultipartForm": true, "PostBody": true, "PostArgs": true, "BodyStream": true, "RequestBodyStream": true,
		"BodyGunzip": true, "BodyInflate": true, "BodyUnbrotli": true, "BodyUncompressed": true}
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	checked := 0
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		checked++
		for _, decl := range f.Decls {
			fn, ok := decl.(*ast.FuncDecl)
			if !ok || fn.Body == nil {
				continue
			}
			if name == "body.go" && fn.Name.Name == "requestStream" {
				continue // the one reader of the raw stream
			}
			ast.Inspect(fn.Body, func(n ast.Node) bool {
				call, ok := n.(*ast.CallExpr)
				if !ok {
					return true
				}
				if sel, ok := call.Fun.(*ast.SelectorExpr); ok && forbidden[sel.Sel.Name] {
					t.Errorf("%s: %s calls .%s(): read request bodies through Server.body", fset.Position(call.Pos()), fn.Name.Name, sel.Sel.Name)
				}
				return true
			})
		}
	}
	if checked < 10 {
		t.Fatalf("checked %d files: run from the package directory", checked)
	}
}
