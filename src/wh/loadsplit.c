/* loadsplit.c - see loadsplit.h */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <stdint.h>
#include <string.h>
#include <zlib.h>

#include "buf.h"
#include "loadsplit.h"
#include "s3/upload.h"

#define WHSPLIT_ZBUF (256u << 10) /* gzip output gathered before an upload_write */

/* A chunk's first line: in its part, and in the user's file. */
struct whsplit_span {
	unsigned long long part_line, file_line;
};

struct whsplit_part {
	char *key;
	struct upload *up; /* made with its first byte */
	z_stream z;
	int zinit;
	unsigned long long lines; /* line ends in the part so far */
	unsigned long long raw, packed;
	struct whsplit_span *spans;
	size_t nspans, cap;
};

struct whsplit {
	struct uploader *u;
	char *bucket;
	struct whsplit_part *parts;
	unsigned n;
	unsigned cur;		 /* the part taking rows now */
	size_t chunk;		 /* bytes dealt to it since it took over */
	int inq;		 /* inside quotes */
	int started;		 /* a chunk has begun */
	unsigned long long line; /* the file's line the next byte is on */
	unsigned char *zbuf;
	int status;
};

struct whsplit *whsplit_new(struct uploader *u, const char *bucket, const char *prefix,
			    unsigned nparts, unsigned long long first_line)
{
	struct whsplit *sp = calloc(1, sizeof(*sp));

	if (!sp)
		return NULL;
	if (nparts < 1)
		nparts = 1;
	if (nparts > WHSPLIT_MAX_PARTS)
		nparts = WHSPLIT_MAX_PARTS;
	sp->u = u;
	sp->n = nparts;
	sp->line = first_line;
	sp->bucket = strdup(bucket);
	sp->parts = calloc(nparts, sizeof(*sp->parts));
	sp->zbuf = malloc(WHSPLIT_ZBUF);
	if (!sp->bucket || !sp->parts || !sp->zbuf)
		goto fail;
	for (unsigned i = 0; i < nparts; i++)
		if (asprintf(&sp->parts[i].key, "%spart%04u.gz", prefix, i) < 0) {
			sp->parts[i].key = NULL;
			goto fail;
		}
	return sp;
fail:
	whsplit_free(sp);
	return NULL;
}

/* Deflate what z holds into the part's upload; flush: Z_NO_FLUSH or
 * Z_FINISH. */
static int whsplit_deflate(struct whsplit *sp, struct whsplit_part *p, int flush)
{
	int zr;

	do {
		p->z.next_out = sp->zbuf;
		p->z.avail_out = WHSPLIT_ZBUF;
		zr = deflate(&p->z, flush);
		if (zr == Z_STREAM_ERROR)
			return -EIO;
		size_t out = WHSPLIT_ZBUF - p->z.avail_out;

		if (out) {
			int r = upload_write(p->up, (const char *)sp->zbuf, out);

			if (r < 0)
				return r;
			p->packed += out;
		}
	} while (p->z.avail_out == 0 || (flush == Z_FINISH && zr != Z_STREAM_END));
	return 0;
}

/* Bytes of the rows into the current part, gzip'd. */
static int whsplit_put(struct whsplit *sp, const char *data, size_t len, size_t lines)
{
	struct whsplit_part *p = &sp->parts[sp->cur];

	if (!p->zinit) {
		p->up = upload_new(sp->u, sp->bucket, p->key, NULL);
		if (!p->up)
			return -ENOMEM;
		/* Level 1: the writer's thread compresses, and the network
		 * is what the saved bytes are for. */
		if (deflateInit2(&p->z, 1, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY) !=
		    Z_OK)
			return -ENOMEM;
		p->zinit = 1;
	}
	if (!sp->started) {
		if (p->nspans == p->cap) {
			size_t cap = p->cap ? p->cap * 2 : 16;
			struct whsplit_span *s = realloc(p->spans, cap * sizeof(*s));

			if (!s)
				return -ENOMEM;
			p->spans = s;
			p->cap = cap;
		}
		p->spans[p->nspans++] = (struct whsplit_span){p->lines + 1, sp->line};
		sp->started = 1;
	}
	p->z.next_in = (unsigned char *)(uintptr_t)data;
	p->z.avail_in = (uInt)len;
	p->raw += len;
	p->lines += lines;
	sp->line += lines;
	sp->chunk += len;
	return whsplit_deflate(sp, p, Z_NO_FLUSH);
}

