package infer

import (
	"math/rand/v2"
	"slices"
	"testing"
)

func TestPackBits(t *testing.T) {
	// By hand, 3 bits LSB first: 1 → bits 0–2, 2 → bits 3–5, 3 → bits 6–8:
	// byte 0 = 1 | 2<<3 | (3&3)<<6 = 1+16+192 = 209, byte 1 = 3>>2 = 0.
	got := make([]byte, 2)
	PackBits(got, []uint8{1, 2, 3}, 3)
	if !slices.Equal(got, []byte{209, 0}) {
		t.Errorf("packed %v, want [209 0]", got)
	}
	rng := rand.New(rand.NewPCG(1, 1))
	for bits := 1; bits <= 8; bits++ {
		for _, n := range []int{0, 1, 7, 8, 9, 15, 16, 17, 63, 64, 65, 1000} {
			src := make([]uint8, n)
			for i := range src {
				src[i] = uint8(rng.IntN(1 << bits))
			}
			buf := make([]byte, PackedLen(n, bits))
			PackBits(buf, src, bits)
			back := make([]uint8, n)
			if err := UnpackBits(back, buf, bits); err != nil || !slices.Equal(back, src) {
				t.Fatalf("bits %d n %d: round trip %v", bits, n, err)
			}
			if n*bits%8 != 0 { // a set padding bit is refused
				buf[len(buf)-1] |= 0x80
				if err := UnpackBits(back, buf, bits); err == nil {
					t.Fatalf("bits %d n %d: padding accepted", bits, n)
				}
			}
			if err := UnpackBits(back, append(buf, 0), bits); err == nil {
				t.Fatalf("bits %d n %d: long input accepted", bits, n)
			}
		}
	}
}
