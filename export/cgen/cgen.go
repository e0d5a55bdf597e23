package cgen

import (
	"bytes"
	"fmt"
	"io"
	"path/filepath"
	"strings"

	"github.com/tinyqat/tinyqat/infer"
	"github.com/tinyqat/tinyqat/internal/stfile"
	"github.com/tinyqat/tinyqat/quant"
)

// Options configure the generated library.
type Options struct {
	// Name prefixes every exported C identifier and names the files
	// (NAME.h, NAME.c); a C identifier of at most 32 bytes. Empty: "model".
	Name string
}

// Result is a generated library and what it needs.
type Result struct {
	Name           string
	Header, Source []byte
	// ArenaBytes is the caller's arena (NAME_ARENA_SIZE); PeakLiveBytes
	// the most bytes live at once (activations and a convolution's
	// column), a lower bound on any arena.
	ArenaBytes, PeakLiveBytes int
	// WeightBytes are the constant tables: weights, biases, multipliers,
	// shifts and the input lookup table.
	WeightBytes int
	// InPlace counts the layers that write over their dying input.
	InPlace int
}

// checkName refuses a prefix that is not a short C identifier.
func checkName(s string) error {
	if s == "" || len(s) > 32 {
		return fmt.Errorf("cgen: name %q: want 1 to 32 bytes", s)
	}
	for i, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || i > 0 && (r == '_' || r >= '0' && r <= '9')) {
			return fmt.Errorf("cgen: name %q is not a C identifier that starts with a letter (letters, digits, _)", s)
		}
	}
	return nil
}

// Generate writes m, an integer model (w8a8 or w8a8-asym), as C99.
func Generate(m *infer.Model, opt Options) (*Result, error) {
	name := opt.Name
	if name == "" {
		name = "model"
	}
	if err := checkName(name); err != nil {
		return nil, err
	}
	if m == nil {
		return nil, fmt.Errorf("cgen: no model")
	}
	if err := m.Validate(); err != nil {
		return nil, fmt.Errorf("cgen: %w", err)
	}
	if m.Mode != infer.W8A8 && m.Mode != infer.W8A8Asym {
		return nil, fmt.Errorf("cgen: a %s model computes in float; export it with --mode w8a8 or w8a8-asym for C", m.Mode)
	}
	for i, l := range m.Layers {
		if l.Kind == infer.KindGlobalAvgPool && int64(l.InH*l.InW)*255 >= 1<<31 {
			return nil, fmt.Errorf("cgen: layer %d (globalavgpool): %dx%d pixels overflow the C kernel's int32 sum", i, l.InH, l.InW)
		}
	}
	p, err := makePlan(m)
	if err != nil {
		return nil, err
	}
	g := &gen{m: m, p: p, name: name, up: strings.ToUpper(name)}
	g.act = "int8_t"
	if m.Mode == infer.W8A8Asym {
		g.act = "uint8_t"
	}
	res := &Result{Name: name, ArenaBytes: p.arena, PeakLiveBytes: p.peak, InPlace: p.inPlace}
	res.Source, res.WeightBytes = g.source()
	res.Header = g.header()
	return res, nil
}

// Write generates m into dir as NAME.h and NAME.c (Generate, then
// Result.Write).
func Write(dir string, m *infer.Model, opt Options) (*Result, error) {
	res, err := Generate(m, opt)
	if err != nil {
		return nil, err
	}
	return res, res.Write(dir)
}

// Write writes the library into the existing directory dir as NAME.h and
// NAME.c, atomically as a pair (stfile.WriteAtomicFiles): a failure leaves
// both old files, never a new header beside an old source.
func (res *Result) Write(dir string) error {
	bytesOf := func(b []byte) func(io.Writer) error {
		return func(w io.Writer) error { _, err := w.Write(b); return err }
	}
	err := stfile.WriteAtomicFiles([]stfile.AtomicFile{
		{Path: filepath.Join(dir, res.Name+".h"), Write: bytesOf(res.Header)},
		{Path: filepath.Join(dir, res.Name+".c"), Write: bytesOf(res.Source)},
	})
	if err != nil {
		return fmt.Errorf("cgen: %w", err)
	}
	return nil
}

type gen struct {
	m        *infer.Model
	p        *plan
	name, up string
	act      string // the activations' C type
}

