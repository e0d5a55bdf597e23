//go:build amd64 && !purego

#include "textflag.h"

#define DST DI
#define SRC SI
#define OFF R8
#define WTS R9
#define TAPS R10
#define CNT CX
#define T BX
#define P DX

// func dwSumAVX512(dst, src *float32, off *int, w *float32, taps, n int, init float32, acc bool)
TEXT ·dwSumAVX512(SB), NOSPLIT, $0-53
	MOVQ dst+0(FP), DST
	MOVQ src+8(FP), SRC
	MOVQ off+16(FP), OFF
	MOVQ w+24(FP), WTS
	MOVQ taps+32(FP), TAPS
	MOVQ n+40(FP), CNT
	VBROADCASTSS init+48(FP), Z8
	MOVBQZX acc+52(FP), R11

s512_block:
	TESTQ R11, R11
	JNZ   s512_load
	VMOVAPS Z8, Z0
	VMOVAPS Z8, Z1
	VMOVAPS Z8, Z2
	VMOVAPS Z8, Z3
	JMP     s512_taps

s512_load:
	VMOVUPS (DST), Z0
	VMOVUPS 64(DST), Z1
	VMOVUPS 128(DST), Z2
	VMOVUPS 192(DST), Z3

s512_taps:
	XORQ T, T

s512_tap:
	MOVQ         (OFF)(T*8), P
	LEAQ         (SRC)(P*4), P
	VBROADCASTSS (WTS)(T*4), Z4
	VFMADD231PS  (P), Z4, Z0
	VFMADD231PS  64(P), Z4, Z1
	VFMADD231PS  128(P), Z4, Z2
	VFMADD231PS  192(P), Z4, Z3
	INCQ         T
	CMPQ         T, TAPS
	JLT          s512_tap

	VMOVUPS Z0, (DST)
	VMOVUPS Z1, 64(DST)
	VMOVUPS Z2, 128(DST)
	VMOVUPS Z3, 192(DST)
	ADDQ    $256, DST
	ADDQ    $256, SRC
	SUBQ    $64, CNT
	JNZ     s512_block
	VZEROUPPER
	RET

// func dwSumAVX2(dst, src *float32, off *int, w *float32, taps, n int, init float32, acc bool)
TEXT ·dwSumAVX2(SB), NOSPLIT, $0-53
	MOVQ dst+0(FP), DST
	MOVQ src+8(FP), SRC
	MOVQ off+16(FP), OFF
	MOVQ w+24(FP), WTS
	MOVQ taps+32(FP), TAPS
	MOVQ n+40(FP), CNT
	VBROADCASTSS init+48(FP), Y8
	MOVBQZX acc+52(FP), R11

s256_block:
	TESTQ R11, R11
	JNZ   s256_load
	VMOVAPS Y8, Y0
	VMOVAPS Y8, Y1
	VMOVAPS Y8, Y2
	VMOVAPS Y8, Y3
	JMP     s256_taps

s256_load:
	VMOVUPS (DST), Y0
	VMOVUPS 32(DST), Y1
	VMOVUPS 64(DST), Y2
	VMOVUPS 96(DST), Y3

s256_taps:
	XORQ T, T

s256_tap:
	MOVQ         (OFF)(T*8), P
	LEAQ         (SRC)(P*4), P
	VBROADCASTSS (WTS)(T*4), Y4
	VFMADD231PS  (P), Y4, Y0
	VFMADD231PS  32(P), Y4, Y1
	VFMADD231PS  64(P), Y4, Y2
	VFMADD231PS  96(P), Y4, Y3
	INCQ         T
	CMPQ         T, TAPS
	JLT          s256_tap

	VMOVUPS Y0, (DST)
	VMOVUPS Y1, 32(DST)
	VMOVUPS Y2, 64(DST)
	VMOVUPS Y3, 96(DST)
	ADDQ    $128, DST
	ADDQ    $128, SRC
	SUBQ    $32, CNT
	JNZ     s256_block
	VZEROUPPER
	RET

