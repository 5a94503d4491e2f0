/* test_spool.c - the spool budget counts the bytes held on disk: a file's
 * start given back with spool_discard makes room for more of it, so a file
 * read once from start to end can be longer than the budget. */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "spool.h"
#include "unit.h"

#define K 1024

int main(void)
{
	char dir[] = "/tmp/odofs-test-spool-XXXXXX";
	static char piece[256 * K], back[256 * K];
	struct spool *sp;
	struct spool_file *f, *g;
	char *err = NULL;
	int r;

	if (!mkdtemp(dir))
		return 77;
	sp = spool_new(dir, 1024 * K, &err);
	CHECK(sp != NULL);
	if (!sp)
		return unit_done("test_spool");
	CHECK(spool_create(sp, "test", &f) == 0);
	spool_window(f);
	for (int i = 0; i < 4; i++) {
		memset(piece, 'a' + i, sizeof(piece));
		CHECK(spool_pwrite(f, piece, sizeof(piece), (off_t)i * sizeof(piece)) == 0);
	}
	/* 1 MiB held: the budget is full, for this file and any other. */
	CHECK(spool_pwrite(f, piece, 1, 1024 * K) == -ENOSPC);
	CHECK(spool_create(sp, "other", &g) == 0);
	CHECK(spool_pwrite(g, piece, 1, 0) == -ENOSPC);

	r = spool_discard(f, 512 * K);
	if (r == -EOPNOTSUPP) { /* the folder's file system cannot punch holes */
		spool_close(f);
		spool_close(g);
		spool_free(sp);
		rmdir(dir);
		return 77;
	}
	CHECK(r == 0);
	CHECK(spool_discard(f, 256 * K) == 0); /* behind what is gone: nothing */
	/* 512 KiB given back: the file goes on past the budget's size. */
	memset(piece, 'e', sizeof(piece));
	CHECK(spool_pwrite(f, piece, sizeof(piece), 1024 * K) == 0);
	CHECK(spool_pwrite(g, piece, sizeof(piece), 0) == 0);
	CHECK(spool_pwrite(g, piece, 1, sizeof(piece)) == -ENOSPC);
	/* What is held reads back; what was given back holds no disk. */
	CHECK(spool_pread(f, back, sizeof(back), 1024 * K) == (ssize_t)sizeof(back));
	CHECK(memcmp(back, piece, sizeof(back)) == 0);
	CHECK(spool_pread(f, back, 1, 768 * K) == 1 && back[0] == 'd');
	spool_close(g);
	spool_close(f);
	/* Closing gave everything back. */
	CHECK(spool_create(sp, "again", &f) == 0);
	static char big[1024 * K];

	CHECK(spool_pwrite(f, big, sizeof(big), 0) == 0);
	spool_close(f);
	spool_free(sp);
	CHECK(rmdir(dir) == 0);
	return unit_done("test_spool");
}
