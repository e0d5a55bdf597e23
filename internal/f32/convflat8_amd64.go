//go:build amd64 && !purego

package f32

import "runtime"

// flat8Here reports whether the AVX2 flat kernel runs on this CPU: AVX2
// and FMA without AVX-512 (which has its own flat kernels).
func flat8Here() bool { return dwLevel == 1 }

// flat8Args are the kernel's arguments (one pointer to them: the
// assembly reads the fields at go_asm.h's offsets).
type flat8Args struct {
	src, dst   [3]*float32 // the slots' images (or phase planes) and outputs
	recs       *flat8Rec
	masks      *int32
	tasks      *flat8Slot
	w, bias    *float32
	store      *int32 // the store mask where P < 8, else nil
	ntasks     int    // tasks of three slots
	depths     int
	groups     int // of four output channels
	planeBytes int // 4·P
	shared     int // 1: the tasks' three slots have one mask row
	lo, hi     float32
	scratch    *float32 // 96 floats: the 12 sums' total of the earlier kc blocks
}

// flat8Run runs the tasks (three slots each) on the slots' inputs srcs
// (the images or their phase planes), projections subs (nil without)
// and outputs dsts; recs is scratch for a projection's records.
func flat8Run(dsts, srcs, subs [3][]float32, tasks []flat8Slot, f *flat8, recs []flat8Rec) {
	flat8Check(dsts, srcs, subs, f)
	if !flat8Here() {
		flat8Go(dsts, srcs, subs, tasks, f)
		return
	}
	var scratch [96]float32
	a := flat8Args{
		scratch: &scratch[0],
		masks:   &f.masks[0], tasks: &tasks[0], w: &f.w4[0], bias: &f.bias[0],
		ntasks: len(tasks) / 3, depths: len(f.recs), groups: f.m / 4, planeBytes: 4 * f.P,
		lo: f.lo, hi: f.hi, recs: &f.recs[0],
	}
	for i := range 3 {
		a.src[i], a.dst[i] = &srcs[i][0], &dsts[i][0]
	}
	if f.partial {
		a.store = &f.store[0]
	}
	if &tasks[0] == &f.byImage[0] {
		a.shared = 1
	}
	if f.body < len(f.recs) {
		// The projection's depths are read from the slots' chunks at
		// their subsampled planes' distance from their images (the same
		// for the three slots).
		delta := int64(ptrDiff(subs[0], srcs[0]))
		for i := 1; i < 3; i++ {
			if ptrDiff(subs[i], srcs[i]) != int(delta) {
				panic("f32: flat8Run: the projections lie apart otherwise than the images")
			}
		}
		recs = recs[:len(f.recs)]
		copy(recs, f.recs)
		for d := f.body; d < len(recs); d++ {
			recs[d].off += delta
		}
		a.recs = &recs[0]
	}
	convFlat8AVX2(&a)
	// The kernel reaches the slots' slices through a's pointers, and
	// the projections through distances from the images.
	runtime.KeepAlive(srcs)
	runtime.KeepAlive(dsts)
	runtime.KeepAlive(subs)
}

// convFlat8AVX2 is flat8Go with fused multiply-adds: per group of four
// output channels, per task, the 12 sums (Y(3·channel + slot)) over the
// depths (each a record, three mask loads — one where the slots' mask
// rows are one — and masked loads, four
// broadcast weights and 12 fused multiply-adds; a kc block's sums added
// to the total in scratch), then + bias, max lo, min hi, and the stores.
//
//go:noescape
func convFlat8AVX2(a *flat8Args)

// flat8Split writes the planes of flat8Phases (phases 2: dst holds
// C·4·ps floats, ps at least 8 floats (W ≤ 16; else 16) more than a
// phase plane's rows but the last)
// or flat8Sub (phases 1, ps the plane: C·ps + 16 floats, 16 of slack)
// with flat8SplitAVX2 and reports true, or false where it does not run
// (no AVX2, rows wider than 32 floats, a dst without its slack).
func flat8Split(dst, src []float32, g ConvGeom, ps, phases int) bool {
	need := g.C * phases * phases * ps
	if phases == 1 {
		need += 16
	}
	if !flat8Here() || g.W > 32 || len(dst) < need {
		return false
	}
	_ = src[g.C*g.H*g.W-1]
	var masks [32]int32
	for l := 0; l < g.W; l++ {
		masks[l] = -1
	}
	flat8SplitAVX2(&dst[0], &src[0], g.C, g.H, g.W, g.OW, ps, phases, &masks[0])
	return true
}

// flat8SplitAVX2: for each of the c channels (h rows of w ≤ 32 floats),
// its phases² planes (ps floats apart; rows ow apart) of the rows of
// parity a and columns of parity b, a and b < phases; masks holds
// 32 words, −1 for the row's w floats.
//
//go:noescape
func flat8SplitAVX2(dst, src *float32, c, h, w, ow, ps, phases int, masks *int32)
