package main

import (
	"math/big"
	"testing"
)

func TestRoundHalfEven(t *testing.T) {
	// Worked by hand: acc·bs/so with so = 1.
	so := big.NewRat(1, 1)
	for _, c := range []struct {
		acc  int64
		bs   float64
		want int64
	}{
		{3, 0.5, 2}, {5, 0.5, 2}, {-3, 0.5, -2}, {-5, 0.5, -2}, // ties to even (the exact path)
		{1, 0.5, 0}, {-1, 0.5, 0},
		{3, 0.25, 1}, {-3, 0.25, -1}, {1, 0.25, 0}, // not ties
		{1 << 40, 0.5, 1 << 39}, {0, 0.5, 0},
	} {
		if got := roundHalfEven(c.acc, c.bs, c.bs, so); got != c.want {
			t.Errorf("round(%d·%v) = %d, want %d", c.acc, c.bs, got, c.want)
		}
	}
}

func TestRatRoundHalfEven(t *testing.T) {
	// Worked by hand.
	for _, c := range []struct {
		num, den, want int64
	}{{5, 2, 2}, {7, 2, 4}, {-5, 2, -2}, {-7, 2, -4}, {7, 3, 2}, {-7, 3, -2}, {8, 3, 3}, {0, 9, 0}} {
		if got := ratRoundHalfEven(big.NewRat(c.num, c.den)); got != c.want {
			t.Errorf("round(%d/%d) = %d, want %d", c.num, c.den, got, c.want)
		}
	}
}
