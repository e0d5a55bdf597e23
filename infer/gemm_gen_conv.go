//go:build ignore

// The generator's convolution epilogues and kernels beyond the GEMM
// (run with gemm_gen.go, see there): the 32-bit requantization, the
// fused residual add and the 3×3 kernels that reuse input broadcasts.

package main

import (
	"bytes"
	"fmt"
)

// requant32Store is requantStore's epilogue in the 32-bit form
// (requant32.go: acc·M0 as acc·Mh + (acc·Ml >> 12) and the low 12 bits,
// the rounding on 16 lanes at once), at label rq32 with the constants
// at R9 (vectors 13–21 of each panel's block).
//
// With add, the clamped bytes go into addEpilogue: the shortcut at R12
// (R11 bytes a row), the add's constants at BX.
func requant32Store(b *bytes.Buffer, sh shape, acc func(r, p int) string, add bool) {
	b.WriteString("\nrq32:\n")
	storeRows(b, sh, acc, add, func(a string, r int, v func(int) string) {
		t, m := fmt.Sprintf("Z%d", 28+r%2), fmt.Sprintf("Z%d", 24+r%2)
		fmt.Fprintf(b, "\tVPMULLD %s, %s, %s\n\tVPMULLD %s, %s, %s\n", v(13), a, t, v(14), a, a)
		fmt.Fprintf(b, "\tVPANDD %s, %s, %s\n\tVPSRAD $12, %s, %s\n\tVPADDD %s, %s, %s\n", v(18), t, m, t, t, t, a, a)
		fmt.Fprintf(b, "\tVPTESTMD %s, %s, K3\n\tVPTESTMD %s, %s, K4\n\tKORW K3, K4, K3\n", m, m, v(17), a)
		fmt.Fprintf(b, "\tVPADDD %s, %s, %s\n\tVPADDD %s, %s, K3, %s\n\tVPSRAVD %s, %s, %s\n", v(16), a, a, v(21), a, a, v(15), a, a)
		fmt.Fprintf(b, "\tVPADDD %s, %s, %s\n\tVPMAXSD %s, %s, %s\n\tVPMINSD %s, %s, %s\n", v(10), a, a, v(19), a, a, v(20), a, a)
	})
}

// storeRows writes an AVX-512 epilogue's walk over the tile: for each
// panel p (its constants at p·rqPanel(R9)) and row r (output at DX, R10
// plus r rows of R11 bytes; with add, the shortcut at SI likewise from
// R12), body turns the accumulator acc(r, p) into int32 outputs with the
// panel's constant vector v(i); then the residual add (with add) and the
// masked byte store. It ends the function.
func storeRows(b *bytes.Buffer, sh shape, acc func(r, p int) string, add bool, body func(a string, r int, v func(int) string)) {
	for p := 0; p < sh.p; p++ {
		base := p * rqPanel
		v := func(i int) string { return fmt.Sprintf("%d(R9)", base+64*i) }
		fmt.Fprintf(b, "\tKMOVW %s, K2\n\tMOVQ R10, DX\n", v(12))
		if add {
			b.WriteString("\tMOVQ R12, SI\n")
		}
		for r := 0; r < sh.r; r++ {
			if r > 0 {
				b.WriteString("\tADDQ R11, DX\n")
				if add {
					b.WriteString("\tADDQ R11, SI\n")
				}
			}
			a := acc(r, p)
			body(a, r, v)
			if add {
				addEpilogue(b, a, 16*p, func(i int) string { return fmt.Sprintf("%d(BX)", 64*i) })
			}
			fmt.Fprintf(b, "\tVPMOVDB %s, K2, %d(DX)\n", a, 16*p)
		}
	}
	b.WriteString("\tVZEROUPPER\n\tRET\n")
}

