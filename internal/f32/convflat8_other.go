//go:build !amd64 || purego

package f32

func flat8Here() bool { return false }

func flat8Run(dsts, srcs, subs [3][]float32, tasks []flat8Slot, f *flat8, recs []flat8Rec) {
	flat8Check(dsts, srcs, subs, f)
	flat8Go(dsts, srcs, subs, tasks, f)
}

func flat8Split(dst, src []float32, g ConvGeom, ps, phases int) bool { return false }
