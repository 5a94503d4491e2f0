/* openfiles.c - see s3tree_i.h */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "datacache.h"
#include "pagecache.h"
#include "s3/s3.h"
#include "s3file.h"
#include "s3tree_i.h"

/* What a read-only open fetches with its GET: a small file whole, and the
 * first read of a large one (the kernel's first read-ahead is 128 KiB). */
#define OPENFILES_FIRST_BYTES (128u << 10)

struct openfiles_handle {
	/* In t->writers: every open file, so that an unlink while open
	 * reaches readers too; the walks that mean writers check writable
	 * or pending. */
	struct openfiles_handle *next, *prev;
	struct s3file *f;
	char *bucket; /* where it is now: renames move it, */
	char *key;
	int gone;   /* and unlink takes it out of the tree */
	int hidden; /* unlinked while open: key is libfuse's hidden name */
	int writable;
	int keep_cache;		    /* the kernel may keep its pages (pagecache.h) */
	struct pagecache_entry *pc; /* as opened: renames do not move it */
	char *dc_bucket, *dc_key;   /* writers: the version they replace, */
	s3_etag dc_etag;	    /* whose cached blocks go at close */
};

/* ---- the files open for writing ---- */

/* Called with t->lock held. */
static int openfiles_handle_is(const struct openfiles_handle *h, const char *bucket,
			       const char *key)
{
	return !h->gone && !strcmp(h->bucket, bucket) && !strcmp(h->key, key);
}

/* What a file open for writing on bucket/key holds that is not yet all
 * in S3: 0, or -ENOENT when there is none. */
int openfiles_writer_info(struct s3tree *t, const char *bucket, const char *key,
			  struct s3file_info *out)
{
	int r = -ENOENT;

	pthread_mutex_lock(&t->lock);
	for (struct openfiles_handle *h = t->writers; h && r < 0; h = h->next) {
		if (!openfiles_handle_is(h, bucket, key))
			continue;
		s3file_info(h->f, out);
		if (out->pending || h->hidden)
			r = 0;
	}
	pthread_mutex_unlock(&t->lock);
	return r;
}

int openfiles_writer_stat(struct s3tree *t, const char *bucket, const char *key, struct stat *st)
{
	struct s3file_info info;
	int r = openfiles_writer_info(t, bucket, key, &info);

	if (r == 0)
		s3tree_stat_meta(t, st, info.size, info.mtime, &info.meta);
	return r;
}

/* Add to a listing the files open for writing directly in its folder. */
int openfiles_add_writers(struct s3tree *t, struct s3tree_listing *l)
{
	size_t plen = strlen(l->prefix);
	int r = 0;

	if (!*l->bucket)
		return 0;
	pthread_mutex_lock(&t->lock);
	for (struct openfiles_handle *h = t->writers; h && r == 0; h = h->next) {
		struct s3file_info info;
		const char *rel;

		if (h->gone || h->hidden || strcmp(h->bucket, l->bucket) ||
		    strncmp(h->key, l->prefix, plen))
			continue;
		rel = h->key + plen;
		if (!*rel || strchr(rel, '/'))
			continue;
		s3file_info(h->f, &info);
		if (!info.pending)
			continue;
		r = s3tree_add(l, rel, strlen(rel), 0, info.size, info.mtime);
		if (r == 0) {
			l->entries[l->n - 1].pending = 1;
			l->entries[l->n - 1].meta = info.meta;
		}
	}
	pthread_mutex_unlock(&t->lock);
	return r;
}

/* How many files open for writing have keys below prefix in bucket. */
int openfiles_count_below(struct s3tree *t, const char *bucket, const char *prefix)
{
	size_t plen = strlen(prefix);
	int n = 0;

	pthread_mutex_lock(&t->lock);
	for (struct openfiles_handle *h = t->writers; h; h = h->next)
		if (h->writable && !h->gone && !h->hidden && !strcmp(h->bucket, bucket) &&
		    !strncmp(h->key, prefix, plen))
			n++;
	pthread_mutex_unlock(&t->lock);
	return n;
}

/* A change by path to a file open for writing and not yet published goes
 * to the open file(s), which publish it when closed.  -ENOENT if none. */
