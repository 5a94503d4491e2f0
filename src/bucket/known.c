/* known.c - see s3tree_i.h
 *
 * A listing gives each key's size, time and ETag but not its metadata, and
 * a HEAD per file would cost a request per file.  So the tree remembers
 * what its HEADs saw (the object's ETag and time with its metadata) and a
 * listing entry with the same ETag and time gets that metadata: a file
 * chmod'ed, a link or a file of another owner shows as such in ls -l, and
 * lookups answered from a listing never turn a link the kernel knows into
 * a file (which the kernel takes as a bad inode: EIO).  A copy made here
 * (a rename) is known by its ETag alone until a HEAD sees it.  Keys this mount
 * made into links, or renamed as links, are remembered as links even
 * before a HEAD sees their new ETag.  Bounded: past KNOWN_MAX keys, all
 * are forgotten.
 */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <search.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "s3tree_i.h"

#define KNOWN_MAX 100000

struct known {
	char *name;   /* "bucket/key" */
	s3_etag etag; /* "" if not known */
	time_t mtime; /* 0: not known (a copy made here); the ETag alone decides */
	struct s3_meta meta;
	int is_link;
};

static int known_cmp(const void *a, const void *b)
{
	return strcmp(((const struct known *)a)->name, ((const struct known *)b)->name);
}

static void known_free_one(void *p)
{
	struct known *k = p;

	free(k->name);
	free(k);
}

/* Called with t->known_lock held. */
static struct known *known_find(struct s3tree *t, char *name)
{
	struct known key = {.name = name};
	void *found = tfind(&key, &t->known, known_cmp);

	return found ? *(struct known **)found : NULL;
}

/* Called with t->known_lock held. */
static void known_drop(struct s3tree *t, struct known *k)
{
	tdelete(k, &t->known, known_cmp);
	known_free_one(k);
	t->n_known--;
}

/* Called with t->known_lock held; takes name. */
static struct known *known_get(struct s3tree *t, char *name)
{
	struct known *k = known_find(t, name);

	if (k) {
		free(name);
		return k;
	}
	if (t->n_known >= KNOWN_MAX)
		known_free(t);
	k = calloc(1, sizeof(*k));
	if (k)
		k->name = name;
	if (!k || !tsearch(k, &t->known, known_cmp)) {
		free(k);
		free(name);
		return NULL;
	}
	t->n_known++;
	return k;
}

static char *known_name(const char *bucket, const char *key)
{
	char *s;

	return asprintf(&s, "%s/%s", bucket, key) < 0 ? NULL : s;
}

static int known_obj_is_link(const struct s3_object *obj)
{
	return (obj->meta.flags & S3_META_MODE) && S_ISLNK(obj->meta.mode);
}

void known_note(struct s3tree *t, const char *bucket, const char *key, const struct s3_object *obj)
{
	char *name = known_name(bucket, key);
	struct known *k;

	if (!name)
		return;
	pthread_mutex_lock(&t->known_lock);
	if (!obj || !obj->meta.flags) {
		/* Gone, or nothing to remember. */
		k = known_find(t, name);
		if (k)
			known_drop(t, k);
		free(name);
	} else if ((k = known_get(t, name))) {
		memcpy(k->etag, obj->etag, sizeof(k->etag));
		k->mtime = obj->mtime;
		k->meta = obj->meta;
		k->is_link = known_obj_is_link(obj);
	}
	pthread_mutex_unlock(&t->known_lock);
}

void known_note_link(struct s3tree *t, const char *bucket, const char *key)
{
	char *name = known_name(bucket, key);
	struct known *k;

	if (!name)
		return;
	pthread_mutex_lock(&t->known_lock);
	k = known_get(t, name);
	if (k) {
		k->etag[0] = '\0';
		k->is_link = 1;
	}
	pthread_mutex_unlock(&t->known_lock);
}

void known_move(struct s3tree *t, const char *bucket, const char *key, const char *to_bucket,
		const char *to_key)
{
	char *name = known_name(bucket, key), *to_name = known_name(to_bucket, to_key);
	struct known *k, was;

	if (!name || !to_name) {
		free(name);
		free(to_name);
		return;
	}
	pthread_mutex_lock(&t->known_lock);
	k = known_find(t, name);
	if (k) {
		/* Copied out first: making the new entry may forget all. */
		was = *k;
		known_drop(t, k);
		k = known_get(t, to_name);
		to_name = NULL;
		if (k) {
			memcpy(k->etag, was.etag, sizeof(k->etag));
			k->mtime = 0;
			k->meta = was.meta;
			k->is_link = was.is_link;
		}
	} else if ((k = known_find(t, to_name))) {
		known_drop(t, k); /* what the copy replaced */
	}
	pthread_mutex_unlock(&t->known_lock);
	free(name);
	free(to_name);
}

int known_apply(struct s3tree *t, const char *bucket, const char *key, const char *etag,
		time_t mtime, off_t size, struct s3_meta *out)
{
	char *name;
	struct known *k;
	int r = 0;

	name = known_name(bucket, key);
	if (!name)
		return 0;
	pthread_mutex_lock(&t->known_lock);
	k = known_find(t, name);
	if (k && k->etag[0] && etag && !strcmp(k->etag, etag) && (!k->mtime || k->mtime == mtime)) {
		*out = k->meta;
		r = 1;
	} else if (k && k->is_link && size > 0 && size < S3TREE_LINK_MAX) {
		memset(out, 0, sizeof(*out));
		out->flags = S3_META_MODE;
		out->mode = S_IFLNK | 0777;
		r = 1;
	}
	pthread_mutex_unlock(&t->known_lock);
	free(name);
	return r;
}

void known_free(struct s3tree *t)
{
	tdestroy(t->known, known_free_one);
	t->known = NULL;
	t->n_known = 0;
}
