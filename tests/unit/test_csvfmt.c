/* test_csvfmt.c - fields and rows come out as PostgreSQL 15's
 * COPY ... TO STDOUT (FORMAT csv) writes them, byte for byte. */
#include "config.h"

#include <errno.h>
#include <string.h>

#include "wh/csvfmt.h"
#include "unit.h"

/* The bytes one field becomes, in a row of several columns or of one. */
static const char *field(const char *val, size_t len, int is_null, int single)
{
	static struct buf b;

	buf_free(&b);
	buf_init(&b, 1 << 20);
	if (csvfmt_field(&b, val, len, is_null, single) < 0)
		return "(error)";
	return b.data ? b.data : "";
}

#define F(s)  field((s), strlen(s), 0, 0)
#define F1(s) field((s), strlen(s), 0, 1)

int main(void)
{
	struct buf b;

	/* NULL is nothing; the empty string is quoted so it reads back as "". */
	CHECK_STR(field(NULL, 0, 1, 0), "");
	CHECK_STR(field("x", 1, 1, 0), "");
	CHECK_STR(F(""), "\"\"");
	CHECK_STR(F1(""), "\"\"");

	/* Plain values go out as is, whitespace and backslashes included. */
	CHECK_STR(F("abc"), "abc");
	CHECK_STR(F("  lead and trail  "), "  lead and trail  ");
	CHECK_STR(F("\ttab\t"), "\ttab\t");
	CHECK_STR(F("back\\slash"), "back\\slash");
	CHECK_STR(F("NULL"), "NULL");
	CHECK_STR(F("caf\xc3\xa9 \xe6\x97\xa5\xe6\x9c\xac \xf0\x9f\x98\x80"),
		  "caf\xc3\xa9 \xe6\x97\xa5\xe6\x9c\xac \xf0\x9f\x98\x80");
	CHECK_STR(F("\x01\x02\x7f\xff\xfe"), "\x01\x02\x7f\xff\xfe");
	CHECK_STR(F("'single'"), "'single'");
	CHECK_STR(F(";|"), ";|");

	/* The delimiter, quote and line ends force quotes; quotes double. */
	CHECK_STR(F("a,b"), "\"a,b\"");
	CHECK_STR(F("say \"hi\""), "\"say \"\"hi\"\"\"");
	CHECK_STR(F("\""), "\"\"\"\"");
	CHECK_STR(F("\"\""), "\"\"\"\"\"\"");
	CHECK_STR(F("line1\nline2"), "\"line1\nline2\"");
	CHECK_STR(F("cr\r"), "\"cr\r\"");
	CHECK_STR(F("\r\n"), "\"\r\n\"");
	CHECK_STR(F(" , "), "\" , \"");

	/* "\." is quoted only when it is the row's only field. */
	CHECK_STR(F("\\."), "\\.");
	CHECK_STR(F1("\\."), "\"\\.\"");
	CHECK_STR(F1("\\.x"), "\\.x");
	CHECK_STR(F1("x\\."), "x\\.");
	CHECK_STR(F1("abc"), "abc");

	/* Lengths, not NUL terminators, bound the value. */
	CHECK_STR(field("abcdef", 3, 0, 0), "abc");
	CHECK_STR(field("a,cdef", 3, 0, 0), "\"a,c\"");
	CHECK_STR(field("a\0b", 3, 0, 0), "(error)"); /* PostgreSQL text has no NUL */
	/* (frees the helper's buffer) */
	field(NULL, 0, 1, 0);

	/* Rows: separators, line end, NULLs from either array or pointer. */
	buf_init(&b, 1 << 20);
	{
		const char *vals[] = {"1", NULL, "", "x,y", "\\.", " sp "};
		const int nulls[] = {0, 0, 0, 0, 0, 0};

		CHECK(csvfmt_row(&b, vals, NULL, nulls, 6) == 0);
		CHECK_STR(b.data, "1,,\"\",\"x,y\",\\., sp \n");
	}
	buf_reset(&b);
	{
		const char *vals[] = {"abc", "def", "g"};
		const size_t lens[] = {2, 3, 1};
		const int nulls[] = {0, 1, 0};

		CHECK(csvfmt_row(&b, vals, lens, nulls, 3) == 0);
		CHECK_STR(b.data, "ab,,g\n");
	}
	buf_reset(&b);
	{
		const char *one[] = {"\\."};
		const char *none[] = {NULL};
		const char *empty[] = {""};

		CHECK(csvfmt_row(&b, one, NULL, NULL, 1) == 0);
		CHECK(csvfmt_row(&b, none, NULL, NULL, 1) == 0);
		CHECK(csvfmt_row(&b, empty, NULL, NULL, 1) == 0);
		CHECK_STR(b.data, "\"\\.\"\n\n\"\"\n");
	}
	buf_reset(&b);
	/* The caller-built row gives the same bytes. */
	CHECK(csvfmt_field(&b, "a\"b", 3, 0, 0) == 0);
	CHECK(buf_append(&b, ",", 1) == 0);
	CHECK(csvfmt_field(&b, NULL, 0, 1, 0) == 0);
	CHECK(csvfmt_row_end(&b) == 0);
	CHECK_STR(b.data, "\"a\"\"b\",\n");
	buf_free(&b);

	/* A buffer too small leaves no half field and no half row behind. */
	buf_init(&b, 8);
	CHECK(buf_append(&b, "ok", 2) == 0);
	CHECK(csvfmt_field(&b, "\"\"\"", 3, 0, 0) == -E2BIG);
	CHECK_STR(b.data, "ok");
	CHECK(b.len == 2);
	{
		const char *vals[] = {"12", "34", "56"};

		CHECK(csvfmt_row(&b, vals, NULL, NULL, 3) == -E2BIG);
		CHECK_STR(b.data, "ok");
		CHECK(csvfmt_row(&b, vals, NULL, NULL, 1) == 0);
		CHECK_STR(b.data, "ok12\n");
	}
	{
		const char *vals[] = {"x", "a\0b"};
		const size_t lens[] = {1, 3};

		CHECK(csvfmt_row(&b, vals, lens, NULL, 2) == -EINVAL);
		CHECK_STR(b.data, "ok12\n");
	}
	buf_free(&b);
	return unit_done("csvfmt");
}
