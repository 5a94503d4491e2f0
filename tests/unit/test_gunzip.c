/* test_gunzip.c - gzip streams decompress whole whatever the chunking,
 * members follow one another, and damage is reported, not passed on. */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "buf.h"
#include "wh/gunzip.h"
#include "unit.h"

struct sink {
	struct buf out;
	size_t calls;
	size_t stop_after; /* fail the call after this many bytes; 0: never */
};

static int sink_fn(void *arg, const char *data, size_t len)
{
	struct sink *s = arg;

	s->calls++;
	if (s->stop_after && s->out.len + len > s->stop_after)
		return -EIO;
	return buf_append(&s->out, data, len);
}

/* Appends one gzip member of data to gz. */
static void gzip_member(struct buf *gz, const unsigned char *data, size_t len, int level)
{
	z_stream zs;
	unsigned char tmp[65536];
	int zr;

	memset(&zs, 0, sizeof(zs));
	if (deflateInit2(&zs, level, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY) != Z_OK)
		abort();
	zs.next_in = (unsigned char *)data;
	zs.avail_in = (uInt)len;
	do {
		zs.next_out = tmp;
		zs.avail_out = sizeof(tmp);
		zr = deflate(&zs, Z_FINISH);
		if (buf_append(gz, tmp, sizeof(tmp) - zs.avail_out) < 0)
			abort();
	} while (zr == Z_OK);
	if (zr != Z_STREAM_END)
		abort();
	deflateEnd(&zs);
}

/* Decompress gz fed in chunks of step bytes (0: all at once); returns
 * feed's or finish's first error, and the output in s. */
static int run(const struct buf *gz, size_t step, struct sink *s, char *err, size_t errlen)
{
	struct gunzip *g = gunzip_new(sink_fn, s);
	int r = 0;

	buf_init(&s->out, 64 << 20);
	for (size_t off = 0; off < gz->len && r == 0;) {
		size_t n = step && step < gz->len - off ? step : gz->len - off;

		r = gunzip_feed(g, gz->data + off, n);
		off += n;
	}
	if (r == 0)
		r = gunzip_finish(g);
	snprintf(err, errlen, "%s", gunzip_error(g));
	gunzip_free(g);
	return r;
}

