//go:build ignore

// The AVX2 kernels of gemm_gen.go (see there): the GEMM and implicit
// convolution kernels on VPMADDUBSW + VPMADDWD.

package main

import (
	"bytes"
	"fmt"
)

// avx2 emulates VPDPBUSD on 8 lanes: VPMADDUBSW multiplies u8×s8 and adds
// pairs into int16 with saturation, VPMADDWD by ones adds the two pairs of
// each group into int32. A pair sum stays in int16 only if
// u·(|w_a|+|w_b|) ≤ 32767: the plain kernels are used only for layers whose
// operand range and weights prove that (packWeights), the split kernels
// otherwise: u = 128·h + l with l ≤ 127 and h ≤ 1, so the pair sums are
// at most 2·127·128 = 32512 and 2·1·128 = 256 in magnitude, and the h part
// is scaled by 128 in VPMADDWD (into int32).
//
// Registers: Y15 = int16 ones; a panel is two ymm halves. Plain: the
// accumulators from Y0, weights Y13, Y14, broadcasts Y8, Y9, products
// Y10, Y11. Split: also Y14 = int16 128, Y13 = bytes 0x01, Y12 = bytes 0x7f;
// weights Y10, Y11, l and h in Y4, Y5, products Y6…Y9.
//
// With q, the requantization is fused in its 32-bit form
// (avx2Requant32Store) and the bytes stored.
func avx2(b *bytes.Buffer, sh shape, split, q, conv bool) {
	acc := func(r, h int) string { return fmt.Sprintf("Y%d", 2*r+h) }
	b.WriteString("\tVPCMPEQW Y15, Y15, Y15\n\tVPSRLW $15, Y15, Y15\n")
	wr := [2]string{"Y13", "Y14"}
	if split {
		b.WriteString("\tVPSLLW $7, Y15, Y14\n\tMOVL $0x01010101, AX\n\tVMOVD AX, X13\n\tVPBROADCASTD X13, Y13\n\tMOVL $0x7f7f7f7f, AX\n\tVMOVD AX, X12\n\tVPBROADCASTD X12, Y12\n")
		wr = [2]string{"Y10", "Y11"}
	}
	avx2Head(b, sh, acc, conv)
	for h := 0; h < 2; h++ {
		fmt.Fprintf(b, "\tVMOVDQU %s, %s\n", panelAddr(0, 32*h), wr[h])
	}
	for r := 0; r < sh.r; r++ {
		if !split {
			bc := fmt.Sprintf("Y%d", 8+r%2)
			fmt.Fprintf(b, "\tVPBROADCASTD %s, %s\n", rowAddr(r), bc)
			for h := 0; h < 2; h++ {
				t := fmt.Sprintf("Y%d", 10+h)
				fmt.Fprintf(b, "\tVPMADDUBSW %s, %s, %s\n\tVPMADDWD Y15, %s, %s\n\tVPADDD %s, %s, %s\n", wr[h], bc, t, t, t, t, acc(r, h), acc(r, h))
			}
			continue
		}
		fmt.Fprintf(b, "\tVPBROADCASTD %s, Y4\n\tVPSRLW $7, Y4, Y5\n\tVPAND Y13, Y5, Y5\n\tVPAND Y12, Y4, Y4\n", rowAddr(r))
		for h := 0; h < 2; h++ {
			tl, th := fmt.Sprintf("Y%d", 6+2*h), fmt.Sprintf("Y%d", 7+2*h)
			fmt.Fprintf(b, "\tVPMADDUBSW %s, Y4, %s\n\tVPMADDUBSW %s, Y5, %s\n", wr[h], tl, wr[h], th)
			fmt.Fprintf(b, "\tVPMADDWD Y15, %s, %s\n\tVPMADDWD Y14, %s, %s\n", tl, tl, th, th)
			fmt.Fprintf(b, "\tVPADDD %s, %s, %s\n\tVPADDD %s, %s, %s\n", tl, acc(r, h), acc(r, h), th, acc(r, h), acc(r, h))
		}
	}
	avx2Tail(b, sh, acc, q, conv, 80)
}

