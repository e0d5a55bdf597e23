//go:build !amd64 || purego

package infer

// availableLevels is the portable Go level only (the purego build, or a
// CPU without assembly kernels).
func availableLevels() []*level { return []*level{goLevel} }
