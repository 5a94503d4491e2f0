/* fuzz-sources: src/wh/csvfmt.c src/buf.c */
/* fuzz-max-len: 8192 */
/* fuzz_csvfmt.c - PostgreSQL's CSV output (csvfmt) and csvfmt_clip().
 *
 * The input is a table: 0x1e ends a row, 0x1f separates its fields, and a
 * field that is exactly 0x1d is a NULL.  Every row is written with
 * csvfmt_row(), then the output is read back with libcsv as PostgreSQL
 * reads CSV, and must give the same fields, NULLs told from empty
 * strings.  A row that fails (a NUL byte, a buffer too small) must leave
 * the buffer as it was. */
#include "config.h"

#include <csv.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "wh/csvfmt.h"
#include "fuzz.h"

#define MAX_FIELDS 4096

struct field {
	const char *p; /* NULL: a NULL */
	size_t len;
	size_t row;
};

struct table {
	struct field f[MAX_FIELDS];
	size_t n;
	size_t nrows;
	size_t row_start; /* index of the first field of the row being read back */
	int bad;
};

/* Read back: fields and records compared with what was written. */
struct reader {
	const struct table *t;
	size_t at;     /* next expected field */
	size_t row;    /* rows read back */
	size_t in_row; /* fields read back in this row */
};

static void on_field(void *s, size_t len, void *arg)
{
	struct reader *rd = arg;
	const struct field *want;

	FUZZ_CHECK(rd->at < rd->t->n);
	want = &rd->t->f[rd->at++];
	FUZZ_CHECK(want->row == rd->row);
	if (!want->p) {
		FUZZ_CHECK(s == NULL);
	} else {
		FUZZ_CHECK(s != NULL && len == want->len && !memcmp(s, want->p, len));
	}
	rd->in_row++;
}

static void on_record(int c, void *arg)
{
	struct reader *rd = arg;

	(void)c;
	/* A row of one NULL is an empty line, which libcsv reports with no
	 * field at all. */
	if (rd->in_row == 0) {
		FUZZ_CHECK(rd->at < rd->t->n && !rd->t->f[rd->at].p);
		FUZZ_CHECK(rd->at + 1 == rd->t->n || rd->t->f[rd->at + 1].row != rd->row);
		rd->at++;
	}
	FUZZ_CHECK(rd->at == rd->t->n || rd->t->f[rd->at].row == rd->row + 1);
	rd->row++;
	rd->in_row = 0;
}

static int no_space(unsigned char c)
{
	(void)c;
	return 0;
}

static void check_clip(const char *s, size_t len, size_t outlen)
{
	char out[CSVFMT_CLIP + 8];
	const char *r = csvfmt_clip(s, len, out, outlen);
	size_t n;

	FUZZ_CHECK(r == out);
	n = strlen(out);
	FUZZ_CHECK(n < outlen);
	for (size_t i = 0; i < n; i++)
		FUZZ_CHECK((unsigned char)out[i] >= 0x20 && out[i] != 0x7f);
	if (outlen == sizeof(out)) {
		if (len <= CSVFMT_CLIP)
			FUZZ_CHECK(n == len);
		else
			FUZZ_CHECK(n <= CSVFMT_CLIP + 3 && !strcmp(out + n - 3, "..."));
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct table t;
	struct fuzz_rng rng;
	struct buf out;
	struct csv_parser p;
	struct reader rd = {.t = &t};
	const char *s = (const char *)data, *end = s + size;
	size_t max;

	fuzz_rng_init(&rng, data, size);
	t.n = 0;
	t.nrows = 0;
	max = fuzz_next(&rng) % 4 ? (size_t)1 << 20 : (size_t)(fuzz_next(&rng) % 64);
	buf_init(&out, max);

	/* Split and write, row by row; rows that fail are dropped from t. */
	while (s < end && t.n < MAX_FIELDS - 64) {
		const char *row_end = memchr(s, 0x1e, (size_t)(end - s));
		const char *vals[64];
		size_t lens[64], nf = 0, first = t.n, old_len = out.len;
		char *old = out.data ? strndup(out.data, out.len) : NULL;
		int r;

		if (!row_end)
			row_end = end;
		for (const char *f = s; nf < 64;) {
			const char *fe = memchr(f, 0x1f, (size_t)(row_end - f));

			if (!fe)
				fe = row_end;
			if (fe - f == 1 && *f == 0x1d) {
				vals[nf] = NULL;
				lens[nf] = 0;
			} else {
				vals[nf] = f;
				lens[nf] = (size_t)(fe - f);
			}
			check_clip(f, (size_t)(fe - f),
				   1 + (size_t)(fuzz_next(&rng) % (CSVFMT_CLIP + 8)));
			check_clip(f, (size_t)(fe - f), CSVFMT_CLIP + 8);
			t.f[t.n++] = (struct field){vals[nf], lens[nf], t.nrows};
			nf++;
			if (fe == row_end)
				break;
			f = fe + 1;
		}
		r = csvfmt_row(&out, vals, lens, NULL, nf);
		FUZZ_CHECK(r == 0 || r == -EINVAL || r == -E2BIG || r == -ENOMEM);
		if (r < 0) {
			/* Nothing of the row is left behind. */
			FUZZ_CHECK(out.len == old_len);
			FUZZ_CHECK(!old_len || !memcmp(out.data, old, old_len));
			t.n = first;
		} else {
			t.nrows++;
		}
		if (r == -EINVAL) {
			int has_nul = 0;

			for (size_t i = 0; i < nf; i++)
				if (vals[i] && memchr(vals[i], '\0', lens[i]))
					has_nul = 1;
			FUZZ_CHECK(has_nul);
		}
		free(old);
		s = row_end + 1;
	}

	/* Read it back as PostgreSQL would. */
	FUZZ_CHECK(csv_init(&p, CSV_STRICT | CSV_STRICT_FINI | CSV_REPALL_NL | CSV_EMPTY_IS_NULL) ==
		   0);
	csv_set_space_func(&p, no_space);
	if (out.len)
		FUZZ_CHECK(csv_parse(&p, out.data, out.len, on_field, on_record, &rd) == out.len);
	FUZZ_CHECK(csv_fini(&p, on_field, on_record, &rd) == 0);
	csv_free(&p);
	FUZZ_CHECK(rd.at == t.n && rd.row == t.nrows);
	buf_free(&out);
	return 0;
}
