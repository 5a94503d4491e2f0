/* pagecache.c - see pagecache.h
 *
 * Records live in a tsearch tree by bucket and key and on a list, least
 * recently opened first; beyond PAGECACHE_MAX records, those with no open
 * file are evicted from the front.  pc->lock is a leaf.
 */
#include "config.h"

#include <pthread.h>
#include <search.h>
#include <stdlib.h>
#include <string.h>

#include "pagecache.h"
#include "s3/s3.h"

/* Records kept: a file not among them drops its pages at its next open. */
#define PAGECACHE_MAX 16384

struct pagecache_entry {
	struct pagecache_entry *prev, *next; /* least recently opened first */
	char *bucket, *key;
	s3_etag etag; /* what the pages hold, if valid */
	off_t size;
	int valid;	  /* pages hold etag alone (since an open dropped them) */
	unsigned opens;	  /* files open on it, readers and writers */
	unsigned writers; /* of which writable */
};

struct pagecache {
	pthread_mutex_t lock;
	void *root;
	struct pagecache_entry *head, *tail;
	size_t n;
};

static int pagecache_cmp(const void *a, const void *b)
{
	const struct pagecache_entry *x = a, *y = b;
	int c = strcmp(x->bucket, y->bucket);

	return c ? c : strcmp(x->key, y->key);
}

struct pagecache *pagecache_new(void)
{
	struct pagecache *pc = calloc(1, sizeof(*pc));

	if (pc)
		pthread_mutex_init(&pc->lock, NULL);
	return pc;
}

static void pagecache_entry_free(void *p)
{
	struct pagecache_entry *e = p;

	free(e->bucket);
	free(e->key);
	free(e);
}

void pagecache_free(struct pagecache *pc)
{
	if (!pc)
		return;
	tdestroy(pc->root, pagecache_entry_free);
	pthread_mutex_destroy(&pc->lock);
	free(pc);
}

static void pagecache_unlink(struct pagecache *pc, struct pagecache_entry *e)
{
	if (e->prev)
		e->prev->next = e->next;
	else
		pc->head = e->next;
	if (e->next)
		e->next->prev = e->prev;
	else
		pc->tail = e->prev;
	e->prev = e->next = NULL;
}

static void pagecache_append(struct pagecache *pc, struct pagecache_entry *e)
{
	e->prev = pc->tail;
	e->next = NULL;
	if (pc->tail)
		pc->tail->next = e;
	else
		pc->head = e;
	pc->tail = e;
}

/* Make room for one more: evict records no file has open. */
static void pagecache_evict(struct pagecache *pc)
{
	struct pagecache_entry *e = pc->head, *next;

	for (; e && pc->n >= PAGECACHE_MAX; e = next) {
		next = e->next;
		if (e->opens)
			continue;
		pagecache_unlink(pc, e);
		tdelete(e, &pc->root, pagecache_cmp);
		pagecache_entry_free(e);
		pc->n--;
	}
}

/* The record of bucket/key, made if new; NULL on ENOMEM. */
static struct pagecache_entry *pagecache_get(struct pagecache *pc, const char *bucket,
					     const char *key)
{
	struct pagecache_entry probe = {.bucket = (char *)bucket, .key = (char *)key};
	struct pagecache_entry **found = tfind(&probe, &pc->root, pagecache_cmp);
	struct pagecache_entry *e;

	if (found) {
		e = *found;
		pagecache_unlink(pc, e);
		pagecache_append(pc, e);
		return e;
	}
	pagecache_evict(pc);
	e = calloc(1, sizeof(*e));
	if (!e)
		return NULL;
	e->bucket = strdup(bucket);
	e->key = strdup(key);
	if (!e->bucket || !e->key || !tsearch(e, &pc->root, pagecache_cmp)) {
		pagecache_entry_free(e);
		return NULL;
	}
	pagecache_append(pc, e);
	pc->n++;
	return e;
}

int pagecache_valid(struct pagecache *pc, const char *bucket, const char *key)
{
	struct pagecache_entry probe = {.bucket = (char *)bucket, .key = (char *)key};
	struct pagecache_entry **found;
	int valid;

	pthread_mutex_lock(&pc->lock);
	found = tfind(&probe, &pc->root, pagecache_cmp);
	valid = found && (*found)->valid && !(*found)->writers;
	pthread_mutex_unlock(&pc->lock);
	return valid;
}

void pagecache_open(struct pagecache *pc, const char *bucket, const char *key, const char *etag,
		    off_t size, int writable, int *keep, struct pagecache_entry **out)
{
	struct pagecache_entry *e;
	int known = etag && *etag && strlen(etag) < sizeof(e->etag);

	*keep = 0;
	pthread_mutex_lock(&pc->lock);
	*out = e = pagecache_get(pc, bucket, key);
	if (!e)
		goto out;
	if (writable || !known) {
		/* Its writes land in the pages as well as in S3, and
		 * whatever it publishes, the pages are no longer known. */
		e->valid = 0;
	} else if (e->valid && e->size == size && !strcmp(e->etag, etag) && !e->writers) {
		*keep = 1;
	} else {
		/* This open drops the pages; the files still open on
		 * another version may read some in again. */
		e->valid = !e->opens;
		strcpy(e->etag, etag);
		e->size = size;
	}
	e->opens++;
	if (writable)
		e->writers++;
out:
	pthread_mutex_unlock(&pc->lock);
}

void pagecache_close(struct pagecache *pc, struct pagecache_entry *e, int writable)
{
	if (!e)
		return;
	pthread_mutex_lock(&pc->lock);
	e->opens--;
	if (writable) {
		e->writers--;
		e->valid = 0;
	}
	pthread_mutex_unlock(&pc->lock);
}
