//go:build !amd64 || purego

package infer

// stemKernels is false: stemImage runs stemImageGo, and the planner
// keeps today's path (stemPlan is only made where the kernels run).
const stemKernels = false

var stemConvQ [2][2][stemMaxQ]func(tile *uint32, src *uint8, w *int32, cf *int32, a *stemArgs)

var stemTranspose [8]func(dst *uint8, tile *uint32, a *stemArgs)