// inputTable is the stored input value of byte p of channel c: the
// runtime's byte path (infer.LogitsBytes), x = float32(p)/255, normalized
// by (x − mean)·(1/std) in float32, quantized half to even. The explicit
// conversions keep the compiler from fusing operations.
func inputTable(m *infer.Model) [][256]int32 {
	qmin, qmax := m.Input.QRange()
	s, z := m.Input.Scale, m.Input.Zero
	t := make([][256]int32, m.InC)
	for c := range t {
		for p := range 256 {
			x := float32(p) / 255
			if n := m.Norm; n != nil {
				inv := float32(1) / n.Std[c]
				x = float32(x-n.Mean[c]) * inv
			}
			t[c][p] = quant.RoundClamp(float32(x/s), qmin-z, qmax-z) + z
		}
	}
	return t
}

// cString is s as a C string literal: printable ASCII as is (with \, "
// and ? escaped: no trigraphs), every other byte in octal.
func cString(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '\\' || c == '"' || c == '?':
			b.WriteByte('\\')
			b.WriteByte(c)
		case c >= 0x20 && c < 0x7f:
			b.WriteByte(c)
		default:
			fmt.Fprintf(&b, "\\%03o", c)
		}
	}
	b.WriteByte('"')
	return b.String()
}

// array writes a const array of integers, 16 a line, and returns its bytes.
func array[T int8 | int32 | uint8](b *bytes.Buffer, ctype, name string, v []T) int {
	fmt.Fprintf(b, "static const %s %s[%d] = {", ctype, name, max(1, len(v)))
	for i, x := range v {
		if i%16 == 0 {
			b.WriteString("\n\t")
		} else {
			b.WriteByte(' ')
		}
		fmt.Fprintf(b, "%d,", x)
	}
	if len(v) == 0 {
		b.WriteString("0")
	}
	b.WriteString("\n};\n")
	size := 1
	switch ctype {
	case "int32_t":
		size = 4
	}
	return size * max(1, len(v))
}

// ptr is the C expression of value v's data (−1: the input): a place in
// the arena, or the caller's logits.
func (g *gen) ptr(v int) string {
	b := g.p.root[v+1]
	if b == -1 {
		return "logits"
	}
	if b < 0 {
		return "0" // a fused convolution's output: never stored
	}
	return fmt.Sprintf("(A + %d)", g.p.bufs[b].off)
}

func (g *gen) header() []byte {
	m := g.m
	qlo, qhi := m.Input.QRange()
	r := strings.NewReplacer(
		"{name}", g.name, "{UP}", g.up, "{arch}", m.Arch, "{mode}", string(m.Mode), "{act}", g.act,
		"{inc}", fmt.Sprint(m.InC), "{inh}", fmt.Sprint(m.InH), "{inw}", fmt.Sprint(m.InW),
		"{insize}", fmt.Sprint(m.InC*m.InH*m.InW), "{classes}", fmt.Sprint(m.Classes), "{arena}", fmt.Sprint(g.p.arena),
		"{oscale}", fmt.Sprint(m.Output().Scale), "{ozero}", fmt.Sprint(m.Output().Zero),
		"{iscale}", fmt.Sprint(m.Input.Scale), "{izero}", fmt.Sprint(m.Input.Zero), "{qlo}", fmt.Sprint(qlo), "{qhi}", fmt.Sprint(qhi))
	return []byte(r.Replace(headerC))
}

const headerC = `/* {name}.h: generated by tinyqat (export --format c) from a {arch} {mode} model. Do not edit.
 *
 * Integer-only C99 inference: no malloc, no float, only stdint.h and
 * string.h. Weights are const (they stay in flash). The caller provides
 * one arena of {UP}_ARENA_SIZE bytes (any alignment) that holds every
 * activation; calls with separate arenas may run concurrently.
 *
 *   static uint8_t arena[{UP}_ARENA_SIZE];
 *   {name}_q_t logits[{UP}_CLASSES];
 *   {name}_run(pixels, logits, arena);
 *
 * pixels: {UP}_IN_C x {UP}_IN_H x {UP}_IN_W bytes, CHW. The logits are the
 * model's quantized outputs (scale {oscale}, zero point {ozero}): the top
 * class is the largest. They equal tinyqat's integer runtime
 * (infer.Model.LogitsBytes) bit for bit.
 */
#ifndef TINYQAT_{UP}_H
#define TINYQAT_{UP}_H

#include <stdint.h>

#define {UP}_IN_C {inc}
#define {UP}_IN_H {inh}
#define {UP}_IN_W {inw}
#define {UP}_IN_SIZE {insize}
#define {UP}_CLASSES {classes}
#define {UP}_ARENA_SIZE {arena}

/* The activations' storage type: the quantized input and the logits. */
typedef {act} {name}_q_t;

#ifdef __cplusplus
extern "C" {
#endif

/* The classes' names, in logit order (null pointers when the model has none). */
extern const char *const {name}_class_names[{UP}_CLASSES];

/* Runs one image of raw bytes (byte p stands for the pixel p/255; CHW,
   channel planes one after another): each byte goes through the model's
   input normalization and quantization as one table lookup. */
void {name}_run(const uint8_t *pixels, {name}_q_t *logits, void *arena);

/* Runs one image already quantized to the model's input grid (scale
   {iscale}, zero point {izero}, values in [{qlo}, {qhi}]; CHW). */
void {name}_run_quantized(const {name}_q_t *input, {name}_q_t *logits, void *arena);

#ifdef __cplusplus
}
#endif

#endif
`

