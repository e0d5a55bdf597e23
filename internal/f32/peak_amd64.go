//go:build amd64 && !purego

package f32

import "golang.org/x/sys/cpu"

// peakFMA512 runs 16 chains of VFMADD231PS zmm (256 multiply-adds an
// iteration); peakFMA256 runs 12 chains on ymm (96). Both return lane 0
// of the first chain.
//
//go:noescape
func peakFMA512(a, b float32, iters int) float32

//go:noescape
func peakFMA256(a, b float32, iters int) float32

func peakLoopsAsm() []PeakLoop {
	var ls []PeakLoop
	if hasAVX512() {
		ls = append(ls, PeakLoop{Level: "avx512", FMAs: 16 * 16, Run: peakFMA512})
	}
	if cpu.X86.HasAVX2 && cpu.X86.HasFMA {
		ls = append(ls, PeakLoop{Level: "avx2", FMAs: 12 * 8, Run: peakFMA256})
	}
	return ls
}
