/* s3tree_i.h - what the files of the S3 tree share; not for use outside
 * src/bucket/.
 *
 * s3tree.c holds the namespace (paths, listings, lookups, changes by path)
 * and the backend's ops table; rename.c renames files and folders;
 * openfiles.c holds the open files and the registry of those open for
 * writing, through which lookups, listings, renames and unlinks reach
 * files not yet (or not so) in S3.  Entries of
 * the ops table are s3tree_* wherever they are defined; other shared
 * functions carry the prefix of their file.
 */
#ifndef ODOFS_S3TREE_I_H
#define ODOFS_S3TREE_I_H

#include <pthread.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>

#include "backend.h"
#include "s3/s3.h"
#include "s3tree.h"

#define S3TREE_NAME_MAX 255
/* A symlink's target is read whole. */
#define S3TREE_LINK_MAX 4096

struct s3file;
struct s3file_env;
struct s3file_info;
struct openfiles_handle;

struct s3tree {
	struct s3tree_config cfg;
	time_t mount_time;
	struct pool *workers;
	struct prefetch *prefetch;
	struct uploader *uploader;
	char *glob_prefix; /* glob mounts: prefix + glob_head */

	/* Open files (openfiles.c): a lookup must see those being written
	 * before they exist in S3, and a rename or unlink must reach them
	 * all. */
	pthread_mutex_t lock;
	struct openfiles_handle *writers;
	/* The root's attributes, kept in memory (under lock). */
	struct s3_meta root_meta;

	/* What HEADs saw of keys, for listings (known.c). */
	pthread_mutex_t known_lock;
	void *known;
	size_t n_known;
	/* Whether an open may keep the kernel's pages (pagecache.h). */
	struct pagecache *pages;
};

struct s3tree_entry {
	char *name;
	int is_dir;
	int pending; /* a file open for writing, not yet (or not so) in S3 */
	int known;   /* its metadata is what known.c remembers for its ETag */
	int headed;  /* its metadata is what a HEAD of it just saw */
	off_t size;
	time_t mtime;
	struct s3_meta meta;
};

struct s3tree_listing {
	struct s3tree *t;
	const char *bucket;
	const char *prefix; /* what keys in this folder start with */
	int glob;
	struct s3tree_entry *entries;
	size_t n, cap;
	int err;
	/* Streams of glob mounts (no delimiter): the folder that the last key
	 * of a page fell in, whose keys may go on in the next page, where it
	 * must not appear again (a folder's keys are contiguous). */
	char last_dir[S3TREE_NAME_MAX + 1];
	char carry_dir[S3TREE_NAME_MAX + 1];
};

/* ---- s3tree.c ---- */

/* Paths to bucket and key; the caller frees both.  0 or a negative errno. */
int s3tree_locate(struct s3tree *t, const char *path, char **bucket, char **key);
/* The same for a path that names an object: -EPERM at a root. */
int s3tree_locate_key(struct s3tree *t, const char *path, char **bucket, char **key);
/* -EROFS where changes are refused, else 0. */
int s3tree_writable(struct s3tree *t);
/* s3tree_writable, then s3tree_locate_key. */
int s3tree_change(struct s3tree *t, const char *path, char **bucket, char **key);
/* The listing prefix of a folder: "" or "key/"; NULL on ENOMEM. */
char *s3tree_dir_prefix(const char *key);
/* Whether anything but its own marker, or a writer, is below a folder
 * prefix: 1, 0 or a negative errno. */
int s3tree_has_children(struct s3tree *t, const char *bucket, const char *prefix);
/* A file's attributes, with what its metadata says. */
void s3tree_stat_meta(struct s3tree *t, struct stat *st, off_t size, time_t mtime,
		      const struct s3_meta *m);
/* The caller as owner of something new, into m (see s3tree.c). */
void s3tree_owner_meta(struct s3tree *t, struct s3_meta *m);
/* Append an entry to a listing (name is copied).  0, -ENOMEM or -EFBIG. */
int s3tree_add(struct s3tree_listing *l, const char *name, size_t len, int is_dir, off_t size,
	       time_t mtime);
/* A folder's attributes from its marker's metadata (zeroes: none). */
void s3tree_dir_stat(struct s3tree *t, struct stat *st, time_t mtime, const struct s3_meta *m);
/* HEAD key and stat it: a folder object as a folder, else a file (whose
 * metadata known.c then remembers for its ETag).  0 or the HEAD's error. */
