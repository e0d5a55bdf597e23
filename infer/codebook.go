package infer

import (
	"fmt"
	"strconv"

	st "github.com/nlpodyssey/safetensors"
	"github.com/tinyqat/tinyqat/internal/stfile"
)

// Bit-packed weights in the model file.
//
// A layer's weights are stored in one of three forms; the runtime always
// gets int8 weights in its kernel layout W[c·fan+j], unpacked at load:
//
//	int8       w_bits = 8: tensor "weight", I8, one byte a weight
//	packed     w_bits = b < 8: tensor "wpacked", U8, each weight stored as
//	           u = q + (2^(b−1) − 1) ∈ [0, 2^b − 2] in b bits
//	codebook   cb_bits = b, cb_groups = G: tensor "cb_index", U8, each
//	           weight's cluster index in b bits, and "cb_lut", I8 (G, 2^b),
//	           the centroids quantized to int8 with the weight scale: one
//	           table (G = 1, a per-tensor codebook and weight scale) or one
//	           per output channel (G = OutC): q = LUT[g(c)·2^b + index]
//	float      w8-only, cb_bits = b, cb_groups = G: "cb_index" as above and
//	codebook   "cb_centroids", F32 (G, 2^b), the float32 centroids; no int8
//	           weights exist: the indices stay packed in memory and
//	           FloatLogits looks rows up into float32 as it uses them
//
// Packing is LSB first: value i occupies bits [i·b, (i+1)·b) of the byte
// stream (bit k of the stream is bit k mod 8 of byte k / 8), and the unused
// high bits of the last byte are zero, so a model has exactly one encoding
// and round-trips bit for bit.

// PackedLen is the number of bytes that n values of b bits occupy.
func PackedLen(n, bits int) int { return (n*bits + 7) / 8 }

// PackBits packs the low bits of each value of src into dst, LSB first.
// len(dst) must be PackedLen(len(src), bits), and every value < 2^bits.
func PackBits(dst []byte, src []uint8, bits int) {
	if bits < 1 || bits > 8 || len(dst) != PackedLen(len(src), bits) {
		panic(fmt.Sprintf("infer: packing %d values of %d bits into %d bytes", len(src), bits, len(dst)))
	}
	var acc uint32
	n, o := 0, 0 // bits held in acc, output position
	for _, v := range src {
		acc |= uint32(v) << n
		n += bits
		for n >= 8 {
			dst[o] = byte(acc)
			o++
			acc >>= 8
			n -= 8
		}
	}
	if n > 0 {
		dst[o] = byte(acc)
	}
}

// UnpackBits is the inverse of PackBits. It reports an error when src has
// the wrong length or its padding bits are not zero.
func UnpackBits(dst []uint8, src []byte, bits int) error {
	if bits < 1 || bits > 8 {
		return fmt.Errorf("packed width %d bits outside [1, 8]", bits)
	}
	if len(src) != PackedLen(len(dst), bits) {
		return fmt.Errorf("%d packed bytes for %d values of %d bits, want %d", len(src), len(dst), bits, PackedLen(len(dst), bits))
	}
	mask := uint32(1)<<bits - 1
	var acc uint32
	n, s := 0, 0
	for i := range dst {
		for n < bits {
			acc |= uint32(src[s]) << n
			s++
			n += 8
		}
		dst[i] = uint8(acc & mask)
		acc >>= bits
		n -= bits
	}
	if acc != 0 {
		return fmt.Errorf("nonzero padding bits after the last packed value")
	}
	return nil
}

// codebookK is the table size of a codebook layer.
func (l *Layer) codebookK() int { return 1 << l.CBits }

// CheckCodebook validates a layer's codebook for a model of the given mode
// (Validate calls it for every layer).
func (l *Layer) CheckCodebook(mode Mode) error { return l.checkPacked(mode) }

