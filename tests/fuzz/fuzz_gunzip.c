/* fuzz-sources: src/wh/gunzip.c */
/* fuzz-max-len: 65536 */
/* fuzz_gunzip.c - streaming gzip decompression.
 *
 * The input is decompressed whole and in chunks, which must agree (result,
 * message, and the bytes out when it succeeds).  Then it is compressed as a gzip member (zlib)
 * and must decompress to itself, whatever the chunking.  Output is capped
 * so that a small bomb costs little time. */
#include "config.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "fuzz.h"
#include "wh/gunzip.h"

#define OUT_CAP (8u << 20)

struct sink {
	uint64_t digest;
	size_t total;
	int capped;
};

static int on_data(void *arg, const char *data, size_t len)
{
	struct sink *s = arg;

	FUZZ_CHECK(len > 0 && data != NULL);
	s->total += len;
	if (s->total > OUT_CAP) {
		s->capped = 1;
		return -EFBIG;
	}
	s->digest = fuzz_hash(s->digest, data, len);
	return 0;
}

static int inflate_all(const uint8_t *data, size_t size, struct fuzz_rng *rng, struct sink *s,
		       const char **msg_out, char *msg, size_t msg_size)
{
	struct gunzip *g = gunzip_new(on_data, s);
	int r = 0;

	FUZZ_CHECK(g != NULL);
	memset(s, 0, sizeof(*s));
	if (!rng) {
		r = gunzip_feed(g, (const char *)data, size);
	} else {
		for (size_t off = 0, n; off < size && r == 0; off += n) {
			n = fuzz_chunk(rng, size - off);
			r = gunzip_feed(g, (const char *)data + off, n);
		}
	}
	if (r == 0)
		r = gunzip_finish(g);
	else
		FUZZ_CHECK(gunzip_finish(g) == r);
	FUZZ_CHECK(r == 0 || r == -EINVAL || r == -EFBIG || r == -ENOMEM);
	FUZZ_CHECK((r == -EINVAL) == (gunzip_error(g)[0] != '\0'));
	snprintf(msg, msg_size, "%s", gunzip_error(g));
	*msg_out = msg;
	gunzip_free(g);
	return r;
}

/* data as one gzip member, malloc'd. */
static unsigned char *gzip_member(const uint8_t *data, size_t size, int level, size_t *out_len)
{
	z_stream zs = {0};
	size_t cap = compressBound((uLong)size) + 64;
	unsigned char *out = malloc(cap);

	FUZZ_CHECK(out);
	FUZZ_CHECK(deflateInit2(&zs, level, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY) ==
		   Z_OK);
	zs.next_in = (unsigned char *)data;
	zs.avail_in = (uInt)size;
	zs.next_out = out;
	zs.avail_out = (uInt)cap;
	FUZZ_CHECK(deflate(&zs, Z_FINISH) == Z_STREAM_END);
	*out_len = cap - zs.avail_out;
	deflateEnd(&zs);
	return out;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_rng rng;
	struct sink s1, s2;
	const char *m1, *m2;
	char b1[128], b2[128];
	int r1, r2, level;
	unsigned char *gz, *two;
	size_t gz_len;

	fuzz_rng_init(&rng, data, size);
	r1 = inflate_all(data, size, NULL, &s1, &m1, b1, sizeof(b1));
	r2 = inflate_all(data, size, &rng, &s2, &m2, b2, sizeof(b2));
	/* The bytes before an error may differ (fed whole, the window that
	 * holds the error is never passed on; the load fails either way). */
	if (r1 != -EFBIG) {
		if (r1 != r2 || strcmp(m1, m2) ||
		    (r1 == 0 && (s1.total != s2.total || s1.digest != s2.digest))) {
			fprintf(stderr, "whole: %d '%s' %zu bytes; chunked: %d '%s' %zu bytes\n",
				r1, m1, s1.total, r2, m2, s2.total);
			FUZZ_CHECK(!"gunzip whole and in chunks differ");
		}
	}

	/* Round trip: one member, then two members back to back. */
	level = (int)(fuzz_next(&rng) % 10);
	gz = gzip_member(data, size, level, &gz_len);
	r1 = inflate_all(gz, gz_len, &rng, &s1, &m1, b1, sizeof(b1));
	FUZZ_CHECK(r1 == 0 && s1.total == size);
	FUZZ_CHECK(s1.digest == (size ? fuzz_hash(0, data, size) : 0));
	two = malloc(2 * gz_len);
	FUZZ_CHECK(two);
	memcpy(two, gz, gz_len);
	memcpy(two + gz_len, gz, gz_len);
	r2 = inflate_all(two, 2 * gz_len, &rng, &s2, &m2, b2, sizeof(b2));
	FUZZ_CHECK(r2 == 0 && s2.total == 2 * size);
	/* Cut short: truncated, never a success. */
	if (gz_len > 1) {
		size_t cut = 1 + (size_t)(fuzz_next(&rng) % (gz_len - 1));

		r1 = inflate_all(gz, cut, &rng, &s1, &m1, b1, sizeof(b1));
		FUZZ_CHECK(r1 == -EINVAL);
	}
	free(two);
	free(gz);
	return 0;
}
