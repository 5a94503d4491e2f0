/* s3file.c - see s3file.h
 *
 * Lock order: s3file.lock (a rwlock) before anything upload, spool or
 * prefetch take.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "datacache.h"
#include "log.h"
#include "s3/prefetch.h"
#include "s3file.h"
#include "spool.h"
#include "s3/upload.h"

/* An object unlinked while open is copied to the spool up to this size,
 * so its descriptors can read it until they close. */
#define S3FILE_KEEP_MAX (64LL << 20)

/* Copies between S3 and the spool go in pieces this size. */
#define S3FILE_COPY_CHUNK (1u << 20)

enum s3file_state {
	S3FILE_CLEAN,
	S3FILE_STREAM,
	S3FILE_SPOOL,
};

struct s3file {
	struct s3file_env env;
	pthread_rwlock_t lock;
	char *bucket, *key;
	int writable;
	int rdwr;   /* O_RDWR: may read back what it writes, so spool */
	int append; /* O_APPEND: every write lands at the end */

	/* The object in S3 as this file last saw or made it. */
	int exists;
	s3_etag etag;
	off_t obj_size;
	time_t obj_mtime;
	struct prefetch_file *pf; /* reads it; NULL until needed */
	char *pf_bucket, *pf_key; /* what pf reads, kept across renames */
	/* Reads go straight to the disk cache's blocks, not through pf,
	 * until one misses (atomic): a file the cache holds whole is read
	 * as a local one, with the kernel's read-ahead only. */
	int from_disk;

	enum s3file_state state;
	struct upload *up;
	struct s3_meta up_meta; /* what the multipart upload was created with */
	struct spool_file *spool;
	off_t size;

	struct s3_meta meta; /* what the object gets when published */
	int dirty;	     /* bytes to publish */
	int meta_dirty;	     /* metadata to publish */
	int mtime_set;	     /* meta.mtime was set explicitly after the last write */
	int unlinked;
	int err; /* a failure that lost the data: every flush reports it */
	time_t changed;

	/* What stat shows, refreshed after every change, so that lookups
	 * never wait for a write, a flush or an upload in progress. */
	pthread_mutex_t info_lock;
	struct s3file_info info;
};

static void s3file_label(const struct s3file *f, char *out, size_t size)
{
	s3_uri(f->bucket, f->key, out, size);
}

/* ---- reading what S3 has ---- */

static ssize_t s3file_fetch_s3(void *arg, off_t off, size_t len, char *buf)
{
	struct s3file *f = arg;

	return s3_get_range(f->env.s3, f->pf_bucket, f->pf_key, off, len,
			    f->etag[0] ? f->etag : NULL, buf);
}

/* Through the disk cache, if any, for a version known by its ETag. */
static ssize_t s3file_fetch(void *arg, off_t off, size_t len, char *buf)
{
	struct s3file *f = arg;

	if (f->env.datacache && f->etag[0])
		return datacache_read(f->env.datacache, f->pf_bucket, f->pf_key, f->etag,
				      f->obj_size, off, len, buf, s3file_fetch_s3, f);
	return s3file_fetch_s3(arg, off, len, buf);
}

/* Start reading the object as it is now (called with the lock held
 * alone, or at open). */
static int s3file_reader(struct s3file *f)
{
	if (f->pf)
		return 0;
	free(f->pf_bucket);
	free(f->pf_key);
	f->pf_bucket = strdup(f->bucket);
	f->pf_key = strdup(f->key);
	if (!f->pf_bucket || !f->pf_key)
		return -ENOMEM;
	f->pf = prefetch_open(f->env.prefetch, f->obj_size, s3file_fetch, f);
	f->from_disk = f->env.datacache && f->etag[0];
	return f->pf ? 0 : -ENOMEM;
}

static void s3file_drop_reader(struct s3file *f)
{
	prefetch_close(f->pf);
	f->pf = NULL;
}

static ssize_t s3file_read_object(struct s3file *f, char *buf, size_t size, off_t off)
{
	ssize_t n;
	char uri[1200];

	if (off >= f->obj_size)
		return 0;
	if (__atomic_load_n(&f->from_disk, __ATOMIC_RELAXED)) {
		n = datacache_read_cached(f->env.datacache, f->pf_bucket, f->pf_key, f->etag,
					  f->obj_size, off, size, buf);
		if (n >= 0)
			return n;
		/* From here on, whatever is not cached streams from S3
		 * with read-ahead (which still takes what is cached). */
		__atomic_store_n(&f->from_disk, 0, __ATOMIC_RELAXED);
	}
	n = prefetch_read(f->pf, buf, size, off);
	if (n == -ESTALE || n == -ENOENT) {
		s3file_label(f, uri, sizeof(uri));
		log_err("%s: the object changed or was deleted while open; reopen it", uri);
		return -EIO;
	}
	return n;
}

