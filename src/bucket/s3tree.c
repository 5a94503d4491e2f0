/* s3tree.c - see s3tree.h */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "pagecache.h"
#include "pool.h"
#include "s3/prefetch.h"
#include "s3/s3.h"
#include "s3file.h"
#include "s3tree.h"
#include "s3tree_i.h"
#include "source.h"
#include "s3/upload.h"

/* A listing past this many entries is refused rather than held in memory
 * (lookups of glob mounts, which hold their folder's listing whole). */
#define S3TREE_DIR_MAX_ENTRIES 5000000
/* readdir holds a folder whole, sorted, deduplicated and with the files
 * being written, up to this many entries; past it, the rest of the folder
 * streams through a page at a time (see s3tree_dir). */
#define S3TREE_DIR_GATHER 100000

/* A key "name_$folder$" stands for the folder "name". */
#define S3TREE_FOLDER_SUFFIX	 "_$folder$"
#define S3TREE_FOLDER_SUFFIX_LEN (sizeof(S3TREE_FOLDER_SUFFIX) - 1)

/* ---- paths ---- */

/* Split a mount path into bucket and key, per the source.  *bucket is NULL
 * for the root of an all-buckets mount.  The caller frees both. */
int s3tree_locate(struct s3tree *t, const char *path, char **bucket, char **key)
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
char *s3tree_dir_prefix(const char *key)
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
	st->st_mode =
	    is_dir ? (S_IFDIR | (0777 & ~t->cfg.umask)) : (S_IFREG | (0666 & ~t->cfg.umask));
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

/* The file types an object may stand for (s3fs's x-amz-meta-mode). */
static mode_t s3tree_type(const struct s3_meta *m)
{
	mode_t type = (m->flags & S3_META_MODE) ? m->mode & S_IFMT : S_IFREG;

	switch (type) {
	case S_IFDIR:
	case S_IFLNK:
	case S_IFIFO:
	case S_IFCHR:
	case S_IFBLK:
	case S_IFSOCK:
		return type;
	default:
		return S_IFREG;
	}
}

/* Mode, owner and times from metadata over what s3tree_stat set. */
static void s3tree_apply_meta(struct s3tree *t, struct stat *st, mode_t type,
			      const struct s3_meta *m)
{
	if (m->flags & S3_META_MODE) {
		st->st_mode = type | (m->mode & 07777);
		if (t->cfg.read_only && type != S_IFLNK)
			st->st_mode &= ~(mode_t)0222;
	}
	if ((type == S_IFCHR || type == S_IFBLK) && (m->flags & S3_META_RDEV))
		st->st_rdev = m->rdev;
	if ((m->flags & S3_META_UID) && !t->cfg.uid_forced)
		st->st_uid = m->uid;
	if ((m->flags & S3_META_GID) && !t->cfg.gid_forced)
		st->st_gid = m->gid;
	if (m->flags & S3_META_MTIME)
		st->st_mtime = st->st_ctime = st->st_atime = m->mtime;
	if (m->flags & S3_META_CTIME)
		st->st_ctime = m->ctime;
}

/* A file's attributes with what its metadata says (s3fs's headers): a
 * regular file, a symlink or a special file (FIFO, device, socket). */
void s3tree_stat_meta(struct s3tree *t, struct stat *st, off_t size, time_t mtime,
		      const struct s3_meta *m)
{
	mode_t type = s3tree_type(m);

	if (type == S_IFDIR)
		type = S_IFREG; /* a key that names a folder is s3tree_dir_stat's */
	s3tree_stat(t, st, 0, size, mtime);
	s3tree_apply_meta(t, st, type, m);
}

/* A folder's attributes: what its marker's metadata says (as s3fs writes
 * it), else the defaults (mode 0777 less the umask, the mount's owner, the
 * marker's time or the mount time). */
void s3tree_dir_stat(struct s3tree *t, struct stat *st, time_t mtime, const struct s3_meta *m)
{
	s3tree_stat(t, st, 1, 0, mtime);
	s3tree_apply_meta(t, st, S_IFDIR, m);
}

/* The owner of something new: the caller, kept in its metadata when it
 * is not the mount's owner (a user of an allow_other mount). */
void s3tree_owner_meta(struct s3tree *t, struct s3_meta *m)
{
	uid_t uid;
	gid_t gid;

	backend_caller(&uid, &gid);
	if (uid != t->cfg.uid) {
		m->uid = uid;
		m->flags |= S3_META_UID;
	}
	if (gid != t->cfg.gid) {
		m->gid = gid;
		m->flags |= S3_META_GID;
	}
}

/* Whether what a HEAD of a key without a slash saw is a folder object
 * (old s3fs and other tools: Content-Type application/x-directory). */
int s3tree_is_dir_object(const struct s3_object *obj)
{
	return obj->dir_type || ((obj->meta.flags & S3_META_MODE) && S_ISDIR(obj->meta.mode));
}

/* ---- listings ---- */

/* Whether s[0..len) is well-formed UTF-8 (no overlongs, surrogates or
 * code points past U+10FFFF), as every S3 key is. */
