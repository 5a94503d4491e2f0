/* fuseops.c - see fuseops.h
 *
 * Calls that come with an open file get its path as libfuse knows it now:
 * NULL once the file has been unlinked while open (hard_remove, below).
 */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h> /* RENAME_NOREPLACE */
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "fuseops.h"
#include "log.h"
#include "mountra.h"

#ifndef RENAME_NOREPLACE
#define RENAME_NOREPLACE (1 << 0)
#endif

/* The write size asked of the kernel: 1 MiB, fewer calls per byte than
 * the 128 KiB default. */
#define FUSEOPS_MAX_WRITE_BYTES (1u << 20)

static struct backend *fuseops_backend(void)
{
	return &((struct fuseops_ctx *)fuse_get_context()->private_data)->backend;
}

void backend_caller(uid_t *uid, gid_t *gid)
{
	struct fuse_context *c = fuse_get_context();

	*uid = c ? c->uid : getuid();
	*gid = c ? c->gid : getgid();
}

static struct fuseops_ctx *fuseops_ctx(void)
{
	return fuse_get_context()->private_data;
}

static void *fuseops_fh(const struct fuse_file_info *fi)
{
	return fi ? (void *)(uintptr_t)fi->fh : NULL;
}

static void fuseops_set_readahead(void)
{
	struct fuseops_ctx *ctx = fuseops_ctx();
	int r = mountra_set(ctx->mountpoint, ctx->kernel_readahead);

	if (r < 0)
		log_info("cannot raise the kernel's read-ahead to %zu KiB (%s): reads come in "
			 "128 KiB requests",
			 ctx->kernel_readahead >> 10, strerror(-r));
}

/* The first request after INIT: the kernel took INIT's reply, which would
 * have undone an earlier change to its read-ahead, and no file this mount
 * serves is open yet. */
static void fuseops_mount_ready(void)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;

	if (fuseops_ctx()->kernel_readahead)
		pthread_once(&once, fuseops_set_readahead);
}

static void *fuseops_init(struct fuse_conn_info *conn, struct fuse_config *cfg)
{
	struct fuseops_ctx *ctx = fuse_get_context()->private_data;
	double ttl_s = ctx->ttl_ms / 1000.0;

	/* The kernel keeps attributes at most a second and asks again, which
	 * the metadata cache answers without a request: so a size that an
	 * open found changed reaches the kernel quickly, and the cache TTL
	 * alone decides how stale a listing may be. */
	cfg->attr_timeout = ttl_s < 1.0 ? ttl_s : 1.0;
	cfg->entry_timeout = ttl_s;
	cfg->negative_timeout = ttl_s;
	if (ctx->live_attrs) {
		cfg->attr_timeout = 0;
		cfg->negative_timeout = 0;
	}
	cfg->use_ino = 0;
	/* Drop the page cache on open, unless the backend knows the pages
	 * still hold the object as it is now (fuseops_open). */
	cfg->kernel_cache = 0;
	/* Unlinking an open file deletes the object now, as on a local disk,
	 * never leaving a .fuse_hidden* object that other S3 clients would
	 * see (and that a crash would leave behind): either hard_remove, or
	 * a backend that takes libfuse's rename to the hidden name as the
	 * unlink and keeps the open file's data in memory or its spool
	 * (keep_unlinked), so fstat and reads of it go on working. */
	cfg->hard_remove = !ctx->keep_unlinked;
	/* The kernel keeps a symlink's target (until its attributes
	 * change), instead of a readlink, a GET, at every path walk through
	 * it. */
	if (conn->capable & FUSE_CAP_CACHE_SYMLINKS)
		conn->want |= FUSE_CAP_CACHE_SYMLINKS;
	/* Several reads of one file in flight at once: prefetch sorts them. */
	conn->want |= FUSE_CAP_ASYNC_READ;
	if (conn->capable & FUSE_CAP_READDIRPLUS)
		conn->want |= FUSE_CAP_READDIRPLUS;
	/* open(O_TRUNC) reaches open with the flag instead of as a separate
	 * truncate first: one change to the object, not two. */
	if (conn->capable & FUSE_CAP_ATOMIC_O_TRUNC)
		conn->want |= FUSE_CAP_ATOMIC_O_TRUNC;
	/* No writeback cache: the kernel would then gather writes in its page
	 * cache and send them later, out of order and after write() has
	 * returned, so an error buffering them could never reach the writer.
	 * Each write must come in order and be acknowledged only once odofs
	 * has buffered it. */
	conn->want &= ~FUSE_CAP_WRITEBACK_CACHE;
	/* Big writes: libfuse 3 starts max_write at "unlimited" (or -o
	 * max_write) and, before init, lowers it to what its request buffer
	 * holds (1 MiB with 4 KiB pages) and the kernel takes; it does not
	 * check it again after.  So cap it here, never raise it. */
	if (conn->max_write > FUSEOPS_MAX_WRITE_BYTES)
		conn->max_write = FUSEOPS_MAX_WRITE_BYTES;
	return ctx;
}

