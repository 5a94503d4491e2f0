/* mdcache.c - see mdcache.h
 *
 * Lock order: mdcache.lock is a leaf; the inner backend is always called
 * without it.
 *
 * Invalidation races with filling: a getattr, listing or open whose inner
 * call was under way when a change dropped its path would put back what
 * the change made stale.  So every drop but a write's bumps a generation
 * count, and a result is kept only if the count did not move during its
 * inner call.  Writes are too frequent for that (every fill overlapping
 * an upload would be lost); they drop attributes and mark the path
 * instead, and flush and release, which follow, bump the count.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <search.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "mdcache.h"

/* Past this many paths or listed entries, expired ones are swept; past it
 * again, everything goes.  Bounds memory whatever the tree's size: an
 * entry costs about 200 bytes, so listings take at most ~100 MiB. */
#define MDCACHE_MAX_NODES   50000
#define MDCACHE_MAX_DIRENTS 500000
/* A folder with more entries than this is not kept: it streams through
 * from the tree below every time it is read (and lookups in it are
 * answered one by one). */
#define MDCACHE_DIR_MAX 100000

struct mdcache_dirent {
	char *name;
	struct stat st;
	/* What st lacks (BACKEND_PAGE_*), from one page of a listing
	 * (list_page) or from readdir.  A lookup asks inner getattr_listed
	 * for the rest, until readdir shows the listing (then as readdir
	 * shows it), or for ever with BACKEND_PAGE_KEEP. */
	unsigned partial;
};

struct mdcache_node {
	char *path;
	uint64_t attr_expires_ms; /* 0: no attributes held */
	int attr_err;		  /* 0, or -ENOENT for a negative entry */
	struct stat st;
	uint64_t list_expires_ms;	/* 0: no listing held */
	struct mdcache_dirent *entries; /* sorted by name */
	size_t n_entries;
	/* Written since its parent's listing was last dropped: that
	 * listing's entry for it is stale, so lookups skip it. */
	int written;
	/* When this path last changed (created, published, removed), as a
	 * generation and a time: a parent listing begun before it (at a
	 * smaller listed_gen) is stale for this name only; the time lets the
	 * node go once every such listing has expired. */
	uint64_t changed_gen, changed_ms;
	uint64_t listed_gen; /* c->gen when the listing held began */
	/* A child changed since the listing was taken: it still answers
	 * lookups of the other names, but readdir lists afresh. */
	int list_stale;
	/* The listing is one page kept for lookups, with entries readdir
	 * would show otherwise: readdir lists afresh. */
	int list_partial;
	/* Until then, the folder is known not to fit in one page, so lookups
	 * in it go to the inner getattr by name. */
	uint64_t page_big_until_ms;
};

struct mdcache {
	struct backend inner;
	/* mdcache_ops, less the changes inner cannot make (NULL stays NULL,
	 * so the adapter still knows the tree is read-only). */
	struct backend_ops ops;
	unsigned ttl_ms;
	pthread_mutex_t lock;
	void *root; /* tsearch tree of struct mdcache_node, by path */
	size_t n_nodes;
	size_t n_dirents;
	uint64_t gen; /* bumped by every drop but a write's */
	/* The handles opened read-only (a tsearch tree of the handles
	 * themselves): their flush, fsync and release publish nothing, so
	 * drop nothing; a close of every file read must not cost its
	 * folder's listing.  A handle missing here (not noted for want of
	 * memory) only drops more than it needs to. */
	void *readers;
};

/* What mdcache_forget() drops. */
enum {
	MDCACHE_FORGET_ATTR = 1 << 0,	     /* the path's attributes or negative entry */
	MDCACHE_FORGET_LIST = 1 << 1,	     /* the path's own listing */
	MDCACHE_FORGET_PARENT_LIST = 1 << 2, /* the listing of the folder holding it */
	MDCACHE_FORGET_WRITTEN = 1 << 3,     /* a write: mark it, keep the generation */
	/* A name appeared, went or changed: what is known of it and the
	 * listing of its folder. */
	MDCACHE_FORGET_ENTRY = MDCACHE_FORGET_ATTR | MDCACHE_FORGET_PARENT_LIST,
	MDCACHE_FORGET_DIR = MDCACHE_FORGET_ENTRY | MDCACHE_FORGET_LIST,
};

static uint64_t mdcache_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static int mdcache_node_cmp(const void *a, const void *b)
{
	return strcmp(((const struct mdcache_node *)a)->path,
		      ((const struct mdcache_node *)b)->path);
}

static int mdcache_dirent_cmp(const void *a, const void *b)
{
	return strcmp(((const struct mdcache_dirent *)a)->name,
		      ((const struct mdcache_dirent *)b)->name);
}

static void mdcache_drop_listing(struct mdcache *c, struct mdcache_node *n)
{
	for (size_t i = 0; i < n->n_entries; i++)
		free(n->entries[i].name);
	free(n->entries);
	c->n_dirents -= n->n_entries;
	n->entries = NULL;
	n->n_entries = 0;
	n->list_expires_ms = 0;
	n->list_stale = 0;
	n->list_partial = 0;
}

