//go:build amd64 && !purego

package infer

import "golang.org/x/sys/cpu"

//go:generate go run gemm_gen.go

var (
	levelVNNI = &level{name: "avx512vnni",
		fast: &kernelSet{r: 8, p: 2, fn: kernelsVNNI}, exact: &kernelSet{r: 8, p: 2, fn: kernelsVNNI},
		conv: &convKernelSet{r: 8, p: 2, fn: kernelsVNNIConv}, convQ: &convQKernelSet{r: 8, p: 2, fn: kernelsVNNIConvQ},
		q: &kernelQSet{r: 8, p: 2, fn: kernelsVNNIQ}}
	levelAVX2 = &level{name: "avx2",
		fast: &kernelSet{r: 4, p: 1, fn: kernelsAVX2}, exact: &kernelSet{r: 2, p: 1, fn: kernelsAVX2Split},
		exact2: &kernelSet{r: 4, p: 1, fn: kernelsAVX2Sign, signed: true}}
)

// availableLevels lists the kernel levels this CPU runs, best first; the
// portable Go level is always last. The Go assembler has no VEX encoding
// of VPDPBUSD, so AVX-VNNI (VEX) parts without AVX-512 run the AVX2 level.
func availableLevels() []*level {
	var lv []*level
	x := cpu.X86
	if x.HasAVX512F && x.HasAVX512BW && x.HasAVX512VL && x.HasAVX512VNNI {
		lv = append(lv, levelVNNI)
	}
	if x.HasAVX2 {
		lv = append(lv, levelAVX2)
	}
	return append(lv, goLevel)
}
