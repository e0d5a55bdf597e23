package infer

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestAVX2KernelsUseNoLegacySSE scans the AVX2 assembly for legacy-SSE
// (non-VEX) moves to or from X registers: MOVQ/MOVD AX, X14 in a kernel
// that has written Y registers cost about 110 ns a call on Zen 3 (the
// int8 GEMM's constant setup, 145 → 34 ns a call of gemmAVX2SignR4P1 at
// 7 groups); VMOVQ/VMOVD are the same moves, VEX-encoded. The AVX-512
// kernels (TEXT names with AVX512) are not scanned.
func TestAVX2KernelsUseNoLegacySSE(t *testing.T) {
	files, _ := filepath.Glob("*_amd64.s")
	if len(files) < 5 {
		t.Fatalf("assembly files not found: %v", files)
	}
	legacy := regexp.MustCompile(`^\s*(MOVQ|MOVD|MOVL|MOVO|MOVOU|PXOR)\s.*\bX[0-9]+\b`)
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		fn := ""
		for i, line := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(line, "TEXT ") {
				fn = line
			}
			if fn != "" && !strings.Contains(fn, "AVX512") && legacy.MatchString(line) {
				t.Errorf("%s:%d: legacy-SSE move in %s: %s", f, i+1, strings.Fields(fn)[1], strings.TrimSpace(line))
			}
		}
	}
}
