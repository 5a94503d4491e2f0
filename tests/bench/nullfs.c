/* nullfs.c - the FUSE floor for diskcache_bench.py: a file system of one
 * read-only file, "f", of SIZE bytes (argv: MNT SIZE [FUSE options]),
 * whose reads copy from a buffer in memory and do nothing else.  A `cat`
 * of it costs what any FUSE file system built on libfuse's high-level
 * API pays on this machine before it does any work of its own.
 *
 *   cc -O2 -o nullfs nullfs.c $(pkg-config --cflags --libs fuse3)
 */
#define FUSE_USE_VERSION 31
#include <errno.h>
#include <fuse.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static char nullfs_src[1 << 20];
static off_t nullfs_size;

static int nullfs_getattr(const char *path, struct stat *st, struct fuse_file_info *fi)
{
	(void)fi;
	memset(st, 0, sizeof(*st));
	if (!strcmp(path, "/")) {
		st->st_mode = S_IFDIR | 0755;
		st->st_nlink = 2;
		return 0;
	}
	if (strcmp(path, "/f"))
		return -ENOENT;
	st->st_mode = S_IFREG | 0444;
	st->st_nlink = 1;
	st->st_size = nullfs_size;
	return 0;
}

static int nullfs_read(const char *path, char *buf, size_t n, off_t off, struct fuse_file_info *fi)
{
	(void)path;
	(void)fi;
	if (off >= nullfs_size)
		return 0;
	if (off + (off_t)n > nullfs_size)
		n = (size_t)(nullfs_size - off);
	for (size_t i = 0; i < n; i += sizeof(nullfs_src))
		memcpy(buf + i, nullfs_src,
		       n - i < sizeof(nullfs_src) ? n - i : sizeof(nullfs_src));
	return (int)n;
}

static void *nullfs_init(struct fuse_conn_info *conn, struct fuse_config *cfg)
{
	(void)cfg;
	conn->want |= FUSE_CAP_ASYNC_READ; /* as odofs asks */
	return NULL;
}

static const struct fuse_operations nullfs_ops = {
    .getattr = nullfs_getattr,
    .read = nullfs_read,
    .init = nullfs_init,
};

int main(int argc, char **argv)
{
	if (argc < 3)
		return 2;
	nullfs_size = strtoll(argv[2], NULL, 10);
	argv[2] = argv[1]; /* argv + 1: the program, MNT, FUSE options */
	argv[1] = argv[0];
	return fuse_main(argc - 1, argv + 1, &nullfs_ops, NULL);
}
