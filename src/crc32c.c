/* crc32c.c - see crc32c.h */
#include "config.h"

#include <pthread.h>
#include <string.h>

#include "crc32c.h"

#define CRC32C_POLY 0x82f63b78u /* reflected */

static uint32_t crc32c_table[8][256];
static pthread_once_t crc32c_once = PTHREAD_ONCE_INIT;
static int crc32c_hw;

static void crc32c_init(void)
{
	for (uint32_t i = 0; i < 256; i++) {
		uint32_t c = i;

		for (int k = 0; k < 8; k++)
			c = c & 1 ? (c >> 1) ^ CRC32C_POLY : c >> 1;
		crc32c_table[0][i] = c;
	}
	for (uint32_t i = 0; i < 256; i++)
		for (int t = 1; t < 8; t++)
			crc32c_table[t][i] = (crc32c_table[t - 1][i] >> 8) ^
					     crc32c_table[0][crc32c_table[t - 1][i] & 0xff];
#if defined(__x86_64__)
	crc32c_hw = __builtin_cpu_supports("sse4.2");
#endif
}

/* Eight bytes a step (slicing by 8). */
static uint32_t crc32c_sw(uint32_t c, const unsigned char *p, size_t len)
{
	while (len && ((uintptr_t)p & 7)) {
		c = crc32c_table[0][(c ^ *p++) & 0xff] ^ (c >> 8);
		len--;
	}
	for (; len >= 8; p += 8, len -= 8) {
		uint64_t w;

		memcpy(&w, p, 8);
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
		w = __builtin_bswap64(w);
#endif
		w ^= c;
		c = crc32c_table[7][w & 0xff] ^ crc32c_table[6][(w >> 8) & 0xff] ^
		    crc32c_table[5][(w >> 16) & 0xff] ^ crc32c_table[4][(w >> 24) & 0xff] ^
		    crc32c_table[3][(w >> 32) & 0xff] ^ crc32c_table[2][(w >> 40) & 0xff] ^
		    crc32c_table[1][(w >> 48) & 0xff] ^ crc32c_table[0][w >> 56];
	}
	while (len--)
		c = crc32c_table[0][(c ^ *p++) & 0xff] ^ (c >> 8);
	return c;
}

#if defined(__x86_64__)
__attribute__((target("sse4.2"))) static uint32_t crc32c_sse42(uint32_t c, const unsigned char *p,
							       size_t len)
{
	uint64_t c64;

	while (len && ((uintptr_t)p & 7)) {
		c = __builtin_ia32_crc32qi(c, *p++);
		len--;
	}
	c64 = c;
	for (; len >= 8; p += 8, len -= 8) {
		uint64_t w;

		memcpy(&w, p, 8);
		c64 = __builtin_ia32_crc32di(c64, w);
	}
	c = (uint32_t)c64;
	while (len--)
		c = __builtin_ia32_crc32qi(c, *p++);
	return c;
}

/* Four pieces side by side: the instruction takes three cycles but can
 * start one a cycle, so four independent chains run at once. */
__attribute__((target("sse4.2"))) static void crc32c_sse42_4(const unsigned char *p, size_t piece,
							     uint32_t *out)
{
	uint64_t c0 = ~0u, c1 = ~0u, c2 = ~0u, c3 = ~0u;
	size_t i;

	for (i = 0; i + 8 <= piece; i += 8) {
		uint64_t w0, w1, w2, w3;

		memcpy(&w0, p + i, 8);
		memcpy(&w1, p + piece + i, 8);
		memcpy(&w2, p + 2 * piece + i, 8);
		memcpy(&w3, p + 3 * piece + i, 8);
		c0 = __builtin_ia32_crc32di(c0, w0);
		c1 = __builtin_ia32_crc32di(c1, w1);
		c2 = __builtin_ia32_crc32di(c2, w2);
		c3 = __builtin_ia32_crc32di(c3, w3);
	}
	out[0] = ~crc32c_sse42((uint32_t)c0, p + i, piece - i);
	out[1] = ~crc32c_sse42((uint32_t)c1, p + piece + i, piece - i);
	out[2] = ~crc32c_sse42((uint32_t)c2, p + 2 * piece + i, piece - i);
	out[3] = ~crc32c_sse42((uint32_t)c3, p + 3 * piece + i, piece - i);
}
#endif

void crc32c_pieces(const void *data, size_t len, size_t piece, uint32_t *out)
{
	const unsigned char *p = data;

	pthread_once(&crc32c_once, crc32c_init);
#if defined(__x86_64__)
	if (crc32c_hw)
		for (; len >= 4 * piece; p += 4 * piece, len -= 4 * piece, out += 4)
			crc32c_sse42_4(p, piece, out);
#endif
	for (; len; out++) {
		size_t n = len < piece ? len : piece;

		*out = crc32c(0, p, n);
		p += n;
		len -= n;
	}
}

uint32_t crc32c(uint32_t crc, const void *data, size_t len)
{
	uint32_t c = ~crc;

	pthread_once(&crc32c_once, crc32c_init);
#if defined(__x86_64__)
	if (crc32c_hw)
		return ~crc32c_sse42(c, data, len);
#endif
	return ~crc32c_sw(c, data, len);
}
