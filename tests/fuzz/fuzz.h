/* fuzz.h - small helpers shared by the libFuzzer harnesses.
 *
 * Streaming parsers are fed twice, once whole and once in chunks whose
 * sizes come from a generator seeded with a hash of the input (so a saved
 * input replays the same chunks), and both runs must agree: a parser that
 * keeps state across feeds must not depend on where the bytes were cut.
 * FUZZ_CHECK() aborts, which libFuzzer reports as a crash and saves.
 */
#ifndef ODOFS_FUZZ_H
#define ODOFS_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#define FUZZ_CHECK(cond)                                                                           \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			fprintf(stderr, "%s:%d: fuzz check failed: %s\n", __FILE__, __LINE__,      \
				#cond);                                                            \
			abort();                                                                   \
		}                                                                                  \
	} while (0)

/* FNV-1a, 64 bits: digests of outputs, and the chunking seed. */
static inline uint64_t fuzz_hash(uint64_t h, const void *p, size_t n)
{
	const unsigned char *s = p;

	if (h == 0)
		h = 0xcbf29ce484222325ULL;
	for (size_t i = 0; i < n; i++) {
		h ^= s[i];
		h *= 0x100000001b3ULL;
	}
	return h;
}

static inline uint64_t fuzz_hash_str(uint64_t h, const char *s)
{
	if (!s)
		return fuzz_hash(h, "\xff(null)", 7);
	return fuzz_hash(h, s, __builtin_strlen(s) + 1);
}

static inline uint64_t fuzz_hash_u64(uint64_t h, uint64_t v)
{
	return fuzz_hash(h, &v, sizeof(v));
}

struct fuzz_rng {
	uint64_t s;
	int mode;
};

static inline uint64_t fuzz_next(struct fuzz_rng *r)
{
	/* xorshift64* */
	r->s ^= r->s >> 12;
	r->s ^= r->s << 25;
	r->s ^= r->s >> 27;
	return r->s * 0x2545f4914f6cdd1dULL;
}

static inline void fuzz_rng_init(struct fuzz_rng *r, const uint8_t *data, size_t size)
{
	r->s = fuzz_hash(0, data, size) | 1;
	r->mode = (int)(fuzz_next(r) % 4);
}

/* The size of the next chunk, 1..left (left > 0): single bytes, small
 * pieces, or larger ones, as the input's mode says. */
static inline size_t fuzz_chunk(struct fuzz_rng *r, size_t left)
{
	size_t n;

	switch (r->mode) {
	case 0:
		n = 1;
		break;
	case 1:
		n = 1 + fuzz_next(r) % 8;
		break;
	case 2:
		n = 1 + fuzz_next(r) % 64;
		break;
	default:
		n = 1 + fuzz_next(r) % 1024;
		break;
	}
	return n < left ? n : left;
}

/* The input as a NUL-terminated string (cut at its first NUL). */
static inline char *fuzz_strdup(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);

	if (!s)
		abort();
	__builtin_memcpy(s, data, size);
	s[size] = '\0';
	return s;
}

#endif