int main(void)
{
	size_t n_rand = 700 * 1024, n_text = 3 << 20;
	unsigned char *rnd = malloc(n_rand), *text = malloc(n_text);
	struct buf gz, all;
	struct sink s = {0};
	char err[128];

	srand(12345);
	for (size_t i = 0; i < n_rand; i++)
		rnd[i] = (unsigned char)(rand() >> 7);
	/* Text that compresses well: the output window fills many times over
	 * from little input, which is where pending output must be drained. */
	for (size_t i = 0; i < n_text; i++)
		text[i] = "id,name,value\n1,alpha,3.25\n"[i % 27];

	/* One member of random data, all at once and in odd chunks. */
	buf_init(&gz, 64 << 20);
	gzip_member(&gz, rnd, n_rand, 6);
	CHECK(run(&gz, 0, &s, err, sizeof(err)) == 0);
	CHECK(s.out.len == n_rand && memcmp(s.out.data, rnd, n_rand) == 0);
	buf_free(&s.out);
	CHECK(run(&gz, 4093, &s, err, sizeof(err)) == 0);
	CHECK(s.out.len == n_rand && memcmp(s.out.data, rnd, n_rand) == 0);
	buf_free(&s.out);

	/* Highly compressible text: a 256 KiB window fills repeatedly. */
	buf_reset(&gz);
	gzip_member(&gz, text, n_text, 9);
	CHECK(gz.len < n_text / 50);
	CHECK(run(&gz, 0, &s, err, sizeof(err)) == 0);
	CHECK(s.out.len == n_text && memcmp(s.out.data, text, n_text) == 0);
	CHECK(s.calls >= n_text / (256 * 1024));
	buf_free(&s.out);

	/* Several members, one of them empty, fed whole, in chunks and 1 byte
	 * at a time: one stream of their concatenation. */
	buf_reset(&gz);
	buf_init(&all, 64 << 20);
	gzip_member(&gz, rnd, 100000, 1);
	buf_append(&all, rnd, 100000);
	gzip_member(&gz, text, 500000, 6);
	buf_append(&all, text, 500000);
	gzip_member(&gz, rnd, 0, 6);
	gzip_member(&gz, rnd + 5, 3, 0);
	buf_append(&all, rnd + 5, 3);
	gzip_member(&gz, rnd + 100000, 200000, 9);
	buf_append(&all, rnd + 100000, 200000);
	for (size_t step = 0; step <= 7; step += 7) {
		CHECK(run(&gz, step, &s, err, sizeof(err)) == 0);
		CHECK(s.out.len == all.len && memcmp(s.out.data, all.data, all.len) == 0);
		buf_free(&s.out);
	}
	CHECK(run(&gz, 1, &s, err, sizeof(err)) == 0);
	CHECK(s.out.len == all.len && memcmp(s.out.data, all.data, all.len) == 0);
	buf_free(&s.out);

	/* Truncated: cut anywhere inside the last member, or inside the first. */
	{
		struct buf cut = gz;

		cut.len = gz.len - 1;
		CHECK(run(&cut, 0, &s, err, sizeof(err)) == -EINVAL);
		CHECK_STR(err, "truncated gzip data");
		buf_free(&s.out);
		cut.len = 10; /* just the first header */
		CHECK(run(&cut, 1, &s, err, sizeof(err)) == -EINVAL);
		CHECK_STR(err, "truncated gzip data");
		buf_free(&s.out);
		cut.len = 1;
		CHECK(run(&cut, 0, &s, err, sizeof(err)) == -EINVAL);
		CHECK_STR(err, "truncated gzip data");
		buf_free(&s.out);
	}

	/* Corrupt: a flipped byte in the deflate data, or in the CRC trailer. */
	{
		struct buf bad;

		buf_init(&bad, 64 << 20);
		gzip_member(&bad, text, 100000, 6);
		bad.data[bad.len / 2] ^= 0x55;
		CHECK(run(&bad, 0, &s, err, sizeof(err)) == -EINVAL);
		CHECK_STR(err, "corrupt gzip data");
		buf_free(&s.out);
		bad.data[bad.len / 2] ^= 0x55;
		bad.data[bad.len - 6] ^= 0x01;
		CHECK(run(&bad, 1, &s, err, sizeof(err)) == -EINVAL);
		CHECK_STR(err, "corrupt gzip data");
		buf_free(&s.out);
		bad.data[bad.len - 6] ^= 0x01;
		/* Garbage after a good member is not a second member. */
		buf_append(&bad, "\x1f\x8bjunkjunkjunk", 14);
		CHECK(run(&bad, 0, &s, err, sizeof(err)) == -EINVAL);
		CHECK_STR(err, "corrupt gzip data");
		buf_free(&s.out);
		buf_free(&bad);
	}

	/* Not gzip at all, or empty. */
	{
		struct buf plain;
		struct gunzip *g;

		buf_init(&plain, 1024);
		buf_append(&plain, "id,name\n1,x\n", 12);
		CHECK(run(&plain, 0, &s, err, sizeof(err)) == -EINVAL);
		CHECK_STR(err, "not gzip data");
		CHECK(s.calls == 0 || s.out.len == 0);
		buf_free(&s.out);
		buf_reset(&plain);
		buf_append(&plain, "\x1f\x8c", 2); /* second magic byte wrong, 1 at a time */
		CHECK(run(&plain, 1, &s, err, sizeof(err)) == -EINVAL);
		CHECK_STR(err, "not gzip data");
		buf_free(&s.out);
		buf_reset(&plain);
		CHECK(run(&plain, 0, &s, err, sizeof(err)) == -EINVAL);
		CHECK_STR(err, "not gzip data");
		buf_free(&s.out);
		buf_free(&plain);

		/* The error is kept. */
		g = gunzip_new(sink_fn, &s);
		buf_init(&s.out, 1024);
		CHECK(gunzip_feed(g, "PK\x03\x04", 4) == -EINVAL);
		CHECK(gunzip_feed(g, "\x1f\x8b", 2) == -EINVAL);
		CHECK(gunzip_finish(g) == -EINVAL);
		CHECK_STR(gunzip_error(g), "not gzip data");
		gunzip_free(g);
		buf_free(&s.out);
		gunzip_free(NULL);
	}

	/* The sink's error stops decompression and comes back as is. */
	s.stop_after = 300000;
	CHECK(run(&gz, 0, &s, err, sizeof(err)) == -EIO);
	CHECK(s.out.len <= 300000);
	buf_free(&s.out);
	s.stop_after = 0;

	buf_free(&gz);
	buf_free(&all);
	free(rnd);
	free(text);
	return unit_done("gunzip");
}
