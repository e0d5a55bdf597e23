//go:build amd64 && !purego

package infer

import "golang.org/x/sys/cpu"

//go:generate go run kernels_stem_gen.go

// stemKernels says whether the pixel-lane stem kernels run: they need
// AVX-512 VNNI (VPDPBUSD) and VBMI (VPERMI2B).
var stemKernels = cpu.X86.HasAVX512F && cpu.X86.HasAVX512BW && cpu.X86.HasAVX512VNNI && cpu.X86.HasAVX512VBMI

//go:noescape
func stemConvQ1(tile *uint32, src *uint8, w *int32, cf *int32, a *stemArgs)

//go:noescape
func stemConvQ2(tile *uint32, src *uint8, w *int32, cf *int32, a *stemArgs)

//go:noescape
func stemConvQ3(tile *uint32, src *uint8, w *int32, cf *int32, a *stemArgs)

//go:noescape
func stemConvQ4(tile *uint32, src *uint8, w *int32, cf *int32, a *stemArgs)

//go:noescape
func stemConvQ5(tile *uint32, src *uint8, w *int32, cf *int32, a *stemArgs)

//go:noescape
func stemConvQ6(tile *uint32, src *uint8, w *int32, cf *int32, a *stemArgs)

//go:noescape
func stemTranspose(dst *uint8, tile *uint32, a *stemArgs)

// stemConvQ is the kernels by channel quads (1…stemMaxQ).
var stemConvQ = [stemMaxQ]func(tile *uint32, src *uint8, w *int32, cf *int32, a *stemArgs){
	stemConvQ1, stemConvQ2, stemConvQ3, stemConvQ4, stemConvQ5, stemConvQ6}
