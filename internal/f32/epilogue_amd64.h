// Shared by the float kernels' bias-and-clamp epilogues, which compute
// Go's min(max(v + b, lo), hi) bit for bit, NaN and zero signs included.
// VMAXPS and VMINPS return their second source (Go's first operand) when
// either is NaN or both are zeros: max(lo, v) and min(hi, v) with v as
// that operand pass a NaN through as Go's max and min do; adding z, lo's
// sign (+0 after a ReLU's lo = 0, −0 for lo = −Inf), then turns the −0
// that max(+0, −0) returns (a sum is −0 when an FMA's product underflows)
// into Go's +0 and leaves every other value as it is (x + (−0) = x). hi
// is positive, so min meets no pair of zeros.

// ZEROSIGN sets the ymm register z to lo's sign (AVX2).
#define ZEROSIGN(lo, z) \
	VPCMPEQD z, z, z \
	VPSLLD $31, z, z \
	VANDPS lo, z, z

// ZEROSIGN512 sets the zmm register z to lo's sign (AVX-512).
#define ZEROSIGN512(lo, z) \
	VPTERNLOGD $0xff, z, z, z \
	VPSLLD $31, z, z \
	VPANDD lo, z, z
