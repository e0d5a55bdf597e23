package train

import (
	"slices"
	"sync"
	"sync/atomic"

	"github.com/tinyqat/tinyqat/internal/par"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// gradEngine is the training tape machine's engine: Gorgonia's, except
// that its Add of two float32 tensors of one shape is split over the
// cores (par.For). The tape adds with it the gradients of a node that two
// ops read — a residual block's input, read by its first convolution and
// its shortcut — and on one core those adds were a serial pass over the
// block inputs' gradients (3% of MNIST resnet8's step, 5% of its
// two-thread step). Each element is one float32 addition, as Gorgonia's,
// so the sums are the same bits on any core count.
type gradEngine struct{ G.StandardEngine }

func (e gradEngine) Add(a, b tensor.Tensor, opts ...tensor.FuncOpt) (tensor.Tensor, error) {
	if x, y, ok := f32Pair(a, b); ok {
		fo := optPool.Get().(*tensor.OpOpt)
		for _, o := range opts {
			o(fo)
		}
		reuse, incr := fo.IncrReuse()
		safe := fo.Safe()
		*fo = tensor.OpOpt{} // hold no tensor in the pool
		optPool.Put(fo)
		var dst tensor.Tensor
		switch {
		case incr:
		case reuse != nil:
			// Gorgonia reshapes a reused tensor of a's size but another
			// shape to a's; that and the errors stay Gorgonia's.
			if slices.Equal(reuse.Shape(), a.Shape()) { // Eq takes (6) and (1, 6) as equal
				dst = reuse
			}
		case !safe:
			dst = a
		}
		if z, ok := f32Data(dst); ok && len(z) == len(x) {
			parAdds.Add(1)
			par.For(len(z), par.Pass(1, 0), func(i0, i1 int) {
				z := z[i0:i1]
				x, y := x[i0:i1][:len(z)], y[i0:i1][:len(z)] // no bounds checks in the loop
				for i := range z {
					z[i] = x[i] + y[i]
				}
			})
			return dst, nil
		}
	}
	return e.StandardEngine.Add(a, b, opts...)
}

// optPool holds Add's parsed options. tensor.ParseFuncOpts borrows them
// from tensor's pool, whose return is unexported: one allocation a call.
var optPool = sync.Pool{New: func() any { return new(tensor.OpOpt) }}

// parAdds counts the Adds gradEngine ran itself (a test hook: the tape
// stamps every value with its engine whether or not the override ran).
var parAdds atomic.Int64

// f32Pair returns the data of a and b if both are dense float32 tensors
// of one shape, stored in order (no views that need an iterator).
func f32Pair(a, b tensor.Tensor) (x, y []float32, ok bool) {
	ad, ok1 := a.(*tensor.Dense)
	bd, ok2 := b.(*tensor.Dense)
	if !ok1 || !ok2 || ad.Dtype() != tensor.Float32 || bd.Dtype() != tensor.Float32 ||
		!ad.Shape().Eq(bd.Shape()) || ad.RequiresIterator() || bd.RequiresIterator() {
		return nil, nil, false
	}
	x, okx := ad.Data().([]float32)
	y, oky := bd.Data().([]float32)
	return x, y, okx && oky && len(x) == len(y)
}

// f32Data returns t's data if it is a dense float32 tensor stored in order.
func f32Data(t tensor.Tensor) ([]float32, bool) {
	d, ok := t.(*tensor.Dense)
	if !ok || d.Dtype() != tensor.Float32 || d.RequiresIterator() {
		return nil, false
	}
	z, ok := d.Data().([]float32)
	return z, ok
}