static int s3tree_utf8_ok(const char *str, size_t len)
{
	const unsigned char *s = (const unsigned char *)str, *end = s + len;

	while (s < end) {
		unsigned c = *s, n, cp, min;

		if (c < 0x80) {
			s++;
			continue;
		}
		if (c >= 0xc2 && c <= 0xdf)
			n = 1, cp = c & 0x1f, min = 0x80;
		else if (c >= 0xe0 && c <= 0xef)
			n = 2, cp = c & 0x0f, min = 0x800;
		else if (c >= 0xf0 && c <= 0xf4)
			n = 3, cp = c & 0x07, min = 0x10000;
		else
			return 0;
		if ((size_t)(end - s) <= n)
			return 0;
		for (unsigned i = 1; i <= n; i++) {
			if ((s[i] & 0xc0) != 0x80)
				return 0;
			cp = cp << 6 | (s[i] & 0x3f);
		}
		if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			return 0;
		s += n + 1;
	}
	return 1;
}

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
	else if (!s3tree_utf8_ok(name, len))
		why = "invalid UTF-8";
	if (why) {
		char shown[1200];

		s3_key_printable(key, shown, sizeof(shown));
		log_warn("s3://%s/%s: key has %s and cannot be a path; left out", l->bucket, shown,
			 why);
	}
	return why == NULL;
}

int s3tree_add(struct s3tree_listing *l, const char *name, size_t len, int is_dir, off_t size,
	       time_t mtime)
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
	e->pending = 0;
	e->known = 0;
	e->headed = 0;
	e->size = size;
	e->mtime = mtime;
	memset(&e->meta, 0, sizeof(e->meta));
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

int s3tree_list_entry(void *arg, const struct s3xml_entry *e)
{
	struct s3tree_listing *l = arg;
	size_t plen = strlen(l->prefix);
	const char *rel, *slash;
	size_t len;
	int r;

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
	if (slash && l->glob) {
		if (!strncmp(l->carry_dir, rel, len) && l->carry_dir[len] == '\0')
			return 0;
		memcpy(l->last_dir, rel, len);
		l->last_dir[len] = '\0';
	} else {
		l->last_dir[0] = '\0';
	}
	if (slash)
		return s3tree_add(l, rel, len, 1, 0, e->kind == S3XML_OBJECT ? e->mtime : 0);
	/* "name_$folder$": a folder marker of Hadoop's S3N and older tools. */
	if (len > S3TREE_FOLDER_SUFFIX_LEN &&
	    !strcmp(rel + len - S3TREE_FOLDER_SUFFIX_LEN, S3TREE_FOLDER_SUFFIX))
		return s3tree_add(l, rel, len - S3TREE_FOLDER_SUFFIX_LEN, 1, 0, e->mtime);
	r = s3tree_add(l, rel, len, 0, e->size, e->mtime);
	if (r == 0 && !l->glob)
		l->entries[l->n - 1].known =
		    known_apply(l->t, l->bucket, e->name, e->etag, e->mtime, e->size,
				&l->entries[l->n - 1].meta);
	return r;
}

static int s3tree_entry_cmp(const void *a, const void *b)
{
	const struct s3tree_entry *x = a, *y = b;
	int c = strcmp(x->name, y->name);

	/* Folders first among equal names: the folder wins; then a file
	 * being written, which is newer than what S3 lists. */
	if (c)
		return c;
	return y->is_dir != x->is_dir ? y->is_dir - x->is_dir : y->pending - x->pending;
}

/* Sort, and keep one entry per name: a folder beats a file, and a folder
 * seen several times (prefix, marker, glob keys) appears once. */
void s3tree_dedupe(struct s3tree_listing *l)
{
	size_t out = 0;

	if (l->n == 0)
		return;
	qsort(l->entries, l->n, sizeof(*l->entries), s3tree_entry_cmp);
	for (size_t i = 0; i < l->n; i++) {
		struct s3tree_entry *e = &l->entries[i];

		if (out && !strcmp(l->entries[out - 1].name, e->name)) {
			if (!e->is_dir && !e->pending && !l->entries[out - 1].pending) {
				char shown[1200];

				s3_key_printable(e->name, shown, sizeof(shown));
				log_notice(
				    "s3://%s/%s%s: a folder of the same name hides this file",
				    l->bucket, l->prefix, shown);
			}
			free(e->name);
			continue;
		}
		l->entries[out++] = *e;
	}
	l->n = out;
}

void s3tree_listing_free(struct s3tree_listing *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->entries[i].name);
	free(l->entries);
}

void s3tree_entry_stat(struct s3tree *t, const struct s3tree_entry *e, struct stat *st)
{
	if (e->is_dir)
		s3tree_dir_stat(t, st, e->mtime, &e->meta);
	else
		s3tree_stat_meta(t, st, e->size, e->mtime, &e->meta);
}

/* ---- what a listing cannot say ----
 *
 * A listing gives each key's size and time, not its metadata.  Files are
 * shown from the listing alone, but for an empty object, which gets a
 * HEAD, sent in parallel on the workers: it may be a FIFO, a device, a
 * socket or a folder object, which only its metadata tells.  A subfolder
 * is shown as a folder with the default attributes, without a HEAD of its
 * "name/" marker (mode, owner and time as s3fs keeps them; most folders
 * have none): it goes out partial (s3tree_entry_partial), and a lookup of
 * it lists the subfolder's first page (lookup.c), which tells whether it
 * has a marker (then a HEAD reads it) and is kept as the subfolder's
 * listing.  So `find` over N folders costs N lists, `ls -l` of N
 * subfolders N lists (N HEADs more for those with a marker), of 10,000
 * non-empty files none; the cache layer keeps the result for cache_ttl. */