// checkPacked validates a layer's codebook: sizes, table range, and that
// W is the table looked up (the integer runtime only reads W).
func (l *Layer) checkPacked(mode Mode) error {
	if l.CBits == 0 {
		if l.Index != nil || l.LUT != nil || l.Packed != nil || l.Centroids != nil || l.CGroups != 0 {
			return fmt.Errorf("codebook tensors without cb_bits")
		}
		return nil
	}
	if l.CBits < 1 || l.CBits > 8 {
		return fmt.Errorf("codebook bits %d outside [1, 8]", l.CBits)
	}
	if l.CGroups != 1 && l.CGroups != l.OutC {
		return fmt.Errorf("%d codebook groups for %d channels (want 1 or %d)", l.CGroups, l.OutC, l.OutC)
	}
	if mode == W8Only {
		return l.checkFloatCodebook()
	}
	if l.Packed != nil || l.Centroids != nil {
		return fmt.Errorf("float codebook in an integer %s model", mode)
	}
	k := l.codebookK()
	if len(l.Index) != len(l.W) {
		return fmt.Errorf("%d codebook indices for %d weights", len(l.Index), len(l.W))
	}
	if len(l.LUT) != l.CGroups*k {
		return fmt.Errorf("codebook table has %d entries, want %d groups × %d", len(l.LUT), l.CGroups, k)
	}
	wmax := int8(int32(1)<<(l.WBits-1) - 1)
	for i, v := range l.LUT {
		if v < -wmax || v > wmax {
			return fmt.Errorf("codebook entry %d is %d, outside ±%d", i, v, wmax)
		}
	}
	fan := l.fanIn()
	for i, ix := range l.Index {
		e := l.lutIndex(i/fan, ix)
		if e < 0 {
			return fmt.Errorf("codebook index %d is %d, outside [0, %d)", i, ix, k)
		}
		if l.W[i] != l.LUT[e] {
			return fmt.Errorf("weight %d is %d, its codebook entry %d", i, l.W[i], l.LUT[e])
		}
	}
	return nil
}

// lutIndex is the table entry of index ix in channel c, or −1.
func (l *Layer) lutIndex(c int, ix uint8) int {
	k := l.codebookK()
	if int(ix) >= k {
		return -1
	}
	if l.CGroups > 1 {
		return c*k + int(ix)
	}
	return int(ix)
}

func (l *Layer) checkFloatCodebook() error {
	if l.W != nil || l.Index != nil || l.LUT != nil {
		return fmt.Errorf("float codebook layer with int8 weights or tables")
	}
	n := l.OutC * l.fanIn()
	if len(l.Packed) != PackedLen(n, l.CBits) {
		return fmt.Errorf("%d packed index bytes for %d weights of %d bits", len(l.Packed), n, l.CBits)
	}
	if len(l.Centroids) != l.CGroups*l.codebookK() {
		return fmt.Errorf("%d centroids, want %d groups × %d", len(l.Centroids), l.CGroups, l.codebookK())
	}
	for i, v := range l.Centroids {
		if v != v || v > 1e30 || v < -1e30 {
			return fmt.Errorf("centroid %d is %v", i, v)
		}
	}
	if pad := n * l.CBits % 8; pad != 0 && l.Packed[len(l.Packed)-1]>>pad != 0 {
		return fmt.Errorf("nonzero padding bits after the last packed index")
	}
	return nil
}

// floatRow writes the float32 weights of output channel c into dst: the
// float codebook looked up, or the int8 weights dequantized.
func (l *Layer) floatRow(dst []float32, c int) {
	fan := l.fanIn()
	if l.Centroids == nil {
		dequantRow(dst, l.W[c*fan:(c+1)*fan], l.WScale[c])
		return
	}
	k := l.codebookK()
	tab := l.Centroids[:k]
	if l.CGroups > 1 {
		tab = l.Centroids[c*k : (c+1)*k]
	}
	bits := l.CBits
	mask := uint32(1)<<bits - 1
	pos := c * fan * bits // bit position of the row's first index
	for j := range dst[:fan] {
		b, sh := pos>>3, uint(pos&7)
		v := uint32(l.Packed[b])
		if b+1 < len(l.Packed) {
			v |= uint32(l.Packed[b+1]) << 8
		}
		dst[j] = tab[(v>>sh)&mask]
		pos += bits
	}
}