// avx2Sign is the exact AVX2 kernel with one VPMADDUBSW per step: it
// multiplies v = u − 128 (signed) as |v|·(sign(v)·w). VPABSB gives |v| ≤
// 128 as an unsigned byte and VPSIGNB negates each weight where v < 0 (and
// zeroes it where v = 0); for weights in [−127, 127] (packedWeights.no128:
// −128 would not negate) a pair sum is at most 2·128·127 = 32512 in
// magnitude. It computes Σ v·w, so it takes the bias plus 128·Σw
// (packedWeights.bias128).
//
// Registers: accumulators Y0…Y7 (two per row), v and |v| in Y8, Y9,
// products Y10, Y11, weights Y12, Y13, bytes 0x80 in Y14, int16 ones Y15.
//
// With pre (the AVX2SignPre kernels), the operands come signed already
// (signPlanes): u is the plane of v = u − 128 and u + plane the plane of
// |v|, so each group is two broadcasts and no XOR or absolute value; the
// rows are a convolution's implicit im2col rows, as the VNNIConv kernels
// read them (segs segments of groups 4-byte groups, skip bytes after the
// end of the one before: convPrologue), in both planes (prePrologue:
// R13 at row 0 of the |v| plane, DX = plane, rows 0–2 of it through R13
// and BX, row 3 at R12 + DX). With q, the requantization is fused
// (avx2Requant32Store, constants at rq: frame offset 64, or 88 with pre).
func avx2Sign(b *bytes.Buffer, sh shape, q, pre bool) {
	acc := func(r, h int) string { return fmt.Sprintf("Y%d", 2*r+h) }
	b.WriteString("\tVPCMPEQW Y15, Y15, Y15\n\tVPSRLW $15, Y15, Y15\n")
	if !pre {
		b.WriteString("\tMOVL $0x80808080, DX\n\tVMOVD DX, X14\n\tVPBROADCASTD X14, Y14\n")
	}
	avx2Head(b, sh, acc, pre)
	for h := 0; h < 2; h++ {
		fmt.Fprintf(b, "\tVMOVDQU %s, Y%d\n", panelAddr(0, 32*h), 12+h)
	}
	for r := 0; r < sh.r; r++ {
		if pre {
			abs := []string{"(R13)", "(R13)(BX*1)", "(R13)(BX*2)", "(R12)(DX*1)"}[r]
			fmt.Fprintf(b, "\tVPBROADCASTD %s, Y8\n\tVPBROADCASTD %s, Y9\n", rowAddr(r), abs)
		} else {
			fmt.Fprintf(b, "\tVPBROADCASTD %s, Y8\n\tVPXOR Y14, Y8, Y8\n\tVPABSB Y8, Y9\n", rowAddr(r))
		}
		for h := 0; h < 2; h++ {
			t := fmt.Sprintf("Y%d", 10+h)
			fmt.Fprintf(b, "\tVPSIGNB Y8, Y%d, %s\n\tVPMADDUBSW %s, Y9, %s\n\tVPMADDWD Y15, %s, %s\n\tVPADDD %s, %s, %s\n",
				12+h, t, t, t, t, t, t, acc(r, h), acc(r, h))
		}
	}
	avx2Tail(b, sh, acc, q, pre, 88)
}

// avx2Head starts the accumulators of an AVX2 kernel at the bias row and
// opens its group loop (32-byte aligned: the kernels' speed moved with
// the code around them otherwise), inside a segment loop for the
// implicit-im2col kernels (conv).
func avx2Head(b *bytes.Buffer, sh shape, acc func(r, h int) string, conv bool) {
	for r := 0; r < sh.r; r++ {
		fmt.Fprintf(b, "\tVMOVDQU (R9), %s\n\tVMOVDQU 32(R9), %s\n", acc(r, 0), acc(r, 1))
	}
	if conv {
		b.WriteString("\nseg:\n\tMOVQ groups+56(FP), CX\n")
	}
	b.WriteString("\n\tPCALIGN $32\nloop:\n")
}

// avx2Tail closes an AVX2 kernel's loops (advance, or convAdvance for
// the implicit-im2col kernels) and stores its rows: requantized with q
// (avx2Requant32Store, the constants at frame offset 64, or convRq for
// conv), else the accumulators, R11 bytes apart from DX.
func avx2Tail(b *bytes.Buffer, sh shape, acc func(r, h int) string, q, conv bool, convRq int) {
	rqOff := 64
	if conv {
		b.WriteString(convAdvance)
		rqOff = convRq
	} else {
		b.WriteString(advance)
	}
	if q {
		avx2Requant32Store(b, sh, acc, rqOff)
		return
	}
	for r := 0; r < sh.r; r++ {
		if r > 0 {
			b.WriteString("\tADDQ R11, DX\n")
		}
		fmt.Fprintf(b, "\tVMOVDQU %s, (DX)\n\tVMOVDQU %s, 32(DX)\n", acc(r, 0), acc(r, 1))
	}
	b.WriteString("\tVZEROUPPER\n\tRET\n")
}
