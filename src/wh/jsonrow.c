/* jsonrow.c - see jsonrow.h
 *
 * Both readers share one line splitter (struct jsonlines), which hands
 * each complete, non-blank line to json-c and checks what json-c lets
 * through but a load must not: NaN and Infinity, and integers it would
 * clip to 64 bits without a word.
 */
#include "config.h"

#include <errno.h>
#include <json-c/json.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "csvfmt.h"
#include "jsonrow.h"

#define JSONROW_DEPTH 64 /* nesting json-c accepts */
/* A line buffer grown past this is freed after its line, not kept. */
#define JSONROW_KEEP_BYTES (1u << 20)

/* --- lines --- */

/* Called with each parsed object; returns 0 or fails the reader. */
typedef int (*jsonlines_fn)(void *arg, struct json_object *obj);

struct jsonlines {
	struct buf line;	   /* the partial line, when a chunk ends inside one */
	unsigned long long lineno; /* the line being read, from 1 */
	struct json_tokener *tok;
	int err; /* negative errno once failed */
	char msg[512];
};

static int jsonlines_fail(struct jsonlines *jl, int err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int jsonlines_fail(struct jsonlines *jl, int err, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (jl->err)
		return jl->err;
	n = snprintf(jl->msg, sizeof(jl->msg), "line %llu: ", jl->lineno);
	va_start(ap, fmt);
	vsnprintf(jl->msg + n, sizeof(jl->msg) - (size_t)n, fmt, ap);
	va_end(ap);
	jl->err = err;
	return err;
}

static int jsonlines_init(struct jsonlines *jl)
{
	buf_init(&jl->line, JSONROW_LINE_MAX);
	jl->lineno = 1;
	jl->tok = json_tokener_new_ex(JSONROW_DEPTH);
	if (!jl->tok)
		return -ENOMEM;
	/* Strict: no trailing commas, no leading zeros, nothing after the
	 * object; and strings must be valid UTF-8. */
	json_tokener_set_flags(jl->tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
	return 0;
}

static void jsonlines_free(struct jsonlines *jl)
{
	buf_free(&jl->line);
	if (jl->tok)
		json_tokener_free(jl->tok);
}

static int jsonrow_is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static int jsonrow_is_alpha(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

/* Whether n digits, with a minus sign or not, are out of json-c's range
 * (int64 for negatives, uint64 otherwise). */
static int jsonrow_too_wide(const char *digits, size_t n, int negative)
{
	const char *max = negative ? "9223372036854775808" : "18446744073709551615";
	size_t max_len = strlen(max);

	return n > max_len || (n == max_len && memcmp(digits, max, n) > 0);
}

/* What json-c accepts but must not be loaded, outside strings: NaN and
 * Infinity, and integers past int64/uint64, which it clips silently. */
static int jsonlines_scan(struct jsonlines *jl, const char *s, size_t len)
{
	char clip[CSVFMT_CLIP + 8];

	for (size_t i = 0; i < len;) {
		char c = s[i];
		size_t start = i;

		if (c == '"' || c == '\'') { /* json-c takes 'strings' too */
			for (i++; i < len && s[i] != c; i++)
				if (s[i] == '\\')
					i++;
			i++;
		} else if (c == '-' || jsonrow_is_digit(c)) {
			int is_int = 1, neg = c == '-';

			for (i++; i < len; i++) {
				if (!jsonrow_is_digit(s[i]) && !memchr(".eE+-", s[i], 5))
					break;
				is_int &= jsonrow_is_digit(s[i]);
			}
			if (is_int && jsonrow_too_wide(s + start + neg, i - start - neg, neg)) {
				csvfmt_clip(s + start, i - start, clip, sizeof(clip));
				return jsonlines_fail(jl, -EINVAL,
						      "the integer %s does not fit in 64 bits; "
						      "write it as a string",
						      clip);
			}
		} else if (jsonrow_is_alpha(c)) {
			while (i < len && jsonrow_is_alpha(s[i]))
				i++;
			if ((i - start == 3 && strncasecmp(s + start, "nan", 3) == 0) ||
			    (i - start == 8 && strncasecmp(s + start, "infinity", 8) == 0))
				return jsonlines_fail(jl, -EINVAL, "NaN and Infinity are not JSON");
		} else {
			i++;
		}
	}
	return 0;
}

static int jsonlines_blank(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r')
			return 0;
	return 1;
}

/* One complete line, its "\n" removed. */
static int jsonlines_line(struct jsonlines *jl, const char *s, size_t len, jsonlines_fn fn,
			  void *arg)
{
	struct json_object *obj;
	size_t i = 0, end;
	int r;

	if (len > JSONROW_LINE_MAX)
		return jsonlines_fail(jl, -EINVAL, "longer than %u MiB", JSONROW_LINE_MAX >> 20);
	if (jsonlines_blank(s, len))
		return 0;
	while (s[i] == ' ' || s[i] == '\t')
		i++;
	if (s[i] == '[')
		return jsonlines_fail(jl, -EINVAL, "a JSON array, not an object");
	if (s[i] != '{')
		return jsonlines_fail(jl, -EINVAL, "not a JSON object");
	json_tokener_reset(jl->tok);
	obj = json_tokener_parse_ex(jl->tok, s, (int)len);
	if (!obj) {
		enum json_tokener_error e = json_tokener_get_error(jl->tok);

		if (e == json_tokener_continue)
			return jsonlines_fail(jl, -EINVAL,
					      "the JSON object does not end on its line "
					      "(one object per line)");
		return jsonlines_fail(jl, -EINVAL, "invalid JSON: %s", json_tokener_error_desc(e));
	}
	end = json_tokener_get_parse_end(jl->tok);
	if (!jsonlines_blank(s + end, len - end))
		r = jsonlines_fail(jl, -EINVAL, "text after the JSON object");
	else if ((r = jsonlines_scan(jl, s, len)) == 0)
		r = fn(arg, obj);
	json_object_put(obj);
	return r;
}

static int jsonlines_feed(struct jsonlines *jl, const char *data, size_t len, jsonlines_fn fn,
			  void *arg)
{
	if (jl->err)
		return jl->err;
	while (len > 0) {
		const char *nl = memchr(data, '\n', len);
		size_t n = nl ? (size_t)(nl - data) : len;
		int r;

		if (!nl || jl->line.len > 0) {
			/* Keep the partial line, or complete the one kept. */
			if ((r = buf_append(&jl->line, data, n)) < 0)
				return r == -E2BIG
					   ? jsonlines_fail(jl, -EINVAL, "longer than %u MiB",
							    JSONROW_LINE_MAX >> 20)
					   : jsonlines_fail(jl, r, "out of memory");
			if (!nl)
				return 0;
			r = jsonlines_line(jl, jl->line.data, jl->line.len, fn, arg);
			if (jl->line.cap > JSONROW_KEEP_BYTES)
				buf_free(&jl->line);
			buf_reset(&jl->line);
		} else {
			r = jsonlines_line(jl, data, n, fn, arg); /* whole in this chunk */
		}
		if (r < 0)
			return r;
		jl->lineno++;
		data += n + 1;
		len -= n + 1;
	}
	return 0;
}

static int jsonlines_finish(struct jsonlines *jl, jsonlines_fn fn, void *arg)
{
	int r;

	if (jl->err)
		return jl->err;
	if (jl->line.len == 0)
		return 0;
	r = jsonlines_line(jl, jl->line.data, jl->line.len, fn, arg);
	buf_free(&jl->line);
	return r;
}

/* --- names, sorted for lookups: an index array over a names array --- */

/* Where key is, or would go, in order[0..n); *found set when it is there. */
static size_t jsonrow_search(char *const *names, const size_t *order, size_t n, const char *key,
			     int ignorecase, int *found)
{
	size_t lo = 0, hi = n;

	*found = 0;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const char *name = names[order[mid]];
		int c = ignorecase ? strcasecmp(key, name) : strcmp(key, name);

		if (c == 0) {
			*found = 1;
			return mid;
		}
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return lo;
}

/* --- jsonrow --- */

struct jsonrow {
	struct jsonlines jl;
	char **cols;
	size_t ncols;
	size_t *order; /* cols sorted by name */
	int ignorecase;
	/* One row's fields, pointing into the object being converted. */
	const char **vals;
	size_t *lens;
	struct buf *out;
};

struct jsonrow *jsonrow_new(const char *const *cols, size_t ncols, int ignorecase)
{
	struct jsonrow *jr = calloc(1, sizeof(*jr));
	size_t n = ncols ? ncols : 1;

	if (!jr)
		return NULL;
	jr->ncols = ncols;
	jr->ignorecase = ignorecase;
	jr->cols = calloc(n, sizeof(*jr->cols));
	jr->order = calloc(n, sizeof(*jr->order));
	jr->vals = calloc(n, sizeof(*jr->vals));
	jr->lens = calloc(n, sizeof(*jr->lens));
	if (jsonlines_init(&jr->jl) < 0 || !jr->cols || !jr->order || !jr->vals || !jr->lens)
		goto fail;
	/* Insertion sort: once, over at most a table's columns. */
	for (size_t i = 0; i < ncols; i++) {
		size_t at;
		int found;

		if (!(jr->cols[i] = strdup(cols[i])))
			goto fail;
		at = jsonrow_search(jr->cols, jr->order, i, cols[i], ignorecase, &found);
		memmove(jr->order + at + 1, jr->order + at, (i - at) * sizeof(*jr->order));
		jr->order[at] = i;
	}
	return jr;
fail:
	jsonrow_free(jr);
	return NULL;
}

static int jsonrow_value(struct jsonrow *jr, size_t col, struct json_object *v, const char *key)
{
	char clip[CSVFMT_CLIP + 8];

	switch (json_object_get_type(v)) {
	case json_type_null:
		jr->vals[col] = NULL;
		return 0;
	case json_type_boolean:
		jr->vals[col] = json_object_get_boolean(v) ? "true" : "false";
		break;
	case json_type_string:
		jr->vals[col] = json_object_get_string(v);
		jr->lens[col] = (size_t)json_object_get_string_len(v);
		if (memchr(jr->vals[col], '\0', jr->lens[col]))
			return jsonlines_fail(&jr->jl, -EINVAL,
					      "the value of \"%s\" holds \\u0000, which PostgreSQL "
					      "text cannot",
					      csvfmt_clip(key, strlen(key), clip, sizeof(clip)));
		return 0;
	case json_type_int:
	case json_type_double:
		/* The text as parsed: json-c keeps a double's own spelling. */
		jr->vals[col] = json_object_get_string(v);
		break;
	default: /* object, array */
		jr->vals[col] = json_object_to_json_string_ext(
		    v, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
		break;
	}
	if (!jr->vals[col])
		return jsonlines_fail(&jr->jl, -ENOMEM, "out of memory");
	jr->lens[col] = strlen(jr->vals[col]);
	return 0;
}

static int jsonrow_object(void *arg, struct json_object *obj)
{
	struct jsonrow *jr = arg;
	int r;

	for (size_t i = 0; i < jr->ncols; i++)
		jr->vals[i] = NULL;
	json_object_object_foreach(obj, key, val)
	{
		int found;
		size_t at =
		    jsonrow_search(jr->cols, jr->order, jr->ncols, key, jr->ignorecase, &found);

		if (found && (r = jsonrow_value(jr, jr->order[at], val, key)) < 0)
			return r;
	}
	r = csvfmt_row(jr->out, jr->vals, jr->lens, NULL, jr->ncols);
	if (r == -E2BIG)
		return jsonlines_fail(&jr->jl, r, "the row is too big for the output buffer");
	if (r < 0)
		return jsonlines_fail(&jr->jl, r, "cannot write the row as CSV: %s", strerror(-r));
	return 0;
}

int jsonrow_feed(struct jsonrow *jr, const char *data, size_t len, struct buf *out)
{
	jr->out = out;
	return jsonlines_feed(&jr->jl, data, len, jsonrow_object, jr);
}

int jsonrow_finish(struct jsonrow *jr, struct buf *out)
{
	jr->out = out;
	return jsonlines_finish(&jr->jl, jsonrow_object, jr);
}

const char *jsonrow_error(const struct jsonrow *jr)
{
	return jr->jl.err ? jr->jl.msg : "";
}

void jsonrow_free(struct jsonrow *jr)
{
	if (!jr)
		return;
	jsonlines_free(&jr->jl);
	for (size_t i = 0; jr->cols && i < jr->ncols; i++)
		free(jr->cols[i]);
	free(jr->cols);
	free(jr->order);
	free(jr->vals);
	free(jr->lens);
	free(jr);
}

/* --- jsonkeys --- */

struct jsonkeys {
	struct jsonlines jl;
	char **names;  /* in order of first appearance */
	size_t *order; /* names sorted ignoring case */
	size_t n;
};

struct jsonkeys *jsonkeys_new(void)
{
	struct jsonkeys *jk = calloc(1, sizeof(*jk));

	if (!jk)
		return NULL;
	/* At most JSONKEYS_MAX entries: allocated once, never grown. */
	jk->names = calloc(JSONKEYS_MAX, sizeof(*jk->names));
	jk->order = calloc(JSONKEYS_MAX, sizeof(*jk->order));
	if (jsonlines_init(&jk->jl) < 0 || !jk->names || !jk->order) {
		jsonkeys_free(jk);
		return NULL;
	}
	return jk;
}

static int jsonkeys_object(void *arg, struct json_object *obj)
{
	struct jsonkeys *jk = arg;

	json_object_object_foreach(obj, key, val)
	{
		int found;
		size_t at = jsonrow_search(jk->names, jk->order, jk->n, key, 1, &found);

		(void)val;
		if (found)
			continue;
		if (jk->n == JSONKEYS_MAX)
			return jsonlines_fail(&jk->jl, -EINVAL,
					      "more than %d distinct keys: a table holds at most "
					      "%d columns",
					      JSONKEYS_MAX, JSONKEYS_MAX);
		if (strlen(key) > JSONKEYS_KEY_MAX)
			return jsonlines_fail(&jk->jl, -EINVAL, "a key is longer than %d bytes",
					      JSONKEYS_KEY_MAX);
		if (!(jk->names[jk->n] = strdup(key)))
			return jsonlines_fail(&jk->jl, -ENOMEM, "out of memory");
		memmove(jk->order + at + 1, jk->order + at, (jk->n - at) * sizeof(*jk->order));
		jk->order[at] = jk->n++;
	}
	return 0;
}

int jsonkeys_feed(struct jsonkeys *jk, const char *data, size_t len)
{
	return jsonlines_feed(&jk->jl, data, len, jsonkeys_object, jk);
}

int jsonkeys_finish(struct jsonkeys *jk)
{
	return jsonlines_finish(&jk->jl, jsonkeys_object, jk);
}

size_t jsonkeys_count(const struct jsonkeys *jk)
{
	return jk->n;
}

const char *jsonkeys_name(const struct jsonkeys *jk, size_t i)
{
	return i < jk->n ? jk->names[i] : NULL;
}

const char *jsonkeys_error(const struct jsonkeys *jk)
{
	return jk->jl.err ? jk->jl.msg : "";
}

void jsonkeys_free(struct jsonkeys *jk)
{
	if (!jk)
		return;
	jsonlines_free(&jk->jl);
	for (size_t i = 0; jk->names && i < jk->n; i++)
		free(jk->names[i]);
	free(jk->names);
	free(jk->order);
	free(jk);
}
