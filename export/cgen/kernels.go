package cgen

// kernelsC are the generated file's kernels: C99 integer arithmetic only,
// mirroring package infer and package quant. The file that includes them
// first defines tq_act (int8_t or uint8_t, the activations' storage) and
// TQ_SIGNED. Under __ARM_FEATURE_DSP (Cortex-M4/M7/M33 with the DSP
// extension; TQ_PORTABLE turns it off) the dot product uses SMLAD dual
// 16-bit multiply-accumulates as CMSIS-NN does; TQ_EMULATE_DSP runs the
// same DSP code with the instructions written in portable C, so a host
// compiler checks the data arrangement of the DSP path too. The portable
// dot product is the DSP one's reference twin.
const kernelsC = `/* ---- kernels (integer only; the same arithmetic as tinyqat's infer) ---- */

#if TQ_USE_LINEAR || TQ_USE_PACKED || TQ_USE_CONV || TQ_USE_ADD
/* floor(p / 2^s) for 0 <= s <= 63, without relying on how >> treats
   negative numbers (implementation-defined in C99). */
static int64_t tq_floor_shift(int64_t p, int32_t s)
{
	return p >= 0 ? p >> s : -(((-p) - 1) >> s) - 1;
}

/* round(p / 2^s), half to even, s in [1, 63], |p| < 2^62 (quant.RoundShift). */
static int64_t tq_round_shift(int64_t p, int32_t s)
{
	return tq_floor_shift(p + ((((int64_t)1) << (s - 1)) - 1) + (tq_floor_shift(p, s) & 1), s);
}

#endif

#if TQ_USE_LINEAR || TQ_USE_PACKED || TQ_USE_CONV
/* clamp(round(acc * m0 / 2^s) + z, lo, hi): one exact 64-bit product, one
   rounding (quant.Requantize). */
static tq_act tq_requant(int32_t acc, int32_t m0, int32_t s, int32_t z, int32_t lo, int32_t hi)
{
	int64_t v = tq_round_shift((int64_t)acc * m0, s) + z;
	if (v < lo) {
		v = lo;
	}
	if (v > hi) {
		v = hi;
	}
	return (tq_act)v;
}

#endif

/* A residual add's constants: the terms in order of shift (na <= nb);
   swap (fused into a convolution) says the convolution's value is the
   second term. */
typedef struct {
	int32_t za, m0a, na, zb, m0b, nb, z, lo, hi, swap;
} tq_addp;

#if TQ_USE_ADD
/* round(a / 2^na + b / 2^nb), half to even, exactly, for na <= nb in
   [1, 63] and |a|, |b| < 2^33 (quant.RequantizeAdd without 128-bit
   integers): with d = nb - na <= 29 the sum a*2^d + b fits 62 bits and is
   rounded once; otherwise b = bq*2^d + br (0 <= br < 2^d) and the value is
   (t + br/2^d) / 2^na with t = a + bq, whose fraction br/2^d < 1 only
   breaks ties. */
static int64_t tq_round_sum(int64_t a, int32_t na, int64_t b, int32_t nb)
{
	int32_t d = nb - na;
	int64_t bq, br, t, q, r, half;
	if (d <= 29) {
		return tq_round_shift(a * (((int64_t)1) << d) + b, nb);
	}
	bq = tq_floor_shift(b, d);
	br = b - bq * (((int64_t)1) << d);
	t = a + bq;
	q = tq_floor_shift(t, na);
	r = t - q * (((int64_t)1) << na);
	half = ((int64_t)1) << (na - 1);
	if (r > half || (r == half && (br > 0 || (q & 1) != 0))) {
		q++;
	}
	return q;
}

/* clamp(z + round((a - za)*m0a/2^na + (b - zb)*m0b/2^nb), lo, hi)
   (quant.RequantizeAdd). */
static tq_act tq_add_one(int32_t a, int32_t b, const tq_addp *p)
{
	int64_t v = tq_round_sum(((int64_t)a - p->za) * p->m0a, p->na, ((int64_t)b - p->zb) * p->m0b, p->nb) + p->z;
	if (v < p->lo) {
		v = p->lo;
	}
	if (v > p->hi) {
		v = p->hi;
	}
	return (tq_act)v;
}

#endif

#if TQ_USE_LINEAR || TQ_USE_PACKED || TQ_USE_CONV
#if defined(TQ_EMULATE_DSP) || (defined(__ARM_FEATURE_DSP) && !defined(TQ_PORTABLE))
#define TQ_DSP 1
#if defined(TQ_EMULATE_DSP)
/* The DSP instructions in portable C (host checks of the DSP path). */
static int32_t tq_s16(uint32_t v)
{
	int32_t x = (int32_t)(v & 0xffffu);
	return x >= 0x8000 ? x - 0x10000 : x;
}
static uint32_t tq_sxtb16(uint32_t v)
{
	int32_t lo = (int32_t)(v & 0xffu), hi = (int32_t)((v >> 16) & 0xffu);
	lo = lo >= 0x80 ? lo - 0x100 : lo;
	hi = hi >= 0x80 ? hi - 0x100 : hi;
	return ((uint32_t)lo & 0xffffu) | (((uint32_t)hi & 0xffffu) << 16);
}
#if !TQ_SIGNED
static uint32_t tq_uxtb16(uint32_t v)
{
	return v & 0x00ff00ffu;
}
static uint32_t tq_uxtb16_ror8(uint32_t v)
{
	return (v >> 8) & 0x00ff00ffu;
}
#endif
static uint32_t tq_ror8(uint32_t v)
{
	return (v >> 8) | (v << 24);
}
static uint32_t tq_sxtb16_ror8(uint32_t v)
{
	return tq_sxtb16(tq_ror8(v));
}
#if !TQ_SIGNED
static uint32_t tq_ssub16(uint32_t a, uint32_t b)
{
	return ((a - b) & 0xffffu) | ((((a >> 16) - (b >> 16)) & 0xffffu) << 16);
}
#endif
static int32_t tq_smlad(uint32_t a, uint32_t b, int32_t acc)
{
	return acc + tq_s16(a) * tq_s16(b) + tq_s16(a >> 16) * tq_s16(b >> 16);
}
#else
static inline uint32_t tq_sxtb16(uint32_t v)
{
	uint32_t r;
	__asm__("sxtb16 %0, %1" : "=r"(r) : "r"(v));
	return r;
}
#if !TQ_SIGNED
static inline uint32_t tq_uxtb16(uint32_t v)
{
	uint32_t r;
	__asm__("uxtb16 %0, %1" : "=r"(r) : "r"(v));
	return r;
}
static inline uint32_t tq_uxtb16_ror8(uint32_t v)
{
	uint32_t r;
	__asm__("uxtb16 %0, %1, ror #8" : "=r"(r) : "r"(v));
	return r;
}
#endif
static inline uint32_t tq_ror8(uint32_t v)
{
	return (v >> 8) | (v << 24);
}
static inline uint32_t tq_sxtb16_ror8(uint32_t v)
{
	uint32_t r;
	__asm__("sxtb16 %0, %1, ror #8" : "=r"(r) : "r"(v));
	return r;
}
#if !TQ_SIGNED
static inline uint32_t tq_ssub16(uint32_t a, uint32_t b)
{
	uint32_t r;
	__asm__("ssub16 %0, %1, %2" : "=r"(r) : "r"(a), "r"(b));
	return r;
}
#endif
static inline int32_t tq_smlad(uint32_t a, uint32_t b, int32_t acc)
{
	int32_t r;
	__asm__("smlad %0, %1, %2, %3" : "=r"(r) : "r"(a), "r"(b), "r"(acc));
	return r;
}
#endif

/* Four bytes from any address (one LDR on a Cortex-M4, even with
   -ffreestanding, where memcpy would be a call). */
static uint32_t tq_load32(const void *p)
{
	uint32_t v;
#if defined(__GNUC__)
	__builtin_memcpy(&v, p, 4);
#else
	memcpy(&v, p, 4);
#endif
	return v;
}

/* sum (x[i] - z) * w[i]: four bytes of each at a time, split into the
   16-bit pairs (0, 2) and (1, 3), two SMLADs. */
static int32_t tq_dot(const tq_act *x, const int8_t *w, int32_t n, int32_t z)
{
	int32_t acc = 0, i = 0;
#if TQ_SIGNED
	(void)z; /* symmetric activations: z is 0 */
#else
	uint32_t zz = ((uint32_t)z << 16) | (uint32_t)z;
#endif
	for (; i + 4 <= n; i += 4) {
		uint32_t xv, wv, xa, xb;
		xv = tq_load32(x + i);
		wv = tq_load32(w + i);
#if TQ_SIGNED
		xa = tq_sxtb16(xv);
		xb = tq_sxtb16_ror8(xv);
#else
		xa = tq_ssub16(tq_uxtb16(xv), zz);
		xb = tq_ssub16(tq_uxtb16_ror8(xv), zz);
#endif
		acc = tq_smlad(xa, tq_sxtb16(wv), acc);
		acc = tq_smlad(xb, tq_sxtb16_ror8(wv), acc);
	}
	for (; i < n; i++) {
		acc += ((int32_t)x[i] - z) * w[i];
	}
	return acc;
}

/* Two rows at once: each activation word is loaded and widened once for
   both (as CMSIS-NN's 2-row kernels). */
static void tq_dot2(const tq_act *x, const int8_t *w0, const int8_t *w1, int32_t n, int32_t z, int32_t *a0, int32_t *a1)
{
	int32_t s0 = 0, s1 = 0, i = 0;
#if !TQ_SIGNED
	uint32_t zz = ((uint32_t)z << 16) | (uint32_t)z;
#endif
	for (; i + 4 <= n; i += 4) {
		uint32_t xv = tq_load32(x + i), v0 = tq_load32(w0 + i), v1 = tq_load32(w1 + i), xa, xb;
#if TQ_SIGNED
		xa = tq_sxtb16(xv);
		xb = tq_sxtb16_ror8(xv);
#else
		xa = tq_ssub16(tq_uxtb16(xv), zz);
		xb = tq_ssub16(tq_uxtb16_ror8(xv), zz);
#endif
		s0 = tq_smlad(xa, tq_sxtb16(v0), s0);
		s0 = tq_smlad(xb, tq_sxtb16_ror8(v0), s0);
		s1 = tq_smlad(xa, tq_sxtb16(v1), s1);
		s1 = tq_smlad(xb, tq_sxtb16_ror8(v1), s1);
	}
	for (; i < n; i++) {
		s0 += ((int32_t)x[i] - z) * w0[i];
		s1 += ((int32_t)x[i] - z) * w1[i];
	}
	*a0 = s0;
	*a1 = s1;
}
#else
#define TQ_DSP 0
/* sum (x[i] - z) * w[i] (the DSP path's reference twin). */
static int32_t tq_dot(const tq_act *x, const int8_t *w, int32_t n, int32_t z)
{
	int32_t acc = 0, i;
	for (i = 0; i < n; i++) {
		acc += ((int32_t)x[i] - z) * w[i];
	}
	return acc;
}

/* Two rows (the DSP tq_dot2's reference twin). */
static void tq_dot2(const tq_act *x, const int8_t *w0, const int8_t *w1, int32_t n, int32_t z, int32_t *a0, int32_t *a1)
{
	*a0 = tq_dot(x, w0, n, z);
	*a1 = tq_dot(x, w1, n, z);
}
#endif

#endif

#if TQ_USE_LINEAR
/* A fully connected layer on the flat (CHW) input. */
static void tq_linear(const tq_act *in, tq_act *out, int32_t fan, int32_t outc,
	const int8_t *w, const int32_t *bias, const int32_t *m0, const int8_t *sh,
	int32_t zin, int32_t zout, int32_t lo, int32_t hi)
{
	int32_t c;
	for (c = 0; c + 2 <= outc; c += 2) {
		int32_t a0, a1;
		tq_dot2(in, w + c * fan, w + (c + 1) * fan, fan, zin, &a0, &a1);
		out[c] = tq_requant(bias[c] + a0, m0[c], sh[c], zout, lo, hi);
		out[c + 1] = tq_requant(bias[c + 1] + a1, m0[c + 1], sh[c + 1], zout, lo, hi);
	}
	if (c < outc) {
		out[c] = tq_requant(bias[c] + tq_dot(in, w + c * fan, fan, zin), m0[c], sh[c], zout, lo, hi);
	}
}

#endif

#if TQ_USE_PACKED
/* Unpacks one row of n 4-bit codes (two a byte, low nibble first) through
   a 16-entry table: a sub-8-bit weight's two's complement, or a codebook
   index's centroid. */
static void tq_unpack4(int8_t *dst, const uint8_t *src, int32_t n, const int8_t *lut)
{
	int32_t i;
	for (i = 0; i + 2 <= n; i += 2) {
		uint8_t b = src[i >> 1];
		dst[i] = lut[b & 15];
		dst[i + 1] = lut[b >> 4];
	}
	if (i < n) {
		dst[i] = lut[src[i >> 1] & 15];
	}
}

/* A fully connected layer whose weights stay packed in flash, 4 bits
   each (rows of rb bytes; table lut + c * lutstep for row c), unpacked a
   pair of rows at a time into row (2 * fan bytes of the arena). */
static void tq_linear_packed(const tq_act *in, tq_act *out, int32_t fan, int32_t outc,
	const uint8_t *wp, int32_t rb, const int8_t *lut, int32_t lutstep, int8_t *row,
	const int32_t *bias, const int32_t *m0, const int8_t *sh,
	int32_t zin, int32_t zout, int32_t lo, int32_t hi)
{
	int32_t c;
	for (c = 0; c + 2 <= outc; c += 2) {
		int32_t a0, a1;
		tq_unpack4(row, wp + c * rb, fan, lut + c * lutstep);
		tq_unpack4(row + fan, wp + (c + 1) * rb, fan, lut + (c + 1) * lutstep);
		tq_dot2(in, row, row + fan, fan, zin, &a0, &a1);
		out[c] = tq_requant(bias[c] + a0, m0[c], sh[c], zout, lo, hi);
		out[c + 1] = tq_requant(bias[c + 1] + a1, m0[c + 1], sh[c + 1], zout, lo, hi);
	}
	if (c < outc) {
		tq_unpack4(row, wp + c * rb, fan, lut + c * lutstep);
		out[c] = tq_requant(bias[c] + tq_dot(in, row, fan, zin), m0[c], sh[c], zout, lo, hi);
	}
}
#endif

#if TQ_USE_CONV
/* A convolution (dense, grouped or depthwise) of a CHW image: for each
   output pixel and group, the receptive field is gathered into col (the
   input zero point outside the image, a real zero), then dotted with each
   of the group's weight rows (ci, ky, kx order, as the model stores them).
   With ap, a residual add follows: each value is added to res's at the
   same place before it is stored (out may be res, which the convolution
   does not otherwise read). */
static void tq_conv(const tq_act *in, tq_act *out, tq_act *col,
	int32_t inc, int32_t inh, int32_t inw, int32_t outc, int32_t outh, int32_t outw,
	int32_t k, int32_t stride, int32_t pad, int32_t groups,
	const int8_t *w, const int32_t *bias, const int32_t *m0, const int8_t *sh,
	int32_t zin, int32_t zout, int32_t lo, int32_t hi, const tq_act *res, const tq_addp *ap)
{
	int32_t icg = inc / groups, ocg = outc / groups, fan = icg * k * k;
	int32_t g, oy, ox, cl, ky, kx, c;
	(void)res; /* used with a fused residual add only */
	(void)ap;
	for (g = 0; g < groups; g++) {
		for (oy = 0; oy < outh; oy++) {
			for (ox = 0; ox < outw; ox++) {
				tq_act *p = col;
				for (cl = 0; cl < icg; cl++) {
					const tq_act *plane = in + (g * icg + cl) * inh * inw;
					for (ky = 0; ky < k; ky++) {
						int32_t iy = oy * stride + ky - pad, ix0 = ox * stride - pad;
						const tq_act *row = plane + iy * inw;
						if (iy < 0 || iy >= inh) {
							for (kx = 0; kx < k; kx++) {
								*p++ = (tq_act)zin;
							}
						} else if (ix0 >= 0 && ix0 + k <= inw) {
							for (kx = 0; kx < k; kx++) {
								*p++ = row[ix0 + kx];
							}
						} else {
							for (kx = 0; kx < k; kx++) {
								int32_t ix = ix0 + kx;
								*p++ = (ix >= 0 && ix < inw) ? row[ix] : (tq_act)zin;
							}
						}
					}
				}
				for (c = g * ocg; c < (g + 1) * ocg; c += 2) {
					int32_t acc[2], j, cnt = (g + 1) * ocg - c >= 2 ? 2 : 1;
					if (cnt == 2) {
						tq_dot2(col, w + c * fan, w + (c + 1) * fan, fan, zin, &acc[0], &acc[1]);
					} else {
						acc[0] = tq_dot(col, w + c * fan, fan, zin);
					}
					for (j = 0; j < cnt; j++) {
						int32_t e = ((c + j) * outh + oy) * outw + ox;
						tq_act v = tq_requant(bias[c + j] + acc[j], m0[c + j], sh[c + j], zout, lo, hi);
#if TQ_USE_ADD
						if (ap) {
							v = ap->swap ? tq_add_one(res[e], v, ap) : tq_add_one(v, res[e], ap);
						}
#endif
						out[e] = v;
					}
				}
			}
		}
	}
}

#endif

#if TQ_USE_MAXPOOL
/* Max pooling (no padding), CHW. out may be in: output e reads input
   from index e on, and is written after its reads. */
static void tq_maxpool(const tq_act *in, tq_act *out, int32_t c, int32_t inh, int32_t inw,
	int32_t outh, int32_t outw, int32_t k, int32_t stride)
{
	int32_t ch, oy, ox, ky, kx;
	for (ch = 0; ch < c; ch++) {
		const tq_act *plane = in + ch * inh * inw;
		for (oy = 0; oy < outh; oy++) {
			for (ox = 0; ox < outw; ox++) {
				tq_act best = plane[oy * stride * inw + ox * stride];
				for (ky = 0; ky < k; ky++) {
					for (kx = 0; kx < k; kx++) {
						tq_act v = plane[(oy * stride + ky) * inw + ox * stride + kx];
						if (v > best) {
							best = v;
						}
					}
				}
				out[(ch * outh + oy) * outw + ox] = best;
			}
		}
	}
}

#endif

#if TQ_USE_GAP
/* Global average pooling: z + round(sum (q - z) / hw), half to even
   (quant.RoundDiv); hw * 255 < 2^31. out may be in (channel c is written
   after channel c's pixels, at or after index c, are read). */
static void tq_gap(const tq_act *in, tq_act *out, int32_t c, int32_t hw, int32_t z)
{
	int32_t ch, i;
	for (ch = 0; ch < c; ch++) {
		int32_t sum = 0, q, r;
		for (i = 0; i < hw; i++) {
			sum += (int32_t)in[ch * hw + i] - z;
		}
		q = sum / hw;
		r = sum % hw;
		if (r < 0) {
			q--;
			r += hw;
		}
		if (r > hw - r || (r == hw - r && (q & 1) != 0)) {
			q++;
		}
		out[ch] = (tq_act)(q + z);
	}
}

#endif

#if TQ_USE_ADD_LAYER
/* Residual add, element by element; out may be a or b. */
static void tq_add(const tq_act *a, const tq_act *b, tq_act *out, int32_t n, const tq_addp *p)
{
	int32_t i;
	for (i = 0; i < n; i++) {
		out[i] = tq_add_one(a[i], b[i], p);
	}
}
#endif
`
