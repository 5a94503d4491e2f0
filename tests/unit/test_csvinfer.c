/* test_csvinfer.c - column names and types from CSV, whatever the chunks:
 * each type, widening, NULL against "", line numbers across quoted line
 * ends and CRLF, errors, and the header helper on partial input. */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "wh/csvinfer.h"
#include "unit.h"

/* "name TYPE, name TYPE | rows" for dialect d, or "error: ..." */
static char *describe(struct csvinfer *ci, enum csvinfer_dialect d)
{
	struct buf b;

	buf_init(&b, 1 << 20);
	for (size_t i = 0; i < csvinfer_ncols(ci); i++) {
		char type[CSVINFER_TYPE_MAX], *err = NULL;

		if (csvinfer_type(ci, i, d, type, sizeof(type), &err) < 0) {
			buf_reset(&b);
			buf_appendf(&b, "error: %s", err ? err : "?");
			free(err);
			return buf_steal(&b);
		}
		buf_appendf(&b, "%s%s %s", i ? ", " : "", csvinfer_name(ci, i), type);
	}
	buf_appendf(&b, " | %llu", csvinfer_rows(ci));
	return buf_steal(&b);
}

/* Infers from len bytes fed step bytes at a time (0: at once). */
static char *infer_n(const char *csv, size_t len, size_t step, enum csvinfer_dialect d)
{
	struct csvinfer *ci = csvinfer_new();
	char *s;
	int r = 0;

	for (size_t off = 0; off < len && r == 0;) {
		size_t n = step && step < len - off ? step : len - off;

		r = csvinfer_feed(ci, csv + off, n);
		off += n;
	}
	if (r == 0)
		r = csvinfer_finish(ci);
	if (r < 0) {
		if (asprintf(&s, "error: %s", csvinfer_error(ci)) < 0)
			s = NULL;
	} else {
		s = describe(ci, d);
	}
	csvinfer_free(ci);
	return s;
}

/* The result fed at once, which must also be the result fed 1 and 3 bytes
 * at a time; "chunking" flags a difference. */
static const char *infer_d(const char *csv, enum csvinfer_dialect d)
{
	static char *last;
	char *one, *three;
	size_t len = strlen(csv);

	free(last);
	last = infer_n(csv, len, 0, d);
	one = infer_n(csv, len, 1, d);
	three = infer_n(csv, len, 3, d);
	if (strcmp(last, one) != 0 || strcmp(last, three) != 0) {
		fprintf(stderr, "chunking changes the result of %s:\n  %s\n  %s\n  %s\n", csv, last,
			one, three);
		free(last);
		last = strdup("chunking");
	}
	free(one);
	free(three);
	return last;
}

static const char *infer(const char *csv)
{
	return infer_d(csv, CSVINFER_POSTGRES);
}