/* ---- state changes ---- */

static int s3file_start_stream(struct s3file *f)
{
	/* The upload may carry the metadata from its start: give it the
	 * time the new bytes begin, not the object's old one. */
	f->meta.mtime = f->meta.ctime = time(NULL);
	f->meta.flags |= S3_META_MTIME | S3_META_CTIME;
	f->up = upload_new(f->env.uploader, f->bucket, f->key, &f->meta);
	if (!f->up)
		return -ENOMEM;
	f->up_meta = f->meta;
	f->state = S3FILE_STREAM;
	f->size = 0;
	return 0;
}

static int s3file_new_spool(struct s3file *f)
{
	char uri[1200];

	s3file_label(f, uri, sizeof(uri));
	return spool_create(f->env.spool, uri, &f->spool);
}

/* Move to a spool holding the file's first keep bytes.  From a stream,
 * only while all its bytes are still in memory. */
static int s3file_to_spool(struct s3file *f, off_t keep)
{
	char uri[1200], *buf = NULL;
	int r;

	if (f->state == S3FILE_SPOOL)
		return 0;
	if (f->state == S3FILE_STREAM && upload_started(f->up)) {
		s3file_label(f, uri, sizeof(uri));
		log_err("%s: a write or read went back into the first %lld bytes, which were "
			"already streamed to S3; open the file O_RDWR (or copy it in and edit "
			"it after close) to write out of order",
			uri, (long long)upload_size(f->up));
		return -EIO;
	}
	r = s3file_new_spool(f);
	if (r < 0)
		return r;
	if (f->state == S3FILE_STREAM) {
		size_t len;
		const char *data = upload_pending(f->up, &len);

		r = len ? spool_pwrite(f->spool, data, len, 0) : 0;
		if (r < 0)
			goto fail;
		upload_free(f->up);
		f->up = NULL;
	} else {
		/* Clean: fetch the bytes to keep. */
		off_t n = keep < f->obj_size ? keep : f->obj_size;

		if (n > 0) {
			buf = malloc(S3FILE_COPY_CHUNK);
			r = buf ? s3file_reader(f) : -ENOMEM;
			if (r < 0)
				goto fail;
		}
		for (off_t off = 0; off < n;) {
			size_t want =
			    n - off > S3FILE_COPY_CHUNK ? S3FILE_COPY_CHUNK : (size_t)(n - off);
			ssize_t got = s3file_read_object(f, buf, want, off);

			if (got <= 0) {
				r = got < 0 ? (int)got : -EIO;
				goto fail;
			}
			r = spool_pwrite(f->spool, buf, (size_t)got, off);
			if (r < 0)
				goto fail;
			off += got;
		}
		f->size = n;
		free(buf);
		buf = NULL;
	}
	f->state = S3FILE_SPOOL;
	return 0;
fail:
	free(buf);
	spool_close(f->spool);
	f->spool = NULL;
	return r;
}

/* An O_APPEND writer of a large object: a stream whose first part S3
 * copies from the object itself, so only the new bytes travel.  Falls
 * back to a spool if the server will not copy. */
static int s3file_start_append(struct s3file *f)
{
	char uri[1200];
	int r = s3file_start_stream(f);

	if (r < 0)
		return r;
	r = upload_start_with_copy(f->up, f->bucket, f->key, f->etag, f->obj_size);
	if (r == 0) {
		f->size = f->obj_size;
		return 0;
	}
	s3file_label(f, uri, sizeof(uri));
	log_info("%s: the server did not copy the object for an append (%s); spooling it", uri,
		 strerror(-r));
	upload_free(f->up);
	f->up = NULL;
	f->state = S3FILE_CLEAN;
	return s3file_to_spool(f, f->obj_size);
}

/* Get ready for a change: a clean file becomes a stream when it starts
 * empty and is written in order (or is a large object appended to), a
 * spool otherwise. */