static void mdcache_node_free(void *p)
{
	struct mdcache_node *n = p;

	for (size_t i = 0; i < n->n_entries; i++)
		free(n->entries[i].name);
	free(n->entries);
	free(n->path);
	free(n);
}

static struct mdcache_node *mdcache_find(struct mdcache *c, const char *path)
{
	struct mdcache_node key = {.path = (char *)path};
	void *found = tfind(&key, &c->root, mdcache_node_cmp);

	return found ? *(struct mdcache_node **)found : NULL;
}

/* twalk cannot delete as it goes: collect the expired, then delete.  Its
 * visitor takes no argument, hence these globals; thread-local, since a
 * cache's lock guards only that cache and twalk runs in the caller's
 * thread (two caches sweeping at once would otherwise race on them). */
static _Thread_local struct mdcache_node **mdcache_sweep_list;
static _Thread_local size_t mdcache_sweep_n;
static _Thread_local uint64_t mdcache_sweep_now;
static _Thread_local uint64_t mdcache_sweep_ttl;

static void mdcache_sweep_visit(const void *nodep, VISIT which, int depth)
{
	struct mdcache_node *n = *(struct mdcache_node *const *)nodep;

	(void)depth;
	if ((which == postorder || which == leaf) && n->attr_expires_ms <= mdcache_sweep_now &&
	    n->list_expires_ms <= mdcache_sweep_now && !n->written &&
	    n->changed_ms + mdcache_sweep_ttl < mdcache_sweep_now)
		mdcache_sweep_list[mdcache_sweep_n++] = n;
}

/* Called with c->lock held. */
static void mdcache_drop_all(struct mdcache *c)
{
	tdestroy(c->root, mdcache_node_free);
	c->root = NULL;
	c->n_nodes = 0;
	c->n_dirents = 0;
	c->gen++;
}

/* Called with c->lock held. */
static void mdcache_make_room(struct mdcache *c)
{
	if (c->n_nodes < MDCACHE_MAX_NODES && c->n_dirents < MDCACHE_MAX_DIRENTS)
		return;
	mdcache_sweep_list = calloc(c->n_nodes, sizeof(*mdcache_sweep_list));
	if (mdcache_sweep_list) {
		mdcache_sweep_n = 0;
		mdcache_sweep_now = mdcache_now_ms();
		mdcache_sweep_ttl = c->ttl_ms;
		twalk(c->root, mdcache_sweep_visit);
		for (size_t i = 0; i < mdcache_sweep_n; i++) {
			struct mdcache_node *n = mdcache_sweep_list[i];

			tdelete(n, &c->root, mdcache_node_cmp);
			c->n_dirents -= n->n_entries;
			mdcache_node_free(n);
			c->n_nodes--;
		}
		free(mdcache_sweep_list);
		mdcache_sweep_list = NULL;
	}
	if (c->n_nodes >= MDCACHE_MAX_NODES || c->n_dirents >= MDCACHE_MAX_DIRENTS)
		mdcache_drop_all(c);
}

static struct mdcache_node *mdcache_get(struct mdcache *c, const char *path)
{
	struct mdcache_node *n = mdcache_find(c, path);

	if (n)
		return n;
	mdcache_make_room(c);
	n = calloc(1, sizeof(*n));
	if (!n)
		return NULL;
	n->path = strdup(path);
	if (!n->path || !tsearch(n, &c->root, mdcache_node_cmp)) {
		free(n->path);
		free(n);
		return NULL;
	}
	c->n_nodes++;
	return n;
}

static uint64_t mdcache_gen(struct mdcache *c)
{
	uint64_t gen;

	pthread_mutex_lock(&c->lock);
	gen = c->gen;
	pthread_mutex_unlock(&c->lock);
	return gen;
}

/* Keep what an inner call found, unless something was dropped since gen
 * was read before it. */
static void mdcache_put_attr(struct mdcache *c, const char *path, uint64_t gen, int err,
			     const struct stat *st)
{
	struct mdcache_node *n;

	pthread_mutex_lock(&c->lock);
	n = c->gen == gen ? mdcache_get(c, path) : NULL;
	if (n) {
		n->attr_err = err;
		if (st)
			n->st = *st;
		n->attr_expires_ms = mdcache_now_ms() + c->ttl_ms;
	}
	pthread_mutex_unlock(&c->lock);
}

/* The parent folder of path and the last name, for a listing lookup. */
static int mdcache_split(const char *path, char *parent, size_t size, const char **name)
{
	const char *slash = strrchr(path, '/');
	size_t n;

	if (!slash || !slash[1])
		return -1;
	n = slash == path ? 1 : (size_t)(slash - path);
	if (n >= size)
		return -1;
	memcpy(parent, path, n);
	parent[n] = '\0';
	*name = slash + 1;
	return 0;
}

