package nn

import "github.com/tinyqat/tinyqat/internal/nnref"

// The reference switch for other packages' tests (see Model.gorgoniaOps).
func init() {
	nnref.SetGorgoniaOps = func(m any, on bool) { m.(*Model).gorgoniaOps = on }
}
