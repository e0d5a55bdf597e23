/* host.c: the harness's I/O on the host (stdio); no timing, no stack probe. */
#include <stdint.h>
#include <stdio.h>

int harness(void);
uint64_t now(void) { return 0; }
void probe_begin(void) {}
unsigned long probe_end(void) { return 0; }
void out(const char *s) { fputs(s, stdout); }

static FILE *images;

int next_image(uint8_t *buf, unsigned long size)
{
	return fread(buf, 1, size, images) == size ? 0 : 1;
}

int main(void)
{
	if ((images = fopen("images.u8", "rb")) == NULL) {
		fputs("cannot open images.u8\n", stderr);
		return 1;
	}
	return harness();
}
