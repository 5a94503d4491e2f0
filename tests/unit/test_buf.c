/* test_buf.c - the capped buffer refuses to grow past its maximum. */
#include "config.h"

#include <errno.h>
#include <stdlib.h>

#include "buf.h"
#include "unit.h"

int main(void)
{
	struct buf b;
	char *s;

	buf_init(&b, 10);
	CHECK(buf_append(&b, "hello", 5) == 0);
	CHECK(buf_appendf(&b, "%d", 1234) == 0);
	CHECK_STR(b.data, "hello1234");
	CHECK(buf_append(&b, "ab", 2) == -E2BIG);
	CHECK_STR(b.data, "hello1234"); /* unchanged by the refused append */
	CHECK(buf_append(&b, "a", 1) == 0);
	CHECK(b.len == 10);
	CHECK(buf_appendf(&b, "x") == -E2BIG);
	buf_reset(&b);
	CHECK(b.len == 0 && b.data[0] == '\0');
	CHECK(buf_append(&b, "xyz", 3) == 0);
	s = buf_steal(&b);
	CHECK_STR(s, "xyz");
	CHECK(b.data == NULL && b.len == 0);
	free(s);
	buf_free_secret(&b);
	buf_free(NULL);

	/* Growth across many reallocations keeps every byte. */
	buf_init(&b, 1 << 20);
	for (int i = 0; i < 100000; i++)
		buf_append(&b, "0123456789" + (i % 10), 1);
	CHECK(b.len == 100000);
	CHECK(b.data[99999] == '9' && b.data[12345] == '5');
	buf_free(&b);
	return unit_done("buf");
}