#define OUT DI
#define DY R9
#define P2 R12
#define P3 R13

// HSUM512 adds four 16-lane partial sums of tap t down to one float
// ((a+b)+(c+d), then halves) and adds it to out[t]; ya/xa are a's
// narrower names, yt/xt a scratch register's.
#define HSUM512(a, b, c, d, ya, xa, yt, xt, t) \
	VADDPS        b, a, a; \
	VADDPS        d, c, c; \
	VADDPS        c, a, a; \
	VEXTRACTF64X4 $1, a, yt; \
	VADDPS        yt, ya, ya; \
	VEXTRACTF128  $1, ya, xt; \
	VADDPS        xt, xa, xa; \
	VPERMILPS     $0x4e, xa, xt; \
	VADDPS        xt, xa, xa; \
	VPERMILPS     $0xb1, xa, xt; \
	VADDSS        xt, xa, xa; \
	VADDSS        (OUT)(t*4), xa, xa; \
	VMOVSS        xa, (OUT)(t*4)

// HSUM256 is HSUM512 for 8-lane partial sums.
#define HSUM256(a, b, c, d, xa, xt, t) \
	VADDPS       b, a, a; \
	VADDPS       d, c, c; \
	VADDPS       c, a, a; \
	VEXTRACTF128 $1, a, xt; \
	VADDPS       xt, xa, xa; \
	VPERMILPS    $0x4e, xa, xt; \
	VADDPS       xt, xa, xa; \
	VPERMILPS    $0xb1, xa, xt; \
	VADDSS       xt, xa, xa; \
	VADDSS       (OUT)(t*4), xa, xa; \
	VMOVSS       xa, (OUT)(t*4)

// func dwDotAVX512(out, dy, src *float32, off *int, taps, n int)
//
// Three taps per pass over dy while at least three remain (each dy vector
// loaded once for three FMAs), then one at a time; every tap's sum is
// formed the same way in both loops.
TEXT ·dwDotAVX512(SB), NOSPLIT, $0-48
	MOVQ out+0(FP), OUT
	MOVQ src+16(FP), SRC
	MOVQ off+24(FP), OFF
	MOVQ taps+32(FP), TAPS
	XORQ T, T

d512_three:
	LEAQ 3(T), P
	CMPQ P, TAPS
	JGT  d512_tap
	MOVQ (OFF)(T*8), P
	LEAQ (SRC)(P*4), P
	MOVQ 8(OFF)(T*8), P2
	LEAQ (SRC)(P2*4), P2
	MOVQ 16(OFF)(T*8), P3
	LEAQ (SRC)(P3*4), P3
	MOVQ dy+8(FP), DY
	MOVQ n+40(FP), CNT
	VXORPS Z0, Z0, Z0
	VXORPS Z1, Z1, Z1
	VXORPS Z2, Z2, Z2
	VXORPS Z3, Z3, Z3
	VXORPS Z4, Z4, Z4
	VXORPS Z5, Z5, Z5
	VXORPS Z6, Z6, Z6
	VXORPS Z7, Z7, Z7
	VXORPS Z8, Z8, Z8
	VXORPS Z9, Z9, Z9
	VXORPS Z10, Z10, Z10
	VXORPS Z11, Z11, Z11