struct s3tree_peek_batch {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	size_t left;
};

struct s3tree_peek {
	struct s3tree *t;
	const char *bucket;
	char *key;
	struct s3tree_entry *e;
	struct s3tree_peek_batch *b;
};

static void s3tree_peek_job(void *arg)
{
	struct s3tree_peek *p = arg;
	struct s3_object obj;
	struct s3tree_entry *e = p->e;

	if (s3_head(p->t->cfg.s3, p->bucket, p->key, &obj) == 0) {
		e->headed = 1;
		if (!e->is_dir)
			known_note(p->t, p->bucket, p->key, &obj);
		if (!e->is_dir && s3tree_is_dir_object(&obj))
			e->is_dir = 1;
		e->meta = obj.meta;
		if (e->is_dir && !e->mtime)
			e->mtime = obj.mtime;
	}
	pthread_mutex_lock(&p->b->lock);
	p->b->left--;
	pthread_cond_signal(&p->b->cond);
	pthread_mutex_unlock(&p->b->lock);
}

static int s3tree_peek_wanted(const struct s3tree_listing *l, const struct s3tree_entry *e)
{
	return !l->glob && *l->bucket && !e->pending && !e->is_dir && e->size == 0;
}

/* What a listing's entry lacks (BACKEND_PAGE_*): a subfolder its marker's
 * metadata, unless a HEAD saw it as another tool's folder object.  Glob
 * mounts and the all-buckets root show folders with the defaults, as
 * lookups do. */
unsigned s3tree_entry_partial(const struct s3tree_listing *l, const struct s3tree_entry *e)
{
	return !l->glob && *l->bucket && !e->pending && e->is_dir && !e->headed
		   ? BACKEND_PAGE_LOOKUP | BACKEND_PAGE_KEEP
		   : 0;
}

/* HEAD the entries [from, l->n) that need it, all at once, and wait. */
static int s3tree_peek(struct s3tree *t, struct s3tree_listing *l, size_t from)
{
	struct s3tree_peek_batch b = {.left = 0};
	struct s3tree_peek *jobs;
	size_t n = 0;
	int r = 0;

	for (size_t i = from; i < l->n; i++)
		n += s3tree_peek_wanted(l, &l->entries[i]);
	if (n == 0)
		return 0;
	jobs = calloc(n, sizeof(*jobs));
	if (!jobs)
		return -ENOMEM;
	pthread_mutex_init(&b.lock, NULL);
	pthread_cond_init(&b.cond, NULL);
	n = 0;
	for (size_t i = from; i < l->n && r == 0; i++) {
		struct s3tree_entry *e = &l->entries[i];
		struct s3tree_peek *p = &jobs[n];

		if (!s3tree_peek_wanted(l, e))
			continue;
		if (asprintf(&p->key, "%s%s", l->prefix, e->name) < 0) {
			p->key = NULL;
			r = -ENOMEM;
			break;
		}
		p->t = t;
		p->bucket = l->bucket;
		p->e = e;
		p->b = &b;
		n++;
		pthread_mutex_lock(&b.lock);
		b.left++;
		pthread_mutex_unlock(&b.lock);
		if (pool_submit(t->workers, s3tree_peek_job, p) < 0)
			s3tree_peek_job(p);
	}
	pthread_mutex_lock(&b.lock);
	while (b.left)
		pthread_cond_wait(&b.cond, &b.lock);
	pthread_mutex_unlock(&b.lock);
	pthread_mutex_destroy(&b.lock);
	pthread_cond_destroy(&b.cond);
	for (size_t i = 0; i < n; i++)
		free(jobs[i].key);
	free(jobs);
	return r;
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
		r = openfiles_add_writers(t, l);
	if (r == 0)
		s3tree_dedupe(l);
	if (r == 0)
		r = s3tree_peek(t, l, 0);
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
		s3tree_entry_stat(t, &l.entries[i], &st);
		if (fill(arg, l.entries[i].name, &st, s3tree_entry_partial(&l, &l.entries[i])))
			break;
	}
	s3tree_listing_free(&l);
	free(bucket);
	free(prefix);
	return 0;
}

/* ---- folders read as a stream ----
 *
 * A folder of up to S3TREE_DIR_GATHER entries is listed whole before the
 * first entry goes out, as s3tree_list does.  A larger one is handed out
 * as its pages arrive, so that memory stays bounded by the first
 * S3TREE_DIR_GATHER entries and one page: each page is sorted and
 * deduplicated on its own (the lister already leaves out keys listed on
 * an earlier page), and files being written that are not yet in S3 are
 * not shown.  A file and a folder of the same name on different pages
 * both appear.  Positions count entries from the start of the stream;
 * a position behind the page held (rewinddir) lists the folder again. */
struct s3tree_dir {
	struct s3tree *t;
	char *bucket; /* NULL: the root of an all-buckets mount */
	char *prefix;
	struct s3_lister *lister;
	struct s3tree_listing l; /* entries [base, base + l.n) of the stream */
	off_t base;
	int started;
	int more; /* pages left to fetch */
};

static void s3tree_dir_clear(struct s3tree_dir *d)
{
	s3_lister_free(d->lister);
	d->lister = NULL;
	s3tree_listing_free(&d->l);
	memset(&d->l, 0, sizeof(d->l));
	d->base = 0;
	d->started = 0;
	d->more = 0;
}