static int s3file_begin_change(struct s3file *f, off_t off, off_t keep)
{
	if (f->state != S3FILE_CLEAN)
		return 0;
	if (!f->rdwr && off == 0 && keep == 0)
		return s3file_start_stream(f);
	if (f->append && !f->rdwr && f->exists && f->etag[0] && off == f->obj_size &&
	    keep == f->obj_size && f->obj_size >= (off_t)UPLOAD_COPY_MIN &&
	    f->obj_size <= UPLOAD_COPY_MAX)
		return s3file_start_append(f);
	if (keep == 0 || f->obj_size == 0) {
		int r = s3file_new_spool(f);

		if (r == 0) {
			f->state = S3FILE_SPOOL;
			f->size = 0;
		}
		return r;
	}
	return s3file_to_spool(f, keep);
}

/* New bytes: mtime and ctime are now (ctime kept as s3fs keeps it,
 * x-amz-meta-ctime). */
static void s3file_touch(struct s3file *f)
{
	f->dirty = 1;
	f->mtime_set = 0;
	f->changed = time(NULL);
	f->meta.ctime = f->changed;
	f->meta.flags |= S3_META_CTIME;
}

/* Recompute what stat shows; called with f->lock held alone (or at open). */
static void s3file_refresh(struct s3file *f)
{
	struct s3file_info info = {
	    .size = f->state == S3FILE_CLEAN ? f->obj_size : f->size,
	    .meta = f->meta,
	    .pending = !f->unlinked && (f->dirty || f->meta_dirty || !f->exists),
	};

	info.mtime = (f->meta.flags & S3_META_MTIME) && (f->mtime_set || !f->dirty)
			 ? f->meta.mtime
			 : (f->dirty ? f->changed : f->obj_mtime);
	pthread_mutex_lock(&f->info_lock);
	f->info = info;
	pthread_mutex_unlock(&f->info_lock);
}

/* ---- open, read, write ---- */

int s3file_open(const struct s3file_env *env, const char *bucket, const char *key, int flags,
		const struct s3_object *obj, const struct s3_meta *meta, struct s3file **out)
{
	struct s3file *f = calloc(1, sizeof(*f));
	int r = -ENOMEM;

	if (!f)
		return -ENOMEM;
	f->env = *env;
	pthread_rwlock_init(&f->lock, NULL);
	pthread_mutex_init(&f->info_lock, NULL);
	f->bucket = strdup(bucket);
	f->key = strdup(key);
	if (!f->bucket || !f->key)
		goto fail;
	f->writable = (flags & O_ACCMODE) != O_RDONLY;
	f->rdwr = (flags & O_ACCMODE) == O_RDWR;
	f->append = (flags & O_APPEND) != 0;
	f->changed = time(NULL);
	if (obj) {
		f->exists = 1;
		memcpy(f->etag, obj->etag, sizeof(f->etag));
		f->obj_size = obj->size;
		f->obj_mtime = obj->mtime;
		f->size = obj->size;
		f->meta = obj->meta;
	} else if (meta) {
		f->meta = *meta;
	}
	if (!obj || (flags & O_TRUNC)) {
		/* Created or truncated (O_RDONLY | O_TRUNC truncates too, as
		 * on Linux's own file systems): empty, and published at close
		 * even if nothing is written. */
		f->obj_size = 0;
		f->size = 0;
		r = s3file_begin_change(f, 0, 0);
		if (r < 0)
			goto fail;
		s3file_touch(f);
	} else {
		r = s3file_reader(f);
		if (r < 0)
			goto fail;
	}
	s3file_refresh(f);
	*out = f;
	return 0;
fail:
	s3file_close(f);
	return r;
}

int s3file_seed(struct s3file *f, const char *data, size_t len)
{
	int r = 0;

	pthread_rwlock_wrlock(&f->lock);
	if (f->state == S3FILE_CLEAN && f->pf)
		r = prefetch_seed(f->pf, data, len);
	pthread_rwlock_unlock(&f->lock);
	return r;
}

