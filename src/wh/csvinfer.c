/* csvinfer.c - see csvinfer.h
 *
 * libcsv does the quoting; this file counts lines, checks records against
 * the header and folds every value into its column's type.  libcsv is
 * told what PostgreSQL does where its defaults differ: nothing is a space
 * (it would trim unquoted fields), an unquoted empty field is NULL, every
 * line end is reported (so blank lines are seen, and counted), and a
 * quoted field still open at the end of the file is an error.
 */
#include "config.h"

#include <csv.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "csvfmt.h"
#include "csvinfer.h"
#include "log.h"

#define CSVINFER_OPTIONS                                                                           \
	(CSV_STRICT | CSV_STRICT_FINI | CSV_REPALL_NL | CSV_APPEND_NULL | CSV_EMPTY_IS_NULL)
/* Bytes handed to libcsv per call, so its buffer can grow between calls. */
#define CSVINFER_SLICE	     (64u * 1024)
#define CSVINFER_NULL_WIDTH  256   /* VARCHAR width of a column of NULLs */
#define CSVINFER_VARCHAR_MAX 65535 /* Redshift's widest VARCHAR */

#define CSVINFER_DECIMAL_MAX 38 /* Redshift's DECIMAL digits */

/* The type lattice: NONE (only NULLs) < each of the others < TEXT, with
 * INT < NUM and DATE < TS the only widenings.  INT: integers within 64
 * bits; NUM: other numbers, whose column type (csvinfer_type) depends on
 * which forms all of them have, so that every value reads back as
 * written. */
enum csvinfer_class { CLS_NONE, CLS_BOOL, CLS_INT, CLS_NUM, CLS_DATE, CLS_TS, CLS_TEXT };

struct csvinfer_col {
	char *name;
	enum csvinfer_class cls;
	size_t max_bytes; /* longest non-NULL value */
	/* Numbers seen (INT or NUM): */
	int seen_num;
	int not_dec;		   /* one is not plain decimal: NUMERIC would change it */
	int not_float;		   /* one reads back otherwise from DOUBLE PRECISION */
	size_t int_digits;	   /* most digits before the point */
	size_t scale_lo, scale_hi; /* fewest and most digits after it */
};

struct csvinfer {
	struct csv_parser parser;
	struct csvinfer_col *cols;
	size_t ncols, cols_cap;
	int have_header;
	int header_only;	   /* csvinfer_header(): stop at the header */
	size_t nfields;		   /* fields of the record being read */
	unsigned long long line;   /* where the record being read starts */
	unsigned long long row_nl; /* line ends inside its fields so far */
	int prev_end;		   /* what ended the last record: '\r', '\n', -1 */
	unsigned long long rows;
	size_t nbom; /* bytes of a byte order mark matched so far */
	int bom_done;
	int failed;
	char err[512];
};

static const char csvinfer_bom[3] = {'\xef', '\xbb', '\xbf'};

static int csvinfer_fail(struct csvinfer *ci, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static int csvinfer_fail(struct csvinfer *ci, const char *fmt, ...)
{
	va_list ap;

	if (ci->failed)
		return -EINVAL; /* the first error is the one that counts */
	va_start(ap, fmt);
	vsnprintf(ci->err, sizeof(ci->err), fmt, ap);
	va_end(ap);
	ci->failed = 1;
	return -EINVAL;
}

/* libcsv's buffer never grows past one field of CSVINFER_FIELD_MAX bytes
 * (plus its NUL, plus the byte it wants free before it looks at the next
 * one): a huge field becomes an error, not a huge allocation.  libcsv
 * retries smaller sizes down to one byte, then reports ENOMEM.  A field of
 * exactly one byte more still fits here: csvinfer_on_field() refuses it. */
static void *csvinfer_realloc(void *p, size_t size)
{
	if (size > (size_t)CSVINFER_FIELD_MAX + 2)
		return NULL;
	return realloc(p, size);
}

/* Line ends in a field: "\r\n", "\n" and a lone "\r" count one each. */
static unsigned long long csvinfer_count_lines(const char *s, size_t len)
{
	unsigned long long n = 0;

	for (size_t i = 0; i < len; i++)
		if (s[i] == '\n' || (s[i] == '\r' && (i + 1 == len || s[i + 1] != '\n')))
			n++;
	return n;
}

/* --- value classes --- */

static int csvinfer_digits(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (s[i] < '0' || s[i] > '9')
			return 0;
	return 1;
}

static unsigned csvinfer_num(const char *s, size_t n)
{
	unsigned v = 0;

	for (size_t i = 0; i < n; i++)
		v = v * 10 + (unsigned)(s[i] - '0');
	return v;
}

static int csvinfer_is_bool(const char *s, size_t len)
{
	static const char *const words[] = {"t", "f", "true", "false"};

	for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++)
		if (len == strlen(words[i]) && strncasecmp(s, words[i], len) == 0)
			return 1;
	return 0;
}

