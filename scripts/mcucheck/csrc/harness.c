/* harness.c: runs TEST_N images through model_run, as a program would.
 *
 * Each image's raw bytes come from next_image (on the Cortex-M4 through
 * semihosting from the host file images.u8; on the host from stdio). The
 * arena is refilled with garbage before every call and followed by a
 * canary. It prints one line of logits per image ("r v0 v1 ..."); on the
 * Cortex-M4 it also times model_run (SysTick) and measures its stack
 * (probe_begin paints the free stack, probe_end finds the lowest word
 * model_run wrote). Built with -std=c99 -Wall -Wextra -Werror -pedantic.
 */
#include <stdint.h>
#include <string.h>
#include "model.h"

#ifndef TEST_N
#error "define TEST_N, the image count"
#endif

void out(const char *s);
int next_image(uint8_t *buf, unsigned long size); /* 0: read */
uint64_t now(void);                                /* a tick counter (0 on the host) */
void probe_begin(void);                            /* paint the free stack */
unsigned long probe_end(void);                     /* bytes below the caller's sp written since */

#define CANARY 64
static uint8_t arena[MODEL_ARENA_SIZE + CANARY];
static uint8_t pixels[MODEL_IN_SIZE];
uint64_t harness_ticks;
unsigned long harness_stack;

static void put_logits(const model_q_t *l)
{
	char buf[16 * MODEL_CLASSES + 8], *p = buf;
	int c;
	*p++ = 'r';
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

int harness(void)
{
	model_q_t logits[MODEL_CLASSES];
	long n;
	int i;
	for (n = 0; n < TEST_N; n++) {
		uint64_t t0;
		unsigned long s;
		if (next_image(pixels, MODEL_IN_SIZE) != 0) {
			out("cannot read the next image\n");
			return 1;
		}
		memset(arena, (int)(0xa5 ^ (n & 0xff)), MODEL_ARENA_SIZE);
		memset(arena + MODEL_ARENA_SIZE, 0x5a, CANARY);
		probe_begin();
		t0 = now();
		model_run(pixels, logits, arena);
		harness_ticks += now() - t0;
		s = probe_end();
		if (s > harness_stack) {
			harness_stack = s;
		}
		put_logits(logits);
		for (i = 0; i < CANARY; i++) {
			if (arena[MODEL_ARENA_SIZE + i] != 0x5a) {
				out("canary overwritten: model_run wrote past MODEL_ARENA_SIZE\n");
				return 1;
			}
		}
	}
	out("done\n");
	return 0;
}
