/* s3tree.c - see s3tree.h */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "pool.h"
#include "prefetch.h"
#include "s3.h"
#include "s3tree.h"
#include "source.h"

#define S3TREE_NAME_MAX 255
/* A listing past this many entries is refused rather than held in memory. */
#define S3TREE_DIR_MAX_ENTRIES 5000000

struct s3tree {
	struct s3tree_config cfg;
	time_t mount_time;
	struct pool *workers;
	struct prefetch *prefetch;
	char *glob_prefix; /* glob mounts: prefix + glob_head */
};

struct s3tree_file {
	struct s3tree *t;
	char *bucket;
	char *key;
	char etag[80];
	off_t size;
	struct stat st; /* as opened */
	struct prefetch_file *pf;
};

/* ---- paths ---- */

/* Split a mount path into bucket and key, per the source.  *bucket is NULL
 * for the root of an all-buckets mount.  The caller frees both. */
static int s3tree_locate(struct s3tree *t, const char *path, char **bucket, char **key)
{
	const struct source *src = t->cfg.src;
	const char *rel = path[0] == '/' ? path + 1 : path;

	if (src->kind == SOURCE_S3_ALL) {
		const char *slash = strchr(rel, '/');

		if (!*rel) {
			*bucket = NULL;
			*key = strdup("");
			return *key ? 0 : -ENOMEM;
		}
		*bucket = slash ? strndup(rel, (size_t)(slash - rel)) : strdup(rel);
		*key = strdup(slash ? slash + 1 : "");
	} else {
		*bucket = strdup(src->bucket);
		if (asprintf(key, "%s%s", src->prefix, rel) < 0)
			*key = NULL;
	}
	if (!*bucket || !*key) {
		free(*bucket);
		free(*key);
		return -ENOMEM;
	}
	return 0;
}

/* The listing prefix of a folder whose key is key: "" or "key/". */
static char *s3tree_dir_prefix(const char *key)
{
	char *p;
	size_t n = strlen(key);

	if (n == 0 || key[n - 1] == '/')
		return strdup(key);
	if (asprintf(&p, "%s/", key) < 0)
		return NULL;
	return p;
}

static void s3tree_stat(struct s3tree *t, struct stat *st, int is_dir, off_t size, time_t mtime)
{
	memset(st, 0, sizeof(*st));
	st->st_mode = is_dir ? (S_IFDIR | (0777 & ~t->cfg.umask)) : (S_IFREG | (0666 & ~t->cfg.umask));
	if (t->cfg.read_only)
		st->st_mode &= ~(mode_t)0222;
	st->st_nlink = is_dir ? 2 : 1;
	st->st_uid = t->cfg.uid;
	st->st_gid = t->cfg.gid;
	st->st_size = is_dir ? 0 : size;
	st->st_blocks = (st->st_size + 511) / 512;
	st->st_blksize = 1 << 20;
	st->st_mtime = st->st_ctime = st->st_atime = mtime ? mtime : t->mount_time;
}

/* ---- listings ---- */

struct s3tree_entry {
	char *name;
	int is_dir;
	off_t size;
	time_t mtime;
};

struct s3tree_listing {
	struct s3tree *t;
	const char *bucket;
	const char *prefix; /* what keys in this folder start with */
	int glob;
	struct s3tree_entry *entries;
	size_t n, cap;
	int err;
};

static int s3tree_name_ok(const struct s3tree_listing *l, const char *name, size_t len,
			  const char *key)
{
	const char *why = NULL;

	if (len == 0)
		why = "an empty path segment ('//')";
	else if ((len == 1 && name[0] == '.') || (len == 2 && name[0] == '.' && name[1] == '.'))
		why = "a '.' or '..' segment";
	else if (len > S3TREE_NAME_MAX)
		why = "a segment over 255 bytes";
	if (why)
		log_warn("s3://%s/%s: key has %s and cannot be a path; left out", l->bucket, key, why);
	return why == NULL;
}