d512_loop3:
	VMOVUPS     (DY), Z12
	VMOVUPS     64(DY), Z13
	VMOVUPS     128(DY), Z14
	VMOVUPS     192(DY), Z15
	VFMADD231PS (P), Z12, Z0
	VFMADD231PS 64(P), Z13, Z1
	VFMADD231PS 128(P), Z14, Z2
	VFMADD231PS 192(P), Z15, Z3
	VFMADD231PS (P2), Z12, Z4
	VFMADD231PS 64(P2), Z13, Z5
	VFMADD231PS 128(P2), Z14, Z6
	VFMADD231PS 192(P2), Z15, Z7
	VFMADD231PS (P3), Z12, Z8
	VFMADD231PS 64(P3), Z13, Z9
	VFMADD231PS 128(P3), Z14, Z10
	VFMADD231PS 192(P3), Z15, Z11
	ADDQ        $256, DY
	ADDQ        $256, P
	ADDQ        $256, P2
	ADDQ        $256, P3
	SUBQ        $64, CNT
	JNZ         d512_loop3

	HSUM512(Z0, Z1, Z2, Z3, Y0, X0, Y12, X12, T)
	INCQ T
	HSUM512(Z4, Z5, Z6, Z7, Y4, X4, Y13, X13, T)
	INCQ T
	HSUM512(Z8, Z9, Z10, Z11, Y8, X8, Y14, X14, T)
	INCQ T
	JMP  d512_three

d512_tap:
	CMPQ T, TAPS
	JGE  d512_done
	MOVQ   (OFF)(T*8), P
	LEAQ   (SRC)(P*4), P
	MOVQ   dy+8(FP), DY
	MOVQ   n+40(FP), CNT
	VXORPS Z0, Z0, Z0
	VXORPS Z1, Z1, Z1
	VXORPS Z2, Z2, Z2
	VXORPS Z3, Z3, Z3

d512_loop:
	VMOVUPS     (DY), Z4
	VMOVUPS     64(DY), Z5
	VMOVUPS     128(DY), Z6
	VMOVUPS     192(DY), Z7
	VFMADD231PS (P), Z4, Z0
	VFMADD231PS 64(P), Z5, Z1
	VFMADD231PS 128(P), Z6, Z2
	VFMADD231PS 192(P), Z7, Z3
	ADDQ        $256, DY
	ADDQ        $256, P
	SUBQ        $64, CNT
	JNZ         d512_loop

	HSUM512(Z0, Z1, Z2, Z3, Y0, X0, Y12, X12, T)
	INCQ T
	JMP  d512_tap

d512_done:
	VZEROUPPER
	RET

// func dwDotAVX2(out, dy, src *float32, off *int, taps, n int)
TEXT ·dwDotAVX2(SB), NOSPLIT, $0-48
	MOVQ out+0(FP), OUT
	MOVQ src+16(FP), SRC
	MOVQ off+24(FP), OFF
	MOVQ taps+32(FP), TAPS
	XORQ T, T

d256_three:
	LEAQ 3(T), P
	CMPQ P, TAPS
	JGT  d256_tap
	MOVQ (OFF)(T*8), P
	LEAQ (SRC)(P*4), P
	MOVQ 8(OFF)(T*8), P2
	LEAQ (SRC)(P2*4), P2
	MOVQ 16(OFF)(T*8), P3
	LEAQ (SRC)(P3*4), P3
	MOVQ dy+8(FP), DY
	MOVQ n+40(FP), CNT
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3
	VXORPS Y4, Y4, Y4
	VXORPS Y5, Y5, Y5
	VXORPS Y6, Y6, Y6
	VXORPS Y7, Y7, Y7
	VXORPS Y8, Y8, Y8
	VXORPS Y9, Y9, Y9
	VXORPS Y10, Y10, Y10
	VXORPS Y11, Y11, Y11

