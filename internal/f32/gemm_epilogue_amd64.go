//go:build amd64 && !purego

package f32

// pickLevel is the level of the micro-kernel Gemm uses (active).
func pickLevel() level { return levelOf(active) }

// levelOf pairs a micro-kernel with its one-row twin.
func levelOf(k kernel) level {
	switch k.name {
	case avx512Kernel.name:
		return level{kern: k, row: rowAVX512}
	case avx2Kernel.name:
		return level{kern: k, row: rowAVX2}
	}
	return goLevel
}

// rowAVX512 is rowGo(32) with fused multiply-adds: four panels at a time
// (eight accumulators, one dependency chain per column), then one.
//
//go:noescape
func rowAVX512(k int, a, b *float32, panels int, c *float32, acc bool)

// rowAVX2 is rowGo(16) with fused multiply-adds, four panels at a time.
//
//go:noescape
func rowAVX2(k int, a, b *float32, panels int, c *float32, acc bool)
