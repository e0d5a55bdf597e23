package f32

import "runtime"

// AddZero sets x[i] = 0 + x[i] for every element: it turns −0 into +0 and
// leaves every other value (NaN included) as it is. That is the exact
// result of accumulating x into a cleared buffer, which is what a caller
// that stops accumulating can do instead, in one parallel pass. It uses
// all cores from minParallelAdam elements on (elementwise: the same bits
// for any split).
func AddZero(x []float32) {
	threads := runtime.GOMAXPROCS(0)
	if len(x) < minParallelAdam || threads < 2 {
		addZero(x)
		return
	}
	split(threads, func(t int) { addZero(x[len(x)*t/threads : len(x)*(t+1)/threads]) })
}

// zero is a variable so that the compiler cannot treat 0 + v as v (it
// does not for floats, but the variable states the intent).
var zero float32

func addZero(x []float32) {
	z := zero
	for i, v := range x {
		x[i] = z + v
	}
}