/* A plain decimal as NUMERIC writes it back: an optional '-', digits
 * without a leading zero (or one zero), then optionally '.' and digits;
 * never "-0".  The digits before and after the point into *ip and *fp. */
static int csvinfer_is_dec(const char *s, size_t len, size_t *ip, size_t *fp)
{
	size_t i = len > 0 && s[0] == '-' ? 1 : 0, start = i, nz = 0;

	for (; i < len && s[i] >= '0' && s[i] <= '9'; i++)
		nz += s[i] != '0';
	*ip = i - start;
	if (*ip == 0 || (*ip > 1 && s[start] == '0'))
		return 0;
	*fp = 0;
	if (i < len && s[i] == '.') {
		size_t f = ++i;

		for (; i < len && s[i] >= '0' && s[i] <= '9'; i++)
			nz += s[i] != '0';
		if ((*fp = i - f) == 0)
			return 0;
	}
	return i == len && !(start && nz == 0);
}

/* Whether DOUBLE PRECISION writes v back as the text s: PostgreSQL's
 * float8out, the shortest digits that read back as v, fixed notation for
 * decimal exponents from -4 to 14, else d.ddde+XX. */
static int csvinfer_float_same(double v, const char *s, size_t len)
{
	char e[40], digits[24], out[48];
	size_t nd = 0, o = 0;
	int exp10, p;

	for (p = 1; p <= 17; p++) {
		snprintf(e, sizeof(e), "%.*e", p - 1, v);
		if (strtod(e, NULL) == v)
			break;
	}
	/* e: [-]d[.ddd]e[+-]XX */
	for (const char *c = e; *c && *c != 'e'; c++)
		if (*c >= '0' && *c <= '9')
			digits[nd++] = *c;
	while (nd > 1 && digits[nd - 1] == '0')
		nd--;
	exp10 = atoi(strchr(e, 'e') + 1);
	if (e[0] == '-')
		out[o++] = '-';
	if (v == 0) {
		out[o++] = '0';
	} else if (exp10 >= -4 && exp10 < 15) {
		if (exp10 < 0) {
			out[o++] = '0';
			out[o++] = '.';
			for (int z = -1; z > exp10; z--)
				out[o++] = '0';
			for (size_t k = 0; k < nd; k++)
				out[o++] = digits[k];
		} else {
			for (size_t k = 0; k < nd || (int)k <= exp10; k++) {
				if ((int)k == exp10 + 1)
					out[o++] = '.';
				out[o++] = k < nd ? digits[k] : '0';
			}
		}
	} else {
		out[o++] = digits[0];
		if (nd > 1)
			out[o++] = '.';
		for (size_t k = 1; k < nd; k++)
			out[o++] = digits[k];
		o += (size_t)snprintf(out + o, sizeof(out) - o, "e%c%02d", exp10 < 0 ? '-' : '+',
				      abs(exp10));
	}
	return o == len && !memcmp(out, s, len);
}