ssize_t s3file_read(struct s3file *f, char *buf, size_t size, off_t off)
{
	ssize_t n;

	pthread_rwlock_rdlock(&f->lock);
	if (f->state == S3FILE_CLEAN && f->pf) {
		/* The common case, and the only one that runs in parallel. */
		n = s3file_read_object(f, buf, size, off);
		pthread_rwlock_unlock(&f->lock);
		return n;
	}
	pthread_rwlock_unlock(&f->lock);

	pthread_rwlock_wrlock(&f->lock);
	n = 0;
	if (f->state == S3FILE_CLEAN) {
		n = s3file_reader(f);
		if (n == 0)
			n = s3file_read_object(f, buf, size, off);
	} else {
		if (f->state == S3FILE_STREAM)
			n = s3file_to_spool(f, f->size);
		if (n == 0 && off < f->size) {
			if ((off_t)size > f->size - off)
				size = (size_t)(f->size - off);
			n = spool_pread(f->spool, buf, size, off);
		}
	}
	pthread_rwlock_unlock(&f->lock);
	return n;
}

ssize_t s3file_write(struct s3file *f, const char *buf, size_t size, off_t off)
{
	int r;

	if (off > S3FILE_SIZE_MAX || (off_t)size > S3FILE_SIZE_MAX - off)
		return -EFBIG;
	pthread_rwlock_wrlock(&f->lock);
	if (f->err) {
		r = f->err;
		goto out;
	}
	/* Bytes before off are kept, and those after off + size too. */
	r = s3file_begin_change(f, off, f->state == S3FILE_CLEAN ? f->obj_size : 0);
	if (r < 0)
		goto out;
	if (f->state == S3FILE_STREAM && off != f->size) {
		if (off > f->size) {
			/* A hole (lseek past the end, cp --sparse): zeros. */
			r = upload_write_zeros(f->up, off - f->size);
			if (r == 0)
				f->size = off;
		} else {
			r = s3file_to_spool(f, f->size);
		}
		if (r < 0)
			goto fail_stream;
	}
	if (f->state == S3FILE_STREAM) {
		r = upload_write(f->up, buf, size);
		if (r < 0)
			goto fail_stream;
		f->size += (off_t)size;
	} else {
		r = spool_pwrite(f->spool, buf, size, off);
		if (r < 0)
			goto out;
		if (off + (off_t)size > f->size)
			f->size = off + (off_t)size;
	}
	s3file_touch(f);
	r = (int)size;
	goto out;
fail_stream:
	/* The stream cannot go on: what it held is lost, so every close()
	 * from here on says so. */
	f->err = r;
out:
	s3file_refresh(f);
	pthread_rwlock_unlock(&f->lock);
	return r;
}

int s3file_truncate(struct s3file *f, off_t size)
{
	int r;

	if (size < 0)
		return -EINVAL;
	if (size > S3FILE_SIZE_MAX)
		return -EFBIG;
	pthread_rwlock_wrlock(&f->lock);
	if (f->err) {
		r = f->err;
		goto out;
	}
	if (f->state == S3FILE_CLEAN && size == f->obj_size) {
		r = 0;
		goto out;
	}
	r = s3file_begin_change(f, size == 0 ? 0 : -1, size);
	if (r < 0)
		goto out;
	if (f->state == S3FILE_STREAM && size > f->size) {
		r = upload_write_zeros(f->up, size - f->size);
		if (r < 0) {
			f->err = r;
			goto out;
		}
	} else if (f->state == S3FILE_STREAM && size < f->size) {
		r = s3file_to_spool(f, f->size);
		if (r < 0)
			goto out;
	}
	if (f->state == S3FILE_SPOOL) {
		r = spool_truncate(f->spool, size);
		if (r < 0)
			goto out;
	}
	f->size = size;
	s3file_touch(f);
out:
	s3file_refresh(f);
	pthread_rwlock_unlock(&f->lock);
	return r;
}

/* The set-id bits a write or chown by an unprivileged user clears, as
 * the kernel's should_remove_suid: set-user-ID, and set-group-ID when
 * the group may execute. */
static mode_t s3file_setid_bits(mode_t mode)
{
	mode_t kill = mode & S_ISUID;

	if ((mode & (S_ISGID | S_IXGRP)) == (S_ISGID | S_IXGRP))
		kill |= S_ISGID;
	return kill;
}

void s3file_kill_setid(struct s3file *f)
{
	struct s3file_info info;

	s3file_info(f, &info);
	if (!(info.meta.flags & S3_META_MODE) || !s3file_setid_bits(info.meta.mode))
		return;
	pthread_rwlock_wrlock(&f->lock);
	f->meta.mode &= ~s3file_setid_bits(f->meta.mode);
	f->meta.ctime = time(NULL);
	f->meta.flags |= S3_META_CTIME;
	f->meta_dirty = 1;
	s3file_refresh(f);
	pthread_rwlock_unlock(&f->lock);
}

