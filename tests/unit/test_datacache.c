/* test_datacache.c - the disk cache of blocks: hits send nothing, a
 * changed ETag misses, damaged blocks are fetched again, the bound holds,
 * drop deletes, and ranges across block edges come back right. */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bucket/datacache.h"
#include "unit.h"

#define SIZE ((off_t)(5 * DATACACHE_BLOCK + 1000))

static char *object;
static int fetches;
static size_t fetched;

static ssize_t fake_fetch(void *arg, off_t off, size_t len, char *buf)
{
	(void)arg;
	fetches++;
	if (off >= SIZE)
		return 0;
	if (off + (off_t)len > SIZE)
		len = (size_t)(SIZE - off);
	memcpy(buf, object + off, len);
	fetched += len;
	return (ssize_t)len;
}

static int read_ok(struct datacache *dc, const char *etag, off_t off, size_t len)
{
	char *buf = malloc(len ? len : 1);
	ssize_t n = datacache_read(dc, "b", "k", etag, SIZE, off, len, buf, fake_fetch, NULL);
	size_t want = off >= SIZE ? 0 : (off + (off_t)len > SIZE ? (size_t)(SIZE - off) : len);
	int ok = n == (ssize_t)want && !memcmp(buf, object + off, want);

	free(buf);
	return ok;
}

/* Block files under root, and their bytes. */
static int count_blocks(const char *root, off_t *bytes)
{
	char top[512];
	DIR *d, *s;
	struct dirent *e, *f;
	int n = 0;

	*bytes = 0;
	snprintf(top, sizeof(top), "%s/odofs-data-1", root);
	if (!(d = opendir(top)))
		return 0;
	while ((e = readdir(d))) {
		char sub[1024];

		if (e->d_name[0] == '.')
			continue;
		snprintf(sub, sizeof(sub), "%s/%s", top, e->d_name);
		if (!(s = opendir(sub)))
			continue;
		while ((f = readdir(s))) {
			char p[2048];
			struct stat st;

			if (f->d_name[0] == '.')
				continue;
			snprintf(p, sizeof(p), "%s/%s", sub, f->d_name);
			if (stat(p, &st) == 0) {
				n++;
				*bytes += st.st_size;
			}
		}
		closedir(s);
	}
	closedir(d);
	return n;
}

/* The path of block 0 of the only object in the cache. */
static int block_path(const char *root, const char *name, char *out, size_t size)
{
	char top[512];
	DIR *d;
	struct dirent *e;
	int r = -1;

	snprintf(top, sizeof(top), "%s/odofs-data-1", root);
	if (!(d = opendir(top)))
		return -1;
	while ((e = readdir(d)))
		if (e->d_name[0] != '.') {
			snprintf(out, size, "%s/%s/%s", top, e->d_name, name);
			r = 0;
			break;
		}
	closedir(d);
	return r;
}