/* Integers within int64, in the form BIGINT writes them back. */
static int csvinfer_is_int(const char *s, size_t len)
{
	size_t i = (len > 0 && s[0] == '-') ? 1 : 0, ip, fp;
	uint64_t v = 0, limit = (uint64_t)INT64_MAX + (len > 0 && s[0] == '-');

	if (!csvinfer_is_dec(s, len, &ip, &fp) || fp)
		return 0;
	for (; i < len; i++) {
		unsigned d = (unsigned)(s[i] - '0');

		if (v > (limit - d) / 10)
			return 0;
		v = v * 10 + d;
	}
	return 1;
}

/* Decimal notation only, checked here because strtod() also takes hex,
 * "inf", "nan" and leading spaces.  s is NUL-terminated (CSV_APPEND_NULL);
 * the daemon runs in the C locale, so '.' is strtod's decimal point. */
static int csvinfer_is_double(const char *s, size_t len)
{
	size_t i = 0, int_digits = 0, frac_digits = 0;
	double v;
	char *end;

	if (i < len && (s[i] == '+' || s[i] == '-'))
		i++;
	for (; i < len && s[i] >= '0' && s[i] <= '9'; i++)
		int_digits++;
	if (i < len && s[i] == '.')
		for (i++; i < len && s[i] >= '0' && s[i] <= '9'; i++)
			frac_digits++;
	if (int_digits + frac_digits == 0)
		return 0;
	if (i < len && (s[i] == 'e' || s[i] == 'E')) {
		size_t exp_digits = 0;

		i++;
		if (i < len && (s[i] == '+' || s[i] == '-'))
			i++;
		for (; i < len && s[i] >= '0' && s[i] <= '9'; i++)
			exp_digits++;
		if (exp_digits == 0)
			return 0;
	}
	if (i != len)
		return 0;
	errno = 0;
	v = strtod(s, &end);
	if (end != s + len || !isfinite(v))
		return 0;
	/* PostgreSQL's float8in refuses what underflows to zero too. */
	if (errno == ERANGE && v == 0.0)
		return 0;
	return 1;
}

static int csvinfer_is_date(const char *s, size_t len)
{
	static const unsigned mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	unsigned y, m, d;

	if (len != 10 || s[4] != '-' || s[7] != '-' || !csvinfer_digits(s, 4) ||
	    !csvinfer_digits(s + 5, 2) || !csvinfer_digits(s + 8, 2))
		return 0;
	y = csvinfer_num(s, 4);
	m = csvinfer_num(s + 5, 2);
	d = csvinfer_num(s + 8, 2);
	if (y < 1 || m < 1 || m > 12 || d < 1 || d > mdays[m - 1])
		return 0;
	if (m == 2 && d == 29 && !(y % 4 == 0 && (y % 100 != 0 || y % 400 == 0)))
		return 0;
	return 1;
}

static int csvinfer_is_timestamp(const char *s, size_t len)
{
	if (len < 19 || !csvinfer_is_date(s, 10) || (s[10] != ' ' && s[10] != 'T'))
		return 0;
	if (s[13] != ':' || s[16] != ':' || !csvinfer_digits(s + 11, 2) ||
	    !csvinfer_digits(s + 14, 2) || !csvinfer_digits(s + 17, 2))
		return 0;
	if (csvinfer_num(s + 11, 2) > 23 || csvinfer_num(s + 14, 2) > 59 ||
	    csvinfer_num(s + 17, 2) > 59)
		return 0;
	if (len == 19)
		return 1;
	return s[19] == '.' && len >= 21 && len <= 26 && csvinfer_digits(s + 20, len - 20);
}

/* A number (INT or NUM), folded into col's forms; TEXT if no number type
 * would give s back as written (02134, +5, 1.0e3). */
static enum csvinfer_class csvinfer_number(struct csvinfer_col *col, const char *s, size_t len)
{
	size_t ip = 0, fp = 0;
	int dec = csvinfer_is_dec(s, len, &ip, &fp);
	int flt = csvinfer_is_double(s, len) && csvinfer_float_same(strtod(s, NULL), s, len);