// requantClampStore is requantStore's epilogue in the clamped form
// (requant32.go: requantClamp, the accumulator clamped to [L, H], then
// (acc·Mh + (acc·Ml >> 12) + C) >> k with Z in C and no clamp after), at
// label rqc with the constants at R9 (vectors 22–27 of each panel's
// block); with add, as requant32Store. The loop's weights and
// broadcasts are dead by then (every kernel's accumulators are
// Z0…Z15 at most): each panel's six constants are loaded into Z18–Z23
// once, and the add's first six into Z24–Z27, Z30, Z31, instead of a
// memory operand a row.
func requantClampStore(b *bytes.Buffer, sh shape, acc func(r, p int) string, add bool) {
	b.WriteString("\nrqc:\n")
	av := func(i int) string { return fmt.Sprintf("%d(BX)", 64*i) }
	if add {
		regs := []string{"Z24", "Z25", "Z26", "Z27", "Z30", "Z31"}
		for i, z := range regs {
			fmt.Fprintf(b, "\tVMOVDQU32 %s, %s\n", av(i), z)
		}
		av = func(i int) string {
			if i < len(regs) {
				return regs[i]
			}
			return fmt.Sprintf("%d(BX)", 64*i)
		}
	}
	for p := 0; p < sh.p; p++ {
		base := p * rqPanel
		v := func(i int) string { return fmt.Sprintf("%d(R9)", base+64*i) }
		for i := 0; i < 6; i++ {
			fmt.Fprintf(b, "\tVMOVDQU32 %s, Z%d\n", v(22+i), 18+i)
		}
		fmt.Fprintf(b, "\tKMOVW %s, K2\n\tMOVQ R10, DX\n", v(12))
		if add {
			b.WriteString("\tMOVQ R12, SI\n")
		}
		for r := 0; r < sh.r; r++ {
			if r > 0 {
				b.WriteString("\tADDQ R11, DX\n")
				if add {
					b.WriteString("\tADDQ R11, SI\n")
				}
			}
			a, t := acc(r, p), fmt.Sprintf("Z%d", 28+r%2)
			fmt.Fprintf(b, "\tVPMAXSD Z18, %s, %s\n\tVPMINSD Z19, %s, %s\n", a, a, a, a)
			fmt.Fprintf(b, "\tVPMULLD Z20, %s, %s\n\tVPMULLD Z21, %s, %s\n", a, t, a, a)
			fmt.Fprintf(b, "\tVPSRAD $12, %s, %s\n\tVPADDD %s, %s, %s\n\tVPADDD Z22, %s, %s\n\tVPSRAVD Z23, %s, %s\n", t, t, t, a, a, a, a, a, a)
			if add {
				addEpilogue(b, a, 16*p, av)
			}
			fmt.Fprintf(b, "\tVPMOVDB %s, K2, %d(DX)\n", a, 16*p)
		}
	}
	b.WriteString("\tVZEROUPPER\n\tRET\n")
}

// addEpilogue turns the convolution's requantized bytes ub, in the 16
// dword lanes of a (the clamped values, + Z), into the residual add's
// bytes (addW in gemm_add.go): the shortcut's bytes ua (16 at off(SI),
// masked by K2, zero-extended) and ub packed as the two words of each
// lane, then
//
//	L = ua·Al + ub·Bl + Kl   (VPMADDWD)
//	T = ua·Ah + ub·Bh + Kh + L>>16   (VPMADDWD)
//
// T >> s, + z and the clamp. The constants are an addW panel's 64-byte
// vectors Al|Bl, Ah|Bh, Kl, Kh, s, z, lo, hi, operand v(i) (at BX, or
// in registers). Z16 and Z17 are scratch.
func addEpilogue(b *bytes.Buffer, a string, off int, v func(int) string) {
	fmt.Fprintf(b, "\tVPMOVZXBD.Z %d(SI), K2, Z16\n\tVPSLLD $16, %s, %s\n\tVPORD Z16, %s, %s\n", off, a, a, a, a)
	fmt.Fprintf(b, "\tVPMADDWD %s, %s, Z17\n\tVPMADDWD %s, %s, %s\n", v(0), a, v(1), a, a)
	fmt.Fprintf(b, "\tVPADDD %s, Z17, Z17\n\tVPSRAD $16, Z17, Z17\n\tVPADDD Z17, %s, %s\n\tVPADDD %s, %s, %s\n", v(2), a, a, v(3), a, a)
	fmt.Fprintf(b, "\tVPSRAVD %s, %s, %s\n\tVPADDD %s, %s, %s\n\tVPMAXSD %s, %s, %s\n\tVPMINSD %s, %s, %s\n", v(4), a, a, v(5), a, a, v(6), a, a, v(7), a, a)
}