static int fuseops_getattr(const char *path, struct stat *st, struct fuse_file_info *fi)
{
	struct backend *b = fuseops_backend();

	fuseops_mount_ready();
	/* fstat(), and the kernel refreshing the size of a file being read,
	 * come with the open file: answer from it, not from the path, whose
	 * object may have changed or gone since. */
	if (fi && fi->fh)
		return b->ops->fgetattr(b->ctx, fuseops_fh(fi), st);
	return b->ops->getattr(b->ctx, path, st);
}

struct fuseops_fill {
	void *buf;
	fuse_fill_dir_t filler;
};

/* A partial entry's attributes are not what a lookup would say: the
 * kernel gets only its type. */
static int fuseops_fill(void *arg, const char *name, const struct stat *st, unsigned partial)
{
	struct fuseops_fill *f = arg;

	return f->filler(f->buf, name, st, 0, partial ? 0 : FUSE_FILL_DIR_PLUS);
}

/* Streamed folders pass offsets, so libfuse holds one reply's worth of
 * entries, not the whole folder: "." is 1, ".." 2, then 2 + the backend's.
 * Without FUSE_FILL_DIR_PLUS: with it, libfuse would make a node for every
 * entry (memory in proportion to the folder), and the kernel would take a
 * listing's attributes over a lookup's (a symlink known by its metadata
 * would turn into a file: a bad inode, EIO).  Lookups are answered from
 * the cached listing anyway. */
static int fuseops_fill_at(void *arg, const char *name, const struct stat *st, unsigned partial,
			   off_t next)
{
	struct fuseops_fill *f = arg;

	(void)partial;
	return f->filler(f->buf, name, st, next + 2, 0);
}

static int fuseops_opendir(const char *path, struct fuse_file_info *fi)
{
	struct backend *b = fuseops_backend();
	void *dh = NULL;
	int r;

	fi->fh = 0;
	if (!b->ops->opendir)
		return 0;
	r = b->ops->opendir(b->ctx, path, &dh);
	if (r == 0)
		fi->fh = (uint64_t)(uintptr_t)dh;
	return r;
}

static int fuseops_releasedir(const char *path, struct fuse_file_info *fi)
{
	struct backend *b = fuseops_backend();

	(void)path;
	if (b->ops->releasedir && fi->fh)
		b->ops->releasedir(b->ctx, fuseops_fh(fi));
	return 0;
}

static int fuseops_readdir(const char *path, void *buf, fuse_fill_dir_t filler, off_t off,
			   struct fuse_file_info *fi, enum fuse_readdir_flags flags)
{
	struct backend *b = fuseops_backend();
	struct fuseops_fill f = {buf, filler};

	(void)flags;
	if (b->ops->readdir_at && fi && fi->fh) {
		if (off < 1 && filler(buf, ".", NULL, 1, 0))
			return 0;
		if (off < 2 && filler(buf, "..", NULL, 2, 0))
			return 0;
		return b->ops->readdir_at(b->ctx, fuseops_fh(fi), off > 2 ? off - 2 : 0,
					  fuseops_fill_at, &f);
	}
	filler(buf, ".", NULL, 0, 0);
	filler(buf, "..", NULL, 0, 0);
	return b->ops->readdir(b->ctx, path, fuseops_fill, &f);
}

