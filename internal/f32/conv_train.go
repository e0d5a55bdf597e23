package f32

import "fmt"

// RowSums sets dst[r] = Σ x[r·stride : r·stride+n] for r < len(dst), each
// summed as a single row is: four partial sums, element i in sum i mod 4
// in increasing i, added as (s0+s1)+(s2+s3). That is a convolution's bias
// gradient, Σ dy over an image's plane, for one channel of every image
// (stride = the image's size). The four sums of a row are one 4-lane
// vector, so the sums of several rows run side by side (the single row's
// four chains were bound by the addition's latency); the bits are those
// of rowSum4, the scalar twin, whatever the row count.
func RowSums(dst, x []float32, stride, n int) {
	rows := len(dst)
	if rows == 0 {
		return
	}
	if n < 0 || stride < n || len(x) < (rows-1)*stride+n {
		panic(fmt.Sprintf("f32: RowSums: %d rows of %d at stride %d in %d elements", rows, n, stride, len(x)))
	}
	n4 := n &^ 3
	r := 0
	if rowSums8K != nil && n4 > 0 {
		var lanes [32]float32
		for ; r+8 <= rows; r += 8 {
			rowSums8K(&x[r*stride], stride, n4, &lanes)
			for q := 0; q < 8; q++ {
				dst[r+q] = rowTail((*[4]float32)(lanes[4*q:]), x[(r+q)*stride:][:n], n4)
			}
		}
	}
	for ; r < rows; r++ {
		dst[r] = rowSum4(x[r*stride:][:n])
	}
}

// rowSums8K, if not nil, sets lanes[4q+j] = Σ over i ≡ j (mod 4), i < n4
// (a multiple of 4), of row q's x[i], in increasing i, for the 8 rows
// x[q·stride:] (q < 8).
var rowSums8K func(x *float32, stride, n4 int, lanes *[32]float32)

// rowTail adds x[n4:] to the four partial sums l (element i to sum
// i mod 4) and returns (s0+s1)+(s2+s3).
func rowTail(l *[4]float32, x []float32, n4 int) float32 {
	s := *l
	for i := n4; i < len(x); i++ {
		s[i&3] += x[i]
	}
	return (s[0] + s[1]) + (s[2] + s[3])
}

// rowSum4 is one row's sum in RowSums' order, the reference twin.
func rowSum4(x []float32) float32 {
	var s0, s1, s2, s3 float32
	i := 0
	for ; i+4 <= len(x); i += 4 {
		xx := x[i : i+4 : i+4]
		s0, s1, s2, s3 = s0+xx[0], s1+xx[1], s2+xx[2], s3+xx[3]
	}
	l := [4]float32{s0, s1, s2, s3}
	return rowTail(&l, x, i)
}
