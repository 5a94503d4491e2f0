/* test_jsonrow.c - JSON lines become the CSV rows PostgreSQL would write,
 * whatever the chunks; bad lines are errors with their line number; keys
 * are collected in order of first appearance. */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "wh/jsonrow.h"
#include "unit.h"

static const char *const cols3[] = {"id", "name", "v"};

/* The CSV of json fed step bytes at a time (0: at once), or "error: ...". */
static char *rows_n(const char *const *cols, size_t ncols, int ignorecase, const char *json,
		    size_t len, size_t step)
{
	struct jsonrow *jr = jsonrow_new(cols, ncols, ignorecase);
	struct buf out;
	char *s;
	int r = 0;

	buf_init(&out, 1 << 20);
	for (size_t off = 0; off < len && r == 0;) {
		size_t n = step && step < len - off ? step : len - off;

		r = jsonrow_feed(jr, json + off, n, &out);
		off += n;
	}
	if (r == 0)
		r = jsonrow_finish(jr, &out);
	if (r < 0) {
		buf_reset(&out);
		buf_appendf(&out, "error: %s", jsonrow_error(jr));
	}
	s = buf_steal(&out);
	jsonrow_free(jr);
	return s;
}

/* At once, and the same 1 and 5 bytes at a time. */
static const char *rows_c(const char *const *cols, size_t ncols, int ignorecase, const char *json)
{
	static char *last;
	size_t len = strlen(json);
	char *one, *five;

	free(last);
	last = rows_n(cols, ncols, ignorecase, json, len, 0);
	one = rows_n(cols, ncols, ignorecase, json, len, 1);
	five = rows_n(cols, ncols, ignorecase, json, len, 5);
	if (strcmp(last, one) != 0 || strcmp(last, five) != 0) {
		fprintf(stderr, "chunking changes the rows of %s:\n  %s\n  %s\n  %s\n", json, last,
			one, five);
		free(last);
		last = strdup("chunking");
	}
	free(one);
	free(five);
	return last;
}

static const char *rows(const char *json)
{
	return rows_c(cols3, 3, 0, json);
}

static void test_values(void)
{
	/* Strings, numbers as written, booleans, null and missing keys. */
	CHECK_STR(rows("{\"id\":1,\"name\":\"ann\",\"v\":1.50}\n"), "1,ann,1.50\n");
	CHECK_STR(rows("{\"v\":true,\"name\":false,\"id\":null}\n"), ",false,true\n");
	CHECK_STR(rows("{\"id\":-7}\n"), "-7,,\n");
	CHECK_STR(rows("{}\n"), ",,\n");
	CHECK_STR(rows("{\"id\":1e3,\"name\":-0.0,\"v\":1E+02}\n"), "1e3,-0.0,1E+02\n");
	CHECK_STR(rows("{\"id\":9223372036854775807,\"v\":-9223372036854775808}\n"),
		  "9223372036854775807,,-9223372036854775808\n");
	CHECK_STR(rows("{\"id\":18446744073709551615}\n"), "18446744073709551615,,\n");
	CHECK_STR(rows("{\"id\":0.1000000000000000055511151231257827}\n"),
		  "0.1000000000000000055511151231257827,,\n");
	CHECK_STR(rows("{\"id\":-0}\n"), "0,,\n"); /* the one integer json-c respells */
	/* Strings: unescaped, then quoted as CSV needs. */
	CHECK_STR(rows("{\"name\":\"\"}\n"), ",\"\",\n");
	CHECK_STR(rows("{\"name\":\"a,b\",\"v\":\"say \\\"hi\\\"\"}\n"),
		  ",\"a,b\",\"say \"\"hi\"\"\"\n");
	CHECK_STR(rows("{\"name\":\"l1\\nl2\\r\\n\",\"v\":\"tab\\there\"}\n"),
		  ",\"l1\nl2\r\n\",tab\there\n");
	CHECK_STR(rows("{\"name\":\"caf\\u00e9 \\ud83d\\ude00\",\"v\":\"\xe6\x97\xa5\"}\n"),
		  ",caf\xc3\xa9 \xf0\x9f\x98\x80,\xe6\x97\xa5\n");
	CHECK_STR(rows("{\"name\":\"  pad  \",\"v\":\"back\\\\slash \\/\"}\n"),
		  ",  pad  ,back\\slash /\n");
	/* Objects and arrays: their compact JSON text. */
	CHECK_STR(rows("{\"name\": {\"a\": [1, 2.50, \"x/y\"], \"b\": {}}, \"v\": [ ]}\n"),
		  ",\"{\"\"a\"\":[1,2.50,\"\"x/y\"\"],\"\"b\"\":{}}\",[]\n");
	CHECK_STR(rows("{\"v\":[true,null]}\n"), ",,\"[true,null]\"\n");
	/* Unknown keys are ignored; a repeated key gives its last value. */
	CHECK_STR(rows("{\"zzz\":1,\"id\":2,\"ID\":3,\"nested\":{\"id\":4}}\n"), "2,,\n");
	CHECK_STR(rows("{\"id\":1,\"id\":2}\n"), "2,,\n");
	/* One column: "\." must be quoted, as PostgreSQL does. */
	{
		static const char *const one[] = {"x"};

		CHECK_STR(rows_c(one, 1, 0, "{\"x\":\"\\\\.\"}\n{\"x\":null}\n"), "\"\\.\"\n\n");
	}
}

