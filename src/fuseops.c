/* fuseops.c - see fuseops.h */
#include "config.h"

#include <errno.h>
#include <string.h>

#include "fuseops.h"
#include "log.h"

static struct fuseops_ctx *fuseops_ctx(void)
{
	return fuse_get_context()->private_data;
}

static void *fuseops_init(struct fuse_conn_info *conn, struct fuse_config *cfg)
{
	struct fuseops_ctx *ctx = fuseops_ctx();
	double ttl_s = ctx->ttl_ms / 1000.0;

	/* The kernel keeps attributes at most a second and asks again, which
	 * the metadata cache answers without a request: so a size that an
	 * open found changed reaches the kernel quickly, and the cache TTL
	 * alone decides how stale a listing may be. */
	cfg->attr_timeout = ttl_s < 1.0 ? ttl_s : 1.0;
	cfg->entry_timeout = ttl_s;
	cfg->negative_timeout = ttl_s;
	cfg->use_ino = 0;
	/* Drop the page cache on open: a new open must see the object as it
	 * is now. */
	cfg->kernel_cache = 0;
	/* Several reads of one file in flight at once: prefetch sorts them. */
	conn->want |= FUSE_CAP_ASYNC_READ;
	if (conn->capable & FUSE_CAP_READDIRPLUS)
		conn->want |= FUSE_CAP_READDIRPLUS;
	return ctx;
}

static int fuseops_getattr(const char *path, struct stat *st, struct fuse_file_info *fi)
{
	struct backend *b = &fuseops_ctx()->backend;

	/* fstat(), and the kernel refreshing the size of a file being read,
	 * come with the open file: answer from it, not from the path, whose
	 * object may have changed or gone since. */
	if (fi && fi->fh)
		return b->ops->fgetattr(b->ctx, (void *)(uintptr_t)fi->fh, st);
	return b->ops->getattr(b->ctx, path, st);
}

struct fuseops_fill {
	void *buf;
	fuse_fill_dir_t filler;
};

static int fuseops_fill(void *arg, const char *name, const struct stat *st)
{
	struct fuseops_fill *f = arg;

	return f->filler(f->buf, name, st, 0, FUSE_FILL_DIR_PLUS);
}

static int fuseops_readdir(const char *path, void *buf, fuse_fill_dir_t filler, off_t off,
			   struct fuse_file_info *fi, enum fuse_readdir_flags flags)
{
	struct backend *b = &fuseops_ctx()->backend;
	struct fuseops_fill f = {buf, filler};

	(void)off;
	(void)fi;
	(void)flags;
	filler(buf, ".", NULL, 0, 0);
	filler(buf, "..", NULL, 0, 0);
	return b->ops->readdir(b->ctx, path, fuseops_fill, &f);
}

static int fuseops_open(const char *path, struct fuse_file_info *fi)
{
	struct backend *b = &fuseops_ctx()->backend;
	struct stat st;
	void *fh = NULL;
	int r = b->ops->open(b->ctx, path, fi->flags, &fh, &st);

	if (r == 0)
		fi->fh = (uint64_t)(uintptr_t)fh;
	return r;
}

static int fuseops_read(const char *path, char *buf, size_t size, off_t off,
			struct fuse_file_info *fi)
{
	struct backend *b = &fuseops_ctx()->backend;
	ssize_t n;

	(void)path;
	n = b->ops->read(b->ctx, (void *)(uintptr_t)fi->fh, buf, size, off);
	return (int)n;
}

static int fuseops_release(const char *path, struct fuse_file_info *fi)
{
	struct backend *b = &fuseops_ctx()->backend;

	(void)path;
	return b->ops->release(b->ctx, (void *)(uintptr_t)fi->fh);
}

static int fuseops_statfs(const char *path, struct statvfs *st)
{
	struct backend *b = &fuseops_ctx()->backend;

	(void)path;
	return b->ops->statfs(b->ctx, st);
}

/* This release serves S3 read-only: every change is refused with EROFS
 * (the mount is also made read-only, so most never get here). */
static int fuseops_rofs_path(const char *path)
{
	(void)path;
	return -EROFS;
}

static int fuseops_rofs_mode(const char *path, mode_t mode)
{
	(void)path;
	(void)mode;
	return -EROFS;
}

static int fuseops_rofs_rename(const char *from, const char *to, unsigned int flags)
{
	(void)from;
	(void)to;
	(void)flags;
	return -EROFS;
}

static int fuseops_rofs_link(const char *from, const char *to)
{
	(void)from;
	(void)to;
	return -EROFS;
}

static int fuseops_rofs_create(const char *path, mode_t mode, struct fuse_file_info *fi)
{
	(void)path;
	(void)mode;
	(void)fi;
	return -EROFS;
}

static int fuseops_rofs_truncate(const char *path, off_t size, struct fuse_file_info *fi)
{
	(void)path;
	(void)size;
	(void)fi;
	return -EROFS;
}

static const struct fuse_operations fuseops_table = {
	.init = fuseops_init,
	.getattr = fuseops_getattr,
	.readdir = fuseops_readdir,
	.open = fuseops_open,
	.read = fuseops_read,
	.release = fuseops_release,
	.statfs = fuseops_statfs,
	.mkdir = fuseops_rofs_mode,
	.unlink = fuseops_rofs_path,
	.rmdir = fuseops_rofs_path,
	.rename = fuseops_rofs_rename,
	.symlink = fuseops_rofs_link,
	.link = fuseops_rofs_link,
	.create = fuseops_rofs_create,
	.truncate = fuseops_rofs_truncate,
};

const struct fuse_operations *fuseops_get(void)
{
	return &fuseops_table;
}
