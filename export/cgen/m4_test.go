package cgen

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tinyqat/tinyqat/infer"
)

// The Cortex-M4 check: the generated code, the harness and a tiny startup
// are cross-compiled with arm-none-eabi-gcc and run on QEMU's MPS2 AN386
// board model (a Cortex-M4), printing through semihosting. QEMU runs with
// -icount shift=0 (each instruction advances the virtual clock by 1 ns)
// and SysTick counts the 25 MHz CPU clock of the board, so one tick is 40
// emulated instructions: an instruction count, not a real chip's cycles.

// m4StartupC is the vector table, reset handler (data copy, bss zero,
// stack painting), SysTick tick counter, semihosting output and exit,
// memcpy and memset (the image links no libc).
const m4StartupC = `#include <stdint.h>
#include <string.h>

extern uint32_t _sidata, _sdata, _edata, _sbss, _ebss, _sstack, _estack;
int harness(void);
extern uint64_t harness_ticks;

static volatile uint32_t wraps;

static int semihost(int op, const void *arg)
{
	register int r0 __asm__("r0") = op;
	register const void *r1 __asm__("r1") = arg;
	__asm__ volatile("bkpt 0xab" : "+r"(r0) : "r"(r1) : "memory");
	return r0;
}

void out(const char *s) { semihost(0x04, s); }

static void put_u(const char *label, uint64_t v)
{
	char buf[48], d[24];
	int n = 0, k = 0;
	while (*label) buf[n++] = *label++;
	do { d[k++] = (char)('0' + v % 10); v /= 10; } while (v);
	while (k) buf[n++] = d[--k];
	buf[n++] = '\n';
	buf[n] = 0;
	out(buf);
}

#define SYST_CSR (*(volatile uint32_t *)0xE000E010u)
#define SYST_RVR (*(volatile uint32_t *)0xE000E014u)
#define SYST_CVR (*(volatile uint32_t *)0xE000E018u)

void systick(void) { wraps++; }

uint64_t now(void)
{
	uint32_t w, c;
	do {
		w = wraps;
		c = SYST_CVR;
	} while (w != wraps);
	return ((uint64_t)w << 24) + (0xFFFFFFu - c);
}

void *memcpy(void *d, const void *s, size_t n)
{
	unsigned char *p = d;
	const unsigned char *q = s;
	while (n--) *p++ = *q++;
	return d;
}

void *memset(void *d, int c, size_t n)
{
	unsigned char *p = d;
	while (n--) *p++ = (unsigned char)c;
	return d;
}

void reset(void)
{
	uint32_t *p, *q, *sp;
	int rc;
	for (p = &_sdata, q = &_sidata; p < &_edata;) *p++ = *q++;
	for (p = &_sbss; p < &_ebss;) *p++ = 0;
	__asm__ volatile("mov %0, sp" : "=r"(sp));
	for (p = &_sstack; p < sp - 16;) *p++ = 0xDEADBEEFu;
	SYST_RVR = 0xFFFFFFu;
	SYST_CVR = 0;
	SYST_CSR = 7; /* enable, interrupt, processor clock */
	rc = harness();
	for (p = &_sstack; p < &_estack && *p == 0xDEADBEEFu;) p++;
	put_u("# stack_bytes ", (uint64_t)((&_estack - p) * 4));
	put_u("# ticks ", harness_ticks);
	semihost(0x18, (const void *)(rc == 0 ? 0x20026 : 0x20023));
	for (;;) {
	}
}

static void fault(void)
{
	out("fault\n");
	semihost(0x18, (const void *)0x20023);
	for (;;) {
	}
}

__attribute__((section(".vectors"), used)) void (*const vectors[16])(void) = {
	(void (*)(void))&_estack, reset, fault, fault, fault, fault, fault, 0, 0, 0, 0, fault, fault, 0, fault, systick,
};
`

const m4LinkLD = `MEMORY {
	FLASH (rx) : ORIGIN = 0x00000000, LENGTH = 4M
	RAM (rwx)  : ORIGIN = 0x20000000, LENGTH = 4M
}
SECTIONS {
	.text : { KEEP(*(.vectors)) *(.text*) *(.rodata*) } > FLASH
	.data : { _sdata = .; *(.data*) . = ALIGN(4); _edata = .; } > RAM AT > FLASH
	_sidata = LOADADDR(.data);
	.bss (NOLOAD) : { . = ALIGN(4); _sbss = .; *(.bss*) *(COMMON) . = ALIGN(4); _ebss = .; } > RAM
	.stack (NOLOAD) : { . = ALIGN(8); _sstack = .; . += 0x10000; _estack = .; } > RAM
}
`