/* A listing readdir shows: from then on its entries answer lookups as
 * listed, as a listing readdir made does, but for those that stay partial
 * (BACKEND_PAGE_KEEP: readdir too lacks what lookups show of them).
 * Called with c->lock held. */
static void mdcache_shown(struct mdcache_node *n)
{
	for (size_t i = 0; i < n->n_entries; i++)
		if (!(n->entries[i].partial & BACKEND_PAGE_KEEP))
			n->entries[i].partial = 0;
}

/* 1 if answered from the cache (r set), 2 if a listing page holds the
 * name as a partial entry (st set to it: inner getattr_listed tells the
 * rest), 0 if the inner backend must go (then *gen is what to hand
 * mdcache_put_attr). */
static int mdcache_lookup(struct mdcache *c, const char *path, struct stat *st, int *r,
			  uint64_t *gen)
{
	uint64_t now = mdcache_now_ms();
	struct mdcache_node *n, *p;
	char parent[4096];
	const char *name;
	int hit = 0;

	pthread_mutex_lock(&c->lock);
	*gen = c->gen;
	n = mdcache_find(c, path);
	if (n && n->attr_expires_ms > now) {
		*r = n->attr_err;
		if (!n->attr_err)
			*st = n->st;
		hit = 1;
	} else if (!(n && n->written) && mdcache_split(path, parent, sizeof(parent), &name) == 0 &&
		   (p = mdcache_find(c, parent)) && p->list_expires_ms > now &&
		   !(n && n->changed_gen > p->listed_gen)) {
		/* A change to this name since the listing began makes its
		 * entry stale, not the others'. */
		n = p;
		struct mdcache_dirent key = {.name = (char *)name}, *e;

		e = n->n_entries
			? bsearch(&key, n->entries, n->n_entries, sizeof(*e), mdcache_dirent_cmp)
			: NULL;
		*r = e ? 0 : -ENOENT;
		if (e)
			*st = e->st;
		hit = e && (e->partial & BACKEND_PAGE_LOOKUP) ? 2 : 1;
	}
	pthread_mutex_unlock(&c->lock);
	return hit;
}

struct mdcache_collect {
	struct mdcache_dirent *entries;
	size_t n, cap;
	int err;
};

static int mdcache_collect(void *arg, const char *name, const struct stat *st, unsigned partial)
{
	struct mdcache_collect *col = arg;

	if (col->n == col->cap) {
		size_t cap = col->cap ? col->cap * 2 : 64;
		struct mdcache_dirent *e = realloc(col->entries, cap * sizeof(*e));

		if (!e) {
			col->err = -ENOMEM;
			return 1;
		}
		col->entries = e;
		col->cap = cap;
	}
	col->entries[col->n].name = strdup(name);
	if (!col->entries[col->n].name) {
		col->err = -ENOMEM;
		return 1;
	}
	col->entries[col->n].st = *st;
	col->entries[col->n].partial = partial;
	col->n++;
	return 0;
}

static int mdcache_readdir(void *ctx, const char *path, backend_fill_fn fill, void *arg)
{
	struct mdcache *c = ctx;
	struct mdcache_collect col = {0};
	struct mdcache_node *n;
	uint64_t now = mdcache_now_ms(), gen;
	int cached, r;

	/* A fresh listing is copied out under the lock and filled outside it. */
	pthread_mutex_lock(&c->lock);
	gen = c->gen;
	n = mdcache_find(c, path);
	cached = n && n->list_expires_ms > now && !n->list_stale && !n->list_partial;
	if (cached)
		mdcache_shown(n);
	for (size_t i = 0; cached && i < n->n_entries && !col.err; i++)
		mdcache_collect(&col, n->entries[i].name, &n->entries[i].st, n->entries[i].partial);
	pthread_mutex_unlock(&c->lock);

	r = cached ? 0 : c->inner.ops->readdir(c->inner.ctx, path, mdcache_collect, &col);
	if (r == 0)
		r = col.err;
	if (r < 0)
		goto out;
	if (!cached && col.n)
		qsort(col.entries, col.n, sizeof(*col.entries), mdcache_dirent_cmp);
	for (size_t i = 0; i < col.n; i++)
		if (fill(arg, col.entries[i].name, &col.entries[i].st, col.entries[i].partial))
			break;
	if (cached || col.n > MDCACHE_DIR_MAX)
		goto out;

	/* Keep the listing: the collected entries move into the cache as
	 * they are, no second copy. */
	pthread_mutex_lock(&c->lock);
	n = c->gen == gen ? mdcache_get(c, path) : NULL;
	if (n) {
		mdcache_drop_listing(c, n);
		n->entries = col.entries;
		n->n_entries = col.n;
		n->list_expires_ms = now + c->ttl_ms;
		n->listed_gen = gen;
		c->n_dirents += col.n;
		col.entries = NULL;
		col.n = 0;
	}
	pthread_mutex_unlock(&c->lock);
out:
	for (size_t i = 0; i < col.n; i++)
		free(col.entries[i].name);
	free(col.entries);
	return r;
}

