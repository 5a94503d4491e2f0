/* fuzz-sources: src/wh/jsonrow.c src/wh/csvfmt.c src/wh/csvinfer.c src/buf.c src/log.c */
/* fuzz-max-len: 16384 */
/* fuzz_jsonrow.c - JSON lines: their keys (jsonkeys) and the CSV rows
 * they become (jsonrow), each fed whole and in chunks, which must agree.
 * The CSV written, under a header of the keys, must read back (csvinfer)
 * as a table of as many columns. */
#include "config.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "wh/csvfmt.h"
#include "wh/csvinfer.h"
#include "fuzz.h"
#include "wh/jsonrow.h"

static const char *const fixed_cols[] = {"id", "name", "Value", "a", ""};

static uint64_t keys(const uint8_t *data, size_t size, struct fuzz_rng *rng, int *rc,
		     struct jsonkeys **out)
{
	struct jsonkeys *jk = jsonkeys_new();
	uint64_t h = 0;
	int r = 0;

	FUZZ_CHECK(jk != NULL);
	if (!rng) {
		r = jsonkeys_feed(jk, (const char *)data, size);
	} else {
		for (size_t off = 0, n; off < size && r == 0; off += n) {
			n = fuzz_chunk(rng, size - off);
			r = jsonkeys_feed(jk, (const char *)data + off, n);
		}
	}
	if (r == 0)
		r = jsonkeys_finish(jk);
	else
		FUZZ_CHECK(jsonkeys_finish(jk) == r);
	FUZZ_CHECK(r == 0 || r == -EINVAL || r == -ENOMEM);
	FUZZ_CHECK((r == 0) == (jsonkeys_error(jk)[0] == '\0'));
	h = fuzz_hash_u64(h, (uint64_t)r);
	h = fuzz_hash_str(h, jsonkeys_error(jk));
	FUZZ_CHECK(jsonkeys_count(jk) <= JSONKEYS_MAX);
	FUZZ_CHECK(jsonkeys_name(jk, jsonkeys_count(jk)) == NULL);
	for (size_t i = 0; i < jsonkeys_count(jk); i++) {
		const char *k = jsonkeys_name(jk, i);

		FUZZ_CHECK(k && strlen(k) <= JSONKEYS_KEY_MAX);
		for (size_t j = 0; j < i; j++)
			FUZZ_CHECK(strcasecmp(k, jsonkeys_name(jk, j)) != 0);
		h = fuzz_hash_str(h, k);
	}
	*rc = r;
	if (out)
		*out = jk;
	else
		jsonkeys_free(jk);
	return h;
}

static uint64_t rows(const uint8_t *data, size_t size, struct fuzz_rng *rng,
		     const char *const *cols, size_t ncols, int ignorecase, size_t max, int *rc,
		     struct buf *out)
{
	struct jsonrow *jr = jsonrow_new(cols, ncols, ignorecase);
	uint64_t h = 0;
	int r = 0;

	FUZZ_CHECK(jr != NULL);
	buf_init(out, max);
	if (!rng) {
		r = jsonrow_feed(jr, (const char *)data, size, out);
	} else {
		for (size_t off = 0, n; off < size && r == 0; off += n) {
			n = fuzz_chunk(rng, size - off);
			r = jsonrow_feed(jr, (const char *)data + off, n, out);
		}
	}
	if (r == 0)
		r = jsonrow_finish(jr, out);
	else
		FUZZ_CHECK(jsonrow_finish(jr, out) == r);
	FUZZ_CHECK(r == 0 || r == -EINVAL || r == -E2BIG || r == -ENOMEM);
	FUZZ_CHECK((r == 0) == (jsonrow_error(jr)[0] == '\0'));
	FUZZ_CHECK(out->len <= max);
	/* Whole rows only, even after an error. */
	FUZZ_CHECK(out->len == 0 || out->data[out->len - 1] == '\n');
	h = fuzz_hash_u64(h, (uint64_t)r);
	h = fuzz_hash_str(h, jsonrow_error(jr));
	h = fuzz_hash(h, out->data ? out->data : "", out->len);
	jsonrow_free(jr);
	*rc = r;
	return h;
}

/* The rows under a header of cols read back as CSV with as many columns. */
static void check_csv(const char *const *cols, size_t ncols, const struct buf *csv)
{
	struct buf head;
	struct csvinfer *ci = csvinfer_new();
	int r;

	FUZZ_CHECK(ci != NULL);
	buf_init(&head, 1 << 20);
	/* A byte order mark first, so a name starting with one keeps it. */
	FUZZ_CHECK(buf_append(&head, "\xef\xbb\xbf", 3) == 0);
	r = csvfmt_row(&head, cols, NULL, NULL, ncols);
	if (r == -EINVAL) /* a key holding a NUL cannot be a column */
		goto out;
	FUZZ_CHECK(r == 0);
	r = csvinfer_feed(ci, head.data, head.len);
	if (r == 0)
		r = csvinfer_feed(ci, csv->data ? csv->data : "", csv->len);
	if (r == 0)
		r = csvinfer_finish(ci);
	if (r != 0 && strstr(csvinfer_error(ci), "both named"))
		goto out; /* "column_2" and an empty name: csvinfer's own naming */
	if (r != 0)
		fprintf(stderr, "csvinfer: %s\n", csvinfer_error(ci));
	FUZZ_CHECK(r == 0);
	FUZZ_CHECK(csvinfer_ncols(ci) == ncols);
out:
	buf_free(&head);
	csvinfer_free(ci);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_rng rng;
	struct jsonkeys *jk;
	struct buf out1, out2;
	uint64_t whole, chunked;
	const char **cols;
	size_t ncols, max;
	int r1, r2, ignorecase;

	fuzz_rng_init(&rng, data, size);
	whole = keys(data, size, NULL, &r1, &jk);
	chunked = keys(data, size, &rng, &r2, NULL);
	FUZZ_CHECK(r1 == r2 && whole == chunked);

	/* The file's own keys when it has some, else a fixed table. */
	if (r1 == 0 && jsonkeys_count(jk) > 0) {
		ncols = jsonkeys_count(jk);
		cols = malloc(ncols * sizeof(*cols));
		FUZZ_CHECK(cols);
		for (size_t i = 0; i < ncols; i++)
			cols[i] = jsonkeys_name(jk, i);
	} else {
		ncols = 1 + fuzz_next(&rng) % (sizeof(fixed_cols) / sizeof(fixed_cols[0]));
		cols = malloc(ncols * sizeof(*cols));
		FUZZ_CHECK(cols);
		memcpy(cols, fixed_cols, ncols * sizeof(*cols));
	}
	ignorecase = (int)(fuzz_next(&rng) & 1);
	max = fuzz_next(&rng) % 4 ? (size_t)16 << 20 : (size_t)(fuzz_next(&rng) % 256);

	whole = rows(data, size, NULL, cols, ncols, ignorecase, max, &r1, &out1);
	chunked = rows(data, size, &rng, cols, ncols, ignorecase, max, &r2, &out2);
	if (r1 != r2 || whole != chunked) {
		fprintf(stderr, "whole: %d (%zu bytes), chunked: %d (%zu bytes)\n", r1, out1.len,
			r2, out2.len);
		FUZZ_CHECK(!"JSON lines converted whole and in chunks differ");
	}
	check_csv(cols, ncols, &out1);

	buf_free(&out1);
	buf_free(&out2);
	free(cols);
	jsonkeys_free(jk);
	return 0;
}