int whsplit_write(struct whsplit *sp, const char *data, size_t len)
{
	int r = sp->status;

	while (r == 0 && len) {
		size_t i = 0, lines = 0;
		int cut = 0;

		/* Up to the chunk's size, then on to the next record end. */
		for (; i < len; i++) {
			if (data[i] == '"') {
				sp->inq = !sp->inq;
			} else if (data[i] == '\n') {
				lines++;
				if (!sp->inq && sp->chunk + i + 1 >= WHSPLIT_CHUNK) {
					cut = 1;
					i++;
					break;
				}
			}
			/* Keep each deflate call to a bounded size. */
			if (!cut && i + 1 >= WHSPLIT_CHUNK) {
				i++;
				break;
			}
		}
		r = whsplit_put(sp, data, i, lines);
		data += i;
		len -= i;
		if (cut) {
			sp->cur = (sp->cur + 1) % sp->n;
			sp->chunk = 0;
			sp->started = 0;
		}
	}
	if (r < 0 && sp->status == 0)
		sp->status = r;
	return r;
}

int whsplit_finish(struct whsplit *sp)
{
	int r = sp->status;

	for (unsigned i = 0; r == 0 && i < sp->n; i++) {
		struct whsplit_part *p = &sp->parts[i];
		s3_etag etag;

		if (!p->zinit)
			continue;
		p->z.next_in = NULL;
		p->z.avail_in = 0;
		r = whsplit_deflate(sp, p, Z_FINISH);
		if (r == 0)
			r = upload_finish(p->up, etag);
	}
	if (r < 0 && sp->status == 0)
		sp->status = r;
	return r;
}

char *whsplit_manifest(const struct whsplit *sp)
{
	struct buf b;
	char *out = NULL;
	int first = 1;

	buf_init(&b, (size_t)1 << 20);
	buf_append(&b, "{\"entries\": [", 13);
	for (unsigned i = 0; i < sp->n; i++) {
		char *ent;

		if (!sp->parts[i].zinit)
			continue;
		/* Bucket names and our keys need no JSON escapes. */
		if (asprintf(&ent, "%s\n  {\"url\": \"s3://%s/%s\", \"mandatory\": true}",
			     first ? "" : ",", sp->bucket, sp->parts[i].key) < 0)
			goto out;
		buf_append(&b, ent, strlen(ent));
		free(ent);
		first = 0;
	}
	if (buf_append(&b, "\n]}\n", 5) == 0)
		out = strdup(b.data);
out:
	buf_free(&b);
	return out;
}

unsigned whsplit_used(const struct whsplit *sp)
{
	unsigned n = 0;

	for (unsigned i = 0; i < sp->n; i++)
		n += sp->parts[i].zinit != 0;
	return n;
}

unsigned long long whsplit_raw(const struct whsplit *sp)
{
	unsigned long long n = 0;

	for (unsigned i = 0; i < sp->n; i++)
		n += sp->parts[i].raw;
	return n;
}

unsigned long long whsplit_packed(const struct whsplit *sp)
{
	unsigned long long n = 0;

	for (unsigned i = 0; i < sp->n; i++)
		n += sp->parts[i].packed;
	return n;
}

const char *whsplit_key(const struct whsplit *sp, unsigned i)
{
	return i < sp->n && sp->parts[i].zinit ? sp->parts[i].key : NULL;
}

unsigned whsplit_nparts(const struct whsplit *sp)
{
	return sp->n;
}

unsigned long long whsplit_line(const struct whsplit *sp, const char *url, unsigned long long line)
{
	size_t blen = strlen(sp->bucket), ulen = strlen(url);

	while (ulen && url[ulen - 1] == ' ')
		ulen--;
	if (ulen < 6 + blen || strncmp(url, "s3://", 5) || strncmp(url + 5, sp->bucket, blen) ||
	    url[5 + blen] != '/')
		return 0;
	url += 6 + blen;
	ulen -= 6 + blen;
	for (unsigned i = 0; i < sp->n; i++) {
		const struct whsplit_part *p = &sp->parts[i];
		size_t k = 0;

		if (strlen(p->key) != ulen || strncmp(p->key, url, ulen))
			continue;
		/* The last chunk that starts at or before the line. */
		for (size_t lo = 0, hi = p->nspans; lo < hi;) {
			size_t mid = lo + (hi - lo) / 2;

			if (p->spans[mid].part_line <= line) {
				k = mid + 1;
				lo = mid + 1;
			} else {
				hi = mid;
			}
		}
		if (k == 0)
			return 0;
		return p->spans[k - 1].file_line + (line - p->spans[k - 1].part_line);
	}
	return 0;
}

void whsplit_free(struct whsplit *sp)
{
	if (!sp)
		return;
	for (unsigned i = 0; sp->parts && i < sp->n; i++) {
		struct whsplit_part *p = &sp->parts[i];

		upload_free(p->up);
		if (p->zinit)
			deflateEnd(&p->z);
		free(p->spans);
		free(p->key);
	}
	free(sp->parts);
	free(sp->bucket);
	free(sp->zbuf);
	free(sp);
}
