/* startup.c: a bare Cortex-M4 program for QEMU's mps2-an386 board: vector
 * table, reset handler (data copy, bss zero), SysTick tick counter,
 * semihosting (output, the images file, exit), the stack probe, memcpy
 * and memset (the program links no libc). Compiled with -std=gnu99 (inline
 * assembly).
 *
 * Timing: QEMU runs with -icount shift=0 (each instruction advances the
 * virtual clock by 1 ns) and SysTick counts the board's 25 MHz CPU clock,
 * so one tick is 40 emulated instructions: an instruction count, not a
 * real chip's cycles.
 */
#include <stdint.h>
#include <string.h>

extern uint32_t _sidata, _sdata, _edata, _sbss, _ebss, _sstack, _estack;
int harness(void);
extern uint64_t harness_ticks;
extern unsigned long harness_stack;

static volatile uint32_t wraps;

static int semihost(int op, const void *arg)
{
	register int r0 __asm__("r0") = op;
	register const void *r1 __asm__("r1") = arg;
	__asm__ volatile("bkpt 0xab" : "+r"(r0) : "r"(r1) : "memory");
	return r0;
}

void out(const char *s) { semihost(0x04, s); } /* SYS_WRITE0 */

static void put_u(const char *label, uint64_t v)
{
	char buf[64], d[24];
	int n = 0, k = 0;
	while (*label) buf[n++] = *label++;
	do { d[k++] = (char)('0' + v % 10); v /= 10; } while (v);
	while (k) buf[n++] = d[--k];
	buf[n++] = '\n';
	buf[n] = 0;
	out(buf);
}

static int images = -1;

int next_image(uint8_t *buf, unsigned long size)
{
	if (images < 0) {
		static const char name[] = "images.u8";
		uint32_t open[3] = {(uint32_t)name, 1 /* "rb" */, sizeof name - 1};
		if ((images = semihost(0x01, open)) < 0) /* SYS_OPEN */
			return 1;
	}
	uint32_t rd[3] = {(uint32_t)images, (uint32_t)buf, size};
	return semihost(0x06, rd) != 0; /* SYS_READ: the bytes not read */
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

/* The stack probe. probe_begin is naked: at its entry sp is the caller's
   sp, which probe_paint records; probe_paint fills the free stack below
   its own sp (at most PROBE_WORDS words) with a pattern. probe_end finds
   the lowest word no longer holding it: the depth of whatever ran in
   between (the model, and any interrupt it took), from the caller's sp. */
#define PAINT 0xDEADBEEFu
#define PROBE_WORDS 8192
static uint32_t *probe_sp, *probe_low;

void probe_paint(uint32_t *caller_sp)
{
	uint32_t *sp, *p;
	__asm__ volatile("mov %0, sp" : "=r"(sp));
	probe_sp = caller_sp;
	probe_low = sp - PROBE_WORDS > &_sstack ? sp - PROBE_WORDS : &_sstack;
	for (p = probe_low; p < sp - 4;) *p++ = PAINT;
}

__attribute__((naked)) void probe_begin(void)
{
	__asm__ volatile("mov r0, sp\n\tb probe_paint\n");
}

unsigned long probe_end(void)
{
	uint32_t *p = probe_low;
	while (p < probe_sp && *p == PAINT) p++;
	if (p == probe_low) {
		out("stack probe: the model used all the painted stack\n");
		semihost(0x18, (const void *)0x20023);
	}
	return (unsigned long)((probe_sp - p) * 4);
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
	uint32_t *p, *q;
	int rc;
	for (p = &_sdata, q = &_sidata; p < &_edata;) *p++ = *q++;
	for (p = &_sbss; p < &_ebss;) *p++ = 0;
	SYST_RVR = 0xFFFFFFu;
	SYST_CVR = 0;
	SYST_CSR = 7; /* enable, interrupt, processor clock */
	rc = harness();
	put_u("# stack_bytes ", harness_stack);
	put_u("# ticks ", harness_ticks);
	semihost(0x18, (const void *)(rc == 0 ? 0x20026 : 0x20023)); /* SYS_EXIT */
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