static int s3tree_dir_start(struct s3tree_dir *d)
{
	struct s3tree *t = d->t;
	const char *list_prefix = d->prefix, *delimiter = "/";
	int r;

	s3tree_dir_clear(d);
	d->l.t = t;
	d->l.bucket = d->bucket ? d->bucket : "";
	d->l.prefix = d->prefix;
	if (d->bucket && t->cfg.src->kind == SOURCE_S3_GLOB) {
		/* No delimiter: only keys that match may make a folder appear. */
		d->l.glob = 1;
		delimiter = NULL;
		if (strlen(d->prefix) <= strlen(t->glob_prefix))
			list_prefix = t->glob_prefix;
	}
	d->lister = s3_lister_new(t->cfg.s3, d->bucket, list_prefix, delimiter, 0);
	if (!d->lister)
		return -ENOMEM;
	do
		r = s3_lister_next(d->lister, s3tree_list_entry, &d->l);
	while (r > 0 && d->l.n < S3TREE_DIR_GATHER);
	if (r < 0)
		goto fail;
	d->more = r > 0;
	if (d->more)
		log_info("s3://%s/%s: over %d entries; the rest of the folder is read as it is "
			 "listed",
			 d->l.bucket, d->prefix, S3TREE_DIR_GATHER);
	else if ((r = openfiles_add_writers(t, &d->l)) < 0)
		goto fail;
	s3tree_dedupe(&d->l);
	if ((r = s3tree_peek(t, &d->l, 0)) < 0)
		goto fail;
	d->started = 1;
	return 0;
fail:
	s3tree_dir_clear(d);
	return r;
}

/* Drop the entries held and fetch the next page. */
static int s3tree_dir_page(struct s3tree_dir *d)
{
	int r;

	d->base += (off_t)d->l.n;
	for (size_t i = 0; i < d->l.n; i++)
		free(d->l.entries[i].name);
	d->l.n = 0;
	memcpy(d->l.carry_dir, d->l.last_dir, sizeof(d->l.carry_dir));
	r = s3_lister_next(d->lister, s3tree_list_entry, &d->l);
	if (r < 0) {
		s3tree_dir_clear(d); /* the next call starts afresh */
		return r;
	}
	d->more = r > 0;
	s3tree_dedupe(&d->l);
	r = s3tree_peek(d->t, &d->l, 0);
	if (r < 0)
		s3tree_dir_clear(d);
	return r;
}

static int s3tree_opendir(void *ctx, const char *path, void **dh)
{
	struct s3tree *t = ctx;
	struct s3tree_dir *d = calloc(1, sizeof(*d));
	char *key = NULL;
	int r;

	if (!d)
		return -ENOMEM;
	d->t = t;
	r = s3tree_locate(t, path, &d->bucket, &key);
	if (r < 0) {
		free(d);
		return r;
	}
	d->prefix = s3tree_dir_prefix(key);
	free(key);
	if (!d->prefix) {
		free(d->bucket);
		free(d);
		return -ENOMEM;
	}
	*dh = d;
	return 0;
}

static int s3tree_readdir_at(void *ctx, void *dh, off_t off, backend_fill_at_fn fill, void *arg)
{
	struct s3tree_dir *d = dh;
	struct stat st;
	int r;

	(void)ctx;
	if (!d->started || off < d->base) {
		r = s3tree_dir_start(d);
		if (r < 0)
			return r;
	}
	for (;;) {
		struct s3tree_entry *e;

		while (off >= d->base + (off_t)d->l.n) {
			if (!d->more)
				return 0;
			r = s3tree_dir_page(d);
			if (r < 0)
				return r;
		}
		e = &d->l.entries[off - d->base];
		s3tree_entry_stat(d->t, e, &st);
		if (fill(arg, e->name, &st, s3tree_entry_partial(&d->l, e), off + 1))
			return 0;
		off++;
	}
}

static void s3tree_releasedir(void *ctx, void *dh)
{
	struct s3tree_dir *d = dh;

	(void)ctx;
	s3tree_dir_clear(d);
	free(d->bucket);
	free(d->prefix);
	free(d);
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

/* Entries a lookup's listing asks for: names sorting between "key" and
 * "key/" ("key-1", "key.txt") come first, so a full page cannot tell. */
#define S3TREE_PROBE_KEYS 100

/* What a lookup's listing of "key" as a prefix showed. */
struct s3tree_probe {
	const char *key, *dir, *folder_key; /* "key", "key/", "key_$folder$" */
	int n, is_file, is_dir, is_folder_key;
};

static int s3tree_probe_entry(void *arg, const struct s3xml_entry *e)
{
	struct s3tree_probe *p = arg;

	p->n++;
	if (e->kind == S3XML_OBJECT && !strcmp(e->name, p->key))
		p->is_file = 1;
	else if (e->kind == S3XML_PREFIX && !strcmp(e->name, p->dir))
		p->is_dir = 1;
	else if (e->kind == S3XML_OBJECT && !strcmp(e->name, p->folder_key))
		p->is_folder_key = 1;
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
			s3tree_entry_stat(t, &l.entries[i], st);
			r = 0;
			break;
		}
	}
	s3tree_listing_free(&l);
	free(bucket);
	free(prefix);
	return r;
}

