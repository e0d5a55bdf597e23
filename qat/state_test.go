package qat

import (
	"encoding/binary"
	"math"
	"runtime"
	"strings"
	"testing"

	"github.com/tinyqat/tinyqat/rundir"
)

// minMaxBlob is a MinMax observer's saved state: seen, then claimed
// channels, then the ranges given.
func minMaxBlob(seen byte, channels uint32, ranges ...float64) []byte {
	b := binary.LittleEndian.AppendUint32([]byte{1, 'm', seen}, channels)
	for _, v := range ranges {
		b = binary.LittleEndian.AppendUint64(b, math.Float64bits(v))
	}
	return b
}

// TestSetStateRefuses: quantizer state that SetState accepted before
// (found by FuzzQATState and by reading what it asserts), each now an
// error naming the slot and what is wrong. base is the fuzzConfigs index.
func TestSetStateRefuses(t *testing.T) {
	bases := fuzzStates(t)
	for _, tc := range []struct {
		name   string
		base   int
		change func(qs *rundir.QuantState)
		want   string
	}{
		// Accepted, then the forward pass panicked in quant.LayoutOf.
		{"a scale more than channels", 0, func(qs *rundir.QuantState) {
			qs.Tensors["c.weight.scale"] = append(qs.Tensors["c.weight.scale"], 0.1)
			qs.Tensors["c.weight.zero"] = append(qs.Tensors["c.weight.zero"], 0)
		}, "c.weight has 4 scales, the slot 3 channels"},
		{"two scales per tensor", 0, func(qs *rundir.QuantState) {
			qs.Tensors["input.scale"], qs.Tensors["input.zero"] = []float32{0.1, 0.1}, []float32{0, 0}
		}, "input has 2 scales, the slot 1 channels"},
		// Truncated to zero point 3 (or int32(NaN)).
		{"fractional zero point", 1, func(qs *rundir.QuantState) { qs.Tensors["c.out.zero"] = []float32{3.5} }, "c.out: zero point 0 is 3.5, not an integer"},
		{"zero point 2^31", 1, func(qs *rundir.QuantState) { qs.Tensors["c.out.zero"] = []float32{1 << 31} }, "zero point 0 is 2.1474836e+09, not an integer"},
		// Observer statistics: unseen ones with ranges were dropped, ranges
		// of another channel count dropped at the next step, NaN accepted.
		{"unseen with ranges", 0, func(qs *rundir.QuantState) { qs.Blobs["input"] = minMaxBlob(0, 1, -1, 1) }, "input: calibrate: min/max state: not seen but 1 channels"},
		{"NaN range", 0, func(qs *rundir.QuantState) { qs.Blobs["input"] = minMaxBlob(1, 1, math.NaN(), 1) }, "input: calibrate: min/max state: channel 0: range [NaN, 1] is not finite"},
		{"statistics of 2 channels", 0, func(qs *rundir.QuantState) { qs.Blobs["c.weight"] = minMaxBlob(1, 2, -1, -1, 1, 1) }, "c.weight: observer statistics of 2 channels, the slot has 3"},
		{"negative histogram count", 1, func(qs *rundir.QuantState) {
			b := qs.Blobs["input"]
			binary.LittleEndian.PutUint64(b[7+8*3:], math.Float64bits(-1))
		}, "input: calibrate: histogram state: channel 0: bin 0 counts -1"},
		{"histogram truncated", 1, func(qs *rundir.QuantState) { qs.Blobs["input"] = qs.Blobs["input"][:100] }, "input: calibrate: histogram state: 93 bytes"},
		// Learned scales: a part of the moments was dropped, moments of
		// another size left the scales untrained (StepScale skips them),
		// a negative second moment made every step NaN, and a step count
		// of 2^50 saved a pair that did not load again.
		{"moments without m", 2, func(qs *rundir.QuantState) { delete(qs.Tensors, "lsq.f.out.adam.m.0") }, "qat: learned scales of f.out: checkpoint has lsq.f.out.adam."},
		{"moments of 2 for 3 scales", 2, func(qs *rundir.QuantState) {
			qs.Tensors["lsq.c.weight.adam.m.0"], qs.Tensors["lsq.c.weight.adam.v.0"] = []float32{0, 0}, []float32{0, 0}
		}, "qat: learned scales of c.weight: 2 moments for 3 scales"},
		{"negative second moment", 2, func(qs *rundir.QuantState) { qs.Tensors["lsq.input.adam.v.0"] = []float32{-1} }, "lsq.input.adam.0: element 0 has moments 0.050000012, -1"},
		{"step count 2^50", 2, func(qs *rundir.QuantState) { qs.Tensors["lsq.input.adam.t"] = []float32{1 << 50} }, "no Adam state lsq.input.adam.t (or not a step count: [1.1258999e+15])"},
		{"negative steps", 0, func(qs *rundir.QuantState) { qs.Meta = `{"steps":-1}` }, "qat: bad quantizer state: -1 steps"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			qs := bases[tc.base].Clone()
			tc.change(&qs)
			_, q := fuzzQuantizer(t, tc.base)
			if err := q.SetState(qs); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v, want an error with %q", err, tc.want)
			}
		})
	}
}

// TestMinMaxStateSmallAlloc: seven bytes claiming 2^20 channels are an
// error before anything is allocated for them (the ranges took 16 MiB).
func TestMinMaxStateSmallAlloc(t *testing.T) {
	_, q := fuzzQuantizer(t, 0)
	qs, err := q.State()
	if err != nil {
		t.Fatal(err)
	}
	qs.Blobs["input"] = minMaxBlob(1, 1<<20)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	err = q.SetState(qs)
	runtime.ReadMemStats(&after)
	if err == nil || !strings.Contains(err.Error(), "input: calibrate: min/max state: 0 bytes of ranges for 1048576 channels") {
		t.Errorf("got %v", err)
	}
	if n := after.TotalAlloc - before.TotalAlloc; n > 1<<20 {
		t.Errorf("%d bytes allocated for a 7-byte state", n)
	}
}
