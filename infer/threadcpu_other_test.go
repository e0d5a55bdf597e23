//go:build !linux

package infer

import "time"

// threadCPU is not measured on this system (0).
func threadCPU() time.Duration { return 0 }