static int fuseops_open(const char *path, struct fuse_file_info *fi)
{
	struct backend *b = fuseops_backend();
	struct stat st;
	void *fh = NULL;
	int r;

	fuseops_mount_ready();
	r = b->ops->open(b->ctx, path, fi->flags, &fh, &st);

	if (r < 0)
		return r;
	fi->fh = (uint64_t)(uintptr_t)fh;
	if (b->ops->streaming && b->ops->streaming(b->ctx, fh))
		fi->direct_io = 1;
	/* cache_ttl=0 asks for every open to read S3 afresh. */
	if (b->ops->keep_cache && fuseops_ctx()->ttl_ms > 0)
		fi->keep_cache = b->ops->keep_cache(b->ctx, fh) ? 1 : 0;
	return 0;
}

static int fuseops_read(const char *path, char *buf, size_t size, off_t off,
			struct fuse_file_info *fi)
{
	struct backend *b = fuseops_backend();

	(void)path;
	return (int)b->ops->read(b->ctx, fuseops_fh(fi), buf, size, off);
}

static int fuseops_release(const char *path, struct fuse_file_info *fi)
{
	struct backend *b = fuseops_backend();

	return b->ops->release(b->ctx, path, fuseops_fh(fi));
}

static int fuseops_statfs(const char *path, struct statvfs *st)
{
	struct backend *b = fuseops_backend();

	(void)path;
	return b->ops->statfs(b->ctx, st);
}

/* Changes.  A backend that leaves one NULL cannot make it: EROFS, as a
 * read-only filesystem answers. */

static int fuseops_create(const char *path, mode_t mode, struct fuse_file_info *fi)
{
	struct backend *b = fuseops_backend();
	struct stat st;
	void *fh = NULL;
	int r;

	if (!b->ops->create)
		return -EROFS;
	r = b->ops->create(b->ctx, path, mode, fi->flags, &fh, &st);
	if (r == 0)
		fi->fh = (uint64_t)(uintptr_t)fh;
	return r;
}

static int fuseops_write(const char *path, const char *buf, size_t size, off_t off,
			 struct fuse_file_info *fi)
{
	struct backend *b = fuseops_backend();

	if (!b->ops->write)
		return -EROFS;
	/* size is at most max_write, so the count fits an int. */
	return (int)b->ops->write(b->ctx, path, fuseops_fh(fi), buf, size, off);
}

/* Without flush or fsync nothing was ever written, so there is nothing to
 * publish: close() and fsync() of a read-only file succeed. */
static int fuseops_flush(const char *path, struct fuse_file_info *fi)
{
	struct backend *b = fuseops_backend();

	if (!b->ops->flush)
		return 0;
	return b->ops->flush(b->ctx, path, fuseops_fh(fi));
}

static int fuseops_fsync(const char *path, int datasync, struct fuse_file_info *fi)
{
	struct backend *b = fuseops_backend();

	if (!b->ops->fsync)
		return 0;
	return b->ops->fsync(b->ctx, path, fuseops_fh(fi), datasync);
}

/* fi is NULL for truncate(2), set for ftruncate(2). */
static int fuseops_truncate(const char *path, off_t size, struct fuse_file_info *fi)
{
	struct backend *b = fuseops_backend();

	if (!b->ops->truncate)
		return -EROFS;
	return b->ops->truncate(b->ctx, path, fuseops_fh(fi), size);
}

/* chmod, chown and utimens each change some fields of one setattr. */
static int fuseops_setattr(const char *path, struct fuse_file_info *fi,
			   const struct backend_setattr *a)
{
	struct backend *b = fuseops_backend();

	if (!b->ops->setattr)
		return -EROFS;
	if (!a->set)
		return 0;
	return b->ops->setattr(b->ctx, path, fuseops_fh(fi), a);
}

static int fuseops_chmod(const char *path, mode_t mode, struct fuse_file_info *fi)
{
	struct backend_setattr a = {.set = BACKEND_SET_MODE, .mode = mode & 07777};

	return fuseops_setattr(path, fi, &a);
}