/* What a lookup's listing below "name/" showed (the fallback). */
struct s3tree_below {
	const char *marker; /* the folder's "name/" */
	int n;
	int marker_seen;
};

static int s3tree_below_entry(void *arg, const struct s3xml_entry *e)
{
	struct s3tree_below *p = arg;

	p->n++;
	if (e->kind == S3XML_OBJECT && !strcmp(e->name, p->marker))
		p->marker_seen = 1;
	return 0;
}

/* The root's attributes: kept in memory (utimens and chmod of the root
 * change them until unmount; S3 has nowhere to keep them). */
static void s3tree_root_stat(struct s3tree *t, struct stat *st)
{
	struct s3_meta m;

	pthread_mutex_lock(&t->lock);
	m = t->root_meta;
	pthread_mutex_unlock(&t->lock);
	s3tree_dir_stat(t, st, 0, &m);
}

int s3tree_head_stat(struct s3tree *t, const char *bucket, const char *key, struct stat *st)
{
	struct s3_object obj;
	int r = s3_head(t->cfg.s3, bucket, key, &obj);

	if (r == 0 && s3tree_is_dir_object(&obj)) {
		s3tree_dir_stat(t, st, obj.mtime, &obj.meta);
	} else if (r == 0) {
		known_note(t, bucket, key, &obj);
		s3tree_stat_meta(t, st, obj.size, obj.mtime, &obj.meta);
	}
	return r;
}

/* A folder known to exist: its marker's metadata if it has one (marker
 * set), else the defaults. */
static int s3tree_folder_stat(struct s3tree *t, const char *bucket, const char *marker,
			      int has_marker, struct stat *st)
{
	struct s3_object obj;
	int r = has_marker ? s3_head(t->cfg.s3, bucket, marker, &obj) : -ENOENT;

	if (r == 0)
		s3tree_dir_stat(t, st, obj.mtime, &obj.meta);
	else
		s3tree_dir_stat(t, st, 0, &(struct s3_meta){0});
	return 0;
}