int main(void)
{
	char root[] = "/tmp/test_datacache.XXXXXX";
	char *err = NULL, path[2048], cmd[600];
	struct datacache *dc;
	off_t bytes;
	int fd;

	object = malloc((size_t)SIZE);
	for (off_t i = 0; i < SIZE; i++)
		object[i] = (char)(i * 7 + i / 4096);
	CHECK(mkdtemp(root) != NULL);
	dc = datacache_new(root, 64u << 20, &err);
	CHECK(dc != NULL && err == NULL);

	/* A miss fetches whole blocks; a second read fetches nothing. */
	CHECK(read_ok(dc, "\"e1\"", 100, 10));
	CHECK(fetches == 1 && fetched == DATACACHE_BLOCK);
	CHECK(read_ok(dc, "\"e1\"", 100, 10));
	CHECK(fetches == 1);
	CHECK(read_ok(dc, "\"e1\"", 0, (size_t)SIZE));
	CHECK(fetches == 2);
	CHECK(count_blocks(root, &bytes) == 6);
	fetches = 0;
	CHECK(read_ok(dc, "\"e1\"", DATACACHE_BLOCK - 3, DATACACHE_BLOCK + 6));
	CHECK(read_ok(dc, "\"e1\"", SIZE - 10, 100));
	CHECK(read_ok(dc, "\"e1\"", SIZE, 100));
	CHECK(fetches == 0);
	/* Another ETag is another object. */
	CHECK(read_ok(dc, "\"e2\"", 0, 10));
	CHECK(fetches == 1);

	/* A flipped byte: fetched again, never returned. */
	datacache_drop(dc, "b", "k", "\"e2\"");
	CHECK(block_path(root, "0", path, sizeof(path)) == 0);
	fd = open(path, O_RDWR);
	CHECK(fd >= 0);
	CHECK(pwrite(fd, "\xff", 1, 5000) == 1);
	close(fd);
	fetches = 0;
	CHECK(read_ok(dc, "\"e1\"", 0, 100000));
	CHECK(fetches == 1);
	CHECK(read_ok(dc, "\"e1\"", 0, 100000));
	CHECK(fetches == 1);
	/* Truncated, and another block's file under its name. */
	CHECK(truncate(path, 1000) == 0);
	{
		char p1[1024], p2[1024], c[2200];

		CHECK(block_path(root, "1", p1, sizeof(p1)) == 0);
		CHECK(block_path(root, "2", p2, sizeof(p2)) == 0);
		snprintf(c, sizeof(c), "cp '%s' '%s'", p1, p2);
		CHECK(system(c) == 0);
	}
	fetches = 0;
	CHECK(read_ok(dc, "\"e1\"", 0, (size_t)SIZE));
	CHECK(fetches == 2);
	fetches = 0;
	CHECK(read_ok(dc, "\"e1\"", 0, (size_t)SIZE));
	CHECK(fetches == 0);

	/* Reused by a new instance (a remount). */
	datacache_free(dc);
	dc = datacache_new(root, 64u << 20, &err);
	CHECK(dc != NULL);
	CHECK(read_ok(dc, "\"e1\"", 0, (size_t)SIZE));
	CHECK(fetches == 0);

	/* From the cache alone: the bytes when every block is there and
	 * checks out; -ENOENT, and nothing fetched, otherwise. */
	{
		char *got = malloc((size_t)SIZE);

		CHECK(datacache_read_cached(dc, "b", "k", "\"e1\"", SIZE, 0, (size_t)SIZE, got) ==
		      SIZE);
		CHECK(!memcmp(got, object, (size_t)SIZE));
		CHECK(datacache_read_cached(dc, "b", "k", "\"e1\"", SIZE, 3 * DATACACHE_BLOCK - 5,
					    300000, got) == 300000);
		CHECK(!memcmp(got, object + 3 * DATACACHE_BLOCK - 5, 300000));
		CHECK(datacache_read_cached(dc, "b", "k", "\"e9\"", SIZE, 0, 10, got) == -ENOENT);
		CHECK(datacache_read_cached(dc, "b", "k", "\"e1\"", SIZE, 0, 0, got) == 0);
		CHECK(read_ok(dc, "\"e1\"", 0, 0));
		/* A flipped byte in the middle of block 1: a read of that
		 * block's part without it still checks out (its pieces are
		 * checked on their own), a read of it does not, and the
		 * block is then gone. */
		CHECK(block_path(root, "1", path, sizeof(path)) == 0);
		fd = open(path, O_RDWR);
		CHECK(fd >= 0);
		CHECK(pwrite(fd, "\x5a", 1, lseek(fd, 0, SEEK_END) - 600000) == 1);
		close(fd);
		CHECK(datacache_read_cached(dc, "b", "k", "\"e1\"", SIZE, DATACACHE_BLOCK, 4096,
					    got) == 4096);
		CHECK(datacache_read_cached(dc, "b", "k", "\"e1\"", SIZE, DATACACHE_BLOCK,
					    DATACACHE_BLOCK, got) == -ENOENT);
		CHECK(access(path, F_OK) < 0);
		CHECK(fetches == 0);
		CHECK(read_ok(dc, "\"e1\"", 0, (size_t)SIZE));
		CHECK(fetches == 1);
		free(got);
	}

	/* Drop deletes the version's blocks. */
	datacache_drop(dc, "b", "k", "\"e1\"");
	CHECK(count_blocks(root, &bytes) == 0);
	datacache_free(dc);

	/* The bound: 16 MiB, objects of 5 MiB under many ETags. */
	dc = datacache_new(root, 16u << 20, &err);
	for (int i = 0; i < 8; i++) {
		char etag[16];

		snprintf(etag, sizeof(etag), "\"v%d\"", i);
		CHECK(read_ok(dc, etag, 0, (size_t)SIZE));
		count_blocks(root, &bytes);
		CHECK(bytes <= (16 << 20));
	}
	CHECK(bytes > (8 << 20));
	datacache_free(dc);

	/* A folder that cannot be made is a clear error. */
	CHECK(datacache_new("/proc/nope", 1u << 30, &err) == NULL && err != NULL);
	free(err);

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
	CHECK(system(cmd) == 0);
	free(object);
	return unit_done("test_datacache");
}