d256_loop3:
	VMOVUPS     (DY), Y12
	VMOVUPS     32(DY), Y13
	VMOVUPS     64(DY), Y14
	VMOVUPS     96(DY), Y15
	VFMADD231PS (P), Y12, Y0
	VFMADD231PS 32(P), Y13, Y1
	VFMADD231PS 64(P), Y14, Y2
	VFMADD231PS 96(P), Y15, Y3
	VFMADD231PS (P2), Y12, Y4
	VFMADD231PS 32(P2), Y13, Y5
	VFMADD231PS 64(P2), Y14, Y6
	VFMADD231PS 96(P2), Y15, Y7
	VFMADD231PS (P3), Y12, Y8
	VFMADD231PS 32(P3), Y13, Y9
	VFMADD231PS 64(P3), Y14, Y10
	VFMADD231PS 96(P3), Y15, Y11
	ADDQ        $128, DY
	ADDQ        $128, P
	ADDQ        $128, P2
	ADDQ        $128, P3
	SUBQ        $32, CNT
	JNZ         d256_loop3

	HSUM256(Y0, Y1, Y2, Y3, X0, X12, T)
	INCQ T
	HSUM256(Y4, Y5, Y6, Y7, X4, X13, T)
	INCQ T
	HSUM256(Y8, Y9, Y10, Y11, X8, X14, T)
	INCQ T
	JMP  d256_three

d256_tap:
	CMPQ T, TAPS
	JGE  d256_done
	MOVQ   (OFF)(T*8), P
	LEAQ   (SRC)(P*4), P
	MOVQ   dy+8(FP), DY
	MOVQ   n+40(FP), CNT
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3

d256_loop:
	VMOVUPS     (DY), Y4
	VMOVUPS     32(DY), Y5
	VMOVUPS     64(DY), Y6
	VMOVUPS     96(DY), Y7
	VFMADD231PS (P), Y4, Y0
	VFMADD231PS 32(P), Y5, Y1
	VFMADD231PS 64(P), Y6, Y2
	VFMADD231PS 96(P), Y7, Y3
	ADDQ        $128, DY
	ADDQ        $128, P
	SUBQ        $32, CNT
	JNZ         d256_loop

	HSUM256(Y0, Y1, Y2, Y3, X0, X12, T)
	INCQ T
	JMP  d256_tap

d256_done:
	VZEROUPPER
	RET

// func dwCopyAVX512(dst *float32, ldDst int, src *float32, ldSrc int, rows, cols int)
TEXT ·dwCopyAVX512(SB), NOSPLIT, $0-48
	MOVQ  dst+0(FP), DI
	MOVQ  ldDst+8(FP), R8
	MOVQ  src+16(FP), SI
	MOVQ  ldSrc+24(FP), R9
	MOVQ  rows+32(FP), R10
	MOVQ  cols+40(FP), R11
	SHLQ  $2, R8
	SHLQ  $2, R9
	MOVQ  R11, CX
	ANDQ  $15, CX
	MOVL  $1, AX
	SHLL  CX, AX
	DECL  AX
	KMOVW AX, K1      // the last cols mod 16 lanes
	SHRQ  $4, R11     // whole vectors per row

c512_row:
	MOVQ  DI, DX
	MOVQ  SI, BX
	MOVQ  R11, CX
	TESTQ CX, CX
	JZ    c512_tail

c512_full:
	VMOVUPS (BX), Z0
	VMOVUPS Z0, (DX)
	ADDQ    $64, BX
	ADDQ    $64, DX
	DECQ    CX
	JNZ     c512_full

c512_tail:
	VMOVUPS.Z (BX), K1, Z0
	VMOVUPS   Z0, K1, (DX)
	ADDQ      R9, SI
	ADDQ      R8, DI
	DECQ      R10
	JNZ       c512_row
	VZEROUPPER
	RET

// func dwCopyAVX2(dst *float32, ldDst int, src *float32, ldSrc int, rows, cols int)
TEXT ·dwCopyAVX2(SB), NOSPLIT, $0-48
	MOVQ dst+0(FP), DI
	MOVQ ldDst+8(FP), R8
	MOVQ src+16(FP), SI
	MOVQ ldSrc+24(FP), R9
	MOVQ rows+32(FP), R10
	MOVQ cols+40(FP), R11
	SHLQ $2, R8
	SHLQ $2, R9
	MOVQ R11, R12
	ANDQ $7, R12      // floats after the whole vectors
	SHRQ $3, R11      // whole vectors per row