static void test_lines(void)
{
	/* Blank lines skipped; CRLF; a last line without a line end. */
	CHECK_STR(rows("\n{\"id\":1}\n   \n\t\r\n{\"id\":2}\r\n{\"id\":3}"), "1,,\n2,,\n3,,\n");
	CHECK_STR(rows("  {\"id\":1}  \n"), "1,,\n");
	CHECK_STR(rows(""), "");
	CHECK_STR(rows("\n\n"), "");
	/* Case: exact unless asked. */
	CHECK_STR(rows("{\"ID\":1,\"Name\":\"x\"}\n"), ",,\n");
	CHECK_STR(rows_c(cols3, 3, 1, "{\"ID\":1,\"Name\":\"x\",\"V\":true}\n"), "1,x,true\n");
	{
		static const char *const mixed[] = {"Zeta", "alpha", "Mid"};

		CHECK_STR(rows_c(mixed, 3, 1, "{\"MID\":1,\"ZETA\":2,\"Alpha\":3,\"other\":4}\n"),
			  "2,3,1\n");
		CHECK_STR(rows_c(mixed, 3, 0, "{\"Mid\":1,\"Zeta\":2,\"alpha\":3,\"MID\":4}\n"),
			  "2,3,1\n");
	}
}

static void test_errors(void)
{
	CHECK_STR(rows("{\"id\":1}\n[1,2]\n"), "error: line 2: a JSON array, not an object");
	CHECK_STR(rows("{\"id\":1}\n\n42\n"), "error: line 3: not a JSON object");
	CHECK_STR(rows("\"str\"\n"), "error: line 1: not a JSON object");
	CHECK_STR(rows("null\n"), "error: line 1: not a JSON object");
	CHECK_STR(rows("{\"id\":1,}\n"), "error: line 1: invalid JSON: unexpected character");
	CHECK_STR(rows("{\"id\":01}\n"), "error: line 1: invalid JSON: number expected");
	CHECK_STR(rows("{\"id\":1} x\n"), "error: line 1: invalid JSON: unexpected character");
	CHECK_STR(rows("{\"id\":1}{\"id\":2}\n"),
		  "error: line 1: invalid JSON: unexpected character");
	CHECK_STR(rows("{\"id\":\n1}\n"),
		  "error: line 1: the JSON object does not end on its line (one object per line)");
	CHECK_STR(rows("{\"id\":1}\n{\"name\":\"\xff\"}\n"),
		  "error: line 2: invalid JSON: invalid utf-8 string");
	CHECK_STR(rows("{\"name\":\"a\\u0000b\"}\n"),
		  "error: line 1: the value of \"name\" holds \\u0000, which PostgreSQL text "
		  "cannot");
	CHECK_STR(rows("{\"id\":NaN}\n"), "error: line 1: NaN and Infinity are not JSON");
	CHECK_STR(rows("{\"v\":[-Infinity]}\n"), "error: line 1: NaN and Infinity are not JSON");
	CHECK_STR(rows("{\"id\":123456789012345678901234567890}\n"),
		  "error: line 1: the integer 123456789012345678901234567890 does not fit in 64 "
		  "bits; write it as a string");
	CHECK_STR(rows("{\"x\":{\"y\":[-9223372036854775809]}}\n"),
		  "error: line 1: the integer -9223372036854775809 does not fit in 64 bits; write "
		  "it as a string");
	CHECK_STR(rows("{\"id\":18446744073709551616}\n"),
		  "error: line 1: the integer 18446744073709551616 does not fit in 64 bits; write "
		  "it as a string");
	/* What only looks like those, inside strings, is fine. */
	CHECK_STR(rows("{\"name\":\"NaN 123456789012345678901234567890\",\"v\":\"it's\"}\n"),
		  ",NaN 123456789012345678901234567890,it's\n");
	CHECK_STR(rows("{\"name\":\"q\\\"123456789012345678901234567890\"}\n"),
		  ",\"q\"\"123456789012345678901234567890\",\n");
	CHECK_STR(rows("{\"id\":12345678901234567890.5}\n"), "12345678901234567890.5,,\n");
	/* The error names its line, counted across chunks, CRLF and blanks. */
	CHECK_STR(rows("{\"id\":1}\r\n\r\n{\"id\":2}\r\n{bad}\r\n"),
		  "error: line 4: invalid JSON: quoted object property name expected");
	CHECK_STR(rows("{\"id\":1}\n{\"id\":"),
		  "error: line 2: the JSON object does not end on its "
		  "line (one object per line)");
}

