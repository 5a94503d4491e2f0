/* csvfmt.c - see csvfmt.h */
#include "config.h"

#include <errno.h>
#include <string.h>

#include "csvfmt.h"

/* Undo a partial append: the buffer's bytes past len were ours. */
static int csvfmt_rollback(struct buf *out, size_t len, int r)
{
	out->len = len;
	if (out->data)
		out->data[len] = '\0';
	return r;
}

static int csvfmt_needs_quotes(const char *val, size_t len, int single_column)
{
	if (len == 0)
		return 1; /* "" must differ from NULL, which is written as nothing */
	if (single_column && len == 2 && val[0] == '\\' && val[1] == '.')
		return 1; /* alone on a line it would read back as end-of-data */
	for (size_t i = 0; i < len; i++) {
		char c = val[i];

		if (c == ',' || c == '"' || c == '\n' || c == '\r')
			return 1;
	}
	return 0;
}

/* Appends the quoted form; the caller rolls back on failure. */
static int csvfmt_quoted(struct buf *out, const char *val, size_t len)
{
	const char *p = val, *end = val + len, *q;
	int r;

	if ((r = buf_append(out, "\"", 1)) < 0)
		return r;
	/* Copy runs between quotes in one go, doubling each quote. */
	while ((q = memchr(p, '"', (size_t)(end - p))) != NULL) {
		if ((r = buf_append(out, p, (size_t)(q - p) + 1)) < 0 ||
		    (r = buf_append(out, "\"", 1)) < 0)
			return r;
		p = q + 1;
	}
	if ((r = buf_append(out, p, (size_t)(end - p))) < 0)
		return r;
	return buf_append(out, "\"", 1);
}

int csvfmt_field(struct buf *out, const char *val, size_t len, int is_null, int single_column)
{
	size_t old_len = out->len;
	int r;

	if (is_null || !val)
		return 0;
	if (memchr(val, '\0', len))
		return -EINVAL;
	if (!csvfmt_needs_quotes(val, len, single_column))
		return buf_append(out, val, len);
	r = csvfmt_quoted(out, val, len);
	return r < 0 ? csvfmt_rollback(out, old_len, r) : 0;
}

int csvfmt_row_end(struct buf *out)
{
	return buf_append(out, "\n", 1);
}

int csvfmt_row(struct buf *out, const char *const *vals, const size_t *lens, const int *nulls,
	       size_t n)
{
	size_t old_len = out->len;
	int r;

	for (size_t i = 0; i < n; i++) {
		const char *v = vals[i];
		int is_null = !v || (nulls && nulls[i]);
		size_t len = is_null ? 0 : lens ? lens[i] : strlen(v);

		if (i > 0 && (r = buf_append(out, ",", 1)) < 0)
			return csvfmt_rollback(out, old_len, r);
		if ((r = csvfmt_field(out, v, len, is_null, n == 1)) < 0)
			return csvfmt_rollback(out, old_len, r);
	}
	if ((r = csvfmt_row_end(out)) < 0)
		return csvfmt_rollback(out, old_len, r);
	return 0;
}

const char *csvfmt_clip(const char *s, size_t len, char *out, size_t outlen)
{
	size_t n = len, o = 0;

	if (n > CSVFMT_CLIP) {
		n = CSVFMT_CLIP;
		while (n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80)
			n--; /* cut on a UTF-8 boundary */
	}
	for (size_t i = 0; i < n && o + 4 < outlen; i++) {
		unsigned char c = (unsigned char)s[i];

		out[o++] = c < 0x20 || c == 0x7f ? '?' : (char)c;
	}
	if (n < len && o + 4 < outlen) {
		memcpy(out + o, "...", 3);
		o += 3;
	}
	out[o] = '\0';
	return out;
}