c256_row:
	MOVQ  DI, DX
	MOVQ  SI, BX
	MOVQ  R11, CX
	TESTQ CX, CX
	JZ    c256_tail

c256_full:
	VMOVUPS (BX), Y0
	VMOVUPS Y0, (DX)
	ADDQ    $32, BX
	ADDQ    $32, DX
	DECQ    CX
	JNZ     c256_full

c256_tail:
	MOVQ  R12, CX
	TESTQ CX, CX
	JZ    c256_next

c256_one:
	MOVL (BX), AX
	MOVL AX, (DX)
	ADDQ $4, BX
	ADDQ $4, DX
	DECQ CX
	JNZ  c256_one

c256_next:
	ADDQ R9, SI
	ADDQ R8, DI
	DECQ R10
	JNZ  c256_row
	VZEROUPPER
	RET

// Lane indices of the even (0, 2, …, 30) and odd (1, 3, …, 31) elements
// of a 32-float pair of registers, for VPERMI2PS.
DATA split2idx<>+0(SB)/4, $0
DATA split2idx<>+4(SB)/4, $2
DATA split2idx<>+8(SB)/4, $4
DATA split2idx<>+12(SB)/4, $6
DATA split2idx<>+16(SB)/4, $8
DATA split2idx<>+20(SB)/4, $10
DATA split2idx<>+24(SB)/4, $12
DATA split2idx<>+28(SB)/4, $14
DATA split2idx<>+32(SB)/4, $16
DATA split2idx<>+36(SB)/4, $18
DATA split2idx<>+40(SB)/4, $20
DATA split2idx<>+44(SB)/4, $22
DATA split2idx<>+48(SB)/4, $24
DATA split2idx<>+52(SB)/4, $26
DATA split2idx<>+56(SB)/4, $28
DATA split2idx<>+60(SB)/4, $30
DATA split2idx<>+64(SB)/4, $1
DATA split2idx<>+68(SB)/4, $3
DATA split2idx<>+72(SB)/4, $5
DATA split2idx<>+76(SB)/4, $7
DATA split2idx<>+80(SB)/4, $9
DATA split2idx<>+84(SB)/4, $11
DATA split2idx<>+88(SB)/4, $13
DATA split2idx<>+92(SB)/4, $15
DATA split2idx<>+96(SB)/4, $17
DATA split2idx<>+100(SB)/4, $19
DATA split2idx<>+104(SB)/4, $21
DATA split2idx<>+108(SB)/4, $23
DATA split2idx<>+112(SB)/4, $25
DATA split2idx<>+116(SB)/4, $27
DATA split2idx<>+120(SB)/4, $29
DATA split2idx<>+124(SB)/4, $31
GLOBL split2idx<>(SB), RODATA|NOPTR, $128

// MASK sets k to the low n (in CX, 0 ≤ n ≤ 16) lanes; clobbers AX.
#define MASK(k) \
	MOVL  $1, AX; \
	SHLL  CX, AX; \
	DECL  AX; \
	KMOVW AX, k

// func dwSplit2AVX512(even, odd *float32, ldDst int, src *float32, ldSrc int, rows, cols int)
TEXT ·dwSplit2AVX512(SB), NOSPLIT, $0-56
	MOVQ    even+0(FP), DI
	MOVQ    odd+8(FP), R8
	MOVQ    ldDst+16(FP), R9
	MOVQ    src+24(FP), SI
	MOVQ    ldSrc+32(FP), R10
	MOVQ    rows+40(FP), R11
	MOVQ    cols+48(FP), R12
	SHLQ    $2, R9
	SHLQ    $2, R10
	SUBQ    DI, R8 // odd − even: the odd row is at the even row's address + R8
	VMOVUPS split2idx<>+0(SB), Z30
	VMOVUPS split2idx<>+64(SB), Z31
	MOVQ    R12, R13
	ANDQ    $31, R13 // tail source floats
	SHRQ    $5, R12  // whole 32-float chunks per row

	// Tail masks: K1, K2 the two source halves, K3 the evens, K4 the odds.
	MOVQ R13, CX
	CMPQ CX, $16
	JLE  s2_k1
	MOVQ $16, CX