static void test_limits(void)
{
	struct jsonrow *jr = jsonrow_new(cols3, 3, 0);
	struct buf out, small;
	size_t chunk = 1 << 20;
	char *big = malloc(chunk);
	int r = 0;

	/* Rows before the bad line stay in out; the error is kept. */
	buf_init(&out, 1 << 20);
	CHECK(jsonrow_feed(jr, "{\"id\":1}\n{\"id\":2}\n[", 19, &out) == 0);
	CHECK_STR(out.data, "1,,\n2,,\n");
	CHECK_STR(jsonrow_error(jr), "");
	CHECK(jsonrow_feed(jr, "]\n{\"id\":3}\n", 11, &out) == -EINVAL);
	CHECK_STR(jsonrow_error(jr), "line 3: a JSON array, not an object");
	CHECK(jsonrow_feed(jr, "{}\n", 3, &out) == -EINVAL);
	CHECK(jsonrow_finish(jr, &out) == -EINVAL);
	CHECK_STR(out.data, "1,,\n2,,\n");
	jsonrow_free(jr);
	buf_free(&out);

	/* An output buffer too small for a row. */
	jr = jsonrow_new(cols3, 3, 0);
	buf_init(&small, 8);
	CHECK(jsonrow_feed(jr, "{\"id\":1}\n{\"name\":\"0123456789\"}\n", 31, &small) == -E2BIG);
	CHECK_STR(jsonrow_error(jr), "line 2: the row is too big for the output buffer");
	CHECK_STR(small.data, "1,,\n");
	jsonrow_free(jr);
	buf_free(&small);

	/* A line longer than 64 MiB, with or without its line end. */
	memset(big, ' ', chunk);
	jr = jsonrow_new(cols3, 3, 0);
	buf_init(&out, 1 << 20);
	CHECK(jsonrow_feed(jr, "{}\n{\"id\":1}", 11, &out) == 0);
	for (unsigned i = 0; i < JSONROW_LINE_MAX / chunk && r == 0; i++)
		r = jsonrow_feed(jr, big, chunk, &out);
	CHECK(r == -EINVAL);
	CHECK_STR(jsonrow_error(jr), "line 2: longer than 64 MiB");
	jsonrow_free(jr);
	buf_free(&out);
	/* Just under the cap, spread over chunks: one row. */
	jr = jsonrow_new(cols3, 3, 0);
	buf_init(&out, 1 << 20);
	r = jsonrow_feed(jr, "{\"id\":1}", 8, &out);
	for (unsigned i = 0; i < JSONROW_LINE_MAX / chunk - 1 && r == 0; i++)
		r = jsonrow_feed(jr, big, chunk, &out);
	CHECK(r == 0);
	CHECK(jsonrow_feed(jr, "\n", 1, &out) == 0);
	CHECK_STR(out.data, "1,,\n");
	jsonrow_free(jr);
	buf_free(&out);
	free(big);
	jsonrow_free(NULL);

	/* No columns: every object is an empty row. */
	jr = jsonrow_new(NULL, 0, 1);
	buf_init(&out, 1024);
	CHECK(jsonrow_feed(jr, "{\"a\":1}\n", 8, &out) == 0);
	CHECK_STR(out.data, "\n");
	jsonrow_free(jr);
	buf_free(&out);
}