// vnniConvQA is vnniConvQ with the residual add fused after the
// requantization (requantAddStore): the bytes stored are the add's.
func vnniConvQA(b *bytes.Buffer, sh shape) {
	acc := vnniLoadBias(b, sh)
	b.WriteString("\nseg:\n\tMOVQ groups+56(FP), CX\n\nloop:\n")
	vnniGroup(b, sh, acc)
	b.WriteString("\tADDQ $4, SI\n\tADDQ $4, R12\n\tADDQ $4, R13\n\tADDQ $64, DI\n\tDECQ CX\n\tJNZ loop\n")
	b.WriteString("\tADDQ AX, SI\n\tADDQ AX, R12\n\tADDQ AX, R13\n\tDECQ R14\n\tJNZ seg\n\tMOVQ R10, DX\n")
	requantAddStore(b, sh, acc, 80, 88)
}

// k3Channels are the input channel counts of the VNNIK3 kernels, and
// k3MaxR[p−1] their most output pixels with p panels (accumulators
// Z0…Z(r·p−1) below the broadcasts and weights).
var (
	k3Channels = []int{16, 32, 64}
	k3MaxR     = []int{14, 8}
)

// vnniK3 is a fused 3×3 convolution kernel on c input channels and p
// panels of 16 outputs whose accumulators are r adjacent output pixels
// of one row, stride st: each input pixel's 4-byte group is broadcast
// once and multiplied with the weights of every kernel column it meets
// (up to 3 outputs, 2 at stride 2), where the implicit-im2col kernels
// broadcast it once per output pixel. The input row pointer u is the
// top-left of output 0's receptive field in a channels-last image (c
// bytes a pixel), rowStride bytes between image rows; w is p panels of
// packWeights (144·c bytes apart) with columns in (ky, kx, ci) order
// (convPerm): the group of channels 4g…4g+3 at kernel (ky, kx) is at
// 64·((3ky + kx)·c/4 + g) in its panel. The requantization is
// requantStore's. Integer sums are exact, so the order of the products
// does not matter: gemmConvPackedQ is its reference twin
// (TestK3MatchesConvQ).
//
// With add, the residual add is fused after the requantization
// (requantAddStore; arguments sa and av after rq).
func vnniK3(b *bytes.Buffer, r, st, c, p int, add bool) {
	cg, ldw := c/4, 144*c
	fmt.Fprintf(b, "\tMOVQ u+0(FP), SI\n\tMOVQ w+8(FP), DI\n\tMOVQ bias+16(FP), R9\n\tMOVQ dst+24(FP), R10\n\tMOVQ ldd+32(FP), R11\n\tMOVQ rowStride+40(FP), AX\n\tSUBQ $%d, AX\n", c)
	acc := func(j, q int) string { return fmt.Sprintf("Z%d", j*p+q) }
	wreg := func(kx, q int) string { return fmt.Sprintf("Z%d", 32-3*p+kx*p+q) }
	for q := 0; q < p; q++ {
		fmt.Fprintf(b, "\tVMOVDQU32 %d(R9), %s\n", 64*q, acc(0, q))
		for j := 1; j < r; j++ {
			fmt.Fprintf(b, "\tVMOVDQA32 %s, %s\n", acc(0, q), acc(j, q))
		}
	}
	// With few accumulators (r·p ≤ 10) each one's chain of VPDPBUSDs,
	// three a group, would leave the multipliers waiting on its
	// latency: the even groups go to Z0… and the odd ones to a second
	// set from Z(r·p) on (started at zero, added in after the loop; the
	// sums wrap the same in any order). cg is even for every channel
	// count.
	sets := 1
	if r*p <= 10 && cg%2 == 0 {
		sets = 2
		for j := 0; j < r; j++ {
			for q := 0; q < p; q++ {
				z := fmt.Sprintf("Z%d", r*p+j*p+q)
				fmt.Fprintf(b, "\tVPXORD %s, %s, %s\n", z, z, z)
			}
		}
	}
	fmt.Fprintf(b, "\tMOVQ $3, R14\n\nky:\n\tMOVQ $%d, CX\n\ngroup:\n", cg/sets)
	for set := 0; set < sets; set++ {
		into := func(j, q int) string { return fmt.Sprintf("Z%d", set*r*p+j*p+q) }
		for kx := 0; kx < 3; kx++ {
			for q := 0; q < p; q++ {
				fmt.Fprintf(b, "\tVMOVDQU32 %d(DI), %s\n", 64*set+64*kx*cg+ldw*q, wreg(kx, q))
			}
		}
		for x := 0; x <= (r-1)*st+2; x++ {
			bc := fmt.Sprintf("Z%d", 32-3*p-3+x%3)
			fmt.Fprintf(b, "\tVPBROADCASTD %d(SI), %s\n", 4*set+c*x, bc)
			for kx := 0; kx < 3; kx++ {
				if x < kx || (x-kx)%st != 0 {
					continue
				}
				if j := (x - kx) / st; j < r {
					for q := 0; q < p; q++ {
						fmt.Fprintf(b, "\tVPDPBUSD %s, %s, %s\n", wreg(kx, q), bc, into(j, q))
					}
				}
			}
		}
	}
	fmt.Fprintf(b, "\tADDQ $%d, SI\n\tADDQ $%d, DI\n\tDECQ CX\n\tJNZ group\n\tADDQ AX, SI\n\tADDQ $%d, DI\n\tDECQ R14\n\tJNZ ky\n", 4*sets, 64*sets, 128*cg)
	if sets == 2 {
		for j := 0; j < r; j++ {
			for q := 0; q < p; q++ {
				fmt.Fprintf(b, "\tVPADDD Z%d, %s, %s\n", r*p+j*p+q, acc(j, q), acc(j, q))
			}
		}
	}
	b.WriteString("\tMOVQ R10, DX\n")
	addOff := 0
	if add {
		addOff = 56
	}
	requantAddStore(b, shape{r, p}, acc, 48, addOff)
}