static void test_types(void)
{
	CHECK_STR(infer("b,i,d,dt,ts,s\n"
			"true,1,1.5,2024-02-29,2024-01-02 03:04:05,hello\n"
			"F,-42,-0.0005,0001-01-01,2024-01-02T03:04:05.123456,x\n"
			"t,7,2.25,9999-12-31,1999-12-31 23:59:59.5,\n"),
		  "b BOOLEAN, i BIGINT, d NUMERIC, dt DATE, ts TIMESTAMP, "
		  "s VARCHAR(5) | 3");
	/* Booleans: only true/false/t/f, any case. */
	CHECK_STR(infer("a\nTRUE\nFalse\nT\nf\n"), "a BOOLEAN | 4");
	CHECK_STR(infer("a\ntrue\nyes\n"), "a VARCHAR(4) | 2");
	CHECK_STR(infer("a\n1\n0\n"), "a BIGINT | 2");
	/* Integers within 64 bits; wider ones NUMERIC (DECIMAL(38,0) on
	 * Redshift, VARCHAR past 38 digits there).  A value a number type
	 * would write back otherwise stays text: leading zeros, a '+'. */
	CHECK_STR(infer("a\n9223372036854775807\n-9223372036854775808\n"), "a BIGINT | 2");
	CHECK_STR(infer("a\n9223372036854775808\n"), "a NUMERIC | 1");
	CHECK_STR(infer("a\n-9223372036854775809\n1\n"), "a NUMERIC | 2");
	CHECK_STR(infer_d("a\n9223372036854775808\n", CSVINFER_REDSHIFT), "a DECIMAL(38,0) | 1");
	CHECK_STR(infer_d("a\n123456789012345678901234567890123456789\n", CSVINFER_REDSHIFT),
		  "a VARCHAR(39) | 1");
	CHECK_STR(infer("a\n123456789012345678901234567890123456789\n"), "a NUMERIC | 1");
	CHECK_STR(infer("a\n007\n"), "a VARCHAR(3) | 1");
	CHECK_STR(infer("a\n02134\n12345\n"), "a VARCHAR(5) | 2");
	CHECK_STR(infer("a\n\"02134\"\n"), "a VARCHAR(5) | 1");
	CHECK_STR(infer("a\n+7\n"), "a VARCHAR(2) | 1");
	CHECK_STR(infer("a\n-0\n"), "a DOUBLE PRECISION | 1");
	CHECK_STR(infer("a\n0\n"), "a BIGINT | 1");
	CHECK_STR(infer("a\n+\n"), "a VARCHAR(1) | 1");
	CHECK_STR(infer("a\n-\n"), "a VARCHAR(1) | 1");
	/* Decimals: NUMERIC keeps them as written (trailing zeros too); on
	 * Redshift DECIMAL(38,s) when all have s decimals, else DOUBLE
	 * PRECISION when it writes every value back the same, else text. */
	CHECK_STR(infer("a\n1.50\n-0.25\n"), "a NUMERIC | 2");
	CHECK_STR(infer_d("a\n1.50\n-0.25\n", CSVINFER_REDSHIFT), "a DECIMAL(38,2) | 2");
	CHECK_STR(infer_d("a\n1.5\n-0.25\n3\n", CSVINFER_REDSHIFT), "a DOUBLE PRECISION | 3");
	CHECK_STR(infer_d("a\n1.50\n-0.5\n", CSVINFER_REDSHIFT), "a VARCHAR(4) | 2");
	/* Exponents: only as DOUBLE PRECISION writes them (1e+20, 1.5e-05). */
	CHECK_STR(infer("a\n1e+20\n1.5e-05\n0.0001\n"), "a DOUBLE PRECISION | 3");
	CHECK_STR(infer("a\n1e10\n"), "a VARCHAR(4) | 1");
	CHECK_STR(infer("a\n.5\n"), "a VARCHAR(2) | 1");
	CHECK_STR(infer("a\n2.\n"), "a VARCHAR(2) | 1");
	CHECK_STR(infer("a\n-1.5E+3\n"), "a VARCHAR(7) | 1");
	CHECK_STR(infer("a\n1.50\n1e+20\n"), "a VARCHAR(5) | 2");
	CHECK_STR(infer("a\n1e400\n"), "a VARCHAR(5) | 1");
	CHECK_STR(infer("a\n1e-400\n"), "a VARCHAR(6) | 1");
	CHECK_STR(infer("a\n0x10\n"), "a VARCHAR(4) | 1");
	CHECK_STR(infer("a\ninf\n"), "a VARCHAR(3) | 1");
	CHECK_STR(infer("a\nNaN\n"), "a VARCHAR(3) | 1");
	CHECK_STR(infer("a\n1e\n"), "a VARCHAR(2) | 1");
	CHECK_STR(infer("a\n.\n"), "a VARCHAR(1) | 1");
	CHECK_STR(infer("a\n1,5\n"), "error: line 2: 2 fields, the header has 1");
	CHECK_STR(infer("a\n\"1,5\"\n"), "a VARCHAR(3) | 1");
	/* Spaces are kept, so a padded number is text. */
	CHECK_STR(infer("a,b\n 1,2 \n"), "a VARCHAR(2), b VARCHAR(2) | 1");
	/* Dates: real calendar days. */
	CHECK_STR(infer("a\n2024-02-29\n2000-02-29\n"), "a DATE | 2");
	CHECK_STR(infer("a\n2023-02-29\n"), "a VARCHAR(10) | 1");
	CHECK_STR(infer("a\n1900-02-29\n"), "a VARCHAR(10) | 1");
	CHECK_STR(infer("a\n2024-04-31\n"), "a VARCHAR(10) | 1");
	CHECK_STR(infer("a\n2024-13-01\n"), "a VARCHAR(10) | 1");
	CHECK_STR(infer("a\n0000-01-01\n"), "a VARCHAR(10) | 1");
	CHECK_STR(infer("a\n2024-1-01\n"), "a VARCHAR(9) | 1");
	/* Timestamps: space or T, up to 6 digits of fraction, valid times. */
	CHECK_STR(infer("a\n2024-01-02 00:00:00.1\n2024-01-02T23:59:59\n"), "a TIMESTAMP | 2");
	CHECK_STR(infer("a\n2024-01-02 03:04:05.1234567\n"), "a VARCHAR(27) | 1");
	CHECK_STR(infer("a\n2024-01-02 03:04:05.\n"), "a VARCHAR(20) | 1");
	CHECK_STR(infer("a\n2024-01-02 24:00:00\n"), "a VARCHAR(19) | 1");
	CHECK_STR(infer("a\n2024-01-02 03:60:00\n"), "a VARCHAR(19) | 1");
	CHECK_STR(infer("a\n2024-01-02 03:04:05Z\n"), "a VARCHAR(20) | 1");
	CHECK_STR(infer("a\n2024-01-02 03:04\n"), "a VARCHAR(16) | 1");
	CHECK_STR(infer("a\n2023-02-29 03:04:05\n"), "a VARCHAR(19) | 1");
	/* VARCHAR counts bytes, not characters. */
	CHECK_STR(infer("a\ncaf\xc3\xa9\n\xf0\x9f\x98\x80\n"), "a VARCHAR(5) | 2");
}