s2_k1:
	MASK(K1)
	MOVQ R13, CX
	SUBQ $16, CX
	JGE  s2_k2
	XORQ CX, CX

s2_k2:
	MASK(K2)
	LEAQ 1(R13), CX
	SHRQ $1, CX
	MASK(K3)
	MOVQ R13, CX
	SHRQ $1, CX
	MASK(K4)

s2_row:
	MOVQ SI, BX
	MOVQ DI, DX
	MOVQ R12, CX
	TESTQ CX, CX
	JZ   s2_tail

s2_chunk:
	VMOVUPS   (BX), Z0
	VMOVUPS   64(BX), Z1
	VMOVAPS   Z30, Z2
	VPERMI2PS Z1, Z0, Z2
	VMOVAPS   Z31, Z3
	VPERMI2PS Z1, Z0, Z3
	VMOVUPS   Z2, (DX)
	VMOVUPS   Z3, (DX)(R8*1)
	ADDQ      $128, BX
	ADDQ      $64, DX
	DECQ      CX
	JNZ       s2_chunk

s2_tail:
	TESTQ     R13, R13
	JZ        s2_next
	VMOVUPS.Z (BX), K1, Z0
	VMOVUPS.Z 64(BX), K2, Z1
	VMOVAPS   Z30, Z2
	VPERMI2PS Z1, Z0, Z2
	VMOVAPS   Z31, Z3
	VPERMI2PS Z1, Z0, Z3
	VMOVUPS   Z2, K3, (DX)
	VMOVUPS   Z3, K4, (DX)(R8*1)

s2_next:
	ADDQ R10, SI
	ADDQ R9, DI
	DECQ R11
	JNZ  s2_row
	VZEROUPPER
	RET

// func dwSplit2AVX2(even, odd *float32, ldDst int, src *float32, ldSrc int, rows, cols int)
TEXT ·dwSplit2AVX2(SB), NOSPLIT, $0-56
	MOVQ even+0(FP), DI
	MOVQ odd+8(FP), R8
	MOVQ ldDst+16(FP), R9
	MOVQ src+24(FP), SI
	MOVQ ldSrc+32(FP), R10
	MOVQ rows+40(FP), R11
	MOVQ cols+48(FP), R12
	SHLQ $2, R9
	SHLQ $2, R10
	SUBQ DI, R8   // odd − even: the odd row is at the even row's address + R8
	MOVQ R12, R13
	ANDQ $15, R13 // tail source floats
	SHRQ $4, R12  // whole 16-float chunks per row

a2_row:
	MOVQ  SI, BX
	MOVQ  DI, DX
	MOVQ  R12, CX
	TESTQ CX, CX
	JZ    a2_tail

a2_chunk:
	VMOVUPS (BX), Y0
	VMOVUPS 32(BX), Y1
	VSHUFPS $0x88, Y1, Y0, Y2 // a0 a2 b0 b2 | a4 a6 b4 b6
	VSHUFPS $0xdd, Y1, Y0, Y3 // a1 a3 b1 b3 | a5 a7 b5 b7
	VPERMPD $0xd8, Y2, Y2     // a0 a2 a4 a6 b0 b2 b4 b6
	VPERMPD $0xd8, Y3, Y3
	VMOVUPS Y2, (DX)
	VMOVUPS Y3, (DX)(R8*1)
	ADDQ    $64, BX
	ADDQ    $32, DX
	DECQ    CX
	JNZ     a2_chunk

a2_tail:
	MOVQ R13, CX

a2_pair:
	CMPQ CX, $2
	JLT  a2_last
	MOVL (BX), AX
	MOVL AX, (DX)
	MOVL 4(BX), AX
	MOVL AX, (DX)(R8*1)
	ADDQ $8, BX
	ADDQ $4, DX
	SUBQ $2, CX
	JMP  a2_pair