int s3tree_getattr(void *ctx, const char *path, struct stat *st)
{
	struct s3tree *t = ctx;
	struct s3tree_head_job job = {0};
	struct s3tree_below probe = {0};
	struct s3_object obj;
	char *bucket = NULL, *key = NULL, *dir_prefix = NULL, *folder_key = NULL;
	int n_below = 0, r, r_list;

	if (!strcmp(path, "/")) {
		s3tree_root_stat(t, st);
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
	if (openfiles_writer_stat(t, bucket, key, st) == 0) {
		r = 0;
		goto out;
	}
	dir_prefix = s3tree_dir_prefix(key);
	if (!dir_prefix) {
		r = -ENOMEM;
		goto out;
	}

	if (asprintf(&folder_key, "%s%s", key, S3TREE_FOLDER_SUFFIX) < 0) {
		folder_key = NULL;
		r = -ENOMEM;
		goto out;
	}
	/* A path not yet listed may be a file, a folder (anything below
	 * "key/", or an old tool's "key_$folder$") or missing: one listing of
	 * the key as a prefix tells which, in one request.  A file then needs
	 * its HEAD for the metadata, a folder the HEAD of its marker.  When
	 * the page cannot tell (names between "key" and "key/" filled it) or
	 * listing is refused, ask both ways at once below. */
	{
		struct s3tree_probe p = {.key = key, .dir = dir_prefix, .folder_key = folder_key};

		r_list =
		    s3_list(t->cfg.s3, bucket, key, "/", S3TREE_PROBE_KEYS, s3tree_probe_entry, &p);
		/* A server that failed or timed out would only fail the next
		 * requests too (and double the wait); a listing refused (a
		 * policy without ListBucket) leaves the HEAD. */
		if (r_list < 0 && r_list != -EACCES && r_list != -EPERM) {
			r = r_list;
			goto out;
		}
		if (r_list == 0 && p.is_dir) {
			r = s3tree_folder_stat(t, bucket, dir_prefix, 1, st);
			goto out;
		}
		if (r_list == 0 && p.n < S3TREE_PROBE_KEYS && p.is_file) {
			r = s3tree_head_stat(t, bucket, key, st);
			goto out;
		}
		if (r_list == 0 && p.n < S3TREE_PROBE_KEYS && p.is_folder_key) {
			r = s3_head(t->cfg.s3, bucket, folder_key, &obj);
			if (r == 0)
				s3tree_dir_stat(t, st, obj.mtime, &obj.meta);
			goto out;
		}
		if (r_list == 0 && p.n < S3TREE_PROBE_KEYS) {
			r = -ENOENT;
			goto out;
		}
	}
	/* Ask both at once, and let a folder win.  A folder whose marker
	 * "name/" is its first key gets its attributes from the marker (one
	 * more HEAD, only then). */
	job.t = t;
	job.bucket = bucket;
	job.key = key;
	pthread_mutex_init(&job.lock, NULL);
	pthread_cond_init(&job.cond, NULL);
	if (pool_submit(t->workers, s3tree_head_job, &job) < 0)
		s3tree_head_job(&job);
	probe.marker = dir_prefix;
	r_list = s3_list(t->cfg.s3, bucket, dir_prefix, "/", 1, s3tree_below_entry, &probe);
	pthread_mutex_lock(&job.lock);
	while (!job.done)
		pthread_cond_wait(&job.cond, &job.lock);
	pthread_mutex_unlock(&job.lock);
	pthread_mutex_destroy(&job.lock);
	pthread_cond_destroy(&job.cond);

	if (r_list == 0 && probe.n > 0) {
		r = s3tree_folder_stat(t, bucket, dir_prefix, probe.marker_seen, st);
	} else if (job.r == 0 && s3tree_is_dir_object(&job.obj)) {
		/* "name" with Content-Type application/x-directory. */
		s3tree_dir_stat(t, st, job.obj.mtime, &job.obj.meta);
		r = 0;
	} else if (job.r == 0) {
		known_note(t, bucket, key, &job.obj);
		s3tree_stat_meta(t, st, job.obj.size, job.obj.mtime, &job.obj.meta);
		r = 0;
	} else if (r_list < 0 || job.r != -ENOENT) {
		r = r_list < 0 ? r_list : job.r;
	} else {
		/* Neither: last, a "name_$folder$" marker. */
		r = s3_head(t->cfg.s3, bucket, folder_key, &obj);
		if (r == 0)
			s3tree_dir_stat(t, st, obj.mtime, &obj.meta);
	}
out:
	free(bucket);
	free(key);
	free(dir_prefix);
	free(folder_key);
	return r;
}

/* ---- changes by path ---- */

/* Changes are refused on read-only mounts and glob mounts (a glob names
 * what is shown, not where a new key would go). */
int s3tree_writable(struct s3tree *t)
{
	return t->cfg.read_only || t->cfg.src->kind == SOURCE_S3_GLOB ? -EROFS : 0;
}

/* Locate a path that names an object: -EISDIR (or -EPERM for changes) at
 * the root and at a bucket of an all-buckets mount. */
int s3tree_locate_key(struct s3tree *t, const char *path, char **bucket, char **key)
{
	int r = s3tree_locate(t, path, bucket, key);

	if (r == 0 && (!*bucket || !**key)) {
		free(*bucket);
		free(*key);
		return -EPERM;
	}
	return r;
}

/* The start of every change by path: refused on read-only mounts, then
 * located like s3tree_locate_key. */
int s3tree_change(struct s3tree *t, const char *path, char **bucket, char **key)
{
	int r = s3tree_writable(t);

	return r < 0 ? r : s3tree_locate_key(t, path, bucket, key);
}

/* A folder's marker "key/" with its attributes, as s3fs writes it. */
static int s3tree_put_marker(struct s3tree *t, const char *bucket, const char *key,
			     const struct s3_meta *meta)
{
	char *marker = s3tree_dir_prefix(key);
	int r;

	if (!marker)
		return -ENOMEM;
	r = s3_put(t->cfg.s3, bucket, marker, "", 0, meta, "application/x-directory", NULL);
	free(marker);
	return r;
}

/* What setattr sets, onto meta; the change time is now. */
static void s3tree_meta_set(struct s3_meta *m, const struct backend_setattr *a)
{
	if (a->set & BACKEND_SET_MODE) {
		m->mode = (m->mode & S_IFMT) | (a->mode & 07777);
		m->flags |= S3_META_MODE;
	}
	if (a->set & BACKEND_SET_UID) {
		m->uid = a->uid;
		m->flags |= S3_META_UID;
	}
	if (a->set & BACKEND_SET_GID) {
		m->gid = a->gid;
		m->flags |= S3_META_GID;
	}
	if (a->set & BACKEND_SET_MTIME) {
		m->mtime = a->mtime;
		m->flags |= S3_META_MTIME;
	}
	m->ctime = time(NULL);
	m->flags |= S3_META_CTIME;
}

/* A folder's attributes go in its marker, made if missing; what the
 * marker held and the change does not touch stays. */
static int s3tree_folder_setattr(struct s3tree *t, const char *bucket, const char *key,
				 const struct backend_setattr *a)
{
	struct s3_meta m = {0};
	struct s3_object obj;
	char *marker = s3tree_dir_prefix(key);
	int r = marker ? s3_head(t->cfg.s3, bucket, marker, &obj) : -ENOMEM;

	free(marker);
	if (r == 0)
		m = obj.meta;
	else if (r != -ENOENT)
		return r;
	if (!(m.flags & S3_META_MODE)) {
		m.mode = 0777 & ~t->cfg.umask;
		m.flags |= S3_META_MODE;
	}
	m.mode = S_IFDIR | (m.mode & 07777);
	if (!(m.flags & S3_META_MTIME)) {
		m.mtime = r == 0 && obj.mtime ? obj.mtime : time(NULL);
		m.flags |= S3_META_MTIME;
	}
	s3tree_meta_set(&m, a);
	r = s3tree_put_marker(t, bucket, key, &m);
	if (r == 0 && a->after) {
		/* What a HEAD of the marker would now show. */
		s3tree_dir_stat(t, a->after, 0, &m);
		*a->after_known = 1;
	}
	return r;
}

static int s3tree_setattr(void *ctx, const char *path, void *fh, const struct backend_setattr *a)
{
	struct s3tree *t = ctx;
	struct s3file_env env;
	struct s3_object obj;
	struct s3file *f = NULL;
	char *bucket, *key;
	int r = s3tree_writable(t);

	if (r < 0)
		return r;
	if (fh)
		return s3file_setattr(openfiles_file(fh), a);
	if (!strcmp(path, "/")) {
		/* The root: in memory only (see s3tree_root_stat). */
		pthread_mutex_lock(&t->lock);
		if (!(t->root_meta.flags & S3_META_MODE))
			t->root_meta.mode = S_IFDIR | (0777 & ~t->cfg.umask);
		t->root_meta.flags |= S3_META_MODE;
		s3tree_meta_set(&t->root_meta, a);
		pthread_mutex_unlock(&t->lock);
		return 0;
	}
	r = openfiles_writers_setattr(t, path, a);
	if (r != -ENOENT)
		return r;
	r = s3tree_locate_key(t, path, &bucket, &key);
	if (r < 0)
		return r;
	/* A folder the cache knows needs no HEAD of "key" to tell. */
	r = a->is_dir ? -ENOENT : s3_head(t->cfg.s3, bucket, key, &obj);
	if (r == 0 && !s3tree_is_dir_object(&obj)) {
		/* A file: set, and publish, which copies the object onto
		 * itself with the new metadata. */
		openfiles_env(t, &env);
		r = s3file_open(&env, bucket, key, O_RDONLY, &obj, NULL, &f);
		if (r == 0)
			r = s3file_setattr(f, a);
		if (r == 0)
			r = s3file_flush(f);
		if (r == 0)
			openfiles_note_published(t, f, bucket, key);
		s3file_close(f);
	} else if (r == 0 || r == -ENOENT) {
		/* The kernel found it, so a folder. */
		r = s3tree_folder_setattr(t, bucket, key, a);
	}
	free(bucket);
	free(key);
	return r;
}

static int s3tree_unlink(void *ctx, const char *path)
{
	struct s3tree *t = ctx;
	char *bucket, *key;
	int r = s3tree_change(t, path, &bucket, &key);

	if (r < 0)
		return r;
	r = s3_delete(t->cfg.s3, bucket, key);
	if (r == 0) {
		known_note(t, bucket, key, NULL);
		openfiles_writers_moved(t, bucket, key, NULL, NULL);
	}
	free(bucket);
	free(key);
	return r;
}

static int s3tree_mkdir(void *ctx, const char *path, mode_t mode)
{
	struct s3tree *t = ctx;
	struct s3_meta meta = {
	    .flags = S3_META_MODE | S3_META_MTIME | S3_META_CTIME,
	    .mode = S_IFDIR | (mode & 07777),
	    .mtime = time(NULL),
	    .ctime = time(NULL),
	};
	char *bucket, *key;
	int r = s3tree_change(t, path, &bucket, &key);

	if (r < 0)
		return r;
	s3tree_owner_meta(t, &meta);
	r = s3tree_put_marker(t, bucket, key, &meta);
	free(bucket);
	free(key);
	return r;
}

struct s3tree_count {
	const char *marker; /* the folder's own marker, not counted */
	int n;
};

static int s3tree_count_below(void *arg, const struct s3xml_entry *e)
{
	struct s3tree_count *c = arg;

	if (e->kind != S3XML_OBJECT || strcmp(e->name, c->marker))
		c->n++;
	return 0;
}

/* Whether anything but its own marker is below the folder prefix. */
int s3tree_has_children(struct s3tree *t, const char *bucket, const char *prefix)
{
	struct s3tree_count c = {prefix, 0};
	int r = s3_list(t->cfg.s3, bucket, prefix, "/", 2, s3tree_count_below, &c);

	if (r < 0)
		return r;
	c.n += openfiles_count_below(t, bucket, prefix);
	return c.n > 0;
}

/* The markers other tools write for a folder: "name_$folder$", and a
 * "name" object of Content-Type application/x-directory (a file "name"
 * that a folder hides stays). */
static int s3tree_rmdir_other_markers(struct s3tree *t, const char *bucket, const char *key)
{
	struct s3_object obj;
	char *folder_key;
	int r;

	if (asprintf(&folder_key, "%s%s", key, S3TREE_FOLDER_SUFFIX) < 0)
		return -ENOMEM;
	r = s3_delete(t->cfg.s3, bucket, folder_key);
	free(folder_key);
	if (r == 0)
		r = s3_head(t->cfg.s3, bucket, key, &obj);
	if (r == 0 && s3tree_is_dir_object(&obj))
		r = s3_delete(t->cfg.s3, bucket, key);
	return r == -ENOENT ? 0 : r;
}

static int s3tree_rmdir(void *ctx, const char *path)
{
	struct s3tree *t = ctx;
	char *bucket, *key, *prefix = NULL;
	int r = s3tree_change(t, path, &bucket, &key);

	if (r < 0)
		return r;
	prefix = s3tree_dir_prefix(key);
	r = prefix ? s3tree_has_children(t, bucket, prefix) : -ENOMEM;
	if (r > 0)
		r = -ENOTEMPTY;
	else if (r == 0)
		/* A folder with no marker (only implied by keys that are now
		 * gone) has nothing to delete: success all the same. */
		r = s3_delete(t->cfg.s3, bucket, prefix);
	if (r == 0)
		r = s3tree_rmdir_other_markers(t, bucket, key);
	free(prefix);
	free(bucket);
	free(key);
	return r;
}

static int s3tree_symlink(void *ctx, const char *target, const char *path)
{
	struct s3tree *t = ctx;
	struct s3_meta meta = {
	    .flags = S3_META_MODE | S3_META_MTIME,
	    .mode = S_IFLNK | 0777,
	    .mtime = time(NULL),
	};
	char *bucket, *key;
	int r = s3tree_writable(t);

	if (r < 0)
		return r;
	if (strlen(target) >= S3TREE_LINK_MAX)
		return -ENAMETOOLONG;
	r = s3tree_locate_key(t, path, &bucket, &key);
	if (r < 0)
		return r;
	s3tree_owner_meta(t, &meta);
	r = s3_put(t->cfg.s3, bucket, key, target, strlen(target), &meta, NULL, NULL);
	if (r == 0)
		known_note_link(t, bucket, key);
	free(bucket);
	free(key);
	return r;
}

/* A FIFO, socket or device node, as s3fs stores one: an empty object
 * whose x-amz-meta-mode carries the type, and x-amz-meta-rdev for a
 * device (inert: mounts are nodev unless -o dev). */
static int s3tree_mknod(void *ctx, const char *path, mode_t mode, dev_t rdev)
{
	struct s3tree *t = ctx;
	struct s3_meta meta = {
	    .flags = S3_META_MODE | S3_META_MTIME | S3_META_CTIME,
	    .mode = mode & (S_IFMT | 07777),
	    .mtime = time(NULL),
	    .ctime = time(NULL),
	};
	char *bucket, *key;
	int r;

	switch (mode & S_IFMT) {
	case S_IFCHR:
	case S_IFBLK:
		meta.rdev = rdev;
		meta.flags |= S3_META_RDEV;
		break;
	case S_IFIFO:
	case S_IFSOCK:
	case S_IFREG:
		break;
	default:
		return -EINVAL;
	}
	r = s3tree_change(t, path, &bucket, &key);
	if (r < 0)
		return r;
	s3tree_owner_meta(t, &meta);
	r = s3_put(t->cfg.s3, bucket, key, "", 0, &meta, NULL, NULL);
	free(bucket);
	free(key);
	return r;
}

static int s3tree_readlink(void *ctx, const char *path, char *buf, size_t size)
{
	struct s3tree *t = ctx;
	char *bucket, *key;
	ssize_t n;
	int r;

	if (size == 0)
		return -EINVAL;
	r = s3tree_locate_key(t, path, &bucket, &key);
	if (r < 0)
		return r == -EPERM ? -EINVAL : r;
	n = s3_get_small(t->cfg.s3, bucket, key, buf, size - 1);
	if (n == -EFBIG)
		n = -ENAMETOOLONG;
	if (n >= 0)
		buf[n] = '\0';
	free(bucket);
	free(key);
	return n < 0 ? (int)n : 0;
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
	struct uploader_config uc = {.buffer_total = t->cfg.write_buffer};

	t->workers = pool_new(t->cfg.workers);
	if (!t->workers)
		return -ENOMEM;
	t->prefetch = prefetch_new(&t->cfg.prefetch, t->workers);
	t->uploader = uploader_new(t->cfg.s3, t->workers, &uc);
	return t->prefetch && t->uploader ? 0 : -ENOMEM;
}

static void s3tree_destroy(void *ctx)
{
	struct s3tree *t = ctx;

	/* Files still open at unmount are released by libfuse before this;
	 * the uploader gets a last go at aborts it owes. */
	uploader_free(t->uploader);
	pool_free(t->workers);
	prefetch_free(t->prefetch);
	pagecache_free(t->pages);
	pthread_mutex_destroy(&t->lock);
	known_free(t);
	pthread_mutex_destroy(&t->known_lock);
	free(t->glob_prefix);
	free(t);
}

static const struct backend_ops s3tree_ops = {
    .getattr = s3tree_getattr,
    .readdir = s3tree_readdir,
    .list_page = s3tree_list_page,
    .getattr_listed = s3tree_getattr_listed,
    .opendir = s3tree_opendir,
    .readdir_at = s3tree_readdir_at,
    .releasedir = s3tree_releasedir,
    .open = s3tree_open,
    .read = s3tree_read,
    .fgetattr = s3tree_fgetattr,
    .keep_cache = s3tree_keep_cache,
    .release = s3tree_release,
    .statfs = s3tree_statfs,
    .start = s3tree_start,
    .destroy = s3tree_destroy,
    .create = s3tree_create,
    .write = s3tree_write,
    .flush = s3tree_flush,
    .fsync = s3tree_fsync,
    .truncate = s3tree_truncate,
    .setattr = s3tree_setattr,
    .unlink = s3tree_unlink,
    .mkdir = s3tree_mkdir,
    .rmdir = s3tree_rmdir,
    .rename = s3tree_rename,
    .symlink = s3tree_symlink,
    .readlink = s3tree_readlink,
    .mknod = s3tree_mknod,
};

int s3tree_new(const struct s3tree_config *cfg, struct backend *out)
{
	struct s3tree *t = calloc(1, sizeof(*t));

	if (!t)
		return -ENOMEM;
	t->cfg = *cfg;
	t->mount_time = time(NULL);
	pthread_mutex_init(&t->lock, NULL);
	pthread_mutex_init(&t->known_lock, NULL);
	t->pages = pagecache_new();
	if (!t->pages ||
	    (cfg->src->kind == SOURCE_S3_GLOB &&
	     asprintf(&t->glob_prefix, "%s%s", cfg->src->prefix, cfg->src->glob_head) < 0)) {
		pagecache_free(t->pages);
		pthread_mutex_destroy(&t->known_lock);
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
