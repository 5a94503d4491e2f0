/* mdcache.c - see mdcache.h
 *
 * Lock order: mdcache.lock is a leaf; the inner backend is always called
 * without it.
 */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <search.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "mdcache.h"

/* Past this many paths or listed entries, expired ones are swept; past it
 * again, everything goes.  Bounds memory whatever the tree's size. */
#define MDCACHE_MAX_NODES 50000
#define MDCACHE_MAX_DIRENTS 2000000

struct mdcache_dirent {
	char *name;
	struct stat st;
};

struct mdcache_node {
	char *path;
	uint64_t attr_expires_ms; /* 0: no attributes held */
	int attr_err;		  /* 0, or -ENOENT for a negative entry */
	struct stat st;
	uint64_t list_expires_ms; /* 0: no listing held */
	struct mdcache_dirent *entries; /* sorted by name */
	size_t n_entries;
};

struct mdcache {
	struct backend inner;
	unsigned ttl_ms;
	pthread_mutex_t lock;
	void *root; /* tsearch tree of struct mdcache_node, by path */
	size_t n_nodes;
	size_t n_dirents;
};

static uint64_t mdcache_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static int mdcache_node_cmp(const void *a, const void *b)
{
	return strcmp(((const struct mdcache_node *)a)->path, ((const struct mdcache_node *)b)->path);
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

/* twalk cannot delete as it goes: collect the expired, then delete. */
static struct mdcache_node **mdcache_sweep_list;
static size_t mdcache_sweep_n;
static uint64_t mdcache_sweep_now;

static void mdcache_sweep_visit(const void *nodep, VISIT which, int depth)
{
	struct mdcache_node *n = *(struct mdcache_node *const *)nodep;

	(void)depth;
	if ((which == postorder || which == leaf) && n->attr_expires_ms <= mdcache_sweep_now &&
	    n->list_expires_ms <= mdcache_sweep_now)
		mdcache_sweep_list[mdcache_sweep_n++] = n;
}

/* Called with c->lock held (which also guards the sweep globals). */
static void mdcache_make_room(struct mdcache *c)
{
	if (c->n_nodes < MDCACHE_MAX_NODES && c->n_dirents < MDCACHE_MAX_DIRENTS)
		return;
	mdcache_sweep_list = calloc(c->n_nodes, sizeof(*mdcache_sweep_list));
	if (mdcache_sweep_list) {
		mdcache_sweep_n = 0;
		mdcache_sweep_now = mdcache_now_ms();
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
	if (c->n_nodes >= MDCACHE_MAX_NODES || c->n_dirents >= MDCACHE_MAX_DIRENTS) {
		tdestroy(c->root, mdcache_node_free);
		c->root = NULL;
		c->n_nodes = 0;
		c->n_dirents = 0;
	}
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

static void mdcache_put_attr(struct mdcache *c, const char *path, int err, const struct stat *st)
{
	struct mdcache_node *n;

	pthread_mutex_lock(&c->lock);
	n = mdcache_get(c, path);
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

/* 1 if answered from the cache (r set), 0 if the inner backend must go. */
static int mdcache_lookup(struct mdcache *c, const char *path, struct stat *st, int *r)
{
	uint64_t now = mdcache_now_ms();
	struct mdcache_node *n;
	char parent[4096];
	const char *name;
	int hit = 0;

	pthread_mutex_lock(&c->lock);
	n = mdcache_find(c, path);
	if (n && n->attr_expires_ms > now) {
		*r = n->attr_err;
		if (!n->attr_err)
			*st = n->st;
		hit = 1;
	} else if (mdcache_split(path, parent, sizeof(parent), &name) == 0 &&
		   (n = mdcache_find(c, parent)) && n->list_expires_ms > now) {
		struct mdcache_dirent key = {.name = (char *)name}, *e;

		e = n->n_entries ? bsearch(&key, n->entries, n->n_entries, sizeof(*e),
					   mdcache_dirent_cmp)
				 : NULL;
		*r = e ? 0 : -ENOENT;
		if (e)
			*st = e->st;
		hit = 1;
	}
	pthread_mutex_unlock(&c->lock);
	return hit;
}

static int mdcache_getattr(void *ctx, const char *path, struct stat *st)
{
	struct mdcache *c = ctx;
	int r;

	if (mdcache_lookup(c, path, st, &r))
		return r;
	r = c->inner.ops->getattr(c->inner.ctx, path, st);
	if (r == 0 || r == -ENOENT)
		mdcache_put_attr(c, path, r, r == 0 ? st : NULL);
	return r;
}

struct mdcache_collect {
	struct mdcache_dirent *entries;
	size_t n, cap;
	int err;
};

static int mdcache_collect(void *arg, const char *name, const struct stat *st)
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
	col->n++;
	return 0;
}

static int mdcache_readdir(void *ctx, const char *path, backend_fill_fn fill, void *arg)
{
	struct mdcache *c = ctx;
	struct mdcache_collect col = {0};
	struct mdcache_node *n;
	uint64_t now = mdcache_now_ms();
	int cached, r;

	/* A fresh listing is copied out under the lock and filled outside it. */
	pthread_mutex_lock(&c->lock);
	n = mdcache_find(c, path);
	cached = n && n->list_expires_ms > now;
	for (size_t i = 0; cached && i < n->n_entries && !col.err; i++)
		mdcache_collect(&col, n->entries[i].name, &n->entries[i].st);
	pthread_mutex_unlock(&c->lock);

	r = cached ? 0 : c->inner.ops->readdir(c->inner.ctx, path, mdcache_collect, &col);
	if (r == 0)
		r = col.err;
	if (r < 0)
		goto out;
	if (!cached && col.n)
		qsort(col.entries, col.n, sizeof(*col.entries), mdcache_dirent_cmp);
	for (size_t i = 0; i < col.n; i++)
		if (fill(arg, col.entries[i].name, &col.entries[i].st))
			break;
	if (cached)
		goto out;

	/* Keep the listing: the collected entries move into the cache as
	 * they are, no second copy. */
	pthread_mutex_lock(&c->lock);
	n = mdcache_get(c, path);
	if (n) {
		mdcache_drop_listing(c, n);
		n->entries = col.entries;
		n->n_entries = col.n;
		n->list_expires_ms = now + c->ttl_ms;
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

static int mdcache_open(void *ctx, const char *path, int flags, void **fh, struct stat *st)
{
	struct mdcache *c = ctx;
	int r = c->inner.ops->open(c->inner.ctx, path, flags, fh, st);

	if (r == 0)
		mdcache_put_attr(c, path, 0, st);
	else if (r == -ENOENT)
		mdcache_put_attr(c, path, -ENOENT, NULL);
	return r;
}

static ssize_t mdcache_read(void *ctx, void *fh, char *buf, size_t size, off_t off)
{
	struct mdcache *c = ctx;

	return c->inner.ops->read(c->inner.ctx, fh, buf, size, off);
}

static int mdcache_fgetattr(void *ctx, void *fh, struct stat *st)
{
	struct mdcache *c = ctx;

	return c->inner.ops->fgetattr(c->inner.ctx, fh, st);
}

static int mdcache_release(void *ctx, void *fh)
{
	struct mdcache *c = ctx;

	return c->inner.ops->release(c->inner.ctx, fh);
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
	pthread_mutex_destroy(&c->lock);
	free(c);
}

static const struct backend_ops mdcache_ops = {
	.getattr = mdcache_getattr,
	.readdir = mdcache_readdir,
	.open = mdcache_open,
	.read = mdcache_read,
	.fgetattr = mdcache_fgetattr,
	.release = mdcache_release,
	.statfs = mdcache_statfs,
	.start = mdcache_start,
	.destroy = mdcache_destroy,
};

int mdcache_wrap(struct backend *b, unsigned ttl_ms)
{
	struct mdcache *c;

	if (ttl_ms == 0)
		return 0;
	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->inner = *b;
	c->ttl_ms = ttl_ms;
	pthread_mutex_init(&c->lock, NULL);
	b->ops = &mdcache_ops;
	b->ctx = c;
	return 0;
}
