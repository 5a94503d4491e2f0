/* rename.c - see s3tree_i.h */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "pool.h"
#include "s3/s3.h"
#include "s3file.h"
#include "s3tree_i.h"

/* CopyObject's limit; larger objects are copied part by part. */
#define RENAME_COPY_MAX	 (5LL << 30)
#define RENAME_COPY_PART (1LL << 30)

/* Copy one object, part by part past CopyObject's 5 GiB.  src: the
 * source as a HEAD saw it (NULL: copy its metadata as it is); up to 5 GiB
 * it then becomes the copy as made (its ETag, its metadata, time 0:
 * unknown), else its ETag is cleared. */
static int rename_copy_object(struct s3tree *t, const char *bucket, const char *from,
			      const char *to_bucket, const char *to, off_t size, const char *etag,
			      struct s3_object *src)
{
	s3_etag *parts = NULL;
	char *upload_id = NULL;
	struct s3_object obj;
	unsigned n;
	int r;

	if (size <= RENAME_COPY_MAX && src) {
		/* A renamed file's ctime is now: its metadata goes with it,
		 * with that one change. */
		struct s3_meta meta = src->meta;
		s3_etag made = "";

		meta.ctime = time(NULL);
		meta.flags |= S3_META_CTIME;
		r = s3_copy(t->cfg.s3, bucket, from, etag, to_bucket, to, &meta,
			    src->content_type[0] ? src->content_type : NULL, made);
		memcpy(src->etag, made, sizeof(made));
		src->meta = meta;
		src->mtime = 0;
		return r;
	}
	if (src)
		src->etag[0] = '\0';
	if (size <= RENAME_COPY_MAX)
		return s3_copy(t->cfg.s3, bucket, from, etag, to_bucket, to, NULL, NULL, NULL);
	/* The metadata of the source goes with the new upload. */
	r = s3_head(t->cfg.s3, bucket, from, &obj);
	if (r < 0)
		return r;
	n = (unsigned)((size + RENAME_COPY_PART - 1) / RENAME_COPY_PART);
	parts = calloc(n, sizeof(*parts));
	if (!parts)
		return -ENOMEM;
	if (src) {
		obj.meta.ctime = time(NULL);
		obj.meta.flags |= S3_META_CTIME;
	}
	r = s3_mpu_create(t->cfg.s3, to_bucket, to, &obj.meta, &upload_id);
	for (unsigned i = 0; r == 0 && i < n; i++) {
		off_t off = (off_t)i * RENAME_COPY_PART;
		off_t len = size - off < RENAME_COPY_PART ? size - off : RENAME_COPY_PART;

		r = s3_mpu_copy_part(t->cfg.s3, to_bucket, to, upload_id, i + 1, bucket, from, etag,
				     off, len, parts[i]);
	}
	if (r == 0) {
		s3_etag done;

		r = s3_mpu_complete(t->cfg.s3, to_bucket, to, upload_id, parts, n, done);
	}
	if (r < 0 && upload_id)
		s3_mpu_abort(t->cfg.s3, to_bucket, to, upload_id);
	free(upload_id);
	free(parts);
	return r;
}

struct rename_key {
	char *key;
	off_t size;
	s3_etag etag;
};

struct rename_keys {
	struct rename_key *keys;
	size_t n, cap;
};

static int rename_collect_key(void *arg, const struct s3xml_entry *e)
{
	struct rename_keys *ks = arg;

	if (e->kind != S3XML_OBJECT)
		return 0;
	if (ks->n == ks->cap) {
		size_t cap = ks->cap ? ks->cap * 2 : 64;
		struct rename_key *k = realloc(ks->keys, cap * sizeof(*k));

		if (!k)
			return -ENOMEM;
		ks->keys = k;
		ks->cap = cap;
	}
	ks->keys[ks->n].key = strdup(e->name);
	if (!ks->keys[ks->n].key)
		return -ENOMEM;
	ks->keys[ks->n].size = e->size;
	snprintf(ks->keys[ks->n].etag, sizeof(s3_etag), "%s", e->etag ? e->etag : "");
	ks->n++;
	return 0;
}

/* A folder rename runs its copies, then its deletes, on the pool. */
struct rename_batch {
	struct s3tree *t;
	const char *bucket, *to_bucket;
	const char *from_prefix, *to_prefix;
	struct rename_keys *ks;
	int deleting;
	size_t next;
	int err;
	unsigned running;
	pthread_mutex_t lock;
	pthread_cond_t cond;
};

static void rename_batch_job(void *arg)
{
	struct rename_batch *b = arg;

	pthread_mutex_lock(&b->lock);
	while (!b->err && b->next < b->ks->n) {
		struct rename_key *k = &b->ks->keys[b->next++];
		char *to = NULL;
		int r;

		pthread_mutex_unlock(&b->lock);
		if (b->deleting) {
			r = s3_delete(b->t->cfg.s3, b->bucket, k->key);
		} else if (asprintf(&to, "%s%s", b->to_prefix, k->key + strlen(b->from_prefix)) <
			   0) {
			r = -ENOMEM;
		} else {
			r = rename_copy_object(b->t, b->bucket, k->key, b->to_bucket, to, k->size,
					       k->etag[0] ? k->etag : NULL, NULL);
		}
		free(to);
		pthread_mutex_lock(&b->lock);
		if (r < 0 && !b->err)
			b->err = r;
	}
	b->running--;
	pthread_cond_broadcast(&b->cond);
	pthread_mutex_unlock(&b->lock);
}