// avx2Requant32Store is requantStore and requant32Store on AVX2 for the
// AVX2 kernels' accumulators (acc(r, h): row r, channels 8h…8h+7 of the
// one panel), with the constants at rq (frame offset rqOff: R9; the bias is no longer
// needed); each 64-byte vector of the constants is two ymm halves. The
// 64-bit form is requantU8AVX2's (kernels_requant_amd64.s: the even and
// the odd channels' exact products, the odd bit for ties, the
// arithmetic shift as a logical one of the sign-flipped value, the clamp
// to [lo − Z, hi − Z] by compare and blend, the odd dwords blended back,
// + Z); the 32-bit form, at label rq32, requant32Store's, the carry c =
// 1 − [rem = 0 and bit k of T clear] by VPCMPEQD against zero. The two
// halves of a row are packed to 16 bytes (VPACKUSDW, VPERMQ, VPACKUSWB:
// the values are in [0, 255] after the clamp) and stored whole: the
// caller runs these kernels only on whole panels (m a multiple of 16).
// Y8–Y15 are scratch.
func avx2Requant32Store(b *bytes.Buffer, sh shape, acc func(r, h int) string, rqOff int) {
	pack := func(r int) {
		fmt.Fprintf(b, "\tVPACKUSDW %s, %s, Y8\n\tVPERMQ $0xd8, Y8, Y8\n\tVEXTRACTI128 $1, Y8, X9\n\tVPACKUSWB X9, X8, X8\n\tVMOVDQU X8, (DX)\n", acc(r, 1), acc(r, 0))
	}
	// eachRow requantizes every row's two accumulator halves with half
	// (v: the half's parameter vector i, a: its register) and stores the
	// row's bytes; DX walks the output rows from R10 by R11.
	eachRow := func(half func(v func(int) string, a string)) {
		b.WriteString("\tMOVQ R10, DX\n")
		for r := 0; r < sh.r; r++ {
			if r > 0 {
				b.WriteString("\tADDQ R11, DX\n")
			}
			for h := 0; h < 2; h++ {
				half(func(i int) string { return fmt.Sprintf("%d(R9)", 64*i+32*h) }, acc(r, h))
			}
			pack(r)
		}
	}
	// The 64-bit form: Y11 zero, Y12 qword ones, Y13 2^63, Y14 lo − Z,
	// Y15 hi − Z (the same in every lane).
	fmt.Fprintf(b, "\tMOVQ rq+%d(FP), R9\n\tCMPQ %d(R9), $0\n\tJNE rqc\n\tCMPQ %d(R9), $0\n\tJNE rq32\n", rqOff, 12*64+16, 12*64+8)
	b.WriteString("\tVPXOR Y11, Y11, Y11\n\tVPCMPEQQ Y12, Y12, Y12\n\tVPSRLQ $63, Y12, Y12\n\tVPSLLQ $63, Y12, Y13\n\tVMOVDQU 512(R9), Y14\n\tVMOVDQU 576(R9), Y15\n")
	eachRow(func(v func(int) string, a string) {
		fmt.Fprintf(b, "\tVPSRLQ $32, %s, Y8\n", a)
		for e, x := range []string{a, "Y8"} {
			fmt.Fprintf(b, "\tVPMULDQ %s, %s, %s\n\tVPAND %s, %s, Y9\n\tVPCMPEQQ Y11, Y9, Y9\n\tVPADDQ Y12, Y9, Y9\n", v(0+e), x, x, v(6+e), x)
			fmt.Fprintf(b, "\tVPADDQ Y9, %s, %s\n\tVPADDQ %s, %s, %s\n\tVPXOR Y13, %s, %s\n", x, x, v(4+e), x, x, x, x)
			fmt.Fprintf(b, "\tVPSRLVQ %s, %s, %s\n\tVPSRLVQ %s, Y13, Y10\n\tVPSUBQ Y10, %s, %s\n", v(2+e), x, x, v(2+e), x, x)
			fmt.Fprintf(b, "\tVPCMPGTQ Y14, %s, Y9\n\tVPBLENDVB Y9, %s, Y14, %s\n\tVPCMPGTQ Y15, %s, Y9\n\tVPBLENDVB Y9, Y15, %s, %s\n", x, x, x, x, x, x)
		}
		fmt.Fprintf(b, "\tVPSLLQ $32, Y8, Y8\n\tVPBLENDD $0xaa, Y8, %s, %s\n\tVPADDD %s, %s, %s\n", a, a, v(10), a, a)
	})
	b.WriteString("\tVZEROUPPER\n\tRET\n\nrq32:\n")
	b.WriteString("\tVPXOR Y11, Y11, Y11\n\tVPCMPEQD Y12, Y12, Y12\n\tVPSRLD $31, Y12, Y12\n")
	eachRow(func(v func(int) string, a string) {
		fmt.Fprintf(b, "\tVPMULLD %s, %s, Y8\n\tVPMULLD %s, %s, %s\n", v(13), a, v(14), a, a)
		fmt.Fprintf(b, "\tVPAND %s, Y8, Y9\n\tVPSRAD $12, Y8, Y8\n\tVPADDD Y8, %s, %s\n", v(18), a, a)
		fmt.Fprintf(b, "\tVPAND %s, %s, Y10\n\tVPOR Y9, Y10, Y10\n\tVPCMPEQD Y11, Y10, Y10\n\tVPADDD Y12, Y10, Y10\n", v(17), a)
		fmt.Fprintf(b, "\tVPADDD %s, %s, %s\n\tVPADDD Y10, %s, %s\n\tVPSRAVD %s, %s, %s\n", v(16), a, a, a, a, v(15), a, a)
		fmt.Fprintf(b, "\tVPADDD %s, %s, %s\n\tVPMAXSD %s, %s, %s\n\tVPMINSD %s, %s, %s\n", v(10), a, a, v(19), a, a, v(20), a, a)
	})
	// The clamped form (requantClampStore).
	b.WriteString("\tVZEROUPPER\n\tRET\n\nrqc:\n")
	eachRow(func(v func(int) string, a string) {
		fmt.Fprintf(b, "\tVPMAXSD %s, %s, %s\n\tVPMINSD %s, %s, %s\n", v(22), a, a, v(23), a, a)
		fmt.Fprintf(b, "\tVPMULLD %s, %s, Y8\n\tVPMULLD %s, %s, %s\n", v(24), a, v(25), a, a)
		fmt.Fprintf(b, "\tVPSRAD $12, Y8, Y8\n\tVPADDD Y8, %s, %s\n\tVPADDD %s, %s, %s\n\tVPSRAVD %s, %s, %s\n", a, a, v(26), a, a, v(27), a, a)
	})
	b.WriteString("\tVZEROUPPER\n\tRET\n")
}