/* ---- folders read as a stream ----
 *
 * A fresh listing held here is served from a copy taken at opendir.
 * Otherwise the first read drains the inner stream, up to MDCACHE_DIR_MAX
 * entries, before anything goes out: a folder that ends within that is
 * kept (the inner stream is then done with), so the lookups that `ls -l`
 * sends between its reads of the folder are answered from it, as for
 * readdir.  A larger folder serves what was drained, then streams through
 * from where that ended, in bounded memory, and is not kept. */
struct mdcache_dir {
	char *path;
	void *inner;		    /* the inner stream, or NULL once all of it is in col */
	struct mdcache_collect col; /* in stream order: entry i is at i + 1 */
	int drained;
	int over; /* more than MDCACHE_DIR_MAX entries */
	uint64_t gen;
	uint64_t started_ms;
};

static void mdcache_collect_free(struct mdcache_collect *col)
{
	for (size_t i = 0; i < col->n; i++)
		free(col->entries[i].name);
	free(col->entries);
	memset(col, 0, sizeof(*col));
}

/* ---- lookups from one page of a listing ----
 *
 * A lookup in a folder whose listing is not held asks the inner backend
 * for one page of it (list_page): a page that holds the whole folder is
 * kept as its listing, so every other name in it is answered without a
 * request for the TTL, those missing included; its partial entries get
 * the rest of their attributes from getattr_listed, once each.  A folder
 * that does not fit is remembered as such for the TTL, and its names go
 * to the inner getattr one by one, as before. */
struct mdcache_page {
	struct mdcache_collect col;
	struct stat dot; /* the folder's own attributes, if the page told */
	int dot_seen;
	unsigned dot_partial;
};

static int mdcache_page_fill(void *arg, const char *name, const struct stat *st, unsigned partial)
{
	struct mdcache_page *pg = arg;

	if (!strcmp(name, ".")) {
		pg->dot = *st;
		pg->dot_seen = 1;
		pg->dot_partial = partial;
		return 0;
	}
	return mdcache_collect(&pg->col, name, st, partial);
}

/* Fetch a page of dir's listing unless one is held or dir is known not
 * to fit: 1 if a listing of dir is now held, 0 if not, or a negative
 * errno (the listing failed). */
static int mdcache_fetch_page(struct mdcache *c, const char *dir)
{
	struct mdcache_page pg;
	struct mdcache_node *n;
	uint64_t now = mdcache_now_ms(), gen;
	unsigned partial = 0;
	int r;

	memset(&pg, 0, sizeof(pg));
	pthread_mutex_lock(&c->lock);
	gen = c->gen;
	n = mdcache_find(c, dir);
	r = !(n && (n->list_expires_ms > now || n->page_big_until_ms > now));
	pthread_mutex_unlock(&c->lock);
	if (!r)
		return 0;
	r = c->inner.ops->list_page(c->inner.ctx, dir, mdcache_page_fill, &pg);
	if (r >= 0 && pg.col.err)
		r = pg.col.err;
	/* Not listable that way (or a policy without ListBucket): the
	 * lookups by name, without asking again for the TTL. */
	if (r == -EOPNOTSUPP || r == -EACCES || r == -EPERM)
		r = 0;
	if (r < 0)
		goto out;
	if (pg.col.n)
		qsort(pg.col.entries, pg.col.n, sizeof(*pg.col.entries), mdcache_dirent_cmp);
	for (size_t i = 0; i < pg.col.n; i++)
		partial |= pg.col.entries[i].partial;
	pthread_mutex_lock(&c->lock);
	n = c->gen == gen ? mdcache_get(c, dir) : NULL;
	if (n && r == 1) {
		mdcache_drop_listing(c, n);
		n->entries = pg.col.entries;
		n->n_entries = pg.col.n;
		n->list_expires_ms = now + c->ttl_ms;
		n->listed_gen = gen;
		n->list_partial = (partial & BACKEND_PAGE_READDIR) != 0;
		c->n_dirents += pg.col.n;
		pg.col.entries = NULL;
		pg.col.n = 0;
	} else if (n) {
		n->page_big_until_ms = now + c->ttl_ms;
	}
	if (n && pg.dot_seen && !pg.dot_partial && n->attr_expires_ms <= now) {
		n->attr_err = 0;
		n->st = pg.dot;
		n->attr_expires_ms = now + c->ttl_ms;
	}
	pthread_mutex_unlock(&c->lock);
	r = n && r == 1;
out:
	mdcache_collect_free(&pg.col);
	return r;
}