var m4Flags = []string{"-mcpu=cortex-m4", "-mthumb", "-mfloat-abi=soft", "-O2", "-ffreestanding", "-fno-tree-loop-distribute-patterns"}

// m4Tools returns the cross compiler, size tool and QEMU, or skips.
func m4Tools(t *testing.T) (gcc, size, qemu string) {
	var err error
	for _, p := range []struct {
		dst  *string
		name string
	}{{&gcc, "arm-none-eabi-gcc"}, {&size, "arm-none-eabi-size"}, {&qemu, "qemu-system-arm"}} {
		if *p.dst, err = exec.LookPath(p.name); err != nil {
			t.Skipf("no %s (Debian: apt-get install gcc-arm-none-eabi qemu-system-arm): the Cortex-M4 check is skipped", p.name)
		}
	}
	return gcc, size, qemu
}

// m4Run is one model's build and run on the emulated Cortex-M4.
type m4Run struct {
	flash, rodata, text int     // model.o's .text + .rodata, and each
	stack               int     // stack high-water mark, bytes
	insnPerImage        float64 // emulated instructions per model_run
}

// buildAndRunM4 cross-compiles dir's project (portable or DSP kernels),
// runs it under QEMU and returns the output and measurements.
func buildAndRunM4(t *testing.T, dir string, dsp bool, n int) (string, m4Run) {
	gcc, size, qemu := m4Tools(t)
	variant := "portable"
	if dsp {
		variant = "dsp"
	}
	for name, data := range map[string]string{"startup.c": m4StartupC, "link.ld": m4LinkLD} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	flags := append([]string{}, m4Flags...)
	if !dsp {
		flags = append(flags, "-DTQ_PORTABLE")
	}
	strict := append(append([]string{}, hostFlags...), flags...)
	obj := "model-" + variant + ".o"
	run(t, dir, gcc, append(strict, "-c", "-o", obj, "model.c")...)
	run(t, dir, gcc, append(strict, "-c", "-o", "harness-"+variant+".o", "harness.c")...)
	run(t, dir, gcc, append(append([]string{"-std=gnu99", "-Wall", "-Werror"}, flags...), "-c", "-o", "startup.o", "startup.c")...)
	elf := "prog-" + variant + ".elf"
	run(t, dir, gcc, append(flags, "-nostdlib", "-T", "link.ld", "-o", elf, "startup.o", "harness-"+variant+".o", obj, "-lgcc")...)
	var r m4Run
	// size -A: section sizes of the model's object (weights + code).
	for _, line := range strings.Split(run(t, dir, size, "-A", obj), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		v, err := strconv.Atoi(f[1])
		if err != nil {
			continue
		}
		switch {
		case strings.HasPrefix(f[0], ".text"):
			r.text += v
		case strings.HasPrefix(f[0], ".rodata"):
			r.rodata += v
		}
	}
	r.flash = r.text + r.rodata
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, qemu, "-M", "mps2-an386", "-cpu", "cortex-m4", "-nographic", "-monitor", "none", "-serial", "none",
		"-semihosting-config", "enable=on,target=native", "-icount", "shift=0", "-kernel", elf)
	cmd.Dir = dir
	b, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("qemu (%s): %v\n%.2000s", variant, err, b)
	}
	got := string(b)
	if m := regexp.MustCompile(`# stack_bytes (\d+)`).FindStringSubmatch(got); m != nil {
		r.stack, _ = strconv.Atoi(m[1])
	}
	if m := regexp.MustCompile(`# ticks (\d+)`).FindStringSubmatch(got); m != nil {
		ticks, _ := strconv.ParseFloat(m[1], 64)
		r.insnPerImage = ticks * 40 / float64(n) // 25 MHz ticks, 1 ns per instruction
	}
	return got, r
}

// TestCortexM4BitExact runs every test model's generated C on the
// emulated Cortex-M4, with the portable and the DSP (SMLAD) kernels, and
// compares every logit with infer (48 images of each; TINYQAT_M4_IMAGES
// sets another count).
func TestCortexM4BitExact(t *testing.T) {
	m4Tools(t)
	n := 48 // TINYQAT_M4_IMAGES=N runs N images instead
	if env := os.Getenv("TINYQAT_M4_IMAGES"); env != "" {
		var err error
		if n, err = strconv.Atoi(env); err != nil || n < 2 {
			t.Fatalf("TINYQAT_M4_IMAGES=%q: want an image count of at least 2", env)
		}
	}
	for name, m := range testModels(t) {
		t.Run(name, func(t *testing.T) {
			pix := testPixels(m, n, 9)
			dir, res := writeProject(t, m, pix, n)
			for _, dsp := range []bool{false, true} {
				got, r := buildAndRunM4(t, dir, dsp, n)
				checkOutput(t, m, pix, n, got)
				t.Logf("dsp=%v: flash %d (text %d, rodata %d), arena %d, stack %d, %.0f emulated instructions per image",
					dsp, r.flash, r.text, r.rodata, res.ArenaBytes, r.stack, r.insnPerImage)
			}
		})
	}
}