	if (!dec && !flt)
		return CLS_TEXT;
	col->not_dec |= !dec;
	col->not_float |= !flt;
	if (dec) {
		if (ip > col->int_digits)
			col->int_digits = ip;
		if (!col->seen_num || fp < col->scale_lo)
			col->scale_lo = fp;
		if (fp > col->scale_hi)
			col->scale_hi = fp;
	}
	col->seen_num = 1;
	return dec && !fp && csvinfer_is_int(s, len) ? CLS_INT : CLS_NUM;
}

static enum csvinfer_class csvinfer_classify(struct csvinfer_col *col, const char *s, size_t len)
{
	if (len == 0)
		return CLS_TEXT; /* "" is a string, not a missing number */
	if (csvinfer_is_bool(s, len))
		return CLS_BOOL;
	if (csvinfer_is_double(s, len))
		return csvinfer_number(col, s, len);
	if (csvinfer_is_date(s, len))
		return CLS_DATE;
	if (csvinfer_is_timestamp(s, len))
		return CLS_TS;
	return CLS_TEXT;
}

static enum csvinfer_class csvinfer_join(enum csvinfer_class a, enum csvinfer_class b)
{
	if (a == CLS_NONE || a == b)
		return b;
	if (b == CLS_NONE)
		return a;
	if ((a == CLS_INT && b == CLS_NUM) || (a == CLS_NUM && b == CLS_INT))
		return CLS_NUM;
	if ((a == CLS_DATE && b == CLS_TS) || (a == CLS_TS && b == CLS_DATE))
		return CLS_TS;
	return CLS_TEXT;
}

/* --- records --- */

static void csvinfer_header_field(struct csvinfer *ci, const char *s, size_t len)
{
	struct csvinfer_col *cols;
	char *name;

	if (ci->ncols == CSVINFER_MAX_COLUMNS) {
		csvinfer_fail(ci, "line %llu: more than %d columns in the header", ci->line,
			      CSVINFER_MAX_COLUMNS);
		return;
	}
	if (len > CSVINFER_NAME_MAX) {
		csvinfer_fail(ci, "line %llu: the name of column %zu is longer than %d bytes",
			      ci->line, ci->ncols + 1, CSVINFER_NAME_MAX);
		return;
	}
	if (ci->ncols == ci->cols_cap) {
		size_t cap = ci->cols_cap ? ci->cols_cap * 2 : 16;

		cols = realloc(ci->cols, cap * sizeof(*cols));
		if (!cols) {
			csvinfer_fail(ci, "out of memory");
			return;
		}
		ci->cols = cols;
		ci->cols_cap = cap;
	}
	/* NULL and "" alike: named once the header is complete. */
	name = s && len > 0 ? strndup(s, len) : strdup("");
	if (!name) {
		csvinfer_fail(ci, "out of memory");
		return;
	}
	ci->cols[ci->ncols++] = (struct csvinfer_col){.name = name, .cls = CLS_NONE};
}

static void csvinfer_header_done(struct csvinfer *ci)
{
	char a[CSVFMT_CLIP * 2];

	for (size_t i = 0; i < ci->ncols; i++) {
		if (ci->cols[i].name[0] == '\0') {
			char *name;

			if (asprintf(&name, "column_%zu", i + 1) < 0) {
				csvinfer_fail(ci, "out of memory");
				return;
			}
			free(ci->cols[i].name);
			ci->cols[i].name = name;
		}
	}
	/* Quadratic, but once, over at most 1600 names. */
	for (size_t i = 0; i < ci->ncols; i++)
		for (size_t j = i + 1; j < ci->ncols; j++)
			if (strcasecmp(ci->cols[i].name, ci->cols[j].name) == 0) {
				csvinfer_fail(
				    ci,
				    "line %llu: columns %zu and %zu are both named \"%s\" "
				    "(names differing only in case clash)",
				    ci->line, i + 1, j + 1,
				    csvfmt_clip(ci->cols[j].name, strlen(ci->cols[j].name), a,
						sizeof(a)));
				return;
			}
	ci->have_header = 1;
}