static void test_widening(void)
{
	CHECK_STR(infer("a\n1\n2.5\n3\n"), "a NUMERIC | 3");
	CHECK_STR(infer("a\n2.5\n3\n"), "a NUMERIC | 2");
	CHECK_STR(infer("a\n2024-01-01\n2024-01-01 10:00:00\n"), "a TIMESTAMP | 2");
	CHECK_STR(infer("a\n2024-01-01 10:00:00\n2024-01-01\n"), "a TIMESTAMP | 2");
	CHECK_STR(infer("a\ntrue\n1\n"), "a VARCHAR(4) | 2");
	CHECK_STR(infer("a\n1\ntrue\n"), "a VARCHAR(4) | 2");
	CHECK_STR(infer("a\n2024-01-01\n20240101\n"), "a VARCHAR(10) | 2");
	CHECK_STR(infer("a\n1.5\n2024-01-01 10:00:00\n"), "a VARCHAR(19) | 2");
	/* Once text, always text, and the width covers every value. */
	CHECK_STR(infer("a\nxy\n123456789\n1\n"), "a VARCHAR(9) | 3");
}

static void test_nulls(void)
{
	/* An unquoted empty field is NULL: it does not change the type. */
	CHECK_STR(infer("a,b\n,1\n2,\n,\n"), "a BIGINT, b BIGINT | 3");
	/* A quoted "" is the empty string: text. */
	CHECK_STR(infer("a,b\n\"\",1\n2,\n"), "a VARCHAR(1), b BIGINT | 2");
	CHECK_STR(infer("a\n\"\"\n\"\"\n"), "a VARCHAR(1) | 2");
	/* Only NULLs, or no rows at all. */
	CHECK_STR(infer("a,b\n,1\n,2\n"), "a VARCHAR(256), b BIGINT | 2");
	CHECK_STR(infer("a,b\n"), "a VARCHAR(256), b VARCHAR(256) | 0");
	CHECK_STR(infer("a,b"), "a VARCHAR(256), b VARCHAR(256) | 0");
	/* A blank line is one NULL field: a row of a one-column file. */
	CHECK_STR(infer("a\n1\n\n2\n"), "a BIGINT | 3");
	CHECK_STR(infer("a\r\n1\r\n\r\n2\r\n"), "a BIGINT | 3");
	CHECK_STR(infer("a,b\n1,2\n\n"), "error: line 3: blank line, the header has 2 fields");
}

