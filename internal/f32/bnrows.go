package f32

import (
	"unsafe"
)

// ZSum returns Σ z[i].
func (sc *Lanes) ZSum(y []float32, b, rs float32) float32 {
	lanes := sc.lanes16()
	n16 := len(y) &^ 15
	if n16 > 0 {
		zsumK(&y[0], n16, b, rs, &lanes[0])
	}
	for i := n16; i < len(y); i++ {
		lanes[i&15] += mul32(y[i]-b, rs)
	}
	return reduce16(lanes)
}

// ZSqDev returns Σ (z[i] − mu)².
func (sc *Lanes) ZSqDev(y []float32, b, rs, mu float32) float32 {
	lanes := sc.lanes16()
	n16 := len(y) &^ 15
	if n16 > 0 {
		zsqdevK(&y[0], n16, b, rs, mu, &lanes[0])
	}
	for i := n16; i < len(y); i++ {
		d := mul32(y[i]-b, rs) - mu
		lanes[i&15] += mul32(d, d)
	}
	return reduce16(lanes)
}

// ZAffine sets out[i] = (z[i] − mu)·k + off for z of y[:len(out)].
func ZAffine(out, y []float32, b, rs, mu, k, off float32) {
	y = y[:len(out)]
	n16 := len(out) &^ 15
	if n16 > 0 {
		zaffineK(&out[0], &y[0], n16, b, rs, mu, k, off)
	}
	for i := n16; i < len(out); i++ {
		out[i] = mul32(mul32(y[i]-b, rs)-mu, k) + off
	}
}

// ZSumDot returns Σ g[i] and Σ g[i]·(z[i] − mu) for z of y[:len(g)].
func (sc *Lanes) ZSumDot(g, y []float32, b, rs, mu float32) (sum, dot float32) {
	y = y[:len(g)]
	lanes := sc.lanes32() // Σ g, then Σ g·(z − mu)
	n16 := len(g) &^ 15
	if n16 > 0 {
		zsumdotK(&g[0], &y[0], n16, b, rs, mu, &lanes[0])
	}
	for i := n16; i < len(g); i++ {
		lanes[i&15] += g[i]
		lanes[16+i&15] += mul32(g[i], mul32(y[i]-b, rs)-mu)
	}
	return reduce16((*[16]float32)(lanes[:16])), reduce16((*[16]float32)(lanes[16:]))
}

// ZGrad sets d[i] = a·g[i] + b0 + b1·(z[i] − mu) for z of y[:len(d)] and
// returns Σ d[i]·z[i].
func (sc *Lanes) ZGrad(d, g, y []float32, a, b0, b1, b, rs, mu float32) float32 {
	g, y = g[:len(d)], y[:len(d)]
	lanes := sc.lanes16()
	n16 := len(d) &^ 15
	if n16 > 0 {
		zgradK(&d[0], &g[0], &y[0], n16, a, b0, b1, b, rs, mu, &lanes[0])
	}
	for i := n16; i < len(d); i++ {
		z := mul32(y[i]-b, rs)
		d[i] = mul32(a, g[i]) + b0 + mul32(b1, z-mu)
		lanes[i&15] += mul32(d[i], z)
	}
	return reduce16(lanes)
}

// zsumGo adds z[i] into lanes[i mod 16] for i < n (a multiple of 16).
func zsumGo(y *float32, n int, b, rs float32, lanes *float32) {
	ys, l := unsafe.Slice(y, n), (*[16]float32)(unsafe.Slice(lanes, 16))
	for i := 0; i < n; i += 16 {
		for j, v := range ys[i : i+16 : i+16] {
			l[j] += mul32(v-b, rs)
		}
	}
}

// zsqdevGo adds (z[i] − mu)² into lanes[i mod 16] for i < n.
func zsqdevGo(y *float32, n int, b, rs, mu float32, lanes *float32) {
	ys, l := unsafe.Slice(y, n), (*[16]float32)(unsafe.Slice(lanes, 16))
	for i := 0; i < n; i += 16 {
		for j, v := range ys[i : i+16 : i+16] {
			d := mul32(v-b, rs) - mu
			l[j] += mul32(d, d)
		}
	}
}