int s3tree_head_stat(struct s3tree *t, const char *bucket, const char *key, struct stat *st);
/* Whether a HEAD of a key without a slash saw another tool's folder object. */
int s3tree_is_dir_object(const struct s3_object *obj);
/* The lister's callback that adds a page's entries to a listing (arg). */
int s3tree_list_entry(void *arg, const struct s3xml_entry *e);
/* Sort a listing, one entry per name. */
void s3tree_dedupe(struct s3tree_listing *l);
void s3tree_listing_free(struct s3tree_listing *l);
/* What a listing entry shows, and what that lacks (BACKEND_PAGE_*). */
void s3tree_entry_stat(struct s3tree *t, const struct s3tree_entry *e, struct stat *st);
unsigned s3tree_entry_partial(const struct s3tree_listing *l, const struct s3tree_entry *e);
/* Entry of the ops table: a lookup by name that goes to S3. */
int s3tree_getattr(void *ctx, const char *path, struct stat *st);

/* ---- lookup.c: lookups from one page of a folder's listing ---- */

/* Entries of the ops table (backend.h). */
int s3tree_list_page(void *ctx, const char *path, backend_fill_page_fn fill, void *arg);
int s3tree_getattr_listed(void *ctx, const char *path, const struct stat *listed, struct stat *st);

/* ---- known.c: what HEADs saw, for listings ---- */

/* A HEAD saw obj at bucket/key; NULL: the key is gone. */
void known_note(struct s3tree *t, const char *bucket, const char *key, const struct s3_object *obj);
/* bucket/key was made a link here (its ETag not yet seen). */
void known_note_link(struct s3tree *t, const char *bucket, const char *key);
/* bucket/key was copied to to_bucket/to_key with its metadata, and is
 * gone: what was known of it now belongs to the copy (known by its ETag
 * alone, its time being the copy's). */
void known_move(struct s3tree *t, const char *bucket, const char *key, const char *to_bucket,
		const char *to_key);
/* The metadata of a listed object whose ETag and time match what a HEAD
 * saw (or a link's type): 1 and *out set, or 0. */
int known_apply(struct s3tree *t, const char *bucket, const char *key, const char *etag,
		time_t mtime, off_t size, struct s3_meta *out);
void known_free(struct s3tree *t);

/* ---- rename.c ---- */

/* Entry of the ops table. */
int s3tree_rename(void *ctx, const char *from, const char *to, unsigned flags);

/* ---- openfiles.c: the files open for writing ----
 * Each takes t->lock for its walk of t->writers. */

/* What a writer on bucket/key holds that S3 has not: 0, or -ENOENT. */
int openfiles_writer_info(struct s3tree *t, const char *bucket, const char *key,
			  struct s3file_info *out);
/* The same as attributes. */
int openfiles_writer_stat(struct s3tree *t, const char *bucket, const char *key, struct stat *st);
/* Add the writers directly in a listing's folder, marked pending. */
int openfiles_add_writers(struct s3tree *t, struct s3tree_listing *l);
/* How many writers have keys below prefix. */
int openfiles_count_below(struct s3tree *t, const char *bucket, const char *prefix);
/* setattr by path to writers not yet published; -ENOENT if none. */
int openfiles_writers_setattr(struct s3tree *t, const char *path, const struct backend_setattr *a);
/* Writers of bucket/key: unlinked (to_key NULL) or retargeted. */
int openfiles_writers_moved(struct s3tree *t, const char *bucket, const char *key,
			    const char *to_bucket, const char *to_key);

/* Files open on bucket/key unlinked while open, now known as hidden_key
 * (before the object is deleted). */
int openfiles_writers_hidden(struct s3tree *t, const char *bucket, const char *key,
			     const char *hidden_key);
/* The folder from_prefix was renamed to to_prefix: the hidden names below
 * it move with it, as libfuse's do. */
int openfiles_hidden_moved(struct s3tree *t, const char *bucket, const char *from_prefix,
			   const char *to_bucket, const char *to_prefix);

/* ---- openfiles.c: open files ---- */

/* What an s3file opened on this tree works with. */
void openfiles_env(struct s3tree *t, struct s3file_env *env);
/* Note what f published at bucket/key for listings (known.c). */
void openfiles_note_published(struct s3tree *t, struct s3file *f, const char *bucket,
			      const char *key);
/* The open file behind a handle that s3tree_open or s3tree_create made. */
struct s3file *openfiles_file(void *fh);

/* Entries of the ops table. */
int s3tree_open(void *ctx, const char *path, int flags, void **fh, struct stat *st);
int s3tree_create(void *ctx, const char *path, mode_t mode, int flags, void **fh, struct stat *st);
ssize_t s3tree_read(void *ctx, void *fh, char *buf, size_t size, off_t off);
ssize_t s3tree_write(void *ctx, const char *path, void *fh, const char *buf, size_t size,
		     off_t off);
int s3tree_flush(void *ctx, const char *path, void *fh);
int s3tree_fsync(void *ctx, const char *path, void *fh, int datasync);
int s3tree_fgetattr(void *ctx, void *fh, struct stat *st);
int s3tree_keep_cache(void *ctx, void *fh);
int s3tree_release(void *ctx, const char *path, void *fh);
int s3tree_truncate(void *ctx, const char *path, void *fh, off_t size);

#endif