/* (uid_t)-1 or (gid_t)-1: leave that one as it is, as chown(2) does. */
static int fuseops_chown(const char *path, uid_t uid, gid_t gid, struct fuse_file_info *fi)
{
	struct backend_setattr a = {.uid = uid, .gid = gid};

	if (uid != (uid_t)-1)
		a.set |= BACKEND_SET_UID;
	if (gid != (gid_t)-1)
		a.set |= BACKEND_SET_GID;
	/* The kernel leaves clearing set-id bits to libfuse's file system
	 * (handle_killpriv): a chown not by root clears them. */
	if (a.set && fuse_get_context()->uid != 0)
		a.set |= BACKEND_SET_KILL_SETID;
	return fuseops_setattr(path, fi, &a);
}

/* Only the modification time is kept; tv[0], the access time, is not. */
static int fuseops_utimens(const char *path, const struct timespec tv[2], struct fuse_file_info *fi)
{
	struct backend_setattr a = {.set = BACKEND_SET_MTIME};

	if (!tv || tv[1].tv_nsec == UTIME_NOW)
		a.mtime = time(NULL);
	else if (tv[1].tv_nsec == UTIME_OMIT)
		a.set = 0;
	else
		a.mtime = tv[1].tv_sec;
	return fuseops_setattr(path, fi, &a);
}

static int fuseops_unlink(const char *path)
{
	struct backend *b = fuseops_backend();

	return b->ops->unlink ? b->ops->unlink(b->ctx, path) : -EROFS;
}

static int fuseops_mkdir(const char *path, mode_t mode)
{
	struct backend *b = fuseops_backend();

	return b->ops->mkdir ? b->ops->mkdir(b->ctx, path, mode) : -EROFS;
}

static int fuseops_rmdir(const char *path)
{
	struct backend *b = fuseops_backend();

	return b->ops->rmdir ? b->ops->rmdir(b->ctx, path) : -EROFS;
}

static int fuseops_rename(const char *from, const char *to, unsigned int flags)
{
	struct backend *b = fuseops_backend();

	if (!b->ops->rename)
		return -EROFS;
	/* Only RENAME_NOREPLACE: S3 cannot swap two objects atomically
	 * (RENAME_EXCHANGE), and has no whiteouts. */
	if (flags & ~(unsigned int)RENAME_NOREPLACE)
		return -EINVAL;
	return b->ops->rename(b->ctx, from, to, flags);
}

static int fuseops_symlink(const char *target, const char *path)
{
	struct backend *b = fuseops_backend();

	return b->ops->symlink ? b->ops->symlink(b->ctx, target, path) : -EROFS;
}

/* Special files (mkfifo, mknod, bind of a socket); regular files come
 * through create. */
static int fuseops_mknod(const char *path, mode_t mode, dev_t rdev)
{
	struct backend *b = fuseops_backend();

	if (!b->ops->create)
		return -EROFS;
	return b->ops->mknod ? b->ops->mknod(b->ctx, path, mode, rdev) : -EPERM;
}

/* Fills buf with the NUL-terminated target, cut to size, and returns 0. */
static int fuseops_readlink(const char *path, char *buf, size_t size)
{
	struct backend *b = fuseops_backend();

	return b->ops->readlink ? b->ops->readlink(b->ctx, path, buf, size) : -EROFS;
}

/* An S3 object has one name: there is no second link to make. */
static int fuseops_link(const char *from, const char *to)
{
	(void)from;
	(void)to;
	return -ENOTSUP;
}

static const struct fuse_operations fuseops_table = {
    .init = fuseops_init,
    .getattr = fuseops_getattr,
    .readdir = fuseops_readdir,
    .opendir = fuseops_opendir,
    .releasedir = fuseops_releasedir,
    .open = fuseops_open,
    .read = fuseops_read,
    .release = fuseops_release,
    .statfs = fuseops_statfs,
    .create = fuseops_create,
    .write = fuseops_write,
    .flush = fuseops_flush,
    .fsync = fuseops_fsync,
    .truncate = fuseops_truncate,
    .chmod = fuseops_chmod,
    .chown = fuseops_chown,
    .utimens = fuseops_utimens,
    .unlink = fuseops_unlink,
    .mkdir = fuseops_mkdir,
    .rmdir = fuseops_rmdir,
    .rename = fuseops_rename,
    .symlink = fuseops_symlink,
    .mknod = fuseops_mknod,
    .readlink = fuseops_readlink,
    .link = fuseops_link,
};

const struct fuse_operations *fuseops_get(void)
{
	return &fuseops_table;
}