/* libcsv: one field; s is NULL for an unquoted empty field (NULL). */
static void csvinfer_on_field(void *s, size_t len, void *arg)
{
	struct csvinfer *ci = arg;
	struct csvinfer_col *col;

	if (ci->failed || (ci->header_only && ci->have_header))
		return;
	if (len > CSVINFER_FIELD_MAX) {
		csvinfer_fail(ci, "line %llu: a field is longer than %u MiB", ci->line + ci->row_nl,
			      CSVINFER_FIELD_MAX >> 20);
		return;
	}
	if (s)
		ci->row_nl += csvinfer_count_lines(s, len);
	if (!ci->have_header) {
		csvinfer_header_field(ci, s, len);
		ci->nfields++;
		return;
	}
	/* Fields past the header's count are only counted: the record is an
	 * error anyway, and memory must not grow with a record's width. */
	if (ci->nfields++ >= ci->ncols || !s)
		return;
	col = &ci->cols[ci->nfields - 1];
	if (len > col->max_bytes)
		col->max_bytes = len;
	if (col->cls != CLS_TEXT)
		col->cls = csvinfer_join(col->cls, csvinfer_classify(col, s, len));
}

/* libcsv: the end of a record, at line end c ('\r', '\n'; -1 at the end
 * of the file).  With CSV_REPALL_NL every line end comes here, fields or
 * not. */
static void csvinfer_on_record(int c, void *arg)
{
	struct csvinfer *ci = arg;

	if (ci->failed || (ci->header_only && ci->have_header))
		return;
	if (ci->nfields == 0 && c == '\n' && ci->prev_end == '\r') {
		ci->prev_end = '\n'; /* the "\n" of "\r\n": not a line of its own */
		return;
	}
	if (!ci->have_header) {
		if (ci->nfields == 0)
			csvinfer_fail(ci, "line %llu: the header row is blank", ci->line);
		else
			csvinfer_header_done(ci);
	} else if (ci->nfields == 0 && ci->ncols > 1) {
		csvinfer_fail(ci, "line %llu: blank line, the header has %zu fields", ci->line,
			      ci->ncols);
	} else if (ci->nfields != 0 && ci->nfields != ci->ncols) {
		csvinfer_fail(ci, "line %llu: %zu field%s, the header has %zu", ci->line,
			      ci->nfields, ci->nfields == 1 ? "" : "s", ci->ncols);
	} else {
		ci->rows++; /* a blank line in a one-column file is a NULL */
	}
	ci->line += ci->row_nl + 1;
	ci->row_nl = 0;
	ci->nfields = 0;
	ci->prev_end = c;
}

/* --- feeding --- */

/* PostgreSQL keeps the spaces around a field: nothing is trimmed. */
static int csvinfer_no_space(unsigned char c)
{
	(void)c;
	return 0;
}

struct csvinfer *csvinfer_new(void)
{
	struct csvinfer *ci = calloc(1, sizeof(*ci));

	if (!ci)
		return NULL;
	if (csv_init(&ci->parser, CSVINFER_OPTIONS) != 0) {
		free(ci);
		return NULL;
	}
	csv_set_space_func(&ci->parser, csvinfer_no_space); /* NULL means " \t" */
	csv_set_realloc_func(&ci->parser, csvinfer_realloc);
	ci->line = 1;
	ci->prev_end = -1;
	return ci;
}

static int csvinfer_parse_error(struct csvinfer *ci)
{
	unsigned long long line = ci->line + ci->row_nl;

	switch (csv_error(&ci->parser)) {
	case CSV_EPARSE:
		return csvinfer_fail(ci,
				     "line %llu: bad quoting: a quote inside an unquoted field, "
				     "or text after a closing quote",
				     line);
	case CSV_ENOMEM:
		if (csv_get_buffer_size(&ci->parser) > CSVINFER_FIELD_MAX + 1)
			return csvinfer_fail(ci, "line %llu: a field is longer than %u MiB", line,
					     CSVINFER_FIELD_MAX >> 20);
		csvinfer_fail(ci, "out of memory");
		return -ENOMEM;
	default:
		return csvinfer_fail(ci, "line %llu: unreadable CSV", line);
	}
}