static int mdcache_getattr(void *ctx, const char *path, struct stat *st)
{
	struct mdcache *c = ctx;
	int paged = c->inner.ops->list_page != NULL;
	char parent[4096];
	const char *name;
	uint64_t gen;
	int hit, r;

	if (backend_is_hidden_name(path))
		return c->inner.ops->getattr(c->inner.ctx, path, st);
	hit = mdcache_lookup(c, path, st, &r, &gen);
	if (hit == 0 && paged && mdcache_split(path, parent, sizeof(parent), &name) == 0) {
		r = mdcache_fetch_page(c, parent);
		if (r < 0)
			return r;
		if (r > 0)
			hit = mdcache_lookup(c, path, st, &r, &gen);
	}
	/* A folder's own page tells its attributes when it has no marker,
	 * and answers the lookups in it that are likely to follow (and
	 * find's readdir of it).  A page that failed (S3 unreachable): so
	 * would the HEAD of its marker. */
	if (hit == 2 && S_ISDIR(st->st_mode)) {
		r = mdcache_fetch_page(c, path);
		if (r < 0)
			return r;
		hit = mdcache_lookup(c, path, st, &r, &gen);
	}
	if (hit == 1)
		return r;
	if (hit == 2) {
		struct stat listed = *st;

		r = c->inner.ops->getattr_listed(c->inner.ctx, path, &listed, st);
	} else {
		r = c->inner.ops->getattr(c->inner.ctx, path, st);
	}
	if (r == 0 || r == -ENOENT)
		mdcache_put_attr(c, path, gen, r, r == 0 ? st : NULL);
	return r;
}

static int mdcache_opendir(void *ctx, const char *path, void **dh)
{
	struct mdcache *c = ctx;
	struct mdcache_dir *d = calloc(1, sizeof(*d));
	struct mdcache_node *n;
	uint64_t now = mdcache_now_ms();
	int r = 0;

	if (!d)
		return -ENOMEM;
	d->path = strdup(path);
	if (!d->path) {
		free(d);
		return -ENOMEM;
	}
	pthread_mutex_lock(&c->lock);
	d->gen = c->gen;
	n = mdcache_find(c, path);
	if (n && n->list_expires_ms > now && !n->list_stale && !n->list_partial) {
		mdcache_shown(n);
		for (size_t i = 0; i < n->n_entries && !d->col.err; i++)
			mdcache_collect(&d->col, n->entries[i].name, &n->entries[i].st,
					n->entries[i].partial);
		r = d->col.err;
		d->drained = 1;
	} else {
		n = NULL;
	}
	pthread_mutex_unlock(&c->lock);
	if (r == 0 && !n) {
		mdcache_collect_free(&d->col);
		d->started_ms = now;
		r = c->inner.ops->opendir(c->inner.ctx, path, &d->inner);
	}
	if (r < 0) {
		mdcache_collect_free(&d->col);
		free(d->path);
		free(d);
		return r;
	}
	*dh = d;
	return 0;
}

static int mdcache_drain_fill(void *arg, const char *name, const struct stat *st, unsigned partial,
			      off_t next)
{
	struct mdcache_dir *d = arg;

	(void)next;
	if (d->col.n >= MDCACHE_DIR_MAX) {
		d->over = 1;
		return 1;
	}
	return mdcache_collect(&d->col, name, st, partial);
}

/* Keep a copy of a whole listing, sorted for lookups, unless something
 * was dropped since the stream began. */
static void mdcache_dir_keep(struct mdcache *c, struct mdcache_dir *d)
{
	struct mdcache_collect copy = {0};
	struct mdcache_node *n;

	for (size_t i = 0; i < d->col.n && !copy.err; i++)
		mdcache_collect(&copy, d->col.entries[i].name, &d->col.entries[i].st,
				d->col.entries[i].partial);
	if (copy.err) {
		mdcache_collect_free(&copy);
		return;
	}
	if (copy.n)
		qsort(copy.entries, copy.n, sizeof(*copy.entries), mdcache_dirent_cmp);
	pthread_mutex_lock(&c->lock);
	n = c->gen == d->gen ? mdcache_get(c, d->path) : NULL;
	if (n) {
		mdcache_drop_listing(c, n);
		n->entries = copy.entries;
		n->n_entries = copy.n;
		n->list_expires_ms = d->started_ms + c->ttl_ms;
		n->listed_gen = d->gen;
		c->n_dirents += copy.n;
		memset(&copy, 0, sizeof(copy));
	}
	pthread_mutex_unlock(&c->lock);
	mdcache_collect_free(&copy);
}

static int mdcache_dir_drain(struct mdcache *c, struct mdcache_dir *d)
{
	int r = c->inner.ops->readdir_at(c->inner.ctx, d->inner, 0, mdcache_drain_fill, d);

	if (r == 0)
		r = d->col.err;
	if (r < 0) {
		mdcache_collect_free(&d->col);
		d->over = 0;
		return r;
	}
	d->drained = 1;
	if (d->over)
		return 0;
	c->inner.ops->releasedir(c->inner.ctx, d->inner);
	d->inner = NULL;
	mdcache_dir_keep(c, d);
	return 0;
}

