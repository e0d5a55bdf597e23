//go:build !amd64 || purego

package f32

func pickLevel() level { return goLevel }

func levelOf(kernel) level { return goLevel }
