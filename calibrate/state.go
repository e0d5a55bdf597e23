package calibrate

import (
	"encoding/binary"
	"fmt"
	"math"
)

// Observer statistics are checkpoint state (as PyTorch keeps an observer's
// min/max in registered buffers): MarshalBinary and UnmarshalBinary save
// and restore them exactly, float64 bits included, so that quantization-
// aware training resumes bit for bit. The configuration (momentum,
// percentile, bits) is not part of the state: it comes from the quantizer
// configuration that rebuilds the observer.
//
// Layout, little endian:
//
//	byte   format version (1)
//	byte   kind: 'm' MinMax, 'h' Histogram
//	byte   seen (0 or 1)
//	uint32 channels
//	MinMax:    lo[channels], hi[channels] as float64 bits
//	Histogram: per channel a, lo, hi, counts[Bins] as float64 bits
const stateVersion = 1

// StateError reports saved observer state that cannot be restored.
type StateError struct {
	Observer string
	Problem  string
}

func (e *StateError) Error() string {
	return fmt.Sprintf("calibrate: %s state: %s", e.Observer, e.Problem)
}

func appendF64(b []byte, v ...float64) []byte {
	for _, x := range v {
		b = binary.LittleEndian.AppendUint64(b, math.Float64bits(x))
	}
	return b
}

// stateReader decodes the layout above, remembering the first problem.
type stateReader struct {
	b   []byte
	err error
}

func (r *stateReader) u32() int {
	if r.err != nil || len(r.b) < 4 {
		r.fail()
		return 0
	}
	v := binary.LittleEndian.Uint32(r.b)
	r.b = r.b[4:]
	return int(v)
}

func (r *stateReader) f64s(dst []float64) {
	if r.err != nil || len(r.b) < 8*len(dst) {
		r.fail()
		return
	}
	for i := range dst {
		dst[i] = math.Float64frombits(binary.LittleEndian.Uint64(r.b[8*i:]))
	}
	r.b = r.b[8*len(dst):]
}

func (r *stateReader) fail() {
	if r.err == nil {
		r.err = fmt.Errorf("truncated")
	}
}

// header checks version and kind and returns seen and the channel count.
func readHeader(b []byte, kind byte, name string) (*stateReader, bool, int, error) {
	if len(b) < 7 {
		return nil, false, 0, &StateError{name, fmt.Sprintf("%d bytes, too short", len(b))}
	}
	if b[0] != stateVersion {
		return nil, false, 0, &StateError{name, fmt.Sprintf("format version %d, this build reads %d", b[0], stateVersion)}
	}
	if b[1] != kind {
		return nil, false, 0, &StateError{name, fmt.Sprintf("saved by another observer kind (%q)", b[1])}
	}
	if b[2] > 1 {
		return nil, false, 0, &StateError{name, fmt.Sprintf("bad seen flag %d", b[2])}
	}
	r := &stateReader{b: b[3:]}
	ch := r.u32()
	if ch > 1<<20 {
		return nil, false, 0, &StateError{name, fmt.Sprintf("%d channels", ch)}
	}
	return r, b[2] == 1, ch, nil
}

func header(kind byte, seen bool, ch int) []byte {
	b := []byte{stateVersion, kind, 0}
	if seen {
		b[2] = 1
	}
	return binary.LittleEndian.AppendUint32(b, uint32(ch))
}

// MarshalBinary saves the running range.
func (o *MinMax) MarshalBinary() ([]byte, error) {
	b := header('m', o.seen, len(o.lo))
	b = appendF64(b, o.lo...)
	return appendF64(b, o.hi...), nil
}

// UnmarshalBinary restores what MarshalBinary saved.
func (o *MinMax) UnmarshalBinary(b []byte) error {
	r, seen, ch, err := readHeader(b, 'm', "min/max")
	if err != nil {
		return err
	}
	// The length first: seven bytes must not allocate for 2^20 channels.
	if want := 16 * ch; len(r.b) != want {
		return &StateError{"min/max", fmt.Sprintf("%d bytes of ranges for %d channels, want %d", len(r.b), ch, want)}
	}
	lo, hi := make([]float64, ch), make([]float64, ch)
	r.f64s(lo)
	r.f64s(hi)
	if seen && ch == 0 {
		return &StateError{"min/max", "seen but no channels"}
	}
	if !seen && ch != 0 {
		return &StateError{"min/max", fmt.Sprintf("not seen but %d channels", ch)}
	}
	for c := range lo {
		if !finite64(lo[c]) || !finite64(hi[c]) {
			return &StateError{"min/max", fmt.Sprintf("channel %d: range [%v, %v] is not finite", c, lo[c], hi[c])}
		}
	}
	if !seen {
		lo, hi = nil, nil
	}
	o.lo, o.hi, o.seen, o.batch = lo, hi, seen, false
	return nil
}

// MarshalBinary saves the histograms.
func (o *Histogram) MarshalBinary() ([]byte, error) {
	b := header('h', o.seen, len(o.h))
	for _, h := range o.h {
		b = appendF64(b, h.a, h.lo, h.hi)
		b = appendF64(b, h.counts...)
	}
	return b, nil
}

// UnmarshalBinary restores what MarshalBinary saved.
func (o *Histogram) UnmarshalBinary(b []byte) error {
	r, seen, ch, err := readHeader(b, 'h', "histogram")
	if err != nil {
		return err
	}
	if want := 8 * ch * (3 + Bins); len(r.b) != want {
		return &StateError{"histogram", fmt.Sprintf("%d bytes of histograms for %d channels, want %d", len(r.b), ch, want)}
	}
	h := make([]hist, ch)
	for c := range h {
		var head [3]float64
		r.f64s(head[:])
		h[c] = hist{a: head[0], lo: head[1], hi: head[2], counts: make([]float64, Bins)}
		r.f64s(h[c].counts)
		if !(h[c].a >= 0) || math.IsInf(h[c].a, 0) {
			return &StateError{"histogram", fmt.Sprintf("channel %d: bad half-width %v", c, h[c].a)}
		}
		if math.IsNaN(h[c].lo) || math.IsNaN(h[c].hi) {
			return &StateError{"histogram", fmt.Sprintf("channel %d: extremes %v, %v", c, h[c].lo, h[c].hi)}
		}
		for i, n := range h[c].counts {
			if !(n >= 0) || math.IsInf(n, 0) {
				return &StateError{"histogram", fmt.Sprintf("channel %d: bin %d counts %v", c, i, n)}
			}
		}
	}
	if seen && ch == 0 {
		return &StateError{"histogram", "seen but no channels"}
	}
	if !seen && ch != 0 {
		return &StateError{"histogram", fmt.Sprintf("not seen but %d channels", ch)}
	}
	if !seen {
		h = nil
	}
	o.h, o.seen = h, seen
	return nil
}

// finite64 reports whether v is neither NaN nor ±Inf.
func finite64(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }
