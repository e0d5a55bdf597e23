//go:build !amd64 || purego

package infer

// stemKernels is false: stemImage runs stemImageGo, and the planner
// keeps today's path (stemPlan is only made where the kernels run).
const stemKernels = false

func stemConv(wd int, free bool, q int, tile *uint32, src *uint8, w, cf *int32, a *stemArgs) {
	panic("infer: stemConv without the kernels")
}

func stemTranspose(nq int, dst *uint8, tile *uint32, a *stemArgs) {
	panic("infer: stemTranspose without the kernels")
}
