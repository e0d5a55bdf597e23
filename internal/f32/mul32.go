package f32

// mul32 is a·b rounded to float32. The explicit conversion keeps the
// product a separate rounding: without it the compiler may fuse a·b + c
// into one multiply-add (the Go spec allows it, and GOAMD64=v3 does it on
// amd64), and the Go twins would no longer match the assembly's separate
// VMULPS and VADDPS bit for bit.
func mul32(a, b float32) float32 { return float32(a * b) }