int openfiles_writers_setattr(struct s3tree *t, const char *path, const struct backend_setattr *a)
{
	char *bucket, *key;
	int r = s3tree_locate_key(t, path, &bucket, &key);

	if (r < 0)
		return r == -EPERM ? -ENOENT : r;
	r = -ENOENT;
	pthread_mutex_lock(&t->lock);
	for (struct openfiles_handle *h = t->writers; h; h = h->next) {
		struct s3file_info info;

		if (!openfiles_handle_is(h, bucket, key))
			continue;
		s3file_info(h->f, &info);
		if (info.pending)
			r = s3file_setattr(h->f, a);
	}
	pthread_mutex_unlock(&t->lock);
	free(bucket);
	free(key);
	return r;
}

/* h now answers for to_bucket and key (which it takes): 0 or -ENOMEM
 * (then h is unchanged and key freed). */
static int openfiles_handle_move(struct openfiles_handle *h, const char *to_bucket, char *key)
{
	char *b = key ? strdup(to_bucket) : NULL;

	if (!b) {
		free(key);
		return -ENOMEM;
	}
	free(h->bucket);
	free(h->key);
	h->bucket = b;
	h->key = key;
	return 0;
}

/* Tell open files of bucket/key that it is gone, or now elsewhere. */
int openfiles_writers_moved(struct s3tree *t, const char *bucket, const char *key,
			    const char *to_bucket, const char *to_key)
{
	int r = 0;

	pthread_mutex_lock(&t->lock);
	for (struct openfiles_handle *h = t->writers; h; h = h->next) {
		if (!openfiles_handle_is(h, bucket, key))
			continue;
		if (!to_key) {
			h->gone = 1;
			s3file_unlinked(h->f);
			continue;
		}
		r = s3file_retarget(h->f, to_bucket, to_key);
		if (r < 0 || (r = openfiles_handle_move(h, to_bucket, strdup(to_key))) < 0)
			break;
	}
	pthread_mutex_unlock(&t->lock);
	return r;
}

/* The files open on bucket/key were unlinked while open: they publish
 * nothing, keep their data until their last close, and answer for
 * hidden_key (libfuse's name for them) meanwhile.  Called before the
 * object is deleted, so a reader can still copy what it needs. */
int openfiles_writers_hidden(struct s3tree *t, const char *bucket, const char *key,
			     const char *hidden_key)
{
	int r = 0;

	pthread_mutex_lock(&t->lock);
	for (struct openfiles_handle *h = t->writers; h && r == 0; h = h->next) {
		char *k;

		if (!openfiles_handle_is(h, bucket, key))
			continue;
		k = strdup(hidden_key);
		if (!k) {
			r = -ENOMEM;
			break;
		}
		s3file_unlinked(h->f);
		free(h->key);
		h->key = k;
		h->hidden = 1;
	}
	pthread_mutex_unlock(&t->lock);
	return r;
}

int openfiles_hidden_moved(struct s3tree *t, const char *bucket, const char *from_prefix,
			   const char *to_bucket, const char *to_prefix)
{
	size_t plen = strlen(from_prefix);
	int r = 0;

	pthread_mutex_lock(&t->lock);
	for (struct openfiles_handle *h = t->writers; h && r == 0; h = h->next) {
		char *k;

		if (!h->hidden || strcmp(h->bucket, bucket) || strncmp(h->key, from_prefix, plen))
			continue;
		if (asprintf(&k, "%s%s", to_prefix, h->key + plen) < 0)
			k = NULL;
		r = openfiles_handle_move(h, to_bucket, k);
	}
	pthread_mutex_unlock(&t->lock);
	return r;
}

/* ---- open files ---- */

void openfiles_env(struct s3tree *t, struct s3file_env *env)
{
	env->s3 = t->cfg.s3;
	env->prefetch = t->prefetch;
	env->uploader = t->uploader;
	env->spool = t->cfg.spool;
	env->datacache = t->cfg.datacache;
}

static void openfiles_handle_free(struct s3tree *t, struct openfiles_handle *h)
{
	if (!h)
		return;
	pthread_mutex_lock(&t->lock);
	if (h->prev)
		h->prev->next = h->next;
	else if (t->writers == h)
		t->writers = h->next;
	if (h->next)
		h->next->prev = h->prev;
	pthread_mutex_unlock(&t->lock);
	s3file_close(h->f);
	pagecache_close(t->pages, h->pc, h->writable);
	if (h->dc_bucket)
		datacache_drop(t->cfg.datacache, h->dc_bucket, h->dc_key, h->dc_etag);
	free(h->dc_bucket);
	free(h->dc_key);
	free(h->bucket);
	free(h->key);
	free(h);
}

/* Wrap an open s3file into a handle, listed in t->writers (a writer or
 * not).  Takes bucket and key.  etag and size: the object it reads. */