static int rename_batch_run(struct rename_batch *b, int deleting)
{
	unsigned n = b->t->cfg.workers > 1 ? b->t->cfg.workers / 2 : 1;

	b->deleting = deleting;
	b->next = 0;
	for (unsigned i = 0; i < n; i++) {
		pthread_mutex_lock(&b->lock);
		b->running++;
		pthread_mutex_unlock(&b->lock);
		if (pool_submit(b->t->workers, rename_batch_job, b) < 0)
			rename_batch_job(b);
	}
	pthread_mutex_lock(&b->lock);
	while (b->running)
		pthread_cond_wait(&b->cond, &b->lock);
	pthread_mutex_unlock(&b->lock);
	return b->err;
}

/* Every key below from_prefix copied below to_prefix, then deleted: not
 * atomic; a failure midway leaves the copies made so far and every
 * original. */
static int rename_dir(struct s3tree *t, const char *bucket, const char *from_prefix,
		      const char *to_bucket, const char *to_prefix)
{
	struct rename_keys ks = {0};
	struct rename_batch b = {
	    .t = t,
	    .bucket = bucket,
	    .to_bucket = to_bucket,
	    .from_prefix = from_prefix,
	    .to_prefix = to_prefix,
	    .ks = &ks,
	};
	int r;

	r = s3_list(t->cfg.s3, bucket, from_prefix, NULL, 0, rename_collect_key, &ks);
	if (r == 0 && ks.n == 0)
		r = -ENOENT;
	pthread_mutex_init(&b.lock, NULL);
	pthread_cond_init(&b.cond, NULL);
	if (r == 0)
		r = rename_batch_run(&b, 0);
	if (r == 0)
		r = rename_batch_run(&b, 1);
	for (size_t i = 0; r == 0 && i < ks.n; i++) {
		/* What listings show of the keys below (their modes, owners,
		 * links) moves with them (known.c). */
		char *to;

		if (asprintf(&to, "%s%s", to_prefix, ks.keys[i].key + strlen(from_prefix)) < 0)
			break;
		known_move(t, bucket, ks.keys[i].key, to_bucket, to);
		free(to);
	}
	pthread_mutex_destroy(&b.lock);
	pthread_cond_destroy(&b.cond);
	for (size_t i = 0; i < ks.n; i++)
		free(ks.keys[i].key);
	free(ks.keys);
	return r;
}

/* libfuse's rename of a file unlinked while open to its hidden name: the
 * unlink, done now (the object goes; the open files keep their data and
 * answer for the hidden name until their last close, see fuseops.h). */
static int rename_hide(struct s3tree *t, const char *bucket, const char *key,
		       const char *hidden_key)
{
	int r = openfiles_writers_hidden(t, bucket, key, hidden_key);

	return r < 0 ? r : s3_delete(t->cfg.s3, bucket, key);
}

/* The kernel has looked both names up and checked what rename(2) asks
 * (types, RENAME_NOREPLACE, a folder into itself) against what it saw. */
int s3tree_rename(void *ctx, const char *from, const char *to, unsigned flags)
{
	struct s3tree *t = ctx;
	char *bucket = NULL, *key = NULL, *to_bucket = NULL, *to_key = NULL;
	char *from_prefix = NULL, *to_prefix = NULL;
	struct s3file_info info;
	struct s3_object obj;
	int r = s3tree_writable(t), pending;

	if (r < 0)
		return r;
	if (flags & ~(unsigned)RENAME_NOREPLACE)
		return -EINVAL;
	r = s3tree_locate_key(t, from, &bucket, &key);
	if (r == 0)
		r = s3tree_locate_key(t, to, &to_bucket, &to_key);
	if (r < 0)
		goto out;

	if (backend_is_hidden_name(to)) {
		r = rename_hide(t, bucket, key, to_key);
		goto out;
	}

	/* A file: an object, or one open and not yet published, or both. */
	pending = openfiles_writer_info(t, bucket, key, &info) == 0;
	r = s3_head(t->cfg.s3, bucket, key, &obj);
	if (r == 0 || (r == -ENOENT && pending)) {
		int exists = r == 0;

		r = openfiles_writers_moved(t, bucket, key, to_bucket, to_key);
		if (r == 0 && exists)
			r = rename_copy_object(t, bucket, key, to_bucket, to_key, obj.size,
					       obj.etag, &obj);
		if (r == 0 && exists)
			r = s3_delete(t->cfg.s3, bucket, key);
		if (r == 0 && exists) {
			/* What the copy is, for listings (known.c). */
			known_note(t, to_bucket, to_key, obj.etag[0] ? &obj : NULL);
			if ((obj.meta.flags & S3_META_MODE) && S_ISLNK(obj.meta.mode))
				known_note_link(t, to_bucket, to_key);
			known_note(t, bucket, key, NULL);
		}
		goto out;
	}
	if (r != -ENOENT)
		goto out;

	/* A folder: everything below it moves. */
	from_prefix = s3tree_dir_prefix(key);
	to_prefix = s3tree_dir_prefix(to_key);
	if (!from_prefix || !to_prefix) {
		r = -ENOMEM;
		goto out;
	}
	r = s3tree_has_children(t, to_bucket, to_prefix);
	if (r > 0)
		r = -ENOTEMPTY;
	if (r == 0)
		r = rename_dir(t, bucket, from_prefix, to_bucket, to_prefix);
	if (r == 0)
		r = openfiles_hidden_moved(t, bucket, from_prefix, to_bucket, to_prefix);
out:
	free(bucket);
	free(key);
	free(to_bucket);
	free(to_key);
	free(from_prefix);
	free(to_prefix);
	return r;
}
