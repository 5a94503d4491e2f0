/* test_pagecache.c - when an open may keep the kernel's pages: same ETag
 * and size, no writer since, and no file left open on another version
 * when they were last dropped. */
#include "config.h"

#include "bucket/pagecache.h"
#include "unit.h"

static int open_keep(struct pagecache *pc, const char *key, const char *etag, off_t size,
		     int writable, struct pagecache_entry **e)
{
	int keep = -1;

	pagecache_open(pc, "b", key, etag, size, writable, &keep, e);
	return keep;
}

int main(void)
{
	struct pagecache *pc = pagecache_new();
	struct pagecache_entry *a, *b, *c;

	CHECK(pc != NULL);
	/* First open drops (nothing known), the next keeps. */
	CHECK(open_keep(pc, "k", "\"e1\"", 10, 0, &a) == 0);
	pagecache_close(pc, a, 0);
	CHECK(open_keep(pc, "k", "\"e1\"", 10, 0, &a) == 1);
	pagecache_close(pc, a, 0);
	/* Another ETag, or another size: drop, then keep the new one. */
	CHECK(open_keep(pc, "k", "\"e2\"", 10, 0, &a) == 0);
	pagecache_close(pc, a, 0);
	CHECK(open_keep(pc, "k", "\"e2\"", 11, 0, &a) == 0);
	pagecache_close(pc, a, 0);
	CHECK(open_keep(pc, "k", "\"e2\"", 11, 0, &a) == 1);
	pagecache_close(pc, a, 0);
	/* No ETag: never keep. */
	CHECK(open_keep(pc, "n", "", 0, 0, &a) == 0);
	pagecache_close(pc, a, 0);
	CHECK(open_keep(pc, "n", NULL, 0, 0, &a) == 0);
	pagecache_close(pc, a, 0);
	/* A file open on e2 while e3 arrives: the e3 open drops, and so
	 * does the next one even after the e2 file closed (it may have read
	 * e2 bytes in); then e3 is kept. */
	CHECK(open_keep(pc, "k", "\"e2\"", 11, 0, &a) == 1);
	CHECK(open_keep(pc, "k", "\"e3\"", 11, 0, &b) == 0);
	pagecache_close(pc, a, 0);
	pagecache_close(pc, b, 0);
	CHECK(open_keep(pc, "k", "\"e3\"", 11, 0, &a) == 0);
	pagecache_close(pc, a, 0);
	CHECK(open_keep(pc, "k", "\"e3\"", 11, 0, &a) == 1);
	pagecache_close(pc, a, 0);
	/* A writer: it drops, readers meanwhile drop, and after it the
	 * next open drops too. */
	CHECK(open_keep(pc, "k", "\"e3\"", 11, 1, &c) == 0);
	CHECK(open_keep(pc, "k", "\"e3\"", 11, 0, &a) == 0);
	pagecache_close(pc, a, 0);
	pagecache_close(pc, c, 1);
	CHECK(open_keep(pc, "k", "\"e3\"", 11, 0, &a) == 0);
	pagecache_close(pc, a, 0);
	CHECK(open_keep(pc, "k", "\"e3\"", 11, 0, &a) == 1);
	pagecache_close(pc, a, 0);
	/* Keys are apart; buckets too. */
	CHECK(open_keep(pc, "other", "\"e3\"", 11, 0, &a) == 0);
	pagecache_close(pc, a, 0);
	{
		int keep = -1;

		pagecache_open(pc, "b2", "k", "\"e3\"", 11, 0, &keep, &a);
		CHECK(keep == 0);
		pagecache_close(pc, a, 0);
	}
	/* Many keys: old records are evicted, and their next open drops. */
	for (int i = 0; i < 20000; i++) {
		char key[32];

		snprintf(key, sizeof(key), "many-%d", i);
		open_keep(pc, key, "\"x\"", 1, 0, &a);
		pagecache_close(pc, a, 0);
	}
	CHECK(open_keep(pc, "k", "\"e3\"", 11, 0, &a) == 0);
	pagecache_close(pc, a, 0);
	pagecache_free(pc);
	return unit_done("test_pagecache");
}