// TestCortexM4Report measures flash, RAM and emulated instructions of
// lenet5-like and resnet8-like models (random weights, the architectures'
// shapes) on n images, checking every logit too. It takes minutes of
// emulation: it runs only when TINYQAT_M4_REPORT is set (to the image
// count).
func TestCortexM4Report(t *testing.T) {
	env := os.Getenv("TINYQAT_M4_REPORT")
	if env == "" {
		t.Skip("set TINYQAT_M4_REPORT=N to measure lenet5 and resnet8 on the emulated Cortex-M4 with N images")
	}
	n, err := strconv.Atoi(env)
	if err != nil || n < 1 {
		t.Fatalf("TINYQAT_M4_REPORT=%q: want an image count", env)
	}
	m4Tools(t)
	for _, name := range []string{"lenet5", "lenet5-w4", "resnet8-mlperf", "mobilenet-tiny"} {
		for _, mode := range []infer.Mode{infer.W8A8, infer.W8A8Asym} {
			m := zooModel(t, name, mode)
			pix := testPixels(m, n, 13)
			dir, res := writeProject(t, m, pix, n)
			for _, dsp := range []bool{false, true} {
				got, r := buildAndRunM4(t, dir, dsp, n)
				checkOutput(t, m, pix, n, got)
				fmt.Printf("%-15s %-10s dsp=%-5v MACs %9d  flash %7d (code %6d, const %7d)  arena %6d (peak live %6d)  stack %5d  insn/image %11.0f  (%.2f per MAC)\n",
					name, mode, dsp, infer.MACs(m), r.flash, r.text, r.rodata, res.ArenaBytes, res.PeakLiveBytes, r.stack, r.insnPerImage, r.insnPerImage/float64(infer.MACs(m)))
			}
		}
	}
}

// zooModel builds a model with the shapes of one of nn's architectures
// (integer layers as export lowers them) and random weights.
func zooModel(t *testing.T, name string, mode infer.Mode) *infer.Model {
	switch name {
	case "lenet5", "lenet5-w4": // Caffe's LeNet on 28×28 (W8, or W4A8)
		bits := 8
		if name == "lenet5-w4" {
			bits = 4
		}
		b := newBuilder(t, mode, 1, 28, 28, 10, 21)
		v := b.conv(-1, 20, 5, 1, 0, 1, bits, false)
		v = b.maxpool(v, 2, 2)
		v = b.conv(v, 50, 5, 1, 0, 1, bits, false)
		v = b.maxpool(v, 2, 2)
		v = b.flatten(v)
		v = b.linear(v, 500, bits, true)
		b.linear(v, 10, bits, false)
		return b.done()
	case "resnet8-mlperf": // MLPerf Tiny's ResNet-8 on CIFAR-10
		b := newBuilder(t, mode, 3, 32, 32, 10, 22)
		v := b.conv(-1, 16, 3, 1, 1, 1, 8, true)
		for _, st := range []struct{ ch, stride int }{{16, 1}, {32, 2}, {64, 2}} {
			body := b.conv(v, st.ch, 3, st.stride, 1, 1, 8, true)
			body = b.conv(body, st.ch, 3, 1, 1, 1, 8, false)
			short := v
			if st.stride != 1 {
				short = b.conv(v, st.ch, 1, st.stride, 0, 1, 8, false)
			}
			v = b.add(body, short, true, 0, 0)
		}
		v = b.gap(v)
		v = b.flatten(v)
		b.linear(v, 10, 8, false)
		return b.done()
	case "mobilenet-tiny":
		b := newBuilder(t, mode, 1, 28, 28, 10, 23)
		v := b.conv(-1, 16, 3, 2, 1, 1, 8, true)
		in := 16
		for _, st := range []struct{ out, stride int }{{32, 1}, {64, 2}, {64, 1}} {
			v = b.conv(v, in, 3, st.stride, 1, in, 8, true)
			v = b.conv(v, st.out, 1, 1, 0, 1, 8, true)
			in = st.out
		}
		v = b.gap(v)
		v = b.flatten(v)
		b.linear(v, 10, 8, false)
		return b.done()
	}
	t.Fatalf("no zoo model %q", name)
	return nil
}