static void test_lines(void)
{
	/* Quoted line ends are values, and still count as lines. */
	CHECK_STR(infer("a,b\n\"x\ny\",1\n\"p\r\nq\",2\n"), "a VARCHAR(4), b BIGINT | 2");
	CHECK_STR(infer("a,b\n\"x\ny\",1\n1,2,3\n"), "error: line 4: 3 fields, the header has 2");
	CHECK_STR(infer("a,b\r\n\"x\r\ny\r\nz\",1\r\n1\r\n"),
		  "error: line 5: 1 field, the header has 2");
	CHECK_STR(infer("a,b\r\n1,2\r\n3,4\r\n"), "a BIGINT, b BIGINT | 2");
	CHECK_STR(infer("a,b\r1,2\r3,4,5\r"), "error: line 3: 3 fields, the header has 2");
	CHECK_STR(infer("a,b\n1,2\n3\n"), "error: line 3: 1 field, the header has 2");
	/* A final record without a line end counts. */
	CHECK_STR(infer("a,b\n1,2\n3,4"), "a BIGINT, b BIGINT | 2");
	CHECK_STR(infer("a,b\n1,2\n3,\"4\""), "a BIGINT, b BIGINT | 2");
	CHECK_STR(infer("a,b\n1,2\n3,"), "a BIGINT, b BIGINT | 2");
	CHECK_STR(infer("a,b\n1,2\n3"), "error: line 3: 1 field, the header has 2");
	/* A byte order mark is skipped, even split over calls. */
	CHECK_STR(infer("\xef\xbb\xbfid,name\n1,x\n"), "id BIGINT, name VARCHAR(1) | 1");
	CHECK_STR(infer("\xef\xbbid\n"), "\xef\xbbid VARCHAR(256) | 0");
	CHECK_STR(infer("\xef\xbb\xbf"), "error: empty file: no header row");
	CHECK_STR(infer("\xef"), "\xef VARCHAR(256) | 0");
}

static void test_header(void)
{
	CHECK_STR(infer("a,,\"\",d\n1,2,3,4\n"),
		  "a BIGINT, column_2 BIGINT, column_3 BIGINT, d BIGINT | 1");
	CHECK_STR(infer("\" Spaced Name \",\"with,comma\",\"q\"\"uote\"\n1,2,3\n"),
		  " Spaced Name  BIGINT, with,comma BIGINT, q\"uote BIGINT | 1");
	CHECK_STR(infer("id,Name,NAME\n"),
		  "error: line 1: columns 2 and 3 are both named \"NAME\" (names differing only in "
		  "case clash)");
	CHECK_STR(infer("column_2,\n"),
		  "error: line 1: columns 1 and 2 are both named \"column_2\" (names differing "
		  "only in case clash)");
	CHECK_STR(infer(""), "error: empty file: no header row");
	CHECK_STR(infer("\n"), "error: line 1: the header row is blank");
	CHECK_STR(infer("\r\nid\n"), "error: line 1: the header row is blank");
	/* Names in messages are clipped and kept on one line. */
	{
		const char *a = "0123456789012345678901234567890";
		const char *b = "0123456789012345678901234567890123456789";
		char csv[400];

		snprintf(csv, sizeof(csv), "\"%s\n%s\",\"%s\n%s\"\n", a, b, a, b);
		CHECK_STR(infer(csv),
			  "error: line 1: columns 1 and 2 are both named "
			  "\"0123456789012345678901234567890?01234567890123456789012345678901...\" "
			  "(names differing only in case clash)");
	}
}