static int csvinfer_parse(struct csvinfer *ci, const char *data, size_t len)
{
	while (len > 0) {
		size_t n = len < CSVINFER_SLICE ? len : CSVINFER_SLICE;
		size_t size = csv_get_buffer_size(&ci->parser);

		/* libcsv grows its buffer by a fixed block: make the block the
		 * buffer's size, so a long field costs log(n) reallocs. */
		csv_set_blk_size(&ci->parser, size < CSVINFER_SLICE ? CSVINFER_SLICE : size);
		if (csv_parse(&ci->parser, data, n, csvinfer_on_field, csvinfer_on_record, ci) != n)
			return csvinfer_parse_error(ci);
		if (ci->failed)
			return -EINVAL;
		data += n;
		len -= n;
	}
	return 0;
}

int csvinfer_feed(struct csvinfer *ci, const char *data, size_t len)
{
	int r;

	if (ci->failed)
		return -EINVAL;
	/* A byte order mark may come split over calls; bytes that turn out
	 * not to be one are parsed as data. */
	while (!ci->bom_done && len > 0) {
		if (*data != csvinfer_bom[ci->nbom]) {
			ci->bom_done = 1;
			if ((r = csvinfer_parse(ci, csvinfer_bom, ci->nbom)) < 0)
				return r;
			break;
		}
		data++;
		len--;
		if (++ci->nbom == sizeof(csvinfer_bom))
			ci->bom_done = 1;
	}
	return csvinfer_parse(ci, data, len);
}

int csvinfer_finish(struct csvinfer *ci)
{
	int r;

	if (ci->failed)
		return -EINVAL;
	if (!ci->bom_done) {
		ci->bom_done = 1;
		if ((r = csvinfer_parse(ci, csvinfer_bom, ci->nbom)) < 0)
			return r;
	}
	if (csv_fini(&ci->parser, csvinfer_on_field, csvinfer_on_record, ci) != 0)
		return csvinfer_fail(
		    ci, "line %llu: a quoted field is not closed at the end of the file",
		    ci->line + ci->row_nl);
	if (ci->failed)
		return -EINVAL;
	if (!ci->have_header)
		return csvinfer_fail(ci, "empty file: no header row");
	return 0;
}

const char *csvinfer_error(const struct csvinfer *ci)
{
	return ci->failed ? ci->err : "";
}

size_t csvinfer_ncols(const struct csvinfer *ci)
{
	return ci->have_header ? ci->ncols : 0;
}

const char *csvinfer_name(const struct csvinfer *ci, size_t i)
{
	return i < csvinfer_ncols(ci) ? ci->cols[i].name : NULL;
}

unsigned long long csvinfer_rows(const struct csvinfer *ci)
{
	return ci->rows;
}

