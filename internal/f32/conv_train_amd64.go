//go:build amd64 && !purego

package f32

// rowSums8SSE is rowSums8K in SSE (amd64's baseline): one 4-lane register
// per row, ADDPS adding each lane as the scalar addition does.
//
//go:noescape
func rowSums8SSE(x *float32, stride, n4 int, lanes *[32]float32)

func init() { rowSums8K = rowSums8SSE }
