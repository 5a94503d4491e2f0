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

#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/types.h>
#include <time.h>

/* Called once per directory entry; name and st live only for the call.
 * partial says what st lacks (BACKEND_PAGE_*; 0: nothing).  Return
 * nonzero to stop the listing (the caller's buffer is full). */
typedef int (*backend_fill_fn)(void *arg, const char *name, const struct stat *st,
			       unsigned partial);
/* The same for a folder read as a stream: next is the position to resume
 * from after this entry (positions are > 0 and grow along the stream). */
typedef int (*backend_fill_at_fn)(void *arg, const char *name, const struct stat *st,
				  unsigned partial, off_t next);
/* The same for one page of a listing (list_page). */
typedef backend_fill_fn backend_fill_page_fn;
enum {
	/* st holds what a listing shows, not every attribute a lookup by
	 * name shows: a lookup asks getattr_listed for the rest.  From a
	 * page (list_page), until a readdir shows the entry: readdir shows
	 * st as it is and lookups answer as readdir showed, unless
	 * BACKEND_PAGE_KEEP is set too. */
	BACKEND_PAGE_LOOKUP = 1 << 0,
	/* Not even what readdir would show (readdir asks more of it); only
	 * list_page sets it. */
	BACKEND_PAGE_READDIR = 1 << 1,
	/* With BACKEND_PAGE_LOOKUP: readdir shows st (the type and default
	 * attributes), yet a lookup still asks getattr_listed, even after a
	 * readdir showed the entry.  A subfolder whose marker's metadata no
	 * listing reads.  A readdir fill gives both or neither, and never
	 * hands the kernel st as a lookup's attributes (no readdirplus). */
	BACKEND_PAGE_KEEP = 1 << 2,
};

/* What setattr changes: only the fields whose flag is set. */
enum {
	BACKEND_SET_MODE = 1 << 0, /* permission bits only */
	BACKEND_SET_UID = 1 << 1,
	BACKEND_SET_GID = 1 << 2,
	BACKEND_SET_MTIME = 1 << 3,
	/* A chown not by root: a file (not a folder) loses its set-user-ID
	 * bit, and its set-group-ID bit if group-executable. */
	BACKEND_SET_KILL_SETID = 1 << 4,
};

struct backend_setattr {
	unsigned set;
	mode_t mode;
	uid_t uid;
	gid_t gid;
	time_t mtime;
	/* From a cache layer, else 0 / NULL: the path is known to be a
	 * folder; and where the backend may put the attributes the path has
	 * after the change when it knows them without asking (setting
	 * *after_known to 1). */
	int is_dir;
	struct stat *after;
	int *after_known;
};

struct backend_ops {
	int (*getattr)(void *ctx, const char *path, struct stat *st);
	/* Every entry of the folder, each with its full attributes unless
	 * partial (then BACKEND_PAGE_LOOKUP | BACKEND_PAGE_KEEP). */
	int (*readdir)(void *ctx, const char *path, backend_fill_fn fill, void *arg);
	/* Optional (all three or none): a folder read as a stream, in bounded
	 * memory whatever its size.  opendir starts one; readdir_at fills from
	 * position off (0: the start; else a `next` handed to fill), stopping
	 * when fill returns nonzero, and returns 0 at the end too; a position
	 * behind the stream starts it again.  releasedir frees it. */
	int (*opendir)(void *ctx, const char *path, void **dh);
	int (*readdir_at)(void *ctx, void *dh, off_t off, backend_fill_at_fn fill, void *arg);
	void (*releasedir)(void *ctx, void *dh);
	/* Optional (both or none): lookups answered from one page of a
	 * folder's listing.  list_page fills what one listing request shows
	 * of the folder at path, each entry with the type, size and times the
	 * page gives, and partial saying what more a lookup (getattr_listed)
	 * or readdir would show; the name "." is the folder itself, when the
	 * page tells its attributes.  It returns 1 if
	 * the page holds the whole folder, 0 if the folder goes on (the
	 * entries then are only a part of it), -EOPNOTSUPP where the folder
	 * cannot be read that way, or a negative errno.  getattr_listed is
	 * getattr of a path that such a page listed as listed. */
	int (*list_page)(void *ctx, const char *path, backend_fill_page_fn fill, void *arg);
	int (*getattr_listed)(void *ctx, const char *path, const struct stat *listed,
			      struct stat *st);
	/* On success *fh is the open file and *st its attributes as of now
	 * (a cache layer uses them to replace what it held). */
	int (*open)(void *ctx, const char *path, int flags, void **fh, struct stat *st);
	ssize_t (*read)(void *ctx, void *fh, char *buf, size_t size, off_t off);
	/* Optional: 1 if the kernel may keep the pages it cached for this
	 * file, which fh, just opened, reads too (FOPEN_KEEP_CACHE); 0 to
	 * drop them, as every open does without this call. */
	int (*keep_cache)(void *ctx, void *fh);
	/* Attributes of an open file, as it was opened: what an open file
	 * reads does not change when its object does. */
	int (*fgetattr)(void *ctx, void *fh, struct stat *st);
	/* Optional: 1 if the file just opened is still being made, so that
	 * it reads past the size stat shows (the adapter opens it with
	 * direct_io: every read reaches the tree, none stops at the size). */
	int (*streaming)(void *ctx, void *fh);
	/* path: where the file is now (it may have been renamed since it
	 * was opened). */
	int (*release)(void *ctx, const char *path, void *fh);
	int (*statfs)(void *ctx, struct statvfs *st);