// pwMaxR is the most output pixels of a VNNIPW tile (accumulators
// Z0…Z7).
const pwMaxR = 8

// vnniPW is a fused 1×1 convolution kernel of any stride on one panel of
// 16 output channels, over a whole image (or any grid of pixels oh rows
// of a constant pitch): output row y's pixels x are the 4·groups-byte
// rows at u + y·row + x·pix, in tiles+1 tiles of r pixels, the last of
// t (t = 0: none), and the output pixels (and with add the shortcut's)
// follow each other ldd bytes apart from dst (sa). With the constants
// kept in registers for the whole call, its epilogue is
// requantClampStore's (the clamped form only: the caller checks it is
// set) and, with add, addEpilogue's, in registers: Z8–Z13 the clamped
// form, Z14 the bias, Z18–Z25 the add's panel, Z16, Z17, Z26, Z27
// scratch, Z28 and Z29 the broadcasts, Z30 the weights. Integer sums are
// exact: gemmConvPackedQ (QA) with one segment a row is its reference
// twin (TestPWConvMatchesConvQ).
//
// Frame: u+0 pix+8 row+16 w+24 bias+32 dst+40 ldd+48 groups+56 oh+64
// tiles+72 rq+80, with add sa+88 av+96. Registers: R8 the image row,
// R9 the rows left, R14 the tiles left, SI the tile's first pixel
// (R12, R13 three and six pixels on, BX = pix), DI the weights, R15
// their start, CX the groups left, DX (R10) the output (shortcut)
// pixel, R11 = ldd, AX the tile's first pixel while it runs.
func vnniPW(b *bytes.Buffer, r, t int, add bool) {
	pwPrologue(b, add)
	b.WriteString("\tMOVQ u+0(FP), R8\n\tMOVQ oh+64(FP), R9\n\nrow:\n\tMOVQ R8, SI\n\tMOVQ tiles+72(FP), R14\n\tTESTQ R14, R14\n\tJZ tail\n\ntile:\n")
	pwTile(b, r, "f", add)
	// The next tile's first pixel: r pixels on.
	if r == 8 {
		b.WriteString("\tLEAQ (AX)(BX*8), SI\n")
	} else {
		for i := 0; i < r; i++ {
			b.WriteString("\tADDQ BX, AX\n")
		}
		b.WriteString("\tMOVQ AX, SI\n")
	}
	b.WriteString("\tDECQ R14\n\tJNZ tile\n\ntail:\n")
	if t > 0 {
		pwTile(b, t, "t", add)
	}
	b.WriteString("\tADDQ row+16(FP), R8\n\tDECQ R9\n\tJNZ row\n\tVZEROUPPER\n\tRET\n")
}