a2_last:
	TESTQ CX, CX
	JZ    a2_next
	MOVL  (BX), AX
	MOVL  AX, (DX)

a2_next:
	ADDQ R10, SI
	ADDQ R9, DI
	DECQ R11
	JNZ  a2_row
	VZEROUPPER
	RET

// Lane indices that interleave 16 even (lanes 0–15) and 16 odd (16–31)
// floats: 0, 16, 1, 17, …, 15, 31 (two registers' worth), for VPERMI2PS.
DATA merge2idx<>+0(SB)/4, $0
DATA merge2idx<>+4(SB)/4, $16
DATA merge2idx<>+8(SB)/4, $1
DATA merge2idx<>+12(SB)/4, $17
DATA merge2idx<>+16(SB)/4, $2
DATA merge2idx<>+20(SB)/4, $18
DATA merge2idx<>+24(SB)/4, $3
DATA merge2idx<>+28(SB)/4, $19
DATA merge2idx<>+32(SB)/4, $4
DATA merge2idx<>+36(SB)/4, $20
DATA merge2idx<>+40(SB)/4, $5
DATA merge2idx<>+44(SB)/4, $21
DATA merge2idx<>+48(SB)/4, $6
DATA merge2idx<>+52(SB)/4, $22
DATA merge2idx<>+56(SB)/4, $7
DATA merge2idx<>+60(SB)/4, $23
DATA merge2idx<>+64(SB)/4, $8
DATA merge2idx<>+68(SB)/4, $24
DATA merge2idx<>+72(SB)/4, $9
DATA merge2idx<>+76(SB)/4, $25
DATA merge2idx<>+80(SB)/4, $10
DATA merge2idx<>+84(SB)/4, $26
DATA merge2idx<>+88(SB)/4, $11
DATA merge2idx<>+92(SB)/4, $27
DATA merge2idx<>+96(SB)/4, $12
DATA merge2idx<>+100(SB)/4, $28
DATA merge2idx<>+104(SB)/4, $13
DATA merge2idx<>+108(SB)/4, $29
DATA merge2idx<>+112(SB)/4, $14
DATA merge2idx<>+116(SB)/4, $30
DATA merge2idx<>+120(SB)/4, $15
DATA merge2idx<>+124(SB)/4, $31
GLOBL merge2idx<>(SB), RODATA|NOPTR, $128

// func dwMerge2AVX512(dst *float32, ldDst int, even, odd *float32, ldSrc int, rows, cols int)
TEXT ·dwMerge2AVX512(SB), NOSPLIT, $0-56
	MOVQ    dst+0(FP), DI
	MOVQ    ldDst+8(FP), R9
	MOVQ    even+16(FP), SI
	MOVQ    odd+24(FP), R8
	MOVQ    ldSrc+32(FP), R10
	MOVQ    rows+40(FP), R11
	MOVQ    cols+48(FP), R12
	SHLQ    $2, R9
	SHLQ    $2, R10
	SUBQ    SI, R8 // odd − even: the odd row is at the even row's address + R8
	VMOVUPS merge2idx<>+0(SB), Z30
	VMOVUPS merge2idx<>+64(SB), Z31
	MOVQ    R12, R13
	ANDQ    $31, R13 // tail destination floats
	SHRQ    $5, R12  // whole 32-float chunks per row

	// Tail masks: K1 the evens, K2 the odds, K3, K4 the two destination halves.
	LEAQ 1(R13), CX
	SHRQ $1, CX
	MASK(K1)
	MOVQ R13, CX
	SHRQ $1, CX
	MASK(K2)
	MOVQ R13, CX
	CMPQ CX, $16
	JLE  m2_k3
	MOVQ $16, CX

m2_k3:
	MASK(K3)
	MOVQ R13, CX
	SUBQ $16, CX
	JGE  m2_k4
	XORQ CX, CX