/* "k1|k2|..." or "error: ..." for json fed step bytes at a time. */
static char *keys_n(const char *json, size_t step)
{
	struct jsonkeys *jk = jsonkeys_new();
	size_t len = strlen(json);
	struct buf b;
	int r = 0;

	buf_init(&b, 1 << 20);
	for (size_t off = 0; off < len && r == 0;) {
		size_t n = step && step < len - off ? step : len - off;

		r = jsonkeys_feed(jk, json + off, n);
		off += n;
	}
	if (r == 0)
		r = jsonkeys_finish(jk);
	if (r < 0)
		buf_appendf(&b, "error: %s", jsonkeys_error(jk));
	else
		for (size_t i = 0; i < jsonkeys_count(jk); i++)
			buf_appendf(&b, "%s%s", i ? "|" : "", jsonkeys_name(jk, i));
	if (r == 0 && jsonkeys_name(jk, jsonkeys_count(jk)) != NULL)
		buf_appendf(&b, "(name past the end)");
	jsonkeys_free(jk);
	return buf_steal(&b);
}

static const char *keys(const char *json)
{
	static char *last;
	char *one;

	free(last);
	last = keys_n(json, 0);
	one = keys_n(json, 1);
	if (strcmp(last, one) != 0) {
		free(last);
		last = strdup("chunking");
	}
	free(one);
	return last;
}

static void test_keys(void)
{
	char *json;
	size_t len = 0;

	CHECK_STR(keys("{\"b\":1,\"a\":2}\n{\"c\":3,\"A\":4,\"B\":5}\n\n{\"Id\":{\"x\":1}}"),
		  "b|a|c|Id");
	CHECK_STR(keys("{\"\":1,\"caf\\u00e9\":2,\"CAF\\u00e9\":3}\n"), "|caf\xc3\xa9");
	CHECK_STR(keys(""), "");
	CHECK_STR(keys("{}\n"), "");
	CHECK_STR(keys("{\"a\":1}\n[]\n"), "error: line 2: a JSON array, not an object");
	CHECK_STR(keys("{\"a\":NaN}\n"), "error: line 1: NaN and Infinity are not JSON");

	/* At most 1600 distinct keys; ones differing in case count once. */
	json = malloc(64 * 1700);
	len += (size_t)sprintf(json + len, "{");
	for (int i = 0; i < 1600; i++)
		len += (size_t)sprintf(json + len, "%s\"k%d\":1,\"K%d\":2", i ? "," : "", i, i);
	len += (size_t)sprintf(json + len, "}\n");
	{
		char *s = keys_n(json, 0);

		CHECK(strncmp(s, "k0|k1|k2|", 9) == 0);
		CHECK(strlen(s) > 1600 * 2 && strstr(s, "|k1599") && !strstr(s, "K"));
		free(s);
	}
	sprintf(json + len, "{\"one_more\":1}\n");
	{
		char *s = keys_n(json, 0);

		CHECK_STR(s, "error: line 2: more than 1600 distinct keys: a table holds at most "
			     "1600 columns");
		free(s);
	}
	free(json);
}

int main(void)
{
	test_values();
	test_lines();
	test_errors();
	test_limits();
	test_keys();
	return unit_done("jsonrow");
}
