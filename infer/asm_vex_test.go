package infer

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// legacySSE matches an instruction on X registers without the VEX prefix
// (a mnemonic not starting with V: MOVQ AX, X14, MOVQ X0, (DI), PXOR,
// PSHUFB…), on a line with its comment removed.
var legacySSE = regexp.MustCompile(`^\s*([A-UW-Z][A-Z0-9.]*)\s.*\bX[0-9]+\b`)

// TestKernelsUseNoLegacySSE scans every kernel of the assembly, AVX2 and
// AVX-512 alike, for legacy-SSE (non-VEX) instructions on X registers:
// MOVQ/MOVD AX, X14 in a kernel that has written Y or Z registers cost
// about 110 ns a call on Zen 3 (the int8 GEMM's constant setup, 145 → 34
// ns a call of gemmAVX2SignR4P1 at 7 groups), and a legacy move after
// dirty ZMM state is as costly on some AVX-512 parts; VMOVQ/VMOVD are the
// same moves, VEX-encoded. legacySSE itself is checked on the lines it
// must and must not match.
func TestKernelsUseNoLegacySSE(t *testing.T) {
	for _, c := range []struct {
		line  string
		match bool
	}{
		{"\tMOVQ 64(AX), X15         // n, the shift count", true}, // addU8AVX512 had these two
		{"\tMOVQ      X0, (DI)", true},
		{"\tMOVQ AX, X14", true},
		{"\tPXOR X1, X1", true},
		{"\tVMOVQ 64(AX), X15", false},
		{"\tVPMOVQB   Z0, X0", false},
		{"\tMOVQ dst+0(FP), DI", false},
		{"\tADDQ $8, SI", false},
	} {
		if got := legacySSE.MatchString(stripAsmComment(c.line)); got != c.match {
			t.Errorf("legacySSE on %q: %v, want %v", c.line, got, c.match)
		}
	}
	files, _ := filepath.Glob("*_amd64.s")
	if len(files) < 5 {
		t.Fatalf("assembly files not found: %v", files)
	}
	avx512 := 0
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		fn := ""
		for i, line := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(line, "TEXT ") {
				fn = strings.TrimSuffix(strings.Fields(line)[1], ",")
				if strings.Contains(fn, "AVX512") {
					avx512++
				}
			}
			if fn != "" && legacySSE.MatchString(stripAsmComment(line)) {
				t.Errorf("%s:%d: legacy-SSE instruction in %s: %s", f, i+1, fn, strings.TrimSpace(line))
			}
		}
	}
	if avx512 < 3 {
		t.Errorf("only %d AVX-512 kernels scanned", avx512)
	}
}

// stripAsmComment is line without its // comment.
func stripAsmComment(line string) string {
	if i := strings.Index(line, "//"); i >= 0 {
		return line[:i]
	}
	return line
}
