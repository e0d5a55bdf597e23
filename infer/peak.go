package infer

import (
	"runtime"
	"time"
	"unsafe"
)

// Peak is the int8 dot-product throughput (MeasurePeak), or the float32
// multiply-add throughput (MeasureFloatPeak), of one core at a kernel
// level: the roof that a layer's G MAC/s is measured against.
type Peak struct {
	// Level is the kernel level ("avx512vnni", "avx2" or "go"; for the
	// float peak "avx512", "avx2" or "go (scalar)").
	Level string `json:"level"`
	// GMACs is giga int8 multiply-accumulates (float: float32 fused
	// multiply-adds) per second on one thread.
	GMACs float64 `json:"gmacs"`
}

// MeasurePeak measures the int8 dot-product peak of one core at the
// kernel level this CPU runs models with (the best it has, chosen at run
// time), for about d: a loop of independent dot-product instructions
// with no memory operands (16 chains of VPDPBUSD zmm with AVX-512 VNNI; 6
// chains of the AVX2 kernels' VPMADDUBSW + VPMADDWD + VPADDD on ymm),
// or, for the portable level, the Go kernel's inner loop on registers. The
// fastest of many short rounds counts (the machine may be busy). It runs
// on the calling goroutine, locked to its thread.
func MeasurePeak(d time.Duration) Peak {
	lv := activeLevel
	if testLevel != nil {
		lv = testLevel
	}
	return measurePeak(lv, d)
}

// peakIters runs iters iterations of lv's peak loop and returns the loop's
// result (lane 0 of the first accumulator: iters·Σ_{b<4} u[b]·w[b]) and
// the multiply-accumulates done.
func peakIters(lv *level, u *[64]uint8, w *[64]int8, iters int) (int32, int64) {
	if fn, per := peakLoop(lv); fn != nil {
		return fn(&u[0], (*uint8)(unsafe.Pointer(&w[0])), iters), int64(iters) * int64(per)
	}
	return peakGo(u, w, iters), int64(iters) * 64
}

// peakGo is the portable level's peak loop: gemmPackedGo's inner step
// (16 channels × one 4-byte group) on operands held in registers.
func peakGo(u *[64]uint8, w *[64]int8, iters int) int32 {
	var s [16]int32
	u0, u1, u2, u3 := int32(u[0]), int32(u[1]), int32(u[2]), int32(u[3])
	for range iters {
		for j := range s {
			s[j] += u0*int32(w[4*j]) + u1*int32(w[4*j+1]) + u2*int32(w[4*j+2]) + u3*int32(w[4*j+3])
		}
	}
	return s[0]
}

func measurePeak(lv *level, d time.Duration) Peak {
	var u [64]uint8
	var w [64]int8
	for i := range u {
		u[i], w[i] = uint8(i), int8(i%7-3)
	}
	return Peak{Level: lv.name, GMACs: fastestRate(d, func(iters int) int64 {
		_, macs := peakIters(lv, &u, &w, iters)
		return macs
	})}
}

// fastestRate runs loop (iters iterations, returning the operations it
// did) in short rounds for about d, on the calling goroutine locked to
// its thread, and returns the fastest round's operations per nanosecond.
func fastestRate(d time.Duration, loop func(iters int) int64) float64 {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	// Short rounds (about 200 µs), as many as fit in d, at least 20: on a
	// busy machine a short round often runs a whole time slice without
	// being preempted, and the fastest one counts.
	const round = 200 * time.Microsecond
	iters := 1 << 8
	for {
		t0 := time.Now()
		loop(iters)
		if time.Since(t0) >= round || iters >= 1<<40 {
			break
		}
		iters *= 2
	}
	best := 0.0
	for r := 0; r < max(20, int(d/round)); r++ {
		t0 := time.Now()
		ops := loop(iters)
		if el := time.Since(t0); el > 0 {
			best = max(best, float64(ops)/float64(el.Nanoseconds()))
		}
	}
	return best
}