static int openfiles_handle_new(struct s3tree *t, struct s3file *f, char *bucket, char *key,
				int writable, const char *etag, off_t size, void **fh)
{
	struct openfiles_handle *h = calloc(1, sizeof(*h));

	if (!h) {
		s3file_close(f);
		free(bucket);
		free(key);
		return -ENOMEM;
	}
	h->f = f;
	h->bucket = bucket;
	h->key = key;
	h->writable = writable;
	pagecache_open(t->pages, bucket, key, etag, size, writable, &h->keep_cache, &h->pc);
	if (writable && etag && *etag && t->cfg.datacache && strlen(etag) < sizeof(h->dc_etag)) {
		/* Not kept for want of memory: blocks of an old version
		 * are never read (the key has its ETag), only evicted. */
		h->dc_bucket = strdup(bucket);
		h->dc_key = strdup(key);
		strcpy(h->dc_etag, etag);
		if (!h->dc_bucket || !h->dc_key) {
			free(h->dc_bucket);
			free(h->dc_key);
			h->dc_bucket = h->dc_key = NULL;
		}
	}
	pthread_mutex_lock(&t->lock);
	h->next = t->writers;
	if (h->next)
		h->next->prev = h;
	t->writers = h;
	pthread_mutex_unlock(&t->lock);
	*fh = h;
	return 0;
}

static void openfiles_handle_stat(struct s3tree *t, struct openfiles_handle *h, struct stat *st)
{
	struct s3file_info info;

	s3file_info(h->f, &info);
	s3tree_stat_meta(t, st, info.size, info.mtime, &info.meta);
}

int s3tree_open(void *ctx, const char *path, int flags, void **fh, struct stat *st)
{
	struct s3tree *t = ctx;
	int writable = (flags & O_ACCMODE) != O_RDONLY || (flags & O_TRUNC);
	struct s3file_info info;
	struct s3file_env env;
	struct s3file *f;
	struct s3_object obj;
	const char *etag = NULL; /* none: a file not yet published */
	char *bucket, *key, *first = NULL;
	size_t got = 0;
	int r;

	if (writable && (r = s3tree_writable(t)) < 0)
		return r;
	r = s3tree_locate(t, path, &bucket, &key);
	if (r < 0)
		return r;
	if (!bucket || !*key) {
		r = -EISDIR;
		goto fail;
	}
	/* Always ask: a new open must see the object as it is now, and the
	 * ETag pins every later range GET to this version (If-Match).  A
	 * read-only open asks with a GET of the first bytes, which tells as
	 * much as a HEAD: a small file is then one request in all.  Unless
	 * the kernel may still hold the pages, or a disk cache may hold the
	 * blocks: then a HEAD, and no bytes move if the object is
	 * unchanged. */
	if (!writable && !t->cfg.datacache && !pagecache_valid(t->pages, bucket, key) &&
	    (first = malloc(OPENFILES_FIRST_BYTES)))
		r = s3_get_first(t->cfg.s3, bucket, key, first, OPENFILES_FIRST_BYTES, &got, &obj);
	else
		r = s3_head(t->cfg.s3, bucket, key, &obj);
	if (r == -ENOENT && openfiles_writer_info(t, bucket, key, &info) == 0) {
		obj.meta = info.meta;
		/* Created by another open file and not yet published: it is
		 * empty until that file is closed. */
		openfiles_env(t, &env);
		if (writable)
			r = s3file_open(&env, bucket, key, flags | O_TRUNC, NULL, &obj.meta, &f);
		else
			r = s3file_open(&env, bucket, key, flags,
					&(struct s3_object){.meta = obj.meta}, NULL, &f);
	} else if (r == 0) {
		known_note(t, bucket, key, &obj);
		etag = obj.etag;
		openfiles_env(t, &env);
		r = s3file_open(&env, bucket, key, flags, &obj, NULL, &f);
	}
	if (r < 0)
		goto fail;
	if (got)
		(void)s3file_seed(f, first, got); /* else read again when needed */
	free(first);
	/* Pages read from this version are kept across opens while it is
	 * what the open finds. */
	r = openfiles_handle_new(t, f, bucket, key, writable, etag, etag ? obj.size : 0, fh);
	if (r == 0)
		openfiles_handle_stat(t, *fh, st);
	return r;
fail:
	free(first);
	free(bucket);
	free(key);
	return r;
}

