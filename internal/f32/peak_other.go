//go:build !amd64 || purego

package f32

func peakLoopsAsm() []PeakLoop { return nil }
