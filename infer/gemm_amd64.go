//go:build amd64 && !purego

package infer

import "golang.org/x/sys/cpu"

//go:generate go run gemm_gen.go gemm_gen_conv.go gemm_gen_avx2.go

var (
	levelVNNI = &level{name: "avx512vnni", boundary: boundaryAVX512,
		fast: &kernelSet{r: 8, p: 2, fn: kernelsVNNI}, exact: &kernelSet{r: 8, p: 2, fn: kernelsVNNI},
		conv: &convKernelSet{r: 8, p: 2, fn: kernelsVNNIConv}, convQ: &convQKernelSet{r: 8, p: 2, fn: kernelsVNNIConvQ},
		convQA: &convQAKernelSet{r: 8, p: 2, fn: kernelsVNNIConvQA}, k3: kernelsVNNIK3, k3a: kernelsVNNIK3A,
		pw: &pwKernelSet{fn: kernelsVNNIPW, fa: kernelsVNNIPWA, fn2: kernelsVNNIPW2, fa2: kernelsVNNIPWA2},
		q:  &kernelQSet{r: 8, p: 2, fn: kernelsVNNIQ}}
	// levelAVX512 is AVX-512 without VNNI: the AVX2 GEMM kernels, the
	// AVX-512 boundary kernels.
	levelAVX512 = &level{name: "avx512", boundary: boundaryAVX512,
		fast: levelAVX2.fast, exact: levelAVX2.exact, exact2: levelAVX2.exact2, sconv: levelAVX2.sconv, sconvQ: levelAVX2.sconvQ, fconv: levelAVX2.fconv, fconvQ: levelAVX2.fconvQ}
	levelAVX2 = &level{name: "avx2", boundary: boundaryAVX2,
		fast:   &kernelSet{r: 4, p: 1, fn: kernelsAVX2, q: &kernelQSet{r: 4, p: 1, fn: kernelsAVX2Q}},
		exact:  &kernelSet{r: 2, p: 1, fn: kernelsAVX2Split, q: &kernelQSet{r: 2, p: 1, fn: kernelsAVX2SplitQ}},
		exact2: &kernelSet{r: 4, p: 1, fn: kernelsAVX2Sign, signed: true, q: &kernelQSet{r: 4, p: 1, fn: kernelsAVX2SignQ, signed: true}},
		sconv:  &convKernelSet{r: 4, p: 1, pre: kernelsAVX2SignPre, signed: true},
		sconvQ: &convQKernelSet{r: 4, p: 1, pre: kernelsAVX2SignPreQ, signed: true, wholePanels: true},
		fconv:  &convKernelSet{r: 4, p: 1, fn: kernelsAVX2Conv},
		fconvQ: &convQKernelSet{r: 4, p: 1, fn: kernelsAVX2ConvQ, wholePanels: true}}
)

// availableLevels lists the levels this CPU runs, best first; the
// portable Go level is always last. The Go assembler has no VEX encoding
// of VPDPBUSD, so AVX-VNNI (VEX) parts without AVX-512 run the AVX2 level.
// The AVX-512 boundary kernels need F and BW (the byte-masked pooling).
func availableLevels() []*level {
	var lv []*level
	x := cpu.X86
	avx512 := x.HasAVX512F && x.HasAVX512BW
	if avx512 && x.HasAVX512VL && x.HasAVX512VNNI {
		lv = append(lv, levelVNNI)
	}
	if avx512 {
		lv = append(lv, levelAVX512)
	}
	if x.HasAVX2 {
		lv = append(lv, levelAVX2)
	}
	return append(lv, goLevel)
}
