package cgen

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/tinyqat/tinyqat/infer"
)

// hostFlags are the warning flags.
var hostFlags = []string{"-std=c99", "-Wall", "-Wextra", "-Werror", "-pedantic", "-O2"}

// harnessC runs the images of testdata.h through NAME_run and
// NAME_run_quantized, each time on an arena filled with garbage and
// followed by a canary, and prints one line of logits per run: "r ..." and
// "q ...". It prints through out(), which the host and the Cortex-M4
// startup define.
const harnessC = `#include <stdint.h>
#include <string.h>
#include "model.h"
#include "testdata.h"

void out(const char *s);

#define CANARY 64
static uint8_t arena[MODEL_ARENA_SIZE + CANARY];

static void put_logits(char tag, const model_q_t *l)
{
	char buf[16 * MODEL_CLASSES + 8], *p = buf;
	int c;
	*p++ = tag;
	for (c = 0; c < MODEL_CLASSES; c++) {
		int v = l[c], k = 0;
		char d[8];
		*p++ = ' ';
		if (v < 0) {
			*p++ = '-';
			v = -v;
		}
		do {
			d[k++] = (char)('0' + v % 10);
			v /= 10;
		} while (v > 0);
		while (k > 0) {
			*p++ = d[--k];
		}
	}
	*p++ = '\n';
	*p = 0;
	out(buf);
}

static int canary_ok(void)
{
	int i;
	for (i = 0; i < CANARY; i++) {
		if (arena[MODEL_ARENA_SIZE + i] != 0x5a) {
			return 0;
		}
	}
	return 1;
}

/* now() is a tick counter (0 on the host); harness_ticks sums the
   ticks of the model_run calls. */
uint64_t now(void);
uint64_t harness_ticks;

int harness(void)
{
	model_q_t logits[MODEL_CLASSES];
	int n;
	for (n = 0; n < TEST_N; n++) {
		uint64_t t0;
		memset(arena, 0xa5 ^ n, MODEL_ARENA_SIZE);
		memset(arena + MODEL_ARENA_SIZE, 0x5a, CANARY);
		t0 = now();
		model_run(test_pixels[n], logits, arena);
		harness_ticks += now() - t0;
		put_logits('r', logits);
		memset(arena, 0x3c ^ n, MODEL_ARENA_SIZE);
		model_run_quantized(test_quantized[n], logits, arena);
		put_logits('q', logits);
		if (!canary_ok()) {
			out("canary overwritten\n");
			return 1;
		}
	}
	out("done\n");
	return 0;
}
`

const hostMainC = `#include <stdio.h>
#include <stdint.h>
int harness(void);
uint64_t now(void) { return 0; }
void out(const char *s) { fputs(s, stdout); }
int main(void) { return harness(); }
`

// testData writes testdata.h: n images of bytes and their quantized
// inputs (inputTable).
func testData(m *infer.Model, pix []uint8, n int) []byte {
	size := m.InC * m.InH * m.InW
	hw := m.InH * m.InW
	lut := inputTable(m)
	act := "int8_t"
	if m.Mode == infer.W8A8Asym {
		act = "uint8_t"
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "#define TEST_N %d\nstatic const uint8_t test_pixels[%d][%d] = {\n", n, n, size)
	for i := range n {
		b.WriteString("{")
		for _, v := range pix[i*size : (i+1)*size] {
			fmt.Fprintf(&b, "%d,", v)
		}
		b.WriteString("},\n")
	}
	fmt.Fprintf(&b, "};\nstatic const %s test_quantized[%d][%d] = {\n", act, n, size)
	for i := range n {
		b.WriteString("{")
		for j, v := range pix[i*size : (i+1)*size] {
			fmt.Fprintf(&b, "%d,", lut[j/hw][v])
		}
		b.WriteString("},\n")
	}
	b.WriteString("};\n")
	return b.Bytes()
}