int s3file_setattr(struct s3file *f, const struct backend_setattr *a)
{
	pthread_rwlock_wrlock(&f->lock);
	if (a->set & BACKEND_SET_MODE) {
		mode_t type = (f->meta.flags & S3_META_MODE) ? (f->meta.mode & S_IFMT) : S_IFREG;

		f->meta.mode = type | (a->mode & 07777);
		f->meta.flags |= S3_META_MODE;
	}
	if (a->set & BACKEND_SET_UID) {
		f->meta.uid = a->uid;
		f->meta.flags |= S3_META_UID;
	}
	if (a->set & BACKEND_SET_GID) {
		f->meta.gid = a->gid;
		f->meta.flags |= S3_META_GID;
	}
	if (a->set & BACKEND_SET_MTIME) {
		f->meta.mtime = a->mtime;
		f->meta.flags |= S3_META_MTIME;
		f->mtime_set = 1;
	}
	if ((a->set & BACKEND_SET_KILL_SETID) && (f->meta.flags & S3_META_MODE))
		f->meta.mode &= ~s3file_setid_bits(f->meta.mode);
	/* Every change of attributes is a change of the inode. */
	f->meta.ctime = time(NULL);
	f->meta.flags |= S3_META_CTIME;
	f->meta_dirty = 1;
	s3file_refresh(f);
	pthread_rwlock_unlock(&f->lock);
	return 0;
}

/* ---- publishing ---- */

/* Upload the spool whole. */
static int s3file_upload_spool(struct s3file *f, s3_etag etag)
{
	struct upload *up = upload_new(f->env.uploader, f->bucket, f->key, &f->meta);
	char *buf = malloc(S3FILE_COPY_CHUNK);
	int r = up && buf ? 0 : -ENOMEM;

	for (off_t off = 0; r == 0 && off < f->size;) {
		size_t want =
		    f->size - off > S3FILE_COPY_CHUNK ? S3FILE_COPY_CHUNK : (size_t)(f->size - off);
		ssize_t n = spool_pread(f->spool, buf, want, off);

		if (n <= 0) {
			r = n < 0 ? (int)n : -EIO;
			break;
		}
		r = upload_write(up, buf, (size_t)n);
		off += n;
	}
	free(buf);
	if (r == 0)
		r = upload_finish(up, etag);
	upload_free(up);
	return r;
}

/* Whether metadata changed in ways the upload did not carry. */
static int s3file_meta_changed(const struct s3_meta *a, const struct s3_meta *b, int mtime_set)
{
	return a->flags != b->flags || a->mode != b->mode || a->uid != b->uid || a->gid != b->gid ||
	       (mtime_set && a->mtime != b->mtime);
}

static int s3file_publish(struct s3file *f)
{
	s3_etag etag = "";
	char uri[1200];
	int r = 0;

	if (f->unlinked) {
		/* Removed while open: it must not come back at close, and
		 * what it holds stays readable until its last close
		 * (s3file_close frees it). */
		return 0;
	}
	if (!f->dirty && !f->meta_dirty)
		return 0;
	if (f->dirty && !f->mtime_set) {
		/* New bytes: the time they were written.  A change of
		 * attributes alone keeps the stored time, as ctime would. */
		f->meta.mtime = f->changed;
		f->meta.flags |= S3_META_MTIME;
	}
	if (f->dirty && f->state == S3FILE_STREAM) {
		int late = upload_set_meta(f->up, &f->meta);

		r = upload_finish(f->up, etag);
		upload_free(f->up);
		f->up = NULL;
		f->state = S3FILE_CLEAN;
		if (r < 0) {
			f->err = r;
			return r;
		}
		/* Metadata set after the upload began (chmod or futimens of
		 * the open file, as cp -p does) needs a copy onto itself. */
		f->meta_dirty = late && s3file_meta_changed(&f->meta, &f->up_meta, f->mtime_set);
	} else if (f->dirty) {
		r = s3file_upload_spool(f, etag);
		if (r < 0) {
			/* The spool still holds everything: a later close
			 * may try again, and release keeps the file. */
			return r;
		}
		f->meta_dirty = 0;
	}
	if (f->meta_dirty) {
		if (!f->exists && !f->dirty) {
			/* Nothing in S3 yet to carry it: kept for the upload. */
			return 0;
		}
		r = s3_copy(f->env.s3, f->bucket, f->key, etag[0] ? etag : f->etag, f->bucket,
			    f->key, &f->meta, NULL, etag);
		if (r < 0) {
			s3file_label(f, uri, sizeof(uri));
			log_err("%s: could not store its new attributes", uri);
			return r;
		}
		f->meta_dirty = 0;
	}
	if (f->dirty) {
		f->obj_size = f->size;
		f->obj_mtime = f->meta.mtime;
	}
	f->dirty = 0;
	f->exists = 1;
	memcpy(f->etag, etag, sizeof(f->etag));
	s3file_drop_reader(f);
	return 0;
}