// putWeights adds a layer's weight tensors (in the packed form its bits
// allow) to a model file under prefix.
func putWeights(ts map[string]stfile.Tensor, prefix string, l *Layer) {
	fan := l.fanIn()
	switch {
	case l.Centroids != nil:
		ts[prefix+"cb_index"] = stfile.U8(l.Packed, len(l.Packed))
		ts[prefix+"cb_centroids"] = stfile.F32(l.Centroids, l.CGroups, l.codebookK())
	case l.CBits > 0:
		buf := make([]byte, PackedLen(len(l.Index), l.CBits))
		PackBits(buf, l.Index, l.CBits)
		ts[prefix+"cb_index"] = stfile.U8(buf, len(buf))
		ts[prefix+"cb_lut"] = stfile.I8(l.LUT, l.CGroups, l.codebookK())
	case l.WBits < 8:
		off := int8(int32(1)<<(l.WBits-1) - 1)
		u := make([]uint8, len(l.W))
		for i, v := range l.W {
			u[i] = uint8(v + off)
		}
		buf := make([]byte, PackedLen(len(u), l.WBits))
		PackBits(buf, u, l.WBits)
		ts[prefix+"wpacked"] = stfile.U8(buf, len(buf))
	default:
		ts[prefix+"weight"] = stfile.I8(l.W, l.OutC, fan)
	}
}

// getWeights reads a layer's weights in whichever form putWeights chose
// and unpacks them into l.W. get returns the named tensor of layer i after
// checking its type and element count.
func getWeights(get func(i int, name string, dt st.DType, n int) (stfile.Tensor, error),
	getShaped func(i int, name string, dt st.DType, dims ...int) (stfile.Tensor, error), i int, l *Layer, mode Mode) error {
	n := l.OutC * l.fanIn()
	if l.WBits < 2 || l.WBits > 8 {
		return fmt.Errorf("layer %d: weight bits %d outside [2, 8]", i, l.WBits)
	}
	if l.CBits != 0 && (l.CBits < 1 || l.CBits > 8) {
		return fmt.Errorf("layer %d: codebook bits %d outside [1, 8]", i, l.CBits)
	}
	if l.CBits != 0 && l.CGroups != 1 && l.CGroups != l.OutC {
		return fmt.Errorf("layer %d: %d codebook groups for %d channels", i, l.CGroups, l.OutC)
	}
	switch {
	case l.CBits != 0 && mode == W8Only:
		t, err := get(i, "cb_index", st.U8, PackedLen(n, l.CBits))
		if err != nil {
			return err
		}
		l.Packed, _ = t.Uint8s()
		if t, err = get(i, "cb_centroids", st.F32, l.CGroups*l.codebookK()); err != nil {
			return err
		}
		l.Centroids, _ = t.Float32s()
	case l.CBits != 0:
		t, err := get(i, "cb_index", st.U8, PackedLen(n, l.CBits))
		if err != nil {
			return err
		}
		packed, _ := t.Uint8s()
		l.Index = make([]uint8, n)
		if err := UnpackBits(l.Index, packed, l.CBits); err != nil {
			return fmt.Errorf("layer %d: codebook indices: %v", i, err)
		}
		k := l.codebookK()
		if t, err = get(i, "cb_lut", st.I8, l.CGroups*k); err != nil {
			return err
		}
		l.LUT, _ = t.Int8s()
		wmax := int8(int32(1)<<(l.WBits-1) - 1)
		for j, v := range l.LUT {
			if v < -wmax || v > wmax {
				return fmt.Errorf("layer %d: codebook entry %d is %d, outside ±%d", i, j, v, wmax)
			}
		}
		fan := l.fanIn()
		l.W = make([]int8, n)
		for j, ix := range l.Index {
			l.W[j] = l.LUT[l.lutIndex(j/fan, ix)] // ix < k: it has CBits bits
		}
	case l.WBits < 8:
		if t, err := getShaped(i, "weight", st.I8, l.OutC, l.fanIn()); err == nil {
			l.W, _ = t.Int8s() // written before weights were packed
			return nil
		}
		t, err := get(i, "wpacked", st.U8, PackedLen(n, l.WBits))
		if err != nil {
			return err
		}
		packed, _ := t.Uint8s()
		u := make([]uint8, n)
		if err := UnpackBits(u, packed, l.WBits); err != nil {
			return fmt.Errorf("layer %d: packed weights: %v", i, err)
		}
		off := int32(1)<<(l.WBits-1) - 1
		l.W = make([]int8, n)
		for j, v := range u {
			if int32(v) > 2*off {
				return fmt.Errorf("layer %d: packed weight %d is %d, outside [0, %d]", i, j, v, 2*off)
			}
			l.W[j] = int8(int32(v) - off)
		}
	default:
		t, err := getShaped(i, "weight", st.I8, l.OutC, l.fanIn())
		if err != nil {
			return err
		}
		l.W, _ = t.Int8s()
	}
	return nil
}

