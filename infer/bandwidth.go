package infer

import (
	"fmt"
	"runtime"
	"time"
)

// Bandwidth is one thread's streaming memory throughput on buffers of one
// size: the sloped roof of a roofline, beside Peak's flat one.
type Bandwidth struct {
	// Level is the loop's level ("avx512vnni": zmm loads and stores;
	// "avx2": ymm; "go": the plain Go loops).
	Level string `json:"level"`
	// Bytes is the size of the buffer read; the copy moves Bytes/2 from
	// one buffer to another, so both touch Bytes.
	Bytes int `json:"bytes"`
	// ReadGBs is 10⁹ bytes read per second (a sum of every 64-bit word).
	ReadGBs float64 `json:"read_gbs"`
	// CopyGBs is 10⁹ bytes moved per second by the copy, counting each
	// byte twice (read once, written once).
	CopyGBs float64 `json:"copy_gbs"`
}

// Buffer sizes for MeasureBandwidth: CacheBytes fits the L2 cache of the
// machines we run on (1–2 MiB per core), MemoryBytes is four times
// the largest L3 slice among them (32 MiB), so it streams from DRAM.
const (
	CacheBytes  = 512 << 10
	MemoryBytes = 128 << 20
)

// bandwidthBlock is the bytes one iteration of the assembly loops moves;
// buffer sizes are multiples of it.
const bandwidthBlock = 256

// MeasureBandwidth measures, for about d on the calling goroutine locked
// to its thread, how fast one core reads a buffer of size bytes (a sum of
// its 64-bit words, at the widest loads the kernel level has) and copies
// half of it into the other half. size must be a positive multiple of
// 256. Each round passes over the buffer often enough to last about
// 200 µs; the fastest round counts (the machine may be busy), at least 5
// rounds. Memory is allocated and touched before timing starts.
func MeasureBandwidth(size int, d time.Duration) (Bandwidth, error) {
	if size < 2*bandwidthBlock || size%(2*bandwidthBlock) != 0 || size > 1<<34 {
		return Bandwidth{}, fmt.Errorf("infer: MeasureBandwidth: size %d bytes, want a positive multiple of %d up to 16 GiB", size, 2*bandwidthBlock)
	}
	lv := activeLevel
	if testLevel != nil {
		lv = testLevel
	}
	return measureBandwidth(lv, size, d), nil
}

// readSum is lv's read loop: the sum of p's words modulo 2⁶⁴. len(p) is
// a multiple of bandwidthBlock/8.
func readSum(lv *level, p []uint64) uint64 {
	if rd, _ := bandwidthLoops(lv); rd != nil && len(p) > 0 {
		return rd(&p[0], len(p))
	}
	return readSumGo(p)
}

// copyWords is lv's copy loop: dst[i] = src[i] for i < len(src).
// len(src) is a multiple of bandwidthBlock/8 and at most len(dst).
func copyWords(lv *level, dst, src []uint64) {
	if _, cp := bandwidthLoops(lv); cp != nil && len(src) > 0 {
		cp(&dst[0], &src[0], len(src))
		return
	}
	copyGo(dst[:len(src)], src)
}

// readSumGo is the reference read loop: Σ p[i] modulo 2⁶⁴, in four
// independent chains as the assembly loops keep them.
func readSumGo(p []uint64) uint64 {
	var s0, s1, s2, s3 uint64
	for i := 0; i+3 < len(p); i += 4 {
		s0 += p[i]
		s1 += p[i+1]
		s2 += p[i+2]
		s3 += p[i+3]
	}
	for i := len(p) &^ 3; i < len(p); i++ {
		s0 += p[i]
	}
	return s0 + s1 + s2 + s3
}

// copyGo is the reference copy loop, one word at a time.
func copyGo(dst, src []uint64) {
	//lint:ignore S1001 the reference twin is the plain loop, not the runtime's memmove
	for i, v := range src {
		dst[i] = v
	}
}

func measureBandwidth(lv *level, size int, d time.Duration) Bandwidth {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	buf := make([]uint64, size/8)
	for i := range buf {
		buf[i] = uint64(i)
	}
	half := len(buf) / 2
	var sink uint64 // the read loop's results, kept alive to the end
	defer runtime.KeepAlive(&sink)
	const round = 200 * time.Microsecond
	// reps passes make a round of about 200 µs (one pass, for a buffer
	// that takes longer).
	reps := 1
	for {
		t0 := time.Now()
		for range reps {
			sink += readSum(lv, buf)
		}
		if time.Since(t0) >= round || reps >= 1<<20 {
			break
		}
		reps *= 2
	}
	rounds := func(pass func()) float64 {
		best := 0.0
		start := time.Now()
		for r := 0; r < 5 || time.Since(start) < d/2; r++ {
			t0 := time.Now()
			for range reps {
				pass()
			}
			if el := time.Since(t0); el > 0 {
				best = max(best, float64(reps)*float64(size)/float64(el.Nanoseconds()))
			}
		}
		return best
	}
	bw := Bandwidth{Level: lv.name, Bytes: size}
	bw.ReadGBs = rounds(func() { sink += readSum(lv, buf) })
	bw.CopyGBs = rounds(func() { copyWords(lv, buf[half:], buf[:half]) })
	return bw
}

// Traffic is the byte model of a roofline: the fewest bytes layer l moves
// to compute n samples. Its weights (1 byte each, as the integer modes
// hold them) and its biases, multipliers and shifts (4 bytes each) are
// read once for the whole batch; every sample's input and output
// activations (1 byte an element; an add reads two inputs) once each.
// Real kernels move more (an im2col copy, weights again for each chunk
// of the batch, partial tiles), so the arithmetic intensity
// MACs·n / Traffic(n) is the most a layer can have.
func (l *Layer) Traffic(n int) int64 {
	params := int64(len(l.W)) + 4*int64(len(l.Bias)+len(l.M0)+len(l.Shift))
	in := int64(l.InSize())
	if l.Kind == KindAdd {
		in = 2 * int64(l.OutSize())
	}
	return params + int64(n)*(in+int64(l.OutSize()))
}