int s3file_flush(struct s3file *f)
{
	int r;

	pthread_rwlock_wrlock(&f->lock);
	r = f->err ? f->err : s3file_publish(f);
	s3file_refresh(f);
	pthread_rwlock_unlock(&f->lock);
	return r;
}

int s3file_fsync(struct s3file *f)
{
	int r;

	pthread_rwlock_wrlock(&f->lock);
	if (f->err)
		r = f->err;
	else if (f->state == S3FILE_STREAM)
		/* Completing the upload now would end the stream: later
		 * writes would have to fetch the object back.  So fsync waits
		 * until every part handed over is stored, and says whether
		 * all were; the object appears at close. */
		r = upload_wait(f->up);
	else
		r = s3file_publish(f);
	s3file_refresh(f);
	pthread_rwlock_unlock(&f->lock);
	return r;
}

void s3file_close(struct s3file *f)
{
	if (!f)
		return;
	upload_free(f->up);
	if (f->spool) {
		if (f->dirty && !f->unlinked)
			spool_keep(f->spool, "could not be uploaded");
		else
			spool_close(f->spool);
	}
	s3file_drop_reader(f);
	pthread_rwlock_destroy(&f->lock);
	pthread_mutex_destroy(&f->info_lock);
	free(f->pf_bucket);
	free(f->pf_key);
	free(f->bucket);
	free(f->key);
	free(f);
}

/* ---- for the tree ---- */

void s3file_info(struct s3file *f, struct s3file_info *out)
{
	pthread_mutex_lock(&f->info_lock);
	*out = f->info;
	pthread_mutex_unlock(&f->info_lock);
}

int s3file_retarget(struct s3file *f, const char *bucket, const char *key)
{
	char *b = strdup(bucket), *k = strdup(key);
	int r = b && k ? 0 : -ENOMEM;

	pthread_rwlock_wrlock(&f->lock);
	/* A stream's multipart upload is bound to its key: one whose parts
	 * have left cannot move, one still in memory becomes a spool. */
	if (r == 0 && f->state == S3FILE_STREAM)
		r = upload_started(f->up) ? -EBUSY : s3file_to_spool(f, f->size);
	if (r == 0) {
		free(f->bucket);
		free(f->key);
		f->bucket = b;
		f->key = k;
		b = k = NULL;
	}
	pthread_rwlock_unlock(&f->lock);
	free(b);
	free(k);
	return r;
}

void s3file_unlinked(struct s3file *f)
{
	char uri[1200];

	pthread_rwlock_wrlock(&f->lock);
	/* A file still as S3 has it: copy it in while the object is there,
	 * so its descriptors read it until they close (up to a bound). */
	if (f->state == S3FILE_CLEAN && f->exists && f->obj_size > 0) {
		int r = f->obj_size <= S3FILE_KEEP_MAX ? s3file_to_spool(f, f->obj_size) : -EFBIG;

		if (r < 0) {
			s3file_label(f, uri, sizeof(uri));
			log_warn("%s: unlinked while open, and its bytes could not be kept (%s): "
				 "its descriptors read what S3 still has",
				 uri, strerror(-r));
		}
	}
	f->unlinked = 1;
	s3file_refresh(f);
	pthread_rwlock_unlock(&f->lock);
}

int s3file_published(struct s3file *f, struct s3_object *out)
{
	int r = -ENOENT;

	pthread_rwlock_rdlock(&f->lock);
	if (f->exists && !f->unlinked && !f->dirty && !f->meta_dirty && f->etag[0]) {
		memset(out, 0, sizeof(*out));
		memcpy(out->etag, f->etag, sizeof(out->etag));
		out->size = f->obj_size;
		out->meta = f->meta;
		r = 0;
	}
	pthread_rwlock_unlock(&f->lock);
	return r;
}
