/* backend.h - the interface every tree behind the mount implements.
 *
 * The FUSE adapter (fuseops.c) talks only to this; the S3 tree (s3tree.c)
 * implements it, and the metadata cache (mdcache.c) wraps any
 * implementation with the same interface, as sshfs's cache_wrap does.
 * Paths are absolute within the mount ("/", "/a/b.csv").  Every call
 * returns 0 (or a byte count) or a negative errno.
 */
#ifndef ODOFS_BACKEND_H
#define ODOFS_BACKEND_H

#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/types.h>

/* Called once per directory entry; name and st live only for the call.
 * Return nonzero to stop the listing (the caller's buffer is full). */
typedef int (*backend_fill_fn)(void *arg, const char *name, const struct stat *st);

struct backend_ops {
	int (*getattr)(void *ctx, const char *path, struct stat *st);
	/* Every entry of the folder, each with its full attributes. */
	int (*readdir)(void *ctx, const char *path, backend_fill_fn fill, void *arg);
	/* On success *fh is the open file and *st its attributes as of now
	 * (a cache layer uses them to replace what it held). */
	int (*open)(void *ctx, const char *path, int flags, void **fh, struct stat *st);
	ssize_t (*read)(void *ctx, void *fh, char *buf, size_t size, off_t off);
	/* Attributes of an open file, as it was opened: what an open file
	 * reads does not change when its object does. */
	int (*fgetattr)(void *ctx, void *fh, struct stat *st);
	int (*release)(void *ctx, void *fh);
	int (*statfs)(void *ctx, struct statvfs *st);
	/* Start threads and other per-process state; called after the daemon
	 * has forked into the background.  May be NULL. */
	int (*start)(void *ctx);
	void (*destroy)(void *ctx);
};

struct backend {
	const struct backend_ops *ops;
	void *ctx;
};

#endif