m2_k4:
	MASK(K4)

m2_row:
	MOVQ  SI, BX
	MOVQ  DI, DX
	MOVQ  R12, CX
	TESTQ CX, CX
	JZ    m2_tail

m2_chunk:
	VMOVUPS   (BX), Z0
	VMOVUPS   (BX)(R8*1), Z1
	VMOVAPS   Z30, Z2
	VPERMI2PS Z1, Z0, Z2
	VMOVAPS   Z31, Z3
	VPERMI2PS Z1, Z0, Z3
	VMOVUPS   Z2, (DX)
	VMOVUPS   Z3, 64(DX)
	ADDQ      $64, BX
	ADDQ      $128, DX
	DECQ      CX
	JNZ       m2_chunk

m2_tail:
	TESTQ     R13, R13
	JZ        m2_next
	VMOVUPS.Z (BX), K1, Z0
	VMOVUPS.Z (BX)(R8*1), K2, Z1
	VMOVAPS   Z30, Z2
	VPERMI2PS Z1, Z0, Z2
	VMOVAPS   Z31, Z3
	VPERMI2PS Z1, Z0, Z3
	VMOVUPS   Z2, K3, (DX)
	VMOVUPS   Z3, K4, 64(DX)

m2_next:
	ADDQ R10, SI
	ADDQ R9, DI
	DECQ R11
	JNZ  m2_row
	VZEROUPPER
	RET

// func dwMerge2AVX2(dst *float32, ldDst int, even, odd *float32, ldSrc int, rows, cols int)
TEXT ·dwMerge2AVX2(SB), NOSPLIT, $0-56
	MOVQ dst+0(FP), DI
	MOVQ ldDst+8(FP), R9
	MOVQ even+16(FP), SI
	MOVQ odd+24(FP), R8
	MOVQ ldSrc+32(FP), R10
	MOVQ rows+40(FP), R11
	MOVQ cols+48(FP), R12
	SHLQ $2, R9
	SHLQ $2, R10
	SUBQ SI, R8   // odd − even: the odd row is at the even row's address + R8
	MOVQ R12, R13
	ANDQ $15, R13 // tail destination floats
	SHRQ $4, R12  // whole 16-float chunks per row

b2_row:
	MOVQ  SI, BX
	MOVQ  DI, DX
	MOVQ  R12, CX
	TESTQ CX, CX
	JZ    b2_tail

b2_chunk:
	VMOVUPS    (BX), Y0
	VMOVUPS    (BX)(R8*1), Y1
	VUNPCKLPS  Y1, Y0, Y2       // e0 o0 e1 o1 | e4 o4 e5 o5
	VUNPCKHPS  Y1, Y0, Y3       // e2 o2 e3 o3 | e6 o6 e7 o7
	VPERM2F128 $0x20, Y3, Y2, Y4 // e0 o0 … e3 o3
	VPERM2F128 $0x31, Y3, Y2, Y5 // e4 o4 … e7 o7
	VMOVUPS    Y4, (DX)
	VMOVUPS    Y5, 32(DX)
	ADDQ       $32, BX
	ADDQ       $64, DX
	DECQ       CX
	JNZ        b2_chunk

b2_tail:
	MOVQ R13, CX

b2_pair:
	CMPQ CX, $2
	JLT  b2_last
	MOVL (BX), AX
	MOVL AX, (DX)
	MOVL (BX)(R8*1), AX
	MOVL AX, 4(DX)
	ADDQ $4, BX
	ADDQ $8, DX
	SUBQ $2, CX
	JMP  b2_pair

b2_last:
	TESTQ CX, CX
	JZ    b2_next
	MOVL  (BX), AX
	MOVL  AX, (DX)

b2_next:
	ADDQ R10, SI
	ADDQ R9, DI
	DECQ R11
	JNZ  b2_row
	VZEROUPPER
	RET