func (g *gen) source() ([]byte, int) {
	m, p := g.m, g.p
	var b bytes.Buffer
	weights := 0
	fmt.Fprintf(&b, "/* %s.c: generated by tinyqat (export --format c). Do not edit.\n", g.name)
	fmt.Fprintf(&b, " * %s, %s, %d layers; arena %d bytes (at least %d must be live at once); %d layers in place. */\n",
		m.Arch, m.Mode, len(m.Layers), p.arena, p.peak, p.inPlace)
	fmt.Fprintf(&b, "#include <stdint.h>\n#include <string.h>\n#include \"%s.h\"\n\n", g.name)
	fmt.Fprintf(&b, "typedef %s tq_act;\n#define TQ_SIGNED %d\n", g.act, b2i(m.Mode == infer.W8A8))
	uses := map[infer.Kind]bool{}
	addLayer, packedLayer, linear := false, false, false
	for i, l := range m.Layers {
		uses[l.Kind] = true
		packedLayer = packedLayer || packed(l)
		linear = linear || l.Kind == infer.KindLinear && !packed(l)
		addLayer = addLayer || l.Kind == infer.KindAdd && !(i > 0 && p.fused[i-1])
	}
	fmt.Fprintf(&b, "#define TQ_USE_ADD_LAYER %d\n#define TQ_USE_PACKED %d\n", b2i(addLayer), b2i(packedLayer))
	uses[infer.KindLinear] = linear
	for _, k := range []struct {
		macro string
		kind  infer.Kind
	}{{"LINEAR", infer.KindLinear}, {"CONV", infer.KindConv2D}, {"MAXPOOL", infer.KindMaxPool2D}, {"GAP", infer.KindGlobalAvgPool}, {"ADD", infer.KindAdd}} {
		fmt.Fprintf(&b, "#define TQ_USE_%s %d\n", k.macro, b2i(uses[k.kind]))
	}
	b.WriteByte('\n')
	b.WriteString(kernelsC)
	b.WriteString("\n/* ---- model constants ---- */\n\n")

	fmt.Fprintf(&b, "const char *const %s_class_names[%s_CLASSES] = {", g.name, g.up)
	for c := 0; c < m.Classes; c++ {
		if c > 0 {
			b.WriteByte(',')
		}
		if c < len(m.ClassNames) {
			b.WriteString("\n\t" + cString(m.ClassNames[c]))
		} else {
			b.WriteString("\n\t0")
		}
	}
	b.WriteString("\n};\n\n")

	lut := inputTable(m)
	fmt.Fprintf(&b, "/* Input byte p of channel c -> its quantized value (normalization folded in). */\n")
	fmt.Fprintf(&b, "static const tq_act tq_input_lut[%d][256] = {", m.InC)
	for c := range lut {
		b.WriteString("\n\t{")
		for q, v := range lut[c] {
			if q%16 == 0 {
				b.WriteString("\n\t\t")
			} else {
				b.WriteByte(' ')
			}
			fmt.Fprintf(&b, "%d,", v)
		}
		b.WriteString("\n\t},")
	}
	b.WriteString("\n};\n\n")
	weights += 256 * m.InC

	for i, l := range m.Layers {
		if l.Kind == infer.KindAdd {
			ins := inputsOf(m, i)
			t := []struct{ z, m0, sh int32 }{{l.In.Zero, l.M0[0], l.Shift[0]}, {l.In2.Zero, l.M0[1], l.Shift[1]}}
			swapped := 0
			if t[0].sh > t[1].sh { // the smaller shift first
				t[0], t[1] = t[1], t[0]
				swapped = 1
			}
			// Fused into convolution i−1 (input k of the add): swap says
			// whether the convolution's value is the second term.
			swap := 0
			if i > 0 && p.fused[i-1] {
				k := 0
				if ins[1] == i-1 {
					k = 1
				}
				swap = k ^ swapped
			}
			fmt.Fprintf(&b, "/* layer %d: add */\nstatic const tq_addp L%d_add = {%d, %d, %d, %d, %d, %d, %d, %d, %d, %d};\n\n",
				i, i, t[0].z, t[0].m0, t[0].sh, t[1].z, t[1].m0, t[1].sh, l.Out.Zero, l.Lo, l.Hi, swap)
			continue
		}
		if !l.Kind.Weighted() {
			continue
		}
		how := "int8"
		switch {
		case packed(l) && l.CBits > 0:
			how = fmt.Sprintf("%d-bit codebook indices (%d table(s)), packed 4 bits each, decoded at run time", l.CBits, l.CGroups)
		case packed(l):
			how = fmt.Sprintf("%d-bit, packed 4 bits each, unpacked at run time", l.WBits)
		case l.CBits > 0:
			how = fmt.Sprintf("%d-bit codebook of %d table(s), decoded at export", l.CBits, l.CGroups)
		case l.WBits < 8:
			how = fmt.Sprintf("%d-bit, unpacked at export", l.WBits)
		}
		fmt.Fprintf(&b, "/* layer %d: %s %q, weights %s */\n", i, l.Kind, l.Name, how)
		if packed(l) {
			wp, lut := packRows(l)
			weights += array(&b, "uint8_t", fmt.Sprintf("L%d_wp", i), wp)
			weights += array(&b, "int8_t", fmt.Sprintf("L%d_lut", i), lut)
		} else {
			weights += array(&b, "int8_t", fmt.Sprintf("L%d_w", i), l.W)
		}
		weights += array(&b, "int32_t", fmt.Sprintf("L%d_b", i), l.Bias)
		weights += array(&b, "int32_t", fmt.Sprintf("L%d_m0", i), l.M0)
		sh := make([]int8, len(l.Shift))
		for c, s := range l.Shift {
			sh[c] = int8(s)
		}
		weights += array(&b, "int8_t", fmt.Sprintf("L%d_sh", i), sh)
		b.WriteByte('\n')
	}

	b.WriteString("/* ---- the layers, in order ---- */\n\n")
	fmt.Fprintf(&b, "static void tq_forward(tq_act *A, tq_act *logits)\n{\n")
	for i, l := range m.Layers {
		ins := inputsOf(m, i)
		in, out := g.ptr(ins[0]), g.ptr(i)
		fmt.Fprintf(&b, "\t/* %d: %s %q %dx%dx%d -> %dx%dx%d */\n", i, l.Kind, l.Name, l.InC, l.InH, l.InW, l.OutC, l.OutH, l.OutW)
		switch l.Kind {
		case infer.KindFlatten:
			b.WriteString("\t/* CHW order is the flat order: nothing to do */\n")
		case infer.KindMaxPool2D:
			fmt.Fprintf(&b, "\ttq_maxpool(%s, %s, %d, %d, %d, %d, %d, %d, %d);\n", in, out, l.InC, l.InH, l.InW, l.OutH, l.OutW, l.K, l.Stride)
		case infer.KindGlobalAvgPool:
			fmt.Fprintf(&b, "\ttq_gap(%s, %s, %d, %d, %d);\n", in, out, l.InC, l.InH*l.InW, l.In.Zero)
		case infer.KindAdd:
			if i > 0 && p.fused[i-1] {
				fmt.Fprintf(&b, "\t/* fused into layer %d */\n", i-1)
				break
			}
			x, y := in, g.ptr(ins[1])
			if l.Shift[0] > l.Shift[1] {
				x, y = y, x
			}
			fmt.Fprintf(&b, "\ttq_add(%s, %s, %s, %d, &L%d_add);\n", x, y, out, l.OutSize(), i)
		case infer.KindLinear:
			if packed(l) {
				step := 0
				if l.CGroups > 1 {
					step = 16
				}
				fmt.Fprintf(&b, "\ttq_linear_packed(%s, %s, %d, %d, L%d_wp, %d, L%d_lut, %d, (int8_t *)(void *)(A + %d), L%d_b, L%d_m0, L%d_sh, %d, %d, %d, %d);\n",
					in, out, l.InSize(), l.OutC, i, (l.InSize()+1)/2, i, step, p.bufs[p.col[i]].off, i, i, i, l.In.Zero, l.Out.Zero, l.Lo, l.Hi)
				break
			}
			fmt.Fprintf(&b, "\ttq_linear(%s, %s, %d, %d, L%d_w, L%d_b, L%d_m0, L%d_sh, %d, %d, %d, %d);\n",
				in, out, l.InSize(), l.OutC, i, i, i, i, l.In.Zero, l.Out.Zero, l.Lo, l.Hi)
		case infer.KindConv2D:
			col := fmt.Sprintf("(A + %d)", p.bufs[p.col[i]].off)
			res := "0, 0"
			if p.fused[i] {
				out, res = g.ptr(i+1), fmt.Sprintf("%s, &L%d_add", g.ptr(p.residual[i]), i+1)
			}
			fmt.Fprintf(&b, "\ttq_conv(%s, %s, %s, %d, %d, %d, %d, %d, %d, %d, %d, %d, %d, L%d_w, L%d_b, L%d_m0, L%d_sh, %d, %d, %d, %d, %s);\n",
				in, out, col, l.InC, l.InH, l.InW, l.OutC, l.OutH, l.OutW, l.K, l.Stride, l.Pad, max(1, l.Groups),
				i, i, i, i, l.In.Zero, l.Out.Zero, l.Lo, l.Hi, res)
		default:
			panic("cgen: unknown kind " + string(l.Kind)) // Validate admits none
		}
	}
	if last := len(m.Layers) - 1; p.root[last+1] >= 0 {
		fmt.Fprintf(&b, "\tmemcpy(logits, %s, %d);\n", g.ptr(last), m.Classes)
	}
	if p.arena == 0 {
		b.WriteString("\t(void)A;\n")
	}
	b.WriteString("}\n\n")

	inOff := p.bufs[p.root[0]].off
	size := m.InC * m.InH * m.InW
	fmt.Fprintf(&b, `void %s_run(const uint8_t *pixels, %s_q_t *logits, void *arena)
{
	tq_act *A = (tq_act *)arena;
	int32_t c, i;
	for (c = 0; c < %d; c++) {
		for (i = 0; i < %d; i++) {
			A[%d + c * %d + i] = tq_input_lut[c][pixels[c * %d + i]];
		}
	}
	tq_forward(A, logits);
}

void %s_run_quantized(const %s_q_t *input, %s_q_t *logits, void *arena)
{
	tq_act *A = (tq_act *)arena;
	memcpy(A + %d, input, %d);
	tq_forward(A, logits);
}
`, g.name, g.name, m.InC, m.InH*m.InW, inOff, m.InH*m.InW, m.InH*m.InW,
		g.name, g.name, g.name, inOff, size)
	return b.Bytes(), weights
}

