package infer

import (
	"math"

	"github.com/tinyqat/tinyqat/fakequant"

	"go/ast"
	"go/parser"
	"go/token"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// sizes are the ragged edges of vector widths: 1, 7, 15, 16, 17, 31, 32, 33, 63, 64, 65, …
var sizes = []int{1, 2, 3, 7, 15, 16, 17, 31, 32, 33, 63, 64, 65, 127, 128, 129, 784}

func TestIm2colAndMaxPool(t *testing.T) {
	// A 1×3×3 image, 2×2 kernel, stride 1, pad 1: the first field is the
	// padded corner (0, 0, 0, x[0]).
	src := []int8{1, 2, 3, 4, 5, 6, 7, 8, 9}
	dst := make([]int8, 16*4)
	im2col(dst, src, 1, 3, 3, 2, 1, 1, 4, 4, 4, 0)
	if !slices.Equal(dst[:4], []int8{0, 0, 0, 1}) || !slices.Equal(dst[5*4:6*4], []int8{1, 2, 4, 5}) {
		t.Fatalf("im2col: %v", dst)
	}
	out := make([]int8, 4)
	maxPool(out, src, 1, 3, 3, 2, 1, 2, 2)
	if !slices.Equal(out, []int8{5, 6, 8, 9}) {
		t.Fatalf("maxpool: %v", out)
	}
	u := []uint8{200, 3, 4, 250}
	uo := make([]uint8, 1)
	maxPool(uo, u, 1, 2, 2, 2, 2, 1, 1)
	if uo[0] != 250 {
		t.Fatalf("uint8 maxpool: %v", uo)
	}
}

// TestKernelsUseNoFloat fails if an integer kernel file mentions a float
// type, a float literal or the math package: the runtime between input
// quantization and output must be integer-only.
func TestKernelsUseNoFloat(t *testing.T) {
	// codebook.go is not scanned: it loads the float codebook layers
	// (w8-only and cluster modes), not integer kernels; the GEMM's weight packing is
	// in gemm.go. The input quantization (quantize_input*.go) is the one
	// float step and lives outside these files; the byte input's table
	// lookup (kernels_input.go) is inside them.
	files, _ := filepath.Glob("kernels*.go")
	for _, g := range []string{"gemm*.go", "requant*.go"} {
		more, _ := filepath.Glob(g)
		files = append(files, more...)
	}
	files = append(files, "../quant/requant.go")
	files = slices.DeleteFunc(files, func(f string) bool { return strings.HasSuffix(f, "_test.go") })
	if len(files) < 6 || !slices.Contains(files, "kernels_requant.go") || !slices.Contains(files, "kernels_requant_amd64.go") ||
		!slices.Contains(files, "kernels_input.go") { // the byte input (LogitsBytes)
		t.Fatalf("kernel files not found: %v", files)
	}
	for _, f := range files {
		fs := token.NewFileSet()
		tree, err := parser.ParseFile(fs, f, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, imp := range tree.Imports {
			if imp.Path.Value == `"math"` {
				t.Errorf("%s imports math", f)
			}
		}
		ast.Inspect(tree, func(n ast.Node) bool {
			switch n := n.(type) {
			case *ast.Ident:
				if n.Name == "float32" || n.Name == "float64" || n.Name == "complex64" || n.Name == "complex128" {
					t.Errorf("%s: %s uses %s", f, fs.Position(n.Pos()), n.Name)
				}
			case *ast.BasicLit:
				if n.Kind == token.FLOAT || n.Kind == token.IMAG {
					t.Errorf("%s: %s has the float literal %s", f, fs.Position(n.Pos()), n.Value)
				}
			}
			return true
		})
	}
}

// integerOps are integer instructions whose names end like float ones:
// the VNNI dot products (unsigned × signed bytes, signed words, into
// dwords) and the signed dword maximum and minimum.
var integerOps = map[string]bool{"VPDPBUSD": true, "VPDPBUSDS": true, "VPDPWSSD": true, "VPDPWSSDS": true,
	"VPMAXSD": true, "VPMINSD": true}

// floatAssembly is the one assembly file allowed floating point: the input
// quantization (x / S in float32, rounded by VCVTPS2DQ), the boundary
// where the float input becomes integers, before any integer kernel runs.
const floatAssembly = "quantize_input_amd64.s"

// floatOp matches a floating-point instruction at the start of a line:
// …PS, …PD, …SS, …SD (digits inside the mnemonic too: VFMADD231PS,
// VDPBF16PS), CVT… and x87 (F…).
var floatOp = regexp.MustCompile(`(?m)^\s*(V?[A-Z][A-Z0-9]*(PS|PD|SS|SD)|V?CVT[A-Z0-9]*|F[A-Z]+)\b`)

// TestFloatOpPattern: the scan of TestAssemblyUsesNoFloat recognises float
// instructions, FMA and the other mnemonics with digits included, and
// passes integer ones.
func TestFloatOpPattern(t *testing.T) {
	for _, c := range []struct {
		line  string
		float bool
	}{
		{"\tVMULPS Z1, Z2, Z3", true}, {"\tVFMADD231PS Z1, Z2, Z3", true}, {"\tVFNMADD213SS X1, X2, X3", true},
		{"\tVDPBF16PS Z1, Z2, Z3", true}, {"\tVCVTPS2DQ Z1, Z2", true}, {"\tVBROADCASTSS X0, Y1", true}, {"\tFLDL (AX)", true},
		{"\tVPDPBUSD Z1, Z2, Z3", false}, {"\tVMOVDQU32 (AX), Z1", false}, {"\tVPADDD Z1, Z2, Z3", false},
		{"\tVEXTRACTI128 $1, Y0, X1", false}, {"\tVPERMI2B Z1, Z2, Z3", false}, {"\tVPMADDUBSW Y1, Y2, Y3", false},
	} {
		m := floatOp.FindString(c.line)
		if got := m != "" && !integerOps[strings.TrimSpace(m)]; got != c.float {
			t.Errorf("%q: float %v, want %v", c.line, got, c.float)
		}
	}
}

// TestAssemblyUsesNoFloat fails if an assembly kernel uses a floating-point
// instruction (…PS, …PD, …SS, …SD, CVT…, x87). Only floatAssembly is
// exempt, and it must exist and use float (else the exemption is stale).
func TestAssemblyUsesNoFloat(t *testing.T) {
	files, _ := filepath.Glob("*.s")
	if !slices.Contains(files, floatAssembly) || len(files) < 3 {
		t.Fatalf("assembly files %v: want the kernels and %s", files, floatAssembly)
	}
	for _, f := range files {
		if f == floatAssembly {
			b, err := os.ReadFile(f)
			if err != nil || !floatOp.Match(b) {
				t.Errorf("%s is exempt from the float scan but has no float instruction (%v)", f, err)
			}
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range floatOp.FindAllString(string(b), -1) {
			if integerOps[strings.TrimSpace(m)] {
				continue
			}
			t.Errorf("%s: floating-point instruction %q", f, m)
		}
	}
}

func TestRequantRowsMatchesReference(t *testing.T) {
	rng := rand.New(rand.NewPCG(6, 6))
	n, m, stride := 37, 9, 12
	acc := make([]int32, n*stride)
	for i := range acc {
		switch i % 7 {
		case 0:
			acc[i] = int32(rng.Uint32()) // full range, extremes included
		case 1:
			acc[i] = []int32{math.MinInt32, math.MaxInt32, 0, -1, 1}[rng.IntN(5)]
		default:
			acc[i] = int32(rng.IntN(1<<24) - 1<<23)
		}
	}
	m0, shift := make([]int32, m), make([]int32, m)
	for c := range m0 {
		m0[c] = int32(1<<23 + rng.IntN(1<<23)) // quant.SplitMultiplier's range
		shift[c] = int32(1 + rng.IntN(63))
	}
	for _, q := range [][3]int32{{0, -127, 127}, {17, 0, 255}, {0, 0, 127}} {
		got := make([]int32, n*m)
		requantRows(got, acc, n, m, stride, m0, shift, q[0], q[1], q[2], m, 1)
		for r := 0; r < n; r++ {
			for c := 0; c < m; c++ {
				want := fakequant.Requantize(acc[r*stride+c], m0[c], shift[c], q[0], q[1], q[2])
				if got[r*m+c] != want {
					t.Fatalf("acc %d, M0 %d, shift %d: got %d, reference %d", acc[r*stride+c], m0[c], shift[c], got[r*m+c], want)
				}
			}
		}
	}
}
