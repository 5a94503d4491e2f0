/* gunzip.c - see gunzip.h */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <zlib.h>

#include "gunzip.h"

#define GUNZIP_OUT_BYTES (256 * 1024)

struct gunzip {
	z_stream zs;
	gunzip_sink sink;
	void *arg;
	unsigned char *out;
	int at_member_end; /* the last member is complete: a clean place to stop */
	size_t nfed;	   /* input bytes so far, up to 2: the magic is checked */
	int err;
	const char *errmsg;
};

struct gunzip *gunzip_new(gunzip_sink sink, void *arg)
{
	struct gunzip *g = calloc(1, sizeof(*g));

	if (!g)
		return NULL;
	g->out = malloc(GUNZIP_OUT_BYTES);
	/* 16 + MAX_WBITS: a gzip wrapper and nothing else (no raw zlib). */
	if (!g->out || inflateInit2(&g->zs, 16 + MAX_WBITS) != Z_OK) {
		free(g->out);
		free(g);
		return NULL;
	}
	g->sink = sink;
	g->arg = arg;
	g->errmsg = "";
	return g;
}

static int gunzip_fail(struct gunzip *g, int err, const char *msg)
{
	g->err = err;
	g->errmsg = msg;
	return err;
}

int gunzip_feed(struct gunzip *g, const char *data, size_t len)
{
	if (g->err)
		return g->err;
	/* Check the magic ourselves: zlib's "incorrect header check" would
	 * not tell a file that is not gzip at all from a damaged one. */
	for (size_t i = 0; g->nfed < 2 && i < len; i++, g->nfed++)
		if ((unsigned char)data[i] != (g->nfed == 0 ? 0x1f : 0x8b))
			return gunzip_fail(g, -EINVAL, "not gzip data");
	if (len == 0)
		return 0;
	g->zs.next_in = (unsigned char *)data;
	while (len > 0 || g->zs.avail_in > 0) {
		/* avail_in is a uInt: hand over at most 1 GiB at a time. */
		if (g->zs.avail_in == 0) {
			uInt n = len > (1u << 30) ? (1u << 30) : (uInt)len;

			g->zs.avail_in = n;
			len -= n;
		}
		if (g->at_member_end) {
			/* More bytes after a complete member: the next member. */
			if (inflateReset(&g->zs) != Z_OK)
				return gunzip_fail(g, -EINVAL, "corrupt gzip data");
			g->at_member_end = 0;
		}
		/* Drain: zlib may hold output even once the input is used up. */
		do {
			int zr, r;
			size_t have;

			g->zs.next_out = g->out;
			g->zs.avail_out = GUNZIP_OUT_BYTES;
			zr = inflate(&g->zs, Z_NO_FLUSH);
			if (zr == Z_MEM_ERROR)
				return gunzip_fail(g, -ENOMEM, "out of memory");
			if ((zr != Z_OK && zr != Z_STREAM_END && zr != Z_BUF_ERROR) ||
			    (zr == Z_BUF_ERROR && g->zs.avail_in > 0))
				return gunzip_fail(g, -EINVAL, "corrupt gzip data");
			have = GUNZIP_OUT_BYTES - g->zs.avail_out;
			if (have > 0) {
				if ((r = g->sink(g->arg, (const char *)g->out, have)) != 0)
					return gunzip_fail(g, r, "");
			}
			if (zr == Z_STREAM_END) {
				g->at_member_end = 1;
				break;
			}
			if (zr == Z_BUF_ERROR)
				break; /* no progress possible: needs more input */
		} while (g->zs.avail_out == 0);
	}
	return 0;
}

int gunzip_finish(struct gunzip *g)
{
	if (g->err)
		return g->err;
	if (g->nfed == 0)
		return gunzip_fail(g, -EINVAL, "not gzip data");
	if (!g->at_member_end)
		return gunzip_fail(g, -EINVAL, "truncated gzip data");
	return 0;
}

const char *gunzip_error(const struct gunzip *g)
{
	return g->errmsg;
}

void gunzip_free(struct gunzip *g)
{
	if (!g)
		return;
	inflateEnd(&g->zs);
	free(g->out);
	free(g);
}