static int mdcache_readdir_at(void *ctx, void *dh, off_t off, backend_fill_at_fn fill, void *arg)
{
	struct mdcache *c = ctx;
	struct mdcache_dir *d = dh;
	size_t i = off > 0 ? (size_t)off : 0;
	int r;

	if (!d->drained && (r = mdcache_dir_drain(c, d)) < 0)
		return r;
	for (; i < d->col.n; i++)
		if (fill(arg, d->col.entries[i].name, &d->col.entries[i].st,
			 d->col.entries[i].partial, (off_t)i + 1))
			return 0;
	if (!d->inner)
		return 0;
	/* Past what was drained: the inner stream, at the same positions. */
	return c->inner.ops->readdir_at(c->inner.ctx, d->inner, (off_t)i, fill, arg);
}

static void mdcache_releasedir(void *ctx, void *dh)
{
	struct mdcache *c = ctx;
	struct mdcache_dir *d = dh;

	if (d->inner)
		c->inner.ops->releasedir(c->inner.ctx, d->inner);
	mdcache_collect_free(&d->col);
	free(d->path);
	free(d);
}

static int mdcache_handle_cmp(const void *a, const void *b)
{
	uintptr_t x = (uintptr_t)a, y = (uintptr_t)b;

	return x < y ? -1 : x > y;
}

static void mdcache_handle_keep(void *fh)
{
	(void)fh; /* the tree holds handles, it does not own them */
}

/* 1 if fh was opened read-only; release also forgets it. */
static int mdcache_is_reader(struct mdcache *c, void *fh, int release)
{
	int reader;

	pthread_mutex_lock(&c->lock);
	reader = tfind(fh, &c->readers, mdcache_handle_cmp) != NULL;
	if (reader && release)
		tdelete(fh, &c->readers, mdcache_handle_cmp);
	pthread_mutex_unlock(&c->lock);
	return reader;
}

/* Drop what a change to path made stale: what (MDCACHE_FORGET_*).  path is
 * NULL for a file unlinked while open, which no longer has a name. */
static void mdcache_forget(struct mdcache *c, const char *path, unsigned what)
{
	struct mdcache_node *n;
	char parent[4096];
	const char *name;

	if (!path)
		return;
	pthread_mutex_lock(&c->lock);
	if (what & MDCACHE_FORGET_WRITTEN) {
		/* Frequent: one lookup, which makes the node the first time
		 * so that the mark has somewhere to live. */
		n = mdcache_get(c, path);
		if (n)
			n->written = 1;
	} else {
		c->gen++;
		n = mdcache_find(c, path);
	}
	if (n && (what & MDCACHE_FORGET_ATTR))
		n->attr_expires_ms = 0;
	if (n && (what & MDCACHE_FORGET_LIST))
		mdcache_drop_listing(c, n);
	if (what & MDCACHE_FORGET_PARENT_LIST) {
		/* The parent's listing is stale for this name only: readdir
		 * lists afresh, lookups of the other names still use it (a tar
		 * into a folder then costs no lookup requests).  The node
		 * first: making it may sweep others. */
		struct mdcache_node *p;

		if (!n)
			n = mdcache_get(c, path);
		if (n) {
			n->written = 0;
			n->changed_gen = c->gen;
			n->changed_ms = mdcache_now_ms();
		}
		if (mdcache_split(path, parent, sizeof(parent), &name) == 0 &&
		    (p = mdcache_find(c, parent)) && p->list_expires_ms) {
			if (n)
				p->list_stale = 1;
			else
				mdcache_drop_listing(c, p); /* nowhere to mark the name */
		}
	}
	pthread_mutex_unlock(&c->lock);
}

static int mdcache_open(void *ctx, const char *path, int flags, void **fh, struct stat *st)
{
	struct mdcache *c = ctx;
	uint64_t gen = mdcache_gen(c);
	int r = c->inner.ops->open(c->inner.ctx, path, flags, fh, st);

	/* Truncated by the open itself (atomic O_TRUNC): a change, and the
	 * file is open to change further, so keep nothing (as create). */
	if (flags & O_TRUNC)
		mdcache_forget(c, path, MDCACHE_FORGET_ENTRY);
	else if (r == 0 || r == -ENOENT)
		mdcache_put_attr(c, path, gen, r, r == 0 ? st : NULL);
	if (r == 0 && (flags & (O_ACCMODE | O_TRUNC)) == O_RDONLY) {
		pthread_mutex_lock(&c->lock);
		/* Not noted for want of memory: its close drops more. */
		(void)tsearch(*fh, &c->readers, mdcache_handle_cmp);
		pthread_mutex_unlock(&c->lock);
	}
	return r;
}

static ssize_t mdcache_read(void *ctx, void *fh, char *buf, size_t size, off_t off)
{
	struct mdcache *c = ctx;

	return c->inner.ops->read(c->inner.ctx, fh, buf, size, off);
}

static int mdcache_keep_cache(void *ctx, void *fh)
{
	struct mdcache *c = ctx;

	return c->inner.ops->keep_cache(c->inner.ctx, fh);
}

static int mdcache_fgetattr(void *ctx, void *fh, struct stat *st)
{
	struct mdcache *c = ctx;

	return c->inner.ops->fgetattr(c->inner.ctx, fh, st);
}