// vnniPW2 is vnniPW for rows of ow = 2 to 4 pixels: a tile is two rows'
// 2·ow pixels, the first row's from SI, the second's from R12 (row bytes
// on), the fourth pixel of each (ow = 4) from R13 and R14; oh counts the
// pairs of rows (tiles is not read).
func vnniPW2(b *bytes.Buffer, ow int, add bool) {
	pwPrologue(b, add)
	b.WriteString("\tMOVQ u+0(FP), R8\n\tMOVQ oh+64(FP), R9\n\nrow:\n\tMOVQ R8, SI\n\tMOVQ R8, R12\n\tADDQ row+16(FP), R12\n")
	ptrs := []string{"SI", "R12"}
	if ow == 4 {
		b.WriteString("\tLEAQ (SI)(BX*2), R13\n\tADDQ BX, R13\n\tLEAQ (R12)(BX*2), R14\n\tADDQ BX, R14\n")
		ptrs = append(ptrs, "R13", "R14")
	}
	addr := func(i int) string {
		base, col := ptrs[i/ow], i%ow
		switch col {
		case 0:
			return "(" + base + ")"
		case 1:
			return "(" + base + ")(BX*1)"
		case 2:
			return "(" + base + ")(BX*2)"
		}
		return "(" + ptrs[2+i/ow] + ")"
	}
	pwTileBody(b, 2*ow, "p", add, addr, ptrs)
	b.WriteString("\tADDQ row+16(FP), R8\n\tADDQ row+16(FP), R8\n\tDECQ R9\n\tJNZ row\n\tVZEROUPPER\n\tRET\n")
}

