/* test_pct.c - percent-decoding: escapes of either case, '+' only where
 * asked, and bad or NUL escapes refused. */
#include "config.h"

#include <errno.h>
#include <string.h>

#include "pct.h"
#include "unit.h"

/* Decode s (as a C string) into a buffer; the length or the error. */
static ssize_t dec(const char *s, int plus_space, char *out)
{
	return pct_decode(s, strlen(s), out, plus_space);
}

int main(void)
{
	char out[64], inplace[] = "a%20b+c";

	CHECK(pct_hexval('0') == 0 && pct_hexval('9') == 9);
	CHECK(pct_hexval('a') == 10 && pct_hexval('F') == 15);
	CHECK(pct_hexval('g') == -1 && pct_hexval('%') == -1 && pct_hexval(0xe9) == -1);

	CHECK(dec("", 0, out) == 0 && out[0] == '\0');
	CHECK(dec("plain", 0, out) == 5);
	CHECK_STR(out, "plain");
	CHECK(dec("a%2fb%2Fc", 0, out) == 5);
	CHECK_STR(out, "a/b/c");
	CHECK(dec("%C3%A9t%c3%a9", 0, out) == 5);
	CHECK_STR(out, "\xc3\xa9t\xc3\xa9");
	CHECK(dec("a+b", 0, out) == 3);
	CHECK_STR(out, "a+b");
	CHECK(dec("a+b%2B", 1, out) == 4);
	CHECK_STR(out, "a b+");

	/* Refused: a '%' without two hex digits, an escaped NUL. */
	CHECK(dec("%", 0, out) == -EINVAL);
	CHECK(dec("a%2", 0, out) == -EINVAL);
	CHECK(dec("%zz", 0, out) == -EINVAL);
	CHECK(dec("%2g", 0, out) == -EINVAL);
	CHECK(dec("a%00b", 0, out) == -EINVAL);

	/* Only n bytes are read: an escape cut by n is refused. */
	CHECK(pct_decode("a%41", 3, out, 0) == -EINVAL);
	CHECK(pct_decode("a%41", 4, out, 0) == 2);
	CHECK_STR(out, "aA");

	/* In place, as S3 listings are decoded. */
	CHECK(pct_decode(inplace, strlen(inplace), inplace, 1) == 5);
	CHECK_STR(inplace, "a b c");
	return unit_done("pct");
}