/* What was written becomes visible at flush (close), fsync and release,
 * and whether they succeed or not, what the tree now holds may differ
 * from what was cached: unless the handle was only read. */
static int mdcache_release(void *ctx, const char *path, void *fh)
{
	struct mdcache *c = ctx;
	/* Before inner frees fh, whose address a new open may then get. */
	int reader = mdcache_is_reader(c, fh, 1);
	int r = c->inner.ops->release(c->inner.ctx, path, fh);

	if (!reader)
		mdcache_forget(c, path, MDCACHE_FORGET_ENTRY);
	return r;
}

static int mdcache_create(void *ctx, const char *path, mode_t mode, int flags, void **fh,
			  struct stat *st)
{
	struct mdcache *c = ctx;
	int r = c->inner.ops->create(c->inner.ctx, path, mode, flags, fh, st);

	/* st is what the new file is, but it is open to change: keep
	 * nothing rather than something soon stale. */
	mdcache_forget(c, path, MDCACHE_FORGET_ENTRY);
	return r;
}

static ssize_t mdcache_write(void *ctx, const char *path, void *fh, const char *buf, size_t size,
			     off_t off)
{
	struct mdcache *c = ctx;
	ssize_t n = c->inner.ops->write(c->inner.ctx, path, fh, buf, size, off);

	mdcache_forget(c, path, MDCACHE_FORGET_ATTR | MDCACHE_FORGET_WRITTEN);
	return n;
}

static int mdcache_flush(void *ctx, const char *path, void *fh)
{
	struct mdcache *c = ctx;
	int r = c->inner.ops->flush(c->inner.ctx, path, fh);

	if (!mdcache_is_reader(c, fh, 0))
		mdcache_forget(c, path, MDCACHE_FORGET_ENTRY);
	return r;
}

static int mdcache_fsync(void *ctx, const char *path, void *fh, int datasync)
{
	struct mdcache *c = ctx;
	int r = c->inner.ops->fsync(c->inner.ctx, path, fh, datasync);

	if (!mdcache_is_reader(c, fh, 0))
		mdcache_forget(c, path, MDCACHE_FORGET_ENTRY);
	return r;
}

static int mdcache_truncate(void *ctx, const char *path, void *fh, off_t size)
{
	struct mdcache *c = ctx;
	int r = c->inner.ops->truncate(c->inner.ctx, path, fh, size);

	mdcache_forget(c, path, MDCACHE_FORGET_ENTRY);
	return r;
}

static int mdcache_setattr(void *ctx, const char *path, void *fh, const struct backend_setattr *a)
{
	struct mdcache *c = ctx;
	struct backend_setattr b = *a;
	struct stat st;
	uint64_t gen;
	int known = 0, r;

	/* A folder, as far as the cache knows (tar sets each folder's
	 * times, owner and mode): the backend need not ask which. */
	if (!fh && mdcache_lookup(c, path, &st, &r, &gen) && r == 0 && S_ISDIR(st.st_mode))
		b.is_dir = 1;
	b.after = &st;
	b.after_known = &known;
	r = c->inner.ops->setattr(c->inner.ctx, path, fh, &b);
	mdcache_forget(c, path, MDCACHE_FORGET_ENTRY);
	/* Attributes the change itself told: the next lookup needs no
	 * request. */
	if (r == 0 && known)
		mdcache_put_attr(c, path, mdcache_gen(c), 0, &st);
	return r;
}

static int mdcache_unlink(void *ctx, const char *path)
{
	struct mdcache *c = ctx;
	int r = c->inner.ops->unlink(c->inner.ctx, path);

	mdcache_forget(c, path, MDCACHE_FORGET_ENTRY);
	return r;
}

static int mdcache_mkdir(void *ctx, const char *path, mode_t mode)
{
	struct mdcache *c = ctx;
	int r = c->inner.ops->mkdir(c->inner.ctx, path, mode);
	struct mdcache_node *n;

	mdcache_forget(c, path, MDCACHE_FORGET_DIR);
	if (r == 0) {
		/* A folder just made holds nothing: names in it are known
		 * missing without asking, for the TTL. */
		pthread_mutex_lock(&c->lock);
		n = mdcache_get(c, path);
		if (n) {
			mdcache_drop_listing(c, n);
			n->list_expires_ms = mdcache_now_ms() + c->ttl_ms;
			n->listed_gen = c->gen;
		}
		pthread_mutex_unlock(&c->lock);
	}
	if (r == 0 && c->inner.ops->getattr_listed) {
		/* The lookup that follows every mkdir: the folder is known to
		 * exist, so its marker's HEAD tells the rest. */
		struct stat listed = {.st_mode = S_IFDIR}, st;
		uint64_t gen = mdcache_gen(c);

		if (c->inner.ops->getattr_listed(c->inner.ctx, path, &listed, &st) == 0)
			mdcache_put_attr(c, path, gen, 0, &st);
	}
	return r;
}