func b2i(v bool) int {
	if v {
		return 1
	}
	return 0
}

// packRows packs a packed layer's weights as 4-bit codes, rows of
// ⌈fan/2⌉ bytes, low nibble first, and returns them with the tables that
// decode them: a codebook's (16 entries per table, one table or one per
// output channel), or, for plain low-bit weights, the two's complement of
// a nibble.
func packRows(l *infer.Layer) ([]uint8, []int8) {
	fan := len(l.W) / l.OutC
	rb := (fan + 1) / 2
	wp := make([]uint8, l.OutC*rb)
	var lut []int8
	if l.CBits > 0 {
		k := 1 << l.CBits
		lut = make([]int8, 16*l.CGroups)
		for g := range l.CGroups {
			copy(lut[16*g:], l.LUT[g*k:(g+1)*k])
		}
	} else {
		lut = []int8{0, 1, 2, 3, 4, 5, 6, 7, -8, -7, -6, -5, -4, -3, -2, -1}
	}
	for c := range l.OutC {
		for j := range fan {
			var code uint8
			if l.CBits > 0 {
				code = l.Index[c*fan+j]
			} else {
				code = uint8(l.W[c*fan+j]) & 15
			}
			wp[c*rb+j/2] |= code << (4 * (j % 2))
		}
	}
	return wp, lut
}