int s3tree_create(void *ctx, const char *path, mode_t mode, int flags, void **fh, struct stat *st)
{
	struct s3tree *t = ctx;
	struct s3_meta meta = {
	    .flags = S3_META_MODE | S3_META_MTIME,
	    .mode = S_IFREG | (mode & 07777),
	    .mtime = time(NULL),
	};
	struct s3file_env env;
	struct s3file *f;
	char *bucket, *key;
	int r = s3tree_change(t, path, &bucket, &key);

	if (r < 0)
		return r;
	s3tree_owner_meta(t, &meta);
	openfiles_env(t, &env);
	r = s3file_open(&env, bucket, key, flags | O_TRUNC, NULL, &meta, &f);
	if (r < 0) {
		free(bucket);
		free(key);
		return r;
	}
	r = openfiles_handle_new(t, f, bucket, key, 1, NULL, 0, fh);
	if (r == 0)
		openfiles_handle_stat(t, *fh, st);
	return r;
}

ssize_t s3tree_read(void *ctx, void *fh, char *buf, size_t size, off_t off)
{
	(void)ctx;
	return s3file_read(((struct openfiles_handle *)fh)->f, buf, size, off);
}

ssize_t s3tree_write(void *ctx, const char *path, void *fh, const char *buf, size_t size, off_t off)
{
	struct s3file *f = ((struct openfiles_handle *)fh)->f;
	uid_t uid;
	gid_t gid;

	(void)ctx;
	(void)path;
	backend_caller(&uid, &gid);
	if (uid != 0)
		s3file_kill_setid(f);
	return s3file_write(f, buf, size, off);
}

/* What an open file published, for listings (known.c). */
void openfiles_note_published(struct s3tree *t, struct s3file *f, const char *bucket,
			      const char *key)
{
	struct s3_object obj;

	if (s3file_published(f, &obj) == 0)
		known_note(t, bucket, key, &obj);
}

int s3tree_flush(void *ctx, const char *path, void *fh)
{
	struct s3tree *t = ctx;
	struct openfiles_handle *h = fh;
	int r = s3file_flush(h->f);

	(void)path;
	if (r == 0 && h->writable)
		openfiles_note_published(ctx, h->f, h->bucket, h->key);
	/* Published (or not): the version it opened is no longer the one
	 * to keep. */
	if (h->dc_bucket)
		datacache_drop(t->cfg.datacache, h->dc_bucket, h->dc_key, h->dc_etag);
	return r;
}

int s3tree_fsync(void *ctx, const char *path, void *fh, int datasync)
{
	struct openfiles_handle *h = fh;
	int r = s3file_fsync(h->f);

	(void)path;
	(void)datasync;
	if (r == 0 && h->writable)
		openfiles_note_published(ctx, h->f, h->bucket, h->key);
	return r;
}

int s3tree_keep_cache(void *ctx, void *fh)
{
	(void)ctx;
	return ((struct openfiles_handle *)fh)->keep_cache;
}

int s3tree_fgetattr(void *ctx, void *fh, struct stat *st)
{
	openfiles_handle_stat(ctx, fh, st);
	return 0;
}

int s3tree_release(void *ctx, const char *path, void *fh)
{
	struct openfiles_handle *h = fh;

	(void)path;
	/* close() already published (flush); this only catches a file
	 * whose last flush failed: s3file_close keeps its spool. */
	openfiles_handle_free(ctx, h);
	return 0;
}

/* Open path for a change made without a descriptor (truncate, chmod):
 * like open(2) with flags. */
static int openfiles_open_internal(struct s3tree *t, const char *path, int flags,
				   struct openfiles_handle **h)
{
	struct stat st;
	void *fh = NULL;
	int r = s3tree_open(t, path, flags, &fh, &st);

	if (r == 0 && !fh)
		r = -EIO;
	*h = fh;
	return r;
}

int s3tree_truncate(void *ctx, const char *path, void *fh, off_t size)
{
	struct s3tree *t = ctx;
	struct openfiles_handle *h = fh;
	int r = s3tree_writable(t);

	if (r < 0)
		return r;
	if (size > S3FILE_SIZE_MAX)
		return -EFBIG;
	if (h)
		return s3file_truncate(h->f, size);
	r = openfiles_open_internal(t, path, size == 0 ? O_WRONLY | O_TRUNC : O_RDWR, &h);
	if (r < 0)
		return r;
	r = size == 0 ? 0 : s3file_truncate(h->f, size);
	if (r == 0)
		r = s3file_flush(h->f);
	if (r == 0)
		openfiles_note_published(t, h->f, h->bucket, h->key);
	openfiles_handle_free(t, h);
	return r;
}

struct s3file *openfiles_file(void *fh)
{
	return ((struct openfiles_handle *)fh)->f;
}