// writeProject writes model.h, model.c, testdata.h and harness.c to a
// temporary directory and returns it.
func writeProject(t *testing.T, m *infer.Model, pix []uint8, n int) (string, *Result) {
	dir := t.TempDir()
	res, err := Write(dir, m, Options{})
	if err != nil {
		t.Fatal(err)
	}
	for name, data := range map[string][]byte{"testdata.h": testData(m, pix, n), "harness.c": []byte(harnessC)} {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir, res
}

// checkOutput compares the harness's output with infer's logits of the
// same bytes, every logit of both entry points.
func checkOutput(t *testing.T, m *infer.Model, pix []uint8, n int, got string) {
	t.Helper()
	want, err := m.LogitsBytes(pix[:n*m.InC*m.InH*m.InW], n)
	if err != nil {
		t.Fatal(err)
	}
	var lines []string // without the "#" lines (measurements)
	for _, line := range strings.Split(strings.TrimSpace(got), "\n") {
		if !strings.HasPrefix(line, "#") {
			lines = append(lines, line)
		}
	}
	if len(lines) != 2*n+1 || lines[len(lines)-1] != "done" {
		t.Fatalf("harness printed %d lines (want %d and done): %.500s", len(lines), 2*n+1, got)
	}
	bad := 0
	for i := range n {
		w := want[i*m.Classes : (i+1)*m.Classes]
		for k, tag := range []string{"r", "q"} {
			f := strings.Fields(lines[2*i+k])
			if len(f) != m.Classes+1 || f[0] != tag {
				t.Fatalf("image %d: line %q", i, lines[2*i+k])
			}
			g := make([]int32, m.Classes)
			for c := range g {
				v, err := strconv.Atoi(f[c+1])
				if err != nil {
					t.Fatal(err)
				}
				g[c] = int32(v)
			}
			if !slices.Equal(g, w) {
				if bad++; bad <= 5 {
					t.Errorf("image %d (%s): C logits %v, infer %v", i, tag, g, w)
				}
			}
		}
	}
	if bad > 0 {
		t.Fatalf("%d of %d runs differ", bad, 2*n)
	}
}

func run(t *testing.T, dir, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s %s: %v\n%s%s", name, strings.Join(args, " "), err, errb.String(), out.String())
	}
	return out.String()
}

// TestHostBitExact builds every test model's generated C with the host
// compiler (-std=c99 -Wall -Wextra -Werror -pedantic), portable and with
// the DSP path emulated, and compares every logit with infer.
func TestHostBitExact(t *testing.T) {
	cc, err := exec.LookPath("cc")
	if err != nil {
		t.Skip("no C compiler (cc) on PATH: the generated C is not checked on the host")
	}
	const n = 48
	for name, m := range testModels(t) {
		t.Run(name, func(t *testing.T) {
			pix := testPixels(m, n, 5)
			dir, res := writeProject(t, m, pix, n)
			if err := os.WriteFile(filepath.Join(dir, "main.c"), []byte(hostMainC), 0o644); err != nil {
				t.Fatal(err)
			}
			for _, variant := range []string{"portable", "dsp-emulated"} {
				args := append([]string{}, hostFlags...)
				if variant != "portable" {
					args = append(args, "-DTQ_EMULATE_DSP")
				}
				exe := filepath.Join(dir, "prog-"+variant)
				run(t, dir, cc, append(args, "-o", exe, "main.c", "harness.c", "model.c")...)
				checkOutput(t, m, pix, n, run(t, dir, exe))
			}
			t.Logf("arena %d bytes (peak live %d, %d in place), constants %d bytes", res.ArenaBytes, res.PeakLiveBytes, res.InPlace, res.WeightBytes)
		})
	}
}

// TestGeneratedCUsesOnlyStringH checks that the generated source has no
// float, no allocation and, compiled alone, calls nothing but memcpy.
func TestGeneratedCUsesOnlyStringH(t *testing.T) {
	for name, m := range testModels(t) {
		res, err := Generate(m, Options{Name: "net"})
		if err != nil {
			t.Fatal(err)
		}
		src := stripComments(string(res.Source) + string(res.Header))
		for _, word := range []string{"float", "double", "malloc", "free(", "stdio", "stdlib", "math.h"} {
			if strings.Contains(src, word) {
				t.Errorf("%s: the generated code contains %q", name, word)
			}
		}
		var incl []string
		for _, line := range strings.Split(src, "\n") {
			if strings.HasPrefix(line, "#include") {
				incl = append(incl, line)
			}
		}
		if want := []string{"#include <stdint.h>", "#include <string.h>", `#include "net.h"`, "#include <stdint.h>"}; !slices.Equal(incl, want) {
			t.Errorf("%s: includes %q, want %q", name, incl, want)
		}
	}
	cc, err := exec.LookPath("cc")
	nm, err2 := exec.LookPath("nm")
	if err != nil || err2 != nil {
		t.Skip("no cc or nm: the object's undefined symbols are not checked")
	}
	m := testModels(t)["res-w8a8-asym"]
	dir := t.TempDir()
	if _, err := Write(dir, m, Options{}); err != nil {
		t.Fatal(err)
	}
	run(t, dir, cc, append(hostFlags, "-c", "-o", "model.o", "model.c")...)
	undef := strings.Fields(run(t, dir, nm, "-u", "model.o"))
	for _, s := range undef {
		if s != "U" && s != "memcpy" {
			t.Errorf("model.o needs %q (want only memcpy): %v", s, undef)
		}
	}
}

// stripComments removes C block comments.
func stripComments(s string) string {
	var b strings.Builder
	for {
		i := strings.Index(s, "/*")
		if i < 0 {
			return b.String() + s
		}
		b.WriteString(s[:i])
		j := strings.Index(s[i:], "*/")
		if j < 0 {
			return b.String()
		}
		s = s[i+j+2:]
	}
}