static void test_errors(void)
{
	struct csvinfer *ci;
	char type[CSVINFER_TYPE_MAX], *err = NULL;

	CHECK_STR(infer("a,b\n1,x\"y\n"),
		  "error: line 2: bad quoting: a quote inside an unquoted field, or text after a "
		  "closing quote");
	CHECK_STR(infer("a,b\n1,\"x\"y\n"),
		  "error: line 2: bad quoting: a quote inside an unquoted field, or text after a "
		  "closing quote");
	CHECK_STR(infer("a,b\n1,\"x\" \n"),
		  "error: line 2: bad quoting: a quote inside an unquoted field, or text after a "
		  "closing quote");
	CHECK_STR(infer("a,b\n1,2\n\"x\ny\n"),
		  "error: line 3: a quoted field is not closed at the end of the file");
	CHECK_STR(infer("a,b\n\"1\n\n\",\"2\nx\"y\n"),
		  "error: line 4: bad quoting: a quote inside an unquoted field, or text after a "
		  "closing quote");

	/* An error is kept; type of a missing column; an output too small. */
	ci = csvinfer_new();
	CHECK(csvinfer_feed(ci, "a\n1,2\n", 6) == -EINVAL);
	CHECK(csvinfer_feed(ci, "3\n", 2) == -EINVAL);
	CHECK(csvinfer_finish(ci) == -EINVAL);
	CHECK_STR(csvinfer_error(ci), "line 2: 2 fields, the header has 1");
	csvinfer_free(ci);
	ci = csvinfer_new();
	CHECK_STR(csvinfer_error(ci), "");
	CHECK(csvinfer_feed(ci, "id,t\n1,2024-01-01\n", 18) == 0);
	CHECK(csvinfer_finish(ci) == 0);
	CHECK(csvinfer_ncols(ci) == 2);
	CHECK(csvinfer_name(ci, 2) == NULL);
	CHECK(csvinfer_type(ci, 2, CSVINFER_POSTGRES, type, sizeof(type), &err) == -EINVAL);
	CHECK_STR(err, "column 3: no such column (the header has 2)");
	free(err);
	err = NULL;
	CHECK(csvinfer_type(ci, 0, CSVINFER_POSTGRES, type, 6, &err) == -ERANGE);
	free(err);
	CHECK(csvinfer_type(ci, 0, CSVINFER_POSTGRES, type, 7, NULL) == 0);
	CHECK_STR(type, "BIGINT");
	CHECK(csvinfer_type(ci, 1, CSVINFER_REDSHIFT, type, sizeof(type), NULL) == 0);
	CHECK_STR(type, "DATE");
	csvinfer_free(ci);
	csvinfer_free(NULL);
}

/* Wide values: TEXT on PostgreSQL, an error on Redshift; a field past the
 * 64 MiB cap is an error with bounded memory. */
static void test_sizes(void)
{
	struct buf b;
	struct csvinfer *ci;
	char *s, *big;
	size_t chunk = 1 << 20;
	int r = 0;

	buf_init(&b, 1 << 20);
	buf_append(&b, "short,wide\nx,", 13);
	for (int i = 0; i < 65535; i++)
		buf_append(&b, "w", 1);
	buf_append(&b, "\n", 1);
	s = infer_n(b.data, b.len, 0, CSVINFER_REDSHIFT);
	CHECK_STR(s, "short VARCHAR(1), wide VARCHAR(65535) | 1");
	free(s);
	buf_append(&b, "y,\"", 3);
	for (int i = 0; i < 65536; i++)
		buf_append(&b, i % 1000 == 999 ? "\n" : "v", 1);
	buf_append(&b, "\"\n", 2);
	s = infer_n(b.data, b.len, 0, CSVINFER_POSTGRES);
	CHECK_STR(s, "short VARCHAR(1), wide TEXT | 2");
	free(s);
	s = infer_n(b.data, b.len, 4096, CSVINFER_REDSHIFT);
	CHECK_STR(s, "error: column \"wide\": a value of 65536 bytes, but Redshift's VARCHAR "
		     "holds at most 65535");
	free(s);
	buf_free(&b);

	/* Exactly 64 MiB fits; one byte more does not. */
	big = malloc(chunk);
	memset(big, 'z', chunk);
	ci = csvinfer_new();
	CHECK(csvinfer_feed(ci, "a\n1\n", 4) == 0);
	for (unsigned i = 0; i < CSVINFER_FIELD_MAX / chunk && r == 0; i++)
		r = csvinfer_feed(ci, big, chunk);
	CHECK(r == 0);
	CHECK(csvinfer_feed(ci, "\n", 1) == 0);
	CHECK(csvinfer_finish(ci) == 0);
	CHECK(csvinfer_rows(ci) == 2);
	csvinfer_free(ci);
	ci = csvinfer_new();
	CHECK(csvinfer_feed(ci, "a\n1\n", 4) == 0);
	for (unsigned i = 0; i < CSVINFER_FIELD_MAX / chunk && r == 0; i++)
		r = csvinfer_feed(ci, big, chunk);
	CHECK(r == 0);
	CHECK(csvinfer_feed(ci, "z\n", 2) == -EINVAL);
	CHECK_STR(csvinfer_error(ci), "line 3: a field is longer than 64 MiB");
	csvinfer_free(ci);
	/* Without a line end, the buffer stops growing all the same. */
	ci = csvinfer_new();
	CHECK(csvinfer_feed(ci, "a\n", 2) == 0);
	for (unsigned i = 0; i < CSVINFER_FIELD_MAX / chunk + 1 && r == 0; i++)
		r = csvinfer_feed(ci, big, chunk);
	CHECK(r == -EINVAL);
	CHECK_STR(csvinfer_error(ci), "line 2: a field is longer than 64 MiB");
	csvinfer_free(ci);
	free(big);
}

