//go:build amd64 && !purego

package f32

import "testing"

// TestBNChannelKernelsInUse: on an AVX-512 CPU the channel kernels are
// the assembly ones, so TestBNChannelKernels compares them with the row
// loops rather than the loops with themselves.
func TestBNChannelKernelsInUse(t *testing.T) {
	if !hasAVX512() {
		t.Skip("no AVX-512")
	}
	if zsumRowsK == nil || zsqdevRowsK == nil || zsumdotRowsK == nil || zgradRowsK == nil || zaffineRowsK == nil {
		t.Fatal("AVX-512 CPU without the assembly channel kernels")
	}
}