	/* Changes.  A backend that cannot change anything leaves these NULL
	 * and the adapter answers EROFS; one that can but is mounted
	 * read-only answers -EROFS itself.  Calls that take an open file
	 * also get its current path, so a cache layer knows what changed. */
	int (*create)(void *ctx, const char *path, mode_t mode, int flags, void **fh,
		      struct stat *st);
	ssize_t (*write)(void *ctx, const char *path, void *fh, const char *buf, size_t size,
			 off_t off);
	/* close() of one descriptor: publish what was written; the error
	 * is what close() returns. */
	int (*flush)(void *ctx, const char *path, void *fh);
	int (*fsync)(void *ctx, const char *path, void *fh, int datasync);
	/* fh NULL: truncate(2) by path. */
	int (*truncate)(void *ctx, const char *path, void *fh, off_t size);
	int (*setattr)(void *ctx, const char *path, void *fh, const struct backend_setattr *a);
	int (*unlink)(void *ctx, const char *path);
	int (*mkdir)(void *ctx, const char *path, mode_t mode);
	int (*rmdir)(void *ctx, const char *path);
	/* flags: RENAME_NOREPLACE; RENAME_EXCHANGE is -EINVAL. */
	int (*rename)(void *ctx, const char *from, const char *to, unsigned flags);
	int (*symlink)(void *ctx, const char *target, const char *path);
	/* A FIFO, socket or device node (mode carries the type); NULL:
	 * the adapter answers EPERM. */
	int (*mknod)(void *ctx, const char *path, mode_t mode, dev_t rdev);
	int (*readlink)(void *ctx, const char *path, char *buf, size_t size);
	/* Start threads and other per-process state; called after the daemon
	 * has forked into the background.  May be NULL. */
	int (*start)(void *ctx);
	void (*destroy)(void *ctx);
};

struct backend {
	const struct backend_ops *ops;
	void *ctx;
};

/* The user and group of the process whose call is being served (the FUSE
 * adapter knows them); a backend records them as the owner of what that
 * call makes.  Outside a call: the daemon's own. */
void backend_caller(uid_t *uid, gid_t *gid);

/* The names libfuse gives files unlinked while open (fuseops.h,
 * keep_unlinked).  Such a path is in no listing of its folder, and its
 * attributes are the open file's, which change as it is written: the
 * backend answers for it, never a cache. */
#define BACKEND_HIDDEN_PREFIX ".fuse_hidden"

static inline int backend_is_hidden_name(const char *path)
{
	const char *name = strrchr(path, '/');

	return name && !strncmp(name + 1, BACKEND_HIDDEN_PREFIX, strlen(BACKEND_HIDDEN_PREFIX));
}

#endif
