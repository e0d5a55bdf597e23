//go:build unix

package nn

import (
	"fmt"
	"math/rand/v2"
	"syscall"
	"testing"
	"time"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// The depthwise 3×3 (pad 1) layers of MobileNet-style blocks at batch
// 64 on 28×28 inputs: stride 1 at 28×28, 14×14 and 7×7, and a stride-2
// layer from 14×14 to 7×7 (mobilenet-tiny's second block).
var dwBenchShapes = []gshape{
	{64, 32, 28, 28, 32, 3, 1, 1, 32},
	{64, 64, 14, 14, 64, 3, 1, 1, 64},
	{64, 128, 7, 7, 128, 3, 1, 1, 128},
	{64, 32, 14, 14, 32, 3, 2, 1, 32},
}

// dwFlops is the useful floating-point work of one training step of a
// layer: forward, dx and dW each 2·N·Out·OH·OW·(C/G)·K² (multiply + add).
func dwFlops(s gshape) float64 {
	g := s.geom()
	return 3 * 2 * float64(g.n*g.out*g.oh*g.ow*g.cg*g.k*g.k)
}

// BenchmarkDepthwiseStep runs forward + backward (dx, dW, db) of one
// depthwise layer in a Gorgonia graph, four ways side by
// side, given dy (Backpropagate, no loss ops): groupConvNode; convNode on the equivalent dense block-diagonal
// kernel (C× the multiplications); a per-channel loop of convNode on
// sliced channels, concatenated; the same loop with Gorgonia's generic
// Conv2d and BroadcastAdd. GFLOP/s counts the depthwise layer's useful
// work (dwFlops) for all four; cpu-ms/step and GFLOP/cpu-s use the
// process's CPU time, which a loaded machine distorts less than wall time.
func BenchmarkDepthwiseStep(b *testing.B) {
	for _, s := range dwBenchShapes {
		for _, way := range []string{"grouped", "dense", "perchannel-convNode", "perchannel-gorgonia"} {
			b.Run(fmt.Sprintf("C%d_%dx%d_s%d/%s", s.c, s.h, s.w, s.s, way), func(b *testing.B) {
				benchDepthwiseStep(b, s, way)
			})
		}
	}
}

func benchDepthwiseStep(b *testing.B, s gshape, way string) {
	g := s.geom()
	r := rand.New(rand.NewPCG(13, 5))
	nx, nw, ny, nb := g.sizes()
	gr := G.NewGraph()
	mk := func(name string, v []float32, shape ...int) *G.Node {
		return G.NewTensor(gr, tensor.Float32, len(shape), G.WithShape(shape...), G.WithName(name),
			G.WithValue(tensor.New(tensor.WithShape(shape...), tensor.WithBacking(v))))
	}
	x := mk("x", gconvRand(r, nx), g.n, g.c, g.h, g.w)
	bias := mk("b", gconvRand(r, nb), g.out)
	var w, y *G.Node
	var err error
	switch way {
	case "grouped":
		w = mk("w", gconvRand(r, nw), g.out, g.cg, g.k, g.k)
		y, err = groupConvNode("dw", x, w, bias, g.s, g.p, g.groups, true)
	case "dense":
		kk := g.k * g.k
		dense := make([]float32, g.out*g.c*kk)
		for o := 0; o < g.out; o++ {
			copy(dense[(o*g.c+o)*kk:][:kk], gconvRand(r, kk))
		}
		w = mk("w", dense, g.out, g.c, g.k, g.k)
		y, err = convNode("dw", x, w, bias, g.s, g.p, true)
	default:
		w = mk("w", gconvRand(r, nw), g.out, g.cg, g.k, g.k)
		y, err = perChannelConv(x, w, bias, g, way == "perchannel-gorgonia")
	}
	if err != nil {
		b.Fatal(err)
	}
	// dy is given (Backpropagate), so no loss ops share the timing.
	dy := mk("dy", gconvRand(r, ny), g.n, g.out, g.oh, g.ow)
	if _, err := G.Backpropagate(G.Nodes{y}, G.Nodes{dy}, G.Nodes{x, w, bias}); err != nil {
		b.Fatal(err)
	}
	vm := G.NewTapeMachine(gr)
	defer vm.Close()
	step := func() {
		if err := vm.RunAll(); err != nil {
			b.Fatal(err)
		}
		vm.Reset()
	}
	step() // allocate outside the timing
	cpu0 := gconvCPUTime()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		step()
	}
	b.StopTimer()
	b.ReportMetric(dwFlops(s)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
	// CPU time does not depend on the share of the cores a loaded machine
	// gives; GFLOP/cpu-s is the work per second of one busy core.
	cpu := gconvCPUTime() - cpu0
	b.ReportMetric(float64(cpu)/float64(b.N)/1e6, "cpu-ms/step")
	b.ReportMetric(dwFlops(s)*float64(b.N)/cpu.Seconds()/1e9, "GFLOP/cpu-s")
}

// gconvCPUTime is the process's user + system time.
func gconvCPUTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// perChannelConv is a depthwise convolution from single-channel
// convolutions: slice channel c of x, W and b, convolve (convNode, or
// Gorgonia's Conv2d + BroadcastAdd), concatenate along channels.
func perChannelConv(x, w, bias *G.Node, g gconvGeom, gorgonia bool) (*G.Node, error) {
	ys := make(G.Nodes, g.c)
	for c := 0; c < g.c; c++ {
		// Slicing one index drops the axis; Reshape puts it back.
		xc, err := sliceTo(x, 1, c, tensor.Shape{g.n, 1, g.h, g.w})
		if err != nil {
			return nil, err
		}
		wc, err := sliceTo(w, 0, c, tensor.Shape{1, 1, g.k, g.k})
		if err != nil {
			return nil, err
		}
		bc, err := sliceTo(bias, 0, c, tensor.Shape{1})
		if err != nil {
			return nil, err
		}
		if !gorgonia {
			if ys[c], err = convNode(fmt.Sprint("dw", c), xc, wc, bc, g.s, g.p, true); err != nil {
				return nil, err
			}
			continue
		}
		yc, err := G.Conv2d(xc, wc, tensor.Shape{g.k, g.k}, []int{g.p, g.p}, []int{g.s, g.s}, []int{1, 1})
		if err != nil {
			return nil, err
		}
		b4, err := G.Reshape(bc, tensor.Shape{1, 1, 1, 1})
		if err != nil {
			return nil, err
		}
		if ys[c], err = G.BroadcastAdd(yc, b4, nil, []byte{0, 2, 3}); err != nil {
			return nil, err
		}
	}
	return G.Concat(1, ys...)
}

// sliceTo is index c of x's axis, reshaped to shape.
func sliceTo(x *G.Node, axis, c int, shape tensor.Shape) (*G.Node, error) {
	sl := make([]tensor.Slice, axis+1)
	sl[axis] = G.S(c, c+1)
	v, err := G.Slice(x, sl...)
	if err != nil {
		return nil, err
	}
	return G.Reshape(v, shape)
}

// BenchmarkDepthwiseKernels times the three passes of groupConvNode's op
// alone on raw slices (no graph): forward, dx, dW (+ db), each reported
// as GFLOP/s of its 2·N·Out·OH·OW·(C/G)·K² useful operations.
func BenchmarkDepthwiseKernels(b *testing.B) {
	for _, s := range dwBenchShapes {
		g := s.geom()
		gc := &gconv{g: g}
		r := rand.New(rand.NewPCG(13, 6))
		nx, nw, ny, nb := g.sizes()
		x, w, bias, dy := gconvRand(r, nx), gconvRand(r, nw), gconvRand(r, nb), gconvRand(r, ny)
		y, dx, dw, db := make([]float32, ny), make([]float32, nx), make([]float32, nw), make([]float32, nb)
		for _, pass := range []string{"forward", "gradX", "gradW"} {
			b.Run(fmt.Sprintf("C%d_%dx%d_s%d/%s", s.c, s.h, s.w, s.s, pass), func(b *testing.B) {
				cpu0 := gconvCPUTime()
				for i := 0; i < b.N; i++ {
					switch pass {
					case "forward":
						gc.forward(y, x, w, bias)
					case "gradX":
						gc.gradX(dx, w, dy)
					default:
						gc.gradW(dw, x, dy)
						g.gradB(db, dy)
					}
				}
				b.ReportMetric(dwFlops(s)/3*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
				cpu := gconvCPUTime() - cpu0
				b.ReportMetric(float64(cpu)/float64(b.N)/1e6, "cpu-ms/op")
				b.ReportMetric(dwFlops(s)/3*float64(b.N)/cpu.Seconds()/1e9, "GFLOP/cpu-s")
			})
		}
	}
}

// BenchmarkGroupConvGeneral: a general grouped convolution (two groups of
// 16 channels, 14×14, 3×3, batch 64), forward + dx + dW + db on raw
// slices, against convNode's im2col + GEMM passes on the equivalent dense
// kernel (twice the multiplications, half of them by zero). GFLOP/cpu-s
// counts the grouped layer's useful work for both.
func BenchmarkGroupConvGeneral(b *testing.B) {
	s := gshape{64, 32, 14, 14, 32, 3, 1, 1, 2}
	g := s.geom()
	r := rand.New(rand.NewPCG(13, 7))
	nx, nw, ny, nb := g.sizes()
	x, w, bias, dy := gconvRand(r, nx), gconvRand(r, nw), gconvRand(r, nb), gconvRand(r, ny)
	y, dx, dw, db := make([]float32, ny), make([]float32, nx), make([]float32, nw), make([]float32, nb)
	dense := make([]float32, g.out*g.c*9)
	ddw := make([]float32, len(dense))
	gc := &gconv{g: g}
	cv := &conv{g: convGeom{n: g.n, c: g.c, h: g.h, w: g.w, cout: g.out, k: g.k, s: g.s, p: g.p, oh: g.oh, ow: g.ow}}
	for _, way := range []string{"grouped", "dense-convNode"} {
		b.Run(way, func(b *testing.B) {
			cpu0 := gconvCPUTime()
			for i := 0; i < b.N; i++ {
				if way == "grouped" {
					gc.forward(y, x, w, bias)
					gc.gradX(dx, w, dy)
					gc.gradW(dw, x, dy)
					g.gradB(db, dy)
					continue
				}
				cv.forward(y, x, dense, bias)
				cv.gradX(dx, dense, dy)
				cv.gradW(ddw, x, dy)
				cv.g.gradB(db, dy)
			}
			cpu := gconvCPUTime() - cpu0
			b.ReportMetric(dwFlops(s)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
			b.ReportMetric(dwFlops(s)*float64(b.N)/cpu.Seconds()/1e9, "GFLOP/cpu-s")
		})
	}
}