static int s3tree_add(struct s3tree_listing *l, const char *name, size_t len, int is_dir,
		      off_t size, time_t mtime)
{
	struct s3tree_entry *e;

	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 64;

		if (cap > S3TREE_DIR_MAX_ENTRIES)
			return -EFBIG;
		e = realloc(l->entries, cap * sizeof(*e));
		if (!e)
			return -ENOMEM;
		l->entries = e;
		l->cap = cap;
	}
	e = &l->entries[l->n];
	e->name = strndup(name, len);
	if (!e->name)
		return -ENOMEM;
	e->is_dir = is_dir;
	e->size = size;
	e->mtime = mtime;
	l->n++;
	return 0;
}

static int s3tree_glob_match(const struct s3tree *t, const char *key)
{
	const char *tail = t->cfg.src->glob_tail;
	size_t klen = strlen(key), hlen = strlen(t->glob_prefix), tlen = strlen(tail);

	return klen >= hlen + tlen && !strncmp(key, t->glob_prefix, hlen) &&
	       !strcmp(key + klen - tlen, tail);
}

static int s3tree_list_entry(void *arg, const struct s3xml_entry *e)
{
	struct s3tree_listing *l = arg;
	size_t plen = strlen(l->prefix);
	const char *rel, *slash;
	size_t len;

	if (e->kind == S3XML_BUCKET)
		return source_bucket_name_ok(e->name)
			       ? s3tree_add(l, e->name, strlen(e->name), 1, 0, e->mtime)
			       : 0;
	if (strncmp(e->name, l->prefix, plen) != 0)
		return 0; /* not below this folder: a broken server */
	rel = e->name + plen;
	if (l->glob && e->kind == S3XML_OBJECT && !s3tree_glob_match(l->t, e->name))
		return 0;
	if (e->kind == S3XML_OBJECT && *rel == '\0')
		return 0; /* the folder's own "dir/" marker */
	slash = strchr(rel, '/');
	len = slash ? (size_t)(slash - rel) : strlen(rel);
	if (!s3tree_name_ok(l, rel, len, e->name))
		return 0;
	if (slash)
		return s3tree_add(l, rel, len, 1, 0, e->kind == S3XML_OBJECT ? e->mtime : 0);
	return s3tree_add(l, rel, len, 0, e->size, e->mtime);
}

static int s3tree_entry_cmp(const void *a, const void *b)
{
	const struct s3tree_entry *x = a, *y = b;
	int c = strcmp(x->name, y->name);

	/* Folders first among equal names: the folder wins. */
	return c ? c : y->is_dir - x->is_dir;
}

/* Sort, and keep one entry per name: a folder beats a file, and a folder
 * seen several times (prefix, marker, glob keys) appears once. */
static void s3tree_dedupe(struct s3tree_listing *l)
{
	size_t out = 0;

	if (l->n == 0)
		return;
	qsort(l->entries, l->n, sizeof(*l->entries), s3tree_entry_cmp);
	for (size_t i = 0; i < l->n; i++) {
		struct s3tree_entry *e = &l->entries[i];

		if (out && !strcmp(l->entries[out - 1].name, e->name)) {
			if (!e->is_dir)
				log_notice("s3://%s/%s%s: a folder of the same name hides this file",
					   l->bucket, l->prefix, e->name);
			free(e->name);
			continue;
		}
		l->entries[out++] = *e;
	}
	l->n = out;
}

static void s3tree_listing_free(struct s3tree_listing *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->entries[i].name);
	free(l->entries);
}