// zaffineGo sets out[i] = (z[i] − mu)·k + off for i < n.
func zaffineGo(out, y *float32, n int, b, rs, mu, k, off float32) {
	os, ys := unsafe.Slice(out, n), unsafe.Slice(y, n)
	for i, v := range ys {
		os[i] = mul32(mul32(v-b, rs)-mu, k) + off
	}
}

// zsumdotGo adds g[i] into lanes[i mod 16] and g[i]·(z[i] − mu) into
// lanes[16 + i mod 16] for i < n.
func zsumdotGo(g, y *float32, n int, b, rs, mu float32, lanes *float32) {
	gs, ys, l := unsafe.Slice(g, n), unsafe.Slice(y, n), (*[32]float32)(unsafe.Slice(lanes, 32))
	for i := 0; i < n; i += 16 {
		for j := range 16 {
			l[j] += gs[i+j]
			l[16+j] += mul32(gs[i+j], mul32(ys[i+j]-b, rs)-mu)
		}
	}
}

// zgradGo sets d[i] = a·g[i] + b0 + b1·(z[i] − mu) and adds d[i]·z[i]
// into lanes[i mod 16] for i < n.
func zgradGo(d, g, y *float32, n int, a, b0, b1, b, rs, mu float32, lanes *float32) {
	ds, gs, ys, l := unsafe.Slice(d, n), unsafe.Slice(g, n), unsafe.Slice(y, n), (*[16]float32)(unsafe.Slice(lanes, 16))
	for i := 0; i < n; i += 16 {
		for j := range 16 {
			z := mul32(ys[i+j]-b, rs)
			ds[i+j] = mul32(a, gs[i+j]) + b0 + mul32(b1, z-mu)
			l[j] += mul32(ds[i+j], z)
		}
	}
}

// The row kernels in use: the Go twins below, or assembly (kernel_amd64.go; AVX2 in
// bn_avx2_amd64.go).
var (
	zsumK    = zsumGo
	zsqdevK  = zsqdevGo
	zaffineK = zaffineGo
	zsumdotK = zsumdotGo
	zgradK   = zgradGo
)

// Lanes is the scratch of the row kernels that sum: their 16 (or 2×16)
// lane partial sums. A kernel called through a function variable (the Go
// twin or assembly) takes a pointer to them, which moved a lane array on
// the caller's stack to the heap: one allocation per row, 120 thousand
// per CIFAR ResNet-8 training step. A caller holds one Lanes per worker
// instead; the functions ZSum, ZSqDev, ... allocate one per call.
type Lanes struct{ v [32]float32 }

func (sc *Lanes) lanes16() *[16]float32 {
	sc.v = [32]float32{}
	return (*[16]float32)(sc.v[:16])
}

func (sc *Lanes) lanes32() *[32]float32 {
	sc.v = [32]float32{}
	return &sc.v
}

// ZSum is Lanes.ZSum with its own scratch.
func ZSum(y []float32, b, rs float32) float32 { return new(Lanes).ZSum(y, b, rs) }

// ZSqDev is Lanes.ZSqDev with its own scratch.
func ZSqDev(y []float32, b, rs, mu float32) float32 { return new(Lanes).ZSqDev(y, b, rs, mu) }

// ZSumDot is Lanes.ZSumDot with its own scratch.
func ZSumDot(g, y []float32, b, rs, mu float32) (sum, dot float32) {
	return new(Lanes).ZSumDot(g, y, b, rs, mu)
}

// ZGrad is Lanes.ZGrad with its own scratch.
func ZGrad(d, g, y []float32, a, b0, b1, b, rs, mu float32) float32 {
	return new(Lanes).ZGrad(d, g, y, a, b0, b1, b, rs, mu)
}