static void test_header_helper(void)
{
	const char *csv = "\xef\xbb\xbf"
			  "id,,\"multi\nline\"\r\n1,2,3\r\n";
	size_t len = strlen(csv), full = strlen("\xef\xbb\xbfid,,\"multi\nline\"\r\n");
	char **names = NULL, *err = NULL;
	size_t n = 99, consumed = 99;

	/* Every prefix short of the whole header asks for more. */
	for (size_t i = 0; i < full - 1; i++)
		CHECK(csvinfer_header_err(csv, i, &names, &n, &consumed, &err) == 0);
	CHECK(names == NULL && n == 99 && consumed == 99 && err == NULL);
	/* The "\r" alone cannot tell "\r\n" from "\r". */
	CHECK(csvinfer_header_err(csv, full - 1, &names, &n, &consumed, &err) == 0);
	for (size_t i = full; i <= len; i++) {
		CHECK(csvinfer_header_err(csv, i, &names, &n, &consumed, &err) == 1);
		CHECK(n == 3 && consumed == full);
		CHECK_STR(names[0], "id");
		CHECK_STR(names[1], "column_2");
		CHECK_STR(names[2], "multi\nline");
		csvinfer_names_free(names, n);
		names = NULL;
	}
	/* A lone "\r" line end, and a header without any at the end of file. */
	CHECK(csvinfer_header_err("a,b\rx", 5, &names, &n, &consumed, NULL) == 1);
	CHECK(n == 2 && consumed == 4);
	csvinfer_names_free(names, n);
	CHECK(csvinfer_header_err("a,b", 3, &names, &n, &consumed, NULL) == 0);
	CHECK(csvinfer_header_err("a,b\n", 4, &names, &n, &consumed, NULL) == 1);
	CHECK(n == 2 && consumed == 4);
	csvinfer_names_free(names, n);
	/* Malformed: told at once, with the reason. */
	CHECK(csvinfer_header_err("a,A\n1,2\n", 8, &names, &n, &consumed, &err) == -EINVAL);
	CHECK_STR(err, "line 1: columns 1 and 2 are both named \"A\" (names differing only in "
		       "case clash)");
	free(err);
	err = NULL;
	CHECK(csvinfer_header_err("a,b\"c\n", 6, &names, &n, &consumed, &err) == -EINVAL);
	CHECK(err != NULL);
	free(err);
	CHECK(csvinfer_header("\n", 1, &names, &n, &consumed) == -EINVAL);
	CHECK(csvinfer_header("", 0, &names, &n, &consumed) == 0);
	csvinfer_names_free(NULL, 0);
}

int main(void)
{
	test_types();
	test_widening();
	test_nulls();
	test_lines();
	test_header();
	test_errors();
	test_sizes();
	test_header_helper();
	return unit_done("csvinfer");
}