/* List the folder at path into l (sorted, deduplicated). */
static int s3tree_list(struct s3tree *t, const char *path, struct s3tree_listing *l,
		       char **bucket_out, char **prefix_out)
{
	char *bucket = NULL, *key = NULL, *prefix = NULL;
	int r;

	memset(l, 0, sizeof(*l));
	l->t = t;
	r = s3tree_locate(t, path, &bucket, &key);
	if (r < 0)
		return r;
	prefix = s3tree_dir_prefix(key);
	if (!prefix) {
		r = -ENOMEM;
		goto out;
	}
	l->bucket = bucket ? bucket : "";
	l->prefix = prefix;
	if (!bucket) {
		r = s3_list_buckets(t->cfg.s3, s3tree_list_entry, l);
	} else if (t->cfg.src->kind == SOURCE_S3_GLOB) {
		/* No delimiter: only keys that match may make a folder appear. */
		l->glob = 1;
		r = s3_list(t->cfg.s3, bucket,
			    strlen(prefix) > strlen(t->glob_prefix) ? prefix : t->glob_prefix, NULL,
			    0, s3tree_list_entry, l);
	} else {
		r = s3_list(t->cfg.s3, bucket, prefix, "/", 0, s3tree_list_entry, l);
	}
	if (r == 0)
		s3tree_dedupe(l);
out:
	free(key);
	if (r < 0) {
		s3tree_listing_free(l);
		free(bucket);
		free(prefix);
		return r;
	}
	*bucket_out = bucket;
	*prefix_out = prefix;
	return 0;
}

static int s3tree_readdir(void *ctx, const char *path, backend_fill_fn fill, void *arg)
{
	struct s3tree *t = ctx;
	struct s3tree_listing l;
	char *bucket, *prefix;
	struct stat st;
	int r;

	r = s3tree_list(t, path, &l, &bucket, &prefix);
	if (r < 0)
		return r;
	for (size_t i = 0; i < l.n; i++) {
		s3tree_stat(t, &st, l.entries[i].is_dir, l.entries[i].size, l.entries[i].mtime);
		if (fill(arg, l.entries[i].name, &st))
			break;
	}
	s3tree_listing_free(&l);
	free(bucket);
	free(prefix);
	return 0;
}

/* ---- lookups ---- */

struct s3tree_head_job {
	struct s3tree *t;
	const char *bucket;
	const char *key;
	struct s3_object obj;
	int r;
	int done;
	pthread_mutex_t lock;
	pthread_cond_t cond;
};

static void s3tree_head_job(void *arg)
{
	struct s3tree_head_job *j = arg;
	struct s3_object obj;
	int r = s3_head(j->t->cfg.s3, j->bucket, j->key, &obj);

	pthread_mutex_lock(&j->lock);
	j->r = r;
	if (r == 0)
		j->obj = obj;
	j->done = 1;
	pthread_cond_signal(&j->cond);
	pthread_mutex_unlock(&j->lock);
}

static int s3tree_count_entry(void *arg, const struct s3xml_entry *e)
{
	(void)e;
	(*(int *)arg)++;
	return 0;
}

/* Look a name up in its parent's listing: for glob mounts, where a HEAD
 * cannot tell whether a key matches, and for all-buckets roots. */
static int s3tree_getattr_via_parent(struct s3tree *t, const char *path, struct stat *st)
{
	struct s3tree_listing l;
	const char *name = strrchr(path, '/') + 1;
	char *parent, *bucket, *prefix;
	int r;

	/* "/a/b" -> "/a", "/a" -> "/" */
	parent = strndup(path, name - path > 1 ? (size_t)(name - path - 1) : 1);
	if (!parent)
		return -ENOMEM;
	r = s3tree_list(t, parent, &l, &bucket, &prefix);
	free(parent);
	if (r < 0)
		return r;
	r = -ENOENT;
	for (size_t i = 0; i < l.n; i++) {
		if (!strcmp(l.entries[i].name, name)) {
			s3tree_stat(t, st, l.entries[i].is_dir, l.entries[i].size,
				    l.entries[i].mtime);
			r = 0;
			break;
		}
	}
	s3tree_listing_free(&l);
	free(bucket);
	free(prefix);
	return r;
}