int csvinfer_type(const struct csvinfer *ci, size_t i, enum csvinfer_dialect d, char *out,
		  size_t outlen, char **err)
{
	const struct csvinfer_col *col;
	char tmp[CSVINFER_TYPE_MAX], a[CSVFMT_CLIP * 2];
	char *msg = NULL;
	size_t width;
	int r;

	if (i >= csvinfer_ncols(ci)) {
		r = log_einval(&msg, "column %zu: no such column (the header has %zu)", i + 1,
			       csvinfer_ncols(ci));
		goto out;
	}
	col = &ci->cols[i];
	width = col->max_bytes ? col->max_bytes : 1;
	switch (col->cls) {
	case CLS_NONE:
		snprintf(tmp, sizeof(tmp), "VARCHAR(%d)", CSVINFER_NULL_WIDTH);
		break;
	case CLS_BOOL:
		snprintf(tmp, sizeof(tmp), "BOOLEAN");
		break;
	case CLS_INT:
		snprintf(tmp, sizeof(tmp), "BIGINT");
		break;
	case CLS_NUM:
		/* The type that gives every value back as written, if any. */
		if (!col->not_dec && d == CSVINFER_POSTGRES)
			snprintf(tmp, sizeof(tmp), "NUMERIC");
		else if (!col->not_dec && col->scale_lo == col->scale_hi &&
			 col->int_digits + col->scale_hi <= CSVINFER_DECIMAL_MAX)
			snprintf(tmp, sizeof(tmp), "DECIMAL(%d,%zu)", CSVINFER_DECIMAL_MAX,
				 col->scale_hi);
		else if (!col->not_float)
			snprintf(tmp, sizeof(tmp), "DOUBLE PRECISION");
		else
			goto varchar;
		break;
	case CLS_DATE:
		snprintf(tmp, sizeof(tmp), "DATE");
		break;
	case CLS_TS:
		snprintf(tmp, sizeof(tmp), "TIMESTAMP");
		break;
	default:
	varchar:
		if (width <= CSVINFER_VARCHAR_MAX)
			snprintf(tmp, sizeof(tmp), "VARCHAR(%zu)", width);
		else if (d == CSVINFER_POSTGRES)
			snprintf(tmp, sizeof(tmp), "TEXT");
		else {
			r = log_einval(
			    &msg,
			    "column \"%s\": a value of %zu bytes, but Redshift's VARCHAR "
			    "holds at most %d",
			    csvfmt_clip(col->name, strlen(col->name), a, sizeof(a)), width,
			    CSVINFER_VARCHAR_MAX);
			goto out;
		}
		break;
	}
	if (strlen(tmp) >= outlen) {
		log_einval(&msg, "column %zu: no room for its type", i + 1);
		r = -ERANGE;
		goto out;
	}
	strcpy(out, tmp);
	r = 0;
out:
	if (err && r < 0)
		*err = msg;
	else
		free(msg);
	return r;
}

void csvinfer_free(struct csvinfer *ci)
{
	if (!ci)
		return;
	csv_free(&ci->parser);
	for (size_t i = 0; i < ci->ncols; i++)
		free(ci->cols[i].name);
	free(ci->cols);
	free(ci);
}

/* --- the header alone --- */

void csvinfer_names_free(char **names, size_t n)
{
	if (!names)
		return;
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
}

/* Bytes up to and including the next '\r' or '\n' (all of them if none). */
static size_t csvinfer_to_line_end(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (s[i] == '\n' || s[i] == '\r')
			return i + 1;
	return len;
}

int csvinfer_header_err(const char *data, size_t len, char ***names, size_t *n, size_t *consumed,
			char **err)
{
	struct csvinfer *ci = csvinfer_new();
	char **v = NULL;
	size_t off = 0;
	int r;

	if (!ci)
		return -ENOMEM;
	ci->header_only = 1;
	/* A record can only end at a line end, so feeding up to each one in
	 * turn stops exactly after the header, without reading data rows. */
	while (off < len && !ci->have_header) {
		size_t seg = csvinfer_to_line_end(data + off, len - off);

		if ((r = csvinfer_feed(ci, data + off, seg)) < 0)
			goto fail;
		off += seg;
	}
	if (!ci->have_header || (data[off - 1] == '\r' && off == len)) {
		r = 0;
		goto out;
	}
	if (data[off - 1] == '\r' && data[off] == '\n')
		off++;
	v = calloc(ci->ncols ? ci->ncols : 1, sizeof(*v));
	if (!v) {
		r = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < ci->ncols; i++) {
		v[i] = ci->cols[i].name; /* handed over, so not freed below */
		ci->cols[i].name = NULL;
	}
	*names = v;
	*n = ci->ncols;
	*consumed = off;
	r = 1;
	goto out;
fail:
	if (err && ci->failed)
		*err = strdup(ci->err);
out:
	csvinfer_free(ci);
	return r;
}

int csvinfer_header(const char *data, size_t len, char ***names, size_t *n, size_t *consumed)
{
	return csvinfer_header_err(data, len, names, n, consumed, NULL);
}