// pwPrologue loads the VNNIPW kernels' constants and pointers (see
// vnniPW).
func pwPrologue(b *bytes.Buffer, add bool) {
	b.WriteString("\tMOVQ rq+80(FP), AX\n\tKMOVW 768(AX), K2\n")
	for i := 0; i < 6; i++ {
		fmt.Fprintf(b, "\tVMOVDQU32 %d(AX), Z%d\n", 64*(22+i), 8+i)
	}
	b.WriteString("\tMOVQ bias+32(FP), AX\n\tVMOVDQU32 (AX), Z14\n")
	if add {
		b.WriteString("\tMOVQ av+96(FP), AX\n")
		for i := 0; i < 8; i++ {
			fmt.Fprintf(b, "\tVMOVDQU32 %d(AX), Z%d\n", 64*i, 18+i)
		}
		b.WriteString("\tMOVQ sa+88(FP), R10\n")
	}
	b.WriteString("\tMOVQ pix+8(FP), BX\n\tMOVQ w+24(FP), R15\n\tMOVQ dst+40(FP), DX\n\tMOVQ ldd+48(FP), R11\n")
}

// pwTile is one tile of vnniPW: n pixels from SI, every group of the
// panel, then the epilogue and the n stores; sfx tells its labels
// apart. It leaves the tile's first pixel in AX.
func pwTile(b *bytes.Buffer, n int, sfx string, add bool) {
	b.WriteString("\tMOVQ SI, AX\n\tLEAQ (SI)(BX*2), R12\n\tADDQ BX, R12\n\tLEAQ (R12)(BX*2), R13\n\tADDQ BX, R13\n")
	pwTileBody(b, n, sfx, add, rowAddr, []string{"SI", "R12", "R13"})
}

// pwTileBody is a VNNIPW tile once its pixel pointers are set: pixel i
// of the n at addr(i), the pointers ptrs advanced a group at a time.
func pwTileBody(b *bytes.Buffer, n int, sfx string, add bool, addr func(i int) string, ptrs []string) {
	for i := 0; i < n; i++ {
		fmt.Fprintf(b, "\tVMOVDQA32 Z14, Z%d\n", i)
	}
	fmt.Fprintf(b, "\tMOVQ R15, DI\n\tMOVQ groups+56(FP), CX\n\ngroup%s:\n\tVMOVDQU32 (DI), Z30\n", sfx)
	for i := 0; i < n; i++ {
		bc := fmt.Sprintf("Z%d", 28+i%2)
		fmt.Fprintf(b, "\tVPBROADCASTD %s, %s\n\tVPDPBUSD Z30, %s, Z%d\n", addr(i), bc, bc, i)
	}
	for _, r := range ptrs {
		fmt.Fprintf(b, "\tADDQ $4, %s\n", r)
	}
	fmt.Fprintf(b, "\tADDQ $64, DI\n\tDECQ CX\n\tJNZ group%s\n", sfx)
	for i := 0; i < n; i++ {
		a, tr := fmt.Sprintf("Z%d", i), fmt.Sprintf("Z%d", 26+i%2)
		fmt.Fprintf(b, "\tVPMAXSD Z8, %s, %s\n\tVPMINSD Z9, %s, %s\n", a, a, a, a)
		fmt.Fprintf(b, "\tVPMULLD Z10, %s, %s\n\tVPMULLD Z11, %s, %s\n", a, tr, a, a)
		fmt.Fprintf(b, "\tVPSRAD $12, %s, %s\n\tVPADDD %s, %s, %s\n\tVPADDD Z12, %s, %s\n\tVPSRAVD Z13, %s, %s\n", tr, tr, tr, a, a, a, a, a, a)
		if add {
			fmt.Fprintf(b, "\tVPMOVZXBD.Z (R10), K2, Z16\n\tVPSLLD $16, %s, %s\n\tVPORD Z16, %s, %s\n", a, a, a, a)
			fmt.Fprintf(b, "\tVPMADDWD Z18, %s, Z17\n\tVPMADDWD Z19, %s, %s\n", a, a, a)
			fmt.Fprintf(b, "\tVPADDD Z20, Z17, Z17\n\tVPSRAD $16, Z17, Z17\n\tVPADDD Z17, %s, %s\n\tVPADDD Z21, %s, %s\n", a, a, a, a)
			fmt.Fprintf(b, "\tVPSRAVD Z22, %s, %s\n\tVPADDD Z23, %s, %s\n\tVPMAXSD Z24, %s, %s\n\tVPMINSD Z25, %s, %s\n", a, a, a, a, a, a, a, a)
			b.WriteString("\tADDQ R11, R10\n")
		}
		fmt.Fprintf(b, "\tVPMOVDB %s, K2, (DX)\n\tADDQ R11, DX\n", a)
	}
}