static int s3tree_getattr(void *ctx, const char *path, struct stat *st)
{
	struct s3tree *t = ctx;
	struct s3tree_head_job job = {0};
	char *bucket = NULL, *key = NULL, *dir_prefix = NULL;
	int n_below = 0, r, r_list;

	if (!strcmp(path, "/")) {
		s3tree_stat(t, st, 1, 0, 0);
		return 0;
	}
	if (t->cfg.src->kind == SOURCE_S3_GLOB)
		return s3tree_getattr_via_parent(t, path, st);
	r = s3tree_locate(t, path, &bucket, &key);
	if (r < 0)
		return r;
	if (t->cfg.src->kind == SOURCE_S3_ALL && !*key) {
		/* A bucket folder: it exists if it can be listed. */
		r = source_bucket_name_ok(bucket)
			    ? s3_list(t->cfg.s3, bucket, NULL, "/", 1, s3tree_count_entry, &n_below)
			    : -ENOENT;
		if (r == 0)
			s3tree_stat(t, st, 1, 0, 0);
		goto out;
	}
	dir_prefix = s3tree_dir_prefix(key);
	if (!dir_prefix) {
		r = -ENOMEM;
		goto out;
	}

	/* A path not yet listed may be a file (HEAD) or a folder (anything
	 * below "name/"): ask both at once, and let a folder win. */
	job.t = t;
	job.bucket = bucket;
	job.key = key;
	pthread_mutex_init(&job.lock, NULL);
	pthread_cond_init(&job.cond, NULL);
	if (pool_submit(t->workers, s3tree_head_job, &job) < 0)
		s3tree_head_job(&job);
	r_list = s3_list(t->cfg.s3, bucket, dir_prefix, "/", 1, s3tree_count_entry, &n_below);
	pthread_mutex_lock(&job.lock);
	while (!job.done)
		pthread_cond_wait(&job.cond, &job.lock);
	pthread_mutex_unlock(&job.lock);
	pthread_mutex_destroy(&job.lock);
	pthread_cond_destroy(&job.cond);

	if (r_list == 0 && n_below > 0) {
		s3tree_stat(t, st, 1, 0, 0);
		r = 0;
	} else if (job.r == 0) {
		s3tree_stat(t, st, 0, job.obj.size, job.obj.mtime);
		r = 0;
	} else {
		r = r_list < 0 ? r_list : job.r;
	}
out:
	free(bucket);
	free(key);
	free(dir_prefix);
	return r;
}

/* ---- files ---- */

static ssize_t s3tree_fetch(void *arg, off_t off, size_t len, char *buf)
{
	struct s3tree_file *f = arg;

	return s3_get_range(f->t->cfg.s3, f->bucket, f->key, off, len,
			    f->etag[0] ? f->etag : NULL, buf);
}

static void s3tree_file_free(struct s3tree_file *f)
{
	if (!f)
		return;
	prefetch_close(f->pf);
	free(f->bucket);
	free(f->key);
	free(f);
}

static int s3tree_open(void *ctx, const char *path, int flags, void **fh, struct stat *st)
{
	struct s3tree *t = ctx;
	struct s3tree_file *f;
	struct s3_object obj;
	int r;

	if ((flags & O_ACCMODE) != O_RDONLY || (flags & O_TRUNC))
		return -EROFS;
	f = calloc(1, sizeof(*f));
	if (!f)
		return -ENOMEM;
	f->t = t;
	r = s3tree_locate(t, path, &f->bucket, &f->key);
	if (r < 0) {
		free(f);
		return r;
	}
	if (!f->bucket || !*f->key) {
		r = -EISDIR;
		goto fail;
	}
	/* Always ask: a new open must see the object as it is now, and the
	 * ETag pins every later range GET to this version (If-Match). */
	r = s3_head(t->cfg.s3, f->bucket, f->key, &obj);
	if (r < 0)
		goto fail;
	memcpy(f->etag, obj.etag, sizeof(f->etag));
	f->size = obj.size;
	f->pf = prefetch_open(t->prefetch, obj.size, s3tree_fetch, f);
	if (!f->pf) {
		r = -ENOMEM;
		goto fail;
	}
	s3tree_stat(t, &f->st, 0, obj.size, obj.mtime);
	*st = f->st;
	*fh = f;
	return 0;
fail:
	s3tree_file_free(f);
	return r;
}