// Precision names the model's real bit-widths: "w<b>a<b>" when every
// weighted layer has b-bit weights and every activation (the input and
// the weighted layers' outputs) b bits, or "c<b>a<b>" when weights are
// codebook indices of b bits (the table itself is int8), e.g. "w4a4",
// "c4a8". Where the layers differ (a model with 8-bit ends, a
// mixed-precision model) each is the range "lo-hi", e.g. "w4-8a4-8",
// never the widest alone: a W4A4 model with an 8-bit stem is not w8a8.
// A w8-only model has no activation bits: "w8"; a float model is "f32".
func (m *Model) Precision() string { return m.precision(false) }

// precisionIs says whether p, a file's recorded precision, names m's
// layers: Precision's string, or the form files written before
// 2026-12-07 recorded, which named only the widest weight and activation
// ("w8a8" for a W4A4 model with 8-bit ends), so those files still load.
func (m *Model) precisionIs(p string) bool {
	return p == m.precision(false) || p == m.precision(true)
}

// precision is Precision, or with widest the older form that names
// only the widest bit-width of each kind.
func (m *Model) precision(widest bool) string {
	if m.Mode == F32 {
		return "f32"
	}
	span := func(lo, hi int) string {
		if lo == hi || widest {
			return strconv.Itoa(hi)
		}
		return strconv.Itoa(lo) + "-" + strconv.Itoa(hi)
	}
	wlo, whi, clo, chi := 0, 0, 0, 0
	alo, ahi := m.Input.Bits, m.Input.Bits
	for _, l := range m.Layers {
		if l.Kind != "linear" && l.Kind != "conv2d" {
			continue
		}
		if l.CBits > 0 {
			clo, chi = minPos(clo, l.CBits), max(chi, l.CBits)
		} else {
			wlo, whi = minPos(wlo, l.WBits), max(whi, l.WBits)
		}
		alo, ahi = min(alo, l.Out.Bits), max(ahi, l.Out.Bits)
	}
	w := "w" + span(wlo, whi)
	if chi > 0 {
		w = "c" + span(clo, chi)
		if whi > 0 && !widest { // some layers keep plain weights beside the codebooks
			w += "w" + span(wlo, whi)
		}
	}
	if m.Mode == W8Only {
		return w
	}
	return w + "a" + span(alo, ahi)
}

// minPos is min(a, b) where a = 0 means "none yet".
func minPos(a, b int) int {
	if a == 0 {
		return b
	}
	return min(a, b)
}
