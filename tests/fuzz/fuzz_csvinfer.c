/* fuzz-sources: src/wh/csvinfer.c src/wh/csvfmt.c src/buf.c src/log.c */
/* fuzz-max-len: 16384 */
/* fuzz_csvinfer.c - CSV type inference (libcsv underneath) and the
 * header reader a streaming load uses.
 *
 * The file is inferred twice, fed whole and fed in chunks: names, types,
 * rows and the error must be the same.  The header reader must agree with
 * the full reader on the names, and consume no more than it was given. */
#include "config.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "wh/csvinfer.h"
#include "fuzz.h"

static uint64_t infer(const uint8_t *data, size_t size, struct fuzz_rng *rng, int *rc,
		      struct csvinfer **out)
{
	struct csvinfer *ci = csvinfer_new();
	uint64_t h = 0;
	int r = 0;

	FUZZ_CHECK(ci != NULL);
	if (!rng) {
		r = csvinfer_feed(ci, (const char *)data, size);
	} else {
		for (size_t off = 0, n; off < size && r == 0; off += n) {
			n = fuzz_chunk(rng, size - off);
			r = csvinfer_feed(ci, (const char *)data + off, n);
		}
	}
	if (r == 0)
		r = csvinfer_finish(ci);
	else
		FUZZ_CHECK(csvinfer_finish(ci) == r); /* the error is kept */
	FUZZ_CHECK(r == 0 || r == -EINVAL || r == -ENOMEM);
	FUZZ_CHECK((r == 0) == (csvinfer_error(ci)[0] == '\0'));
	h = fuzz_hash_u64(h, (uint64_t)r);
	h = fuzz_hash_str(h, csvinfer_error(ci));
	if (r == 0) {
		size_t n = csvinfer_ncols(ci);

		FUZZ_CHECK(n >= 1 && n <= CSVINFER_MAX_COLUMNS);
		FUZZ_CHECK(csvinfer_name(ci, n) == NULL);
		h = fuzz_hash_u64(h, n);
		h = fuzz_hash_u64(h, csvinfer_rows(ci));
		for (size_t i = 0; i < n; i++) {
			const char *name = csvinfer_name(ci, i);
			char type[CSVINFER_TYPE_MAX], small[4];
			char *err = NULL;
			int tr;

			FUZZ_CHECK(name && *name && strlen(name) <= CSVINFER_NAME_MAX);
			h = fuzz_hash_str(h, name);
			for (int d = CSVINFER_POSTGRES; d <= CSVINFER_REDSHIFT; d++) {
				tr = csvinfer_type(ci, i, (enum csvinfer_dialect)d, type,
						   sizeof(type), &err);
				FUZZ_CHECK(tr == 0 || (tr == -EINVAL && err));
				h = fuzz_hash_str(h, tr == 0 ? type : err);
				free(err);
				err = NULL;
				tr = csvinfer_type(ci, i, (enum csvinfer_dialect)d, small,
						   sizeof(small), &err);
				FUZZ_CHECK(tr == -ERANGE || tr == -EINVAL);
				FUZZ_CHECK(err != NULL);
				free(err);
				err = NULL;
			}
		}
		FUZZ_CHECK(csvinfer_type(ci, n, CSVINFER_POSTGRES, NULL, 0, NULL) == -EINVAL);
	}
	*rc = r;
	if (out)
		*out = ci;
	else
		csvinfer_free(ci);
	return h;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_rng rng;
	struct csvinfer *ci;
	uint64_t whole, chunked;
	int r1, r2, r;
	char **names = NULL, *err = NULL;
	size_t n = 0, consumed = 0;

	fuzz_rng_init(&rng, data, size);
	whole = infer(data, size, NULL, &r1, &ci);
	chunked = infer(data, size, &rng, &r2, NULL);
	if (r1 != r2 || whole != chunked) {
		fprintf(stderr, "whole: %d, chunked: %d\n", r1, r2);
		FUZZ_CHECK(!"a file inferred whole and in chunks differs");
	}

	r = csvinfer_header_err((const char *)data, size, &names, &n, &consumed, &err);
	FUZZ_CHECK(r == 1 || r == 0 || r == -EINVAL || r == -ENOMEM);
	if (r == 1) {
		FUZZ_CHECK(consumed >= 1 && consumed <= size);
		FUZZ_CHECK(n >= 1 && n <= CSVINFER_MAX_COLUMNS);
		/* A file whose inference passed has the same header. */
		if (r1 == 0) {
			FUZZ_CHECK(n == csvinfer_ncols(ci));
			for (size_t i = 0; i < n; i++)
				FUZZ_CHECK(!strcmp(names[i], csvinfer_name(ci, i)));
		}
		csvinfer_names_free(names, n);
	} else if (r == 0 && size > 0 && r1 == 0) {
		/* Incomplete: with a line end after it, it must complete. */
		char *more = malloc(size + 1);

		FUZZ_CHECK(more);
		memcpy(more, data, size);
		more[size] = '\n';
		r = csvinfer_header_err(more, size + 1, &names, &n, &consumed, NULL);
		FUZZ_CHECK(r == 1);
		FUZZ_CHECK(n == csvinfer_ncols(ci));
		FUZZ_CHECK(consumed <= size + 1);
		csvinfer_names_free(names, n);
		free(more);
	} else if (r == -EINVAL) {
		FUZZ_CHECK(err != NULL);
		/* A bad header makes the whole file bad too. */
		FUZZ_CHECK(r1 == -EINVAL);
	}
	free(err);
	csvinfer_free(ci);
	return 0;
}
