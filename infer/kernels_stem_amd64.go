//go:build amd64 && !purego

package infer

import "golang.org/x/sys/cpu"

//go:generate go run kernels_stem_gen.go

// stemKernels says whether the pixel-lane stem kernels run: they need
// AVX-512 VNNI (VPDPBUSD) and VBMI (VPERMI2B).
var stemKernels = cpu.X86.HasAVX512F && cpu.X86.HasAVX512BW && cpu.X86.HasAVX512VNNI && cpu.X86.HasAVX512VBMI

//go:noescape
func stemConv16Q1(tile *uint32, src *uint8, w *int32, cf *int32, a *stemArgs)

//go:noescape
func stemConv16Q1F(tile *uint32, src *uint8, w *int32, cf *int32, a *stemArgs)

//go:noescape
func stemConv16Q2(tile *uint32, src *uint8, w *int32, cf *int32, a *stemArgs)

//go:noescape
func stemConv16Q2F(tile *uint32, src *uint8, w *int32, cf *int32, a *stemArgs)

//go:noescape
func stemConv16Q3(tile *uint32, src *uint8, w *int32, cf *int32, a *stemArgs)

//go:noescape
func stemConv16Q3F(tile *uint32, src *uint8, w *int32, cf *int32, a *stemArgs)

//go:noescape
func stemConv32Q1(tile *uint32, src *uint8, w *int32, cf *int32, a *stemArgs)

//go:noescape
func stemConv32Q1F(tile *uint32, src *uint8, w *int32, cf *int32, a *stemArgs)

//go:noescape
func stemConv32Q2(tile *uint32, src *uint8, w *int32, cf *int32, a *stemArgs)

//go:noescape
func stemConv32Q2F(tile *uint32, src *uint8, w *int32, cf *int32, a *stemArgs)

//go:noescape
func stemConv32Q3(tile *uint32, src *uint8, w *int32, cf *int32, a *stemArgs)

//go:noescape
func stemConv32Q3F(tile *uint32, src *uint8, w *int32, cf *int32, a *stemArgs)

//go:noescape
func stemTranspose1(dst *uint8, tile *uint32, a *stemArgs)

//go:noescape
func stemTranspose2(dst *uint8, tile *uint32, a *stemArgs)

//go:noescape
func stemTranspose3(dst *uint8, tile *uint32, a *stemArgs)

//go:noescape
func stemTranspose4(dst *uint8, tile *uint32, a *stemArgs)

//go:noescape
func stemTranspose5(dst *uint8, tile *uint32, a *stemArgs)

//go:noescape
func stemTranspose6(dst *uint8, tile *uint32, a *stemArgs)

//go:noescape
func stemTranspose7(dst *uint8, tile *uint32, a *stemArgs)

//go:noescape
func stemTranspose8(dst *uint8, tile *uint32, a *stemArgs)

// stemConvQ is the kernels by window (16, 32), form (clamped, free) and
// channel quads (1…stemMaxQ).
var stemConvQ = [2][2][stemMaxQ]func(tile *uint32, src *uint8, w *int32, cf *int32, a *stemArgs){
	{{stemConv16Q1, stemConv16Q2, stemConv16Q3}, {stemConv16Q1F, stemConv16Q2F, stemConv16Q3F}},
	{{stemConv32Q1, stemConv32Q2, stemConv32Q3}, {stemConv32Q1F, stemConv32Q2F, stemConv32Q3F}},
}

// stemTranspose is the transposers by channel quads (1…8).
var stemTranspose = [8]func(dst *uint8, tile *uint32, a *stemArgs){
	stemTranspose1, stemTranspose2, stemTranspose3, stemTranspose4, stemTranspose5, stemTranspose6, stemTranspose7, stemTranspose8}
