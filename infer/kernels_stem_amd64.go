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

// stemConv calls the kernel of window wd (16, 32), form (free or
// clamped) and q channel quads (1…stemMaxQ), directly: a call through a
// function value would make a escape to the heap.
func stemConv(wd int, free bool, q int, tile *uint32, src *uint8, w, cf *int32, a *stemArgs) {
	f := 0
	if free {
		f = 1
	}
	switch wd/32<<3 | f<<2 | q {
	case 0<<3 | 0<<2 | 1:
		stemConv16Q1(tile, src, w, cf, a)
	case 0<<3 | 0<<2 | 2:
		stemConv16Q2(tile, src, w, cf, a)
	case 0<<3 | 0<<2 | 3:
		stemConv16Q3(tile, src, w, cf, a)
	case 0<<3 | 1<<2 | 1:
		stemConv16Q1F(tile, src, w, cf, a)
	case 0<<3 | 1<<2 | 2:
		stemConv16Q2F(tile, src, w, cf, a)
	case 0<<3 | 1<<2 | 3:
		stemConv16Q3F(tile, src, w, cf, a)
	case 1<<3 | 0<<2 | 1:
		stemConv32Q1(tile, src, w, cf, a)
	case 1<<3 | 0<<2 | 2:
		stemConv32Q2(tile, src, w, cf, a)
	case 1<<3 | 0<<2 | 3:
		stemConv32Q3(tile, src, w, cf, a)
	case 1<<3 | 1<<2 | 1:
		stemConv32Q1F(tile, src, w, cf, a)
	case 1<<3 | 1<<2 | 2:
		stemConv32Q2F(tile, src, w, cf, a)
	case 1<<3 | 1<<2 | 3:
		stemConv32Q3F(tile, src, w, cf, a)
	default:
		panic("infer: stemConv: no kernel")
	}
}

// stemTranspose calls the transposer of nq channel quads (1…8).
func stemTranspose(nq int, dst *uint8, tile *uint32, a *stemArgs) {
	switch nq {
	case 1:
		stemTranspose1(dst, tile, a)
	case 2:
		stemTranspose2(dst, tile, a)
	case 3:
		stemTranspose3(dst, tile, a)
	case 4:
		stemTranspose4(dst, tile, a)
	case 5:
		stemTranspose5(dst, tile, a)
	case 6:
		stemTranspose6(dst, tile, a)
	case 7:
		stemTranspose7(dst, tile, a)
	case 8:
		stemTranspose8(dst, tile, a)
	default:
		panic("infer: stemTranspose: no kernel")
	}
}