static ssize_t s3tree_read(void *ctx, void *fh, char *buf, size_t size, off_t off)
{
	struct s3tree_file *f = fh;
	ssize_t n;

	(void)ctx;
	if (off >= f->size)
		return 0;
	n = prefetch_read(f->pf, buf, size, off);
	if (n == -ESTALE || n == -ENOENT) {
		log_err("s3://%s/%s: the object changed or was deleted while open; reopen it",
			f->bucket, f->key);
		return -EIO;
	}
	return n;
}

static int s3tree_fgetattr(void *ctx, void *fh, struct stat *st)
{
	(void)ctx;
	*st = ((struct s3tree_file *)fh)->st;
	return 0;
}

static int s3tree_release(void *ctx, void *fh)
{
	(void)ctx;
	s3tree_file_free(fh);
	return 0;
}

static int s3tree_statfs(void *ctx, struct statvfs *st)
{
	(void)ctx;
	/* S3 has no capacity to report: large fixed figures keep df and
	 * tools that check free space before writing happy. */
	memset(st, 0, sizeof(*st));
	st->f_bsize = 1 << 20;
	st->f_frsize = 1 << 20;
	st->f_blocks = 1ULL << 30;
	st->f_bfree = 1ULL << 30;
	st->f_bavail = 1ULL << 30;
	st->f_files = 1ULL << 32;
	st->f_ffree = 1ULL << 32;
	st->f_favail = 1ULL << 32;
	st->f_namemax = S3TREE_NAME_MAX;
	return 0;
}

static int s3tree_start(void *ctx)
{
	struct s3tree *t = ctx;

	t->workers = pool_new(t->cfg.workers);
	if (!t->workers)
		return -ENOMEM;
	t->prefetch = prefetch_new(&t->cfg.prefetch, t->workers);
	return t->prefetch ? 0 : -ENOMEM;
}

static void s3tree_destroy(void *ctx)
{
	struct s3tree *t = ctx;

	pool_free(t->workers);
	prefetch_free(t->prefetch);
	free(t->glob_prefix);
	free(t);
}

static const struct backend_ops s3tree_ops = {
	.getattr = s3tree_getattr,
	.readdir = s3tree_readdir,
	.open = s3tree_open,
	.read = s3tree_read,
	.fgetattr = s3tree_fgetattr,
	.release = s3tree_release,
	.statfs = s3tree_statfs,
	.start = s3tree_start,
	.destroy = s3tree_destroy,
};

int s3tree_new(const struct s3tree_config *cfg, struct backend *out)
{
	struct s3tree *t = calloc(1, sizeof(*t));

	if (!t)
		return -ENOMEM;
	t->cfg = *cfg;
	t->mount_time = time(NULL);
	if (cfg->src->kind == SOURCE_S3_GLOB &&
	    asprintf(&t->glob_prefix, "%s%s", cfg->src->prefix, cfg->src->glob_head) < 0) {
		free(t);
		return -ENOMEM;
	}
	out->ops = &s3tree_ops;
	out->ctx = t;
	return 0;
}

int s3tree_probe(struct s3 *s3, const struct source *src)
{
	int n = 0;

	if (src->kind == SOURCE_S3_ALL)
		return s3_list_buckets(s3, s3tree_count_entry, &n);
	return s3_list(s3, src->bucket, src->prefix, "/", 1, s3tree_count_entry, &n);
}