static int mdcache_rmdir(void *ctx, const char *path)
{
	struct mdcache *c = ctx;
	int r = c->inner.ops->rmdir(c->inner.ctx, path);

	mdcache_forget(c, path, MDCACHE_FORGET_DIR);
	return r;
}

/* A renamed folder moves everything below it, under both names: rather
 * than walk two subtrees, start afresh; renames are rare. */
static int mdcache_rename(void *ctx, const char *from, const char *to, unsigned flags)
{
	struct mdcache *c = ctx;
	int r = c->inner.ops->rename(c->inner.ctx, from, to, flags);

	pthread_mutex_lock(&c->lock);
	mdcache_drop_all(c);
	pthread_mutex_unlock(&c->lock);
	return r;
}

static int mdcache_symlink(void *ctx, const char *target, const char *path)
{
	struct mdcache *c = ctx;
	int r = c->inner.ops->symlink(c->inner.ctx, target, path);

	mdcache_forget(c, path, MDCACHE_FORGET_ENTRY);
	return r;
}

static int mdcache_mknod(void *ctx, const char *path, mode_t mode, dev_t rdev)
{
	struct mdcache *c = ctx;
	int r = c->inner.ops->mknod(c->inner.ctx, path, mode, rdev);

	mdcache_forget(c, path, MDCACHE_FORGET_ENTRY);
	return r;
}

static int mdcache_readlink(void *ctx, const char *path, char *buf, size_t size)
{
	struct mdcache *c = ctx;

	return c->inner.ops->readlink(c->inner.ctx, path, buf, size);
}

static int mdcache_statfs(void *ctx, struct statvfs *st)
{
	struct mdcache *c = ctx;

	return c->inner.ops->statfs(c->inner.ctx, st);
}

static int mdcache_start(void *ctx)
{
	struct mdcache *c = ctx;

	return c->inner.ops->start ? c->inner.ops->start(c->inner.ctx) : 0;
}

static void mdcache_destroy(void *ctx)
{
	struct mdcache *c = ctx;

	c->inner.ops->destroy(c->inner.ctx);
	tdestroy(c->root, mdcache_node_free);
	tdestroy(c->readers, mdcache_handle_keep);
	pthread_mutex_destroy(&c->lock);
	free(c);
}

static const struct backend_ops mdcache_ops = {
    .getattr = mdcache_getattr,
    .readdir = mdcache_readdir,
    .opendir = mdcache_opendir,
    .readdir_at = mdcache_readdir_at,
    .releasedir = mdcache_releasedir,
    .open = mdcache_open,
    .read = mdcache_read,
    .fgetattr = mdcache_fgetattr,
    .keep_cache = mdcache_keep_cache,
    .release = mdcache_release,
    .statfs = mdcache_statfs,
    .create = mdcache_create,
    .write = mdcache_write,
    .flush = mdcache_flush,
    .fsync = mdcache_fsync,
    .truncate = mdcache_truncate,
    .setattr = mdcache_setattr,
    .unlink = mdcache_unlink,
    .mkdir = mdcache_mkdir,
    .rmdir = mdcache_rmdir,
    .rename = mdcache_rename,
    .symlink = mdcache_symlink,
    .mknod = mdcache_mknod,
    .readlink = mdcache_readlink,
    .start = mdcache_start,
    .destroy = mdcache_destroy,
};

/* An operation inner lacks stays absent in the layer. */
#define MDCACHE_KEEP_ABSENT(c, op)                                                                 \
	do {                                                                                       \
		if (!(c)->inner.ops->op)                                                           \
			(c)->ops.op = NULL;                                                        \
	} while (0)

int mdcache_wrap(struct backend *b, unsigned ttl_ms)
{
	struct mdcache *c;

	if (ttl_ms == 0)
		return 0;
	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->inner = *b;
	c->ops = mdcache_ops;
	MDCACHE_KEEP_ABSENT(c, keep_cache);
	MDCACHE_KEEP_ABSENT(c, create);
	MDCACHE_KEEP_ABSENT(c, write);
	MDCACHE_KEEP_ABSENT(c, flush);
	MDCACHE_KEEP_ABSENT(c, fsync);
	MDCACHE_KEEP_ABSENT(c, truncate);
	MDCACHE_KEEP_ABSENT(c, setattr);
	MDCACHE_KEEP_ABSENT(c, unlink);
	MDCACHE_KEEP_ABSENT(c, mkdir);
	MDCACHE_KEEP_ABSENT(c, rmdir);
	MDCACHE_KEEP_ABSENT(c, rename);
	MDCACHE_KEEP_ABSENT(c, symlink);
	MDCACHE_KEEP_ABSENT(c, mknod);
	MDCACHE_KEEP_ABSENT(c, readlink);
	MDCACHE_KEEP_ABSENT(c, opendir);
	MDCACHE_KEEP_ABSENT(c, readdir_at);
	MDCACHE_KEEP_ABSENT(c, releasedir);
	c->ttl_ms = ttl_ms;
	pthread_mutex_init(&c->lock, NULL);
	b->ops = &c->ops;
	b->ctx = c;
	return 0;
}
