/* whtree.c - see whtree.h
 *
 * The tree's FUSE-facing operations: what a path names, getattr and
 * readdir, open files (table exports, .errors, loads), unlink, mkdir and
 * rmdir, and the backend ops table.  The state they share with
 * catalog.c, export.c and load.c is in whtree_i.h.
 */
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
#include "spool.h"
#include "s3/upload.h"
#include "whdb.h"
#include "whsql.h"
#include "whtree.h"
#include "whtree_i.h"

enum whfh_kind { WHFH_SNAP, WHFH_TEXT, WHFH_LOAD };

struct whfh {
	enum whfh_kind kind;
	struct whsnap *snap;
	struct whreader rd;
	char *text;
	size_t textlen;
	struct whload *ld;
};

/* --------------------------------------------------------------------- */
/* per-table state */

struct whent *whtree_ent(struct whtree *t, const char *schema, const char *table, int add)
{
	struct whent *e;

	for (e = t->ents; e; e = e->next)
		if (!strcmp(e->schema, schema) && !strcmp(e->table, table))
			return e;
	if (!add)
		return NULL;
	e = calloc(1, sizeof(*e));
	if (!e)
		return NULL;
	e->schema = strdup(schema);
	e->table = strdup(table);
	if (!e->schema || !e->table) {
		free(e->schema);
		free(e->table);
		free(e);
		return NULL;
	}
	e->next = t->ents;
	t->ents = e;
	return e;
}

/* --------------------------------------------------------------------- */
/* paths */

/* Split "/a/b/c" into up to three names; -ENOENT past that. */
static int wh_split(const char *path, struct whpath *p)
{
	char *dst[3];
	const char *s = path;

	memset(p, 0, sizeof(*p));
	dst[0] = p->schema;
	dst[1] = p->table;
	dst[2] = p->name;
	while (*s == '/')
		s++;
	while (*s) {
		size_t n = strcspn(s, "/");

		if (p->depth == 3 || n >= WH_NAME_MAX)
			return -ENOENT;
		memcpy(dst[p->depth], s, n);
		dst[p->depth][n] = '\0';
		p->depth++;
		s += n;
		while (*s == '/')
			s++;
	}
	return 0;
}

static struct whload *wh_find_load(struct whtree *t, const char *schema, const char *table,
				   const char *name)
{
	for (struct whload *l = t->loads; l; l = l->next)
		if (!strcmp(l->schema, schema) && !strcmp(l->table, table) &&
		    (name ? l->name && !strcmp(l->name, name) : !l->name))
			return l;
	return NULL;
}

/* What path names, if it exists; p->kind WH_NONE if not. */
static int wh_resolve(struct whtree *t, const char *path, struct whpath *p)
{
	int r = wh_split(path, p), k;

	if (r < 0)
		return r;
	if (p->depth == 0) {
		p->kind = WH_ROOT;
		return 0;
	}
	if (p->depth == 1) {
		pthread_mutex_lock(&t->cat_lock);
		if (!wh_catalog_schema(t, p->schema, &r) && r != -ENOENT) {
			pthread_mutex_unlock(&t->cat_lock);
			return r;
		}
		pthread_mutex_unlock(&t->cat_lock);
		p->kind = r == -ENOENT ? WH_NONE : WH_SCHEMA;
		return 0;
	}
	/* depth 2 or 3: p->table is "T.csv" or "T" */
	if (p->depth == 2 && wh_ends_with(p->table, ".csv")) {
		char rel[WH_NAME_MAX];

		snprintf(rel, sizeof(rel), "%.*s", (int)(strlen(p->table) - 4), p->table);
		k = wh_catalog_rel(t, p->schema, rel, &p->deny);
		if (k < -1)
			return k;
		pthread_mutex_lock(&t->lock);
		if (k < 0 && wh_find_load(t, p->schema, rel, NULL)) {
			k = 0;
			p->pending = 1;
		}
		pthread_mutex_unlock(&t->lock);
		if (k >= 0) {
			memmove(p->table, rel, strlen(rel) + 1);
			p->kind = WH_TABLE_FILE;
			p->view = k;
			return 0;
		}
	}
	p->deny = 0;
	k = wh_catalog_rel(t, p->schema, p->table, &p->deny);
	if (k < -1)
		return k;
	pthread_mutex_lock(&t->lock);
	if (k < 0) {
		struct whent *e = whtree_ent(t, p->schema, p->table, 0);

		if ((e && e->pending_dir) || wh_find_load(t, p->schema, p->table, NULL)) {
			k = 0;
			p->pending = 1;
		}
	}
	if (k != 0) { /* no such table (a view has no load folder) */
		pthread_mutex_unlock(&t->lock);
		return 0;
	}
	if (p->depth == 2) {
		p->kind = WH_LOAD_DIR;
	} else if (!strcmp(p->name, WH_ERRORS_NAME)) {
		struct whent *e = whtree_ent(t, p->schema, p->table, 0);

		p->kind = e && e->errors ? WH_ERRORS : WH_NONE;
	} else {
		p->kind = wh_find_load(t, p->schema, p->table, p->name) ? WH_LOAD_FILE : WH_NONE;
	}
	pthread_mutex_unlock(&t->lock);
	return 0;
}

static void wh_stat_dir(const struct whtree *t, struct stat *st)
{
	memset(st, 0, sizeof(*st));
	st->st_mode = S_IFDIR | (0777 & ~t->cfg.umask);
	st->st_nlink = 2;
	st->st_uid = t->cfg.uid;
	st->st_gid = t->cfg.gid;
	st->st_mtime = st->st_ctime = st->st_atime = t->started;
}

static void wh_stat_file(const struct whtree *t, struct stat *st, off_t size, time_t mtime,
			 int writable)
{
	memset(st, 0, sizeof(*st));
	st->st_mode = S_IFREG | ((writable && !t->cfg.read_only ? 0666 : 0444) & ~t->cfg.umask);
	st->st_nlink = 1;
	st->st_uid = t->cfg.uid;
	st->st_gid = t->cfg.gid;
	st->st_size = size;
	st->st_blocks = (size + 511) / 512;
	st->st_blksize = 128 * 1024;
	st->st_mtime = st->st_ctime = st->st_atime = mtime;
}

/* The stat of a table file.  Its size: its export's once finished
 * (within the TTL); else 0, with no export started.  A stat never waits
 * for an export: the kernel looks a name up before every open, and the
 * first byte would wait too.  A reader reads to the end whatever the size
 * says.  Its mode: what the user's privileges allow. */
static void wh_table_stat(struct whtree *t, const struct whpath *p, struct stat *st)
{
	struct whent *e;

	pthread_mutex_lock(&t->lock);
	e = whtree_ent(t, p->schema, p->table, 0);
	if (e && e->snap && e->snap->done && !e->snap->status && wh_fresh(t, e->snap->made_ms))
		wh_stat_file(t, st, wh_stream_size(e->snap), e->snap->made, !p->view);
	else
		wh_stat_file(t, st, 0, time(NULL), !p->view);
	pthread_mutex_unlock(&t->lock);
	st->st_mode &= ~p->deny;
}

static int wh_getattr(void *ctx, const char *path, struct stat *st)
{
	struct whtree *t = ctx;
	struct whpath p;
	int r = wh_resolve(t, path, &p);

	if (r < 0)
		return r;
	switch (p.kind) {
	case WH_ROOT:
	case WH_SCHEMA:
	case WH_LOAD_DIR:
		wh_stat_dir(t, st);
		st->st_mode &= ~(p.deny & 0222); /* no INSERT: nothing to load */
		return 0;
	case WH_TABLE_FILE:
		wh_table_stat(t, &p, st);
		return 0;
	case WH_ERRORS: {
		struct whent *e;

		pthread_mutex_lock(&t->lock);
		e = whtree_ent(t, p.schema, p.table, 0);
		wh_stat_file(t, st, e && e->errors ? (off_t)strlen(e->errors) : 0, time(NULL), 0);
		st->st_mode |= 0200 & ~t->cfg.umask; /* rm clears it */
		pthread_mutex_unlock(&t->lock);
		return 0;
	}
	case WH_LOAD_FILE: {
		struct whload *l;

		pthread_mutex_lock(&t->lock);
		l = wh_find_load(t, p.schema, p.table, p.name);
		wh_stat_file(t, st, l ? l->written : 0, time(NULL), 1);
		pthread_mutex_unlock(&t->lock);
		return 0;
	}
	case WH_NONE:
	default:
		return -ENOENT;
	}
}

/* A table "x.csv" beside a table (or view) "x": the name "x.csv" is x's
 * file, so the load folder of "x.csv" is not shown (its file x.csv.csv
 * still is).  wh_resolve gives the name to the file the same way. */
static int wh_folder_shadowed(const struct whrel *rels, size_t n, const char *name)
{
	size_t len = strlen(name);

	if (!wh_ends_with(name, ".csv"))
		return 0;
	for (size_t i = 0; i < n; i++)
		if (rels[i].name && strlen(rels[i].name) == len - 4 &&
		    !strncmp(rels[i].name, name, len - 4))
			return 1;
	return 0;
}

static int wh_readdir(void *ctx, const char *path, backend_fill_fn fill, void *arg)
{
	struct whtree *t = ctx;
	struct whpath p;
	struct stat st;
	char name[WH_NAME_MAX + 8];
	int r = wh_resolve(t, path, &p);

	if (r < 0)
		return r;
	if (p.kind == WH_ROOT) {
		pthread_mutex_lock(&t->cat_lock);
		r = wh_catalog_schemas(t);
		wh_stat_dir(t, &st);
		for (size_t i = 0; r == 0 && i < t->nschemas; i++)
			if (fill(arg, t->schemas[i].name, &st, 0))
				break;
		pthread_mutex_unlock(&t->cat_lock);
		return r;
	}
	if (p.kind == WH_SCHEMA) {
		struct whschema *s;
		size_t n;
		struct whrel *rels;

		/* Copy the names out: fill() must not run under cat_lock
		 * while the export sizes need t->lock. */
		pthread_mutex_lock(&t->cat_lock);
		s = wh_catalog_schema(t, p.schema, &r);
		if (!s) {
			pthread_mutex_unlock(&t->cat_lock);
			return r;
		}
		n = s->nrels;
		rels = calloc(n + 1, sizeof(*rels));
		for (size_t i = 0; rels && i < n; i++) {
			rels[i].name = strdup(s->rels[i].name);
			rels[i].view = s->rels[i].view;
			rels[i].deny = s->rels[i].deny;
		}
		pthread_mutex_unlock(&t->cat_lock);
		if (!rels)
			return -ENOMEM;

		struct whpath q = p;
		int stop = 0;

		for (size_t i = 0; i < n && !stop; i++) {
			if (!rels[i].name)
				continue;
			snprintf(q.table, sizeof(q.table), "%s", rels[i].name);
			q.view = rels[i].view;
			q.deny = rels[i].deny;
			wh_table_stat(t, &q, &st);
			snprintf(name, sizeof(name), "%s.csv", rels[i].name);
			stop = fill(arg, name, &st, 0);
			if (!stop && !rels[i].view && !wh_folder_shadowed(rels, n, rels[i].name)) {
				wh_stat_dir(t, &st);
				st.st_mode &= ~(rels[i].deny & 0222);
				stop = fill(arg, rels[i].name, &st, 0);
			}
		}
		for (size_t i = 0; i < n; i++)
			free(rels[i].name);
		free(rels);

		/* Folders made with mkdir and tables being made by a load. */
		pthread_mutex_lock(&t->lock);
		for (struct whent *e = t->ents; e && !stop; e = e->next)
			if (e->pending_dir && !strcmp(e->schema, p.schema) &&
			    wh_catalog_rel_kind(t, e->schema, e->table) == -1) {
				wh_stat_dir(t, &st);
				stop = fill(arg, e->table, &st, 0);
			}
		for (struct whload *l = t->loads; l && !stop; l = l->next)
			if (l->create && !l->name && !strcmp(l->schema, p.schema)) {
				wh_stat_file(t, &st, l->written, time(NULL), 1);
				snprintf(name, sizeof(name), "%s.csv", l->table);
				stop = fill(arg, name, &st, 0);
			}
		pthread_mutex_unlock(&t->lock);
		return 0;
	}
	if (p.kind == WH_LOAD_DIR) {
		struct whent *e;
		int stop = 0;

		pthread_mutex_lock(&t->lock);
		e = whtree_ent(t, p.schema, p.table, 0);
		if (e && e->errors) {
			wh_stat_file(t, &st, (off_t)strlen(e->errors), time(NULL), 0);
			stop = fill(arg, WH_ERRORS_NAME, &st, 0);
		}
		for (struct whload *l = t->loads; l && !stop; l = l->next)
			if (l->name && !strcmp(l->schema, p.schema) && !strcmp(l->table, p.table)) {
				wh_stat_file(t, &st, l->written, time(NULL), 1);
				stop = fill(arg, l->name, &st, 0);
			}
		pthread_mutex_unlock(&t->lock);
		return 0;
	}
	return p.kind == WH_NONE ? -ENOENT : -ENOTDIR;
}

/* --------------------------------------------------------------------- */
/* files */

static struct whfh *wh_fh_new(enum whfh_kind kind)
{
	struct whfh *fh = calloc(1, sizeof(*fh));

	if (fh)
		fh->kind = kind;
	return fh;
}

/* 1 if the schema exists, 0 if not, or a negative errno. */
static int wh_schema_exists(struct whtree *t, const char *schema)
{
	int r;

	pthread_mutex_lock(&t->cat_lock);
	if (wh_catalog_schema(t, schema, &r))
		r = 1;
	pthread_mutex_unlock(&t->cat_lock);
	return r == -ENOENT ? 0 : r;
}

static int wh_open_load(struct whtree *t, const struct whpath *p, const char *name, int flags,
			int create, void **out, struct stat *st)
{
	struct whfh *fh;
	struct whload *ld = NULL;
	int r;

	if (t->cfg.read_only)
		return -EROFS;
	if ((flags & O_ACCMODE) == O_RDONLY)
		return -EINVAL;
	fh = wh_fh_new(WHFH_LOAD);
	if (!fh)
		return -ENOMEM;
	r = wh_load_new(t, p, name, !name && (flags & O_TRUNC), create, &ld);
	if (r < 0) {
		free(fh);
		return r;
	}
	ld->append = (flags & O_APPEND) != 0;
	fh->ld = ld;
	wh_stat_file(t, st, 0, time(NULL), 1);
	*out = fh;
	return 0;
}

static int wh_open(void *ctx, const char *path, int flags, void **out, struct stat *st)
{
	struct whtree *t = ctx;
	struct whpath p;
	struct whfh *fh;
	int r = wh_resolve(t, path, &p);

	if (r < 0)
		return r;
	switch (p.kind) {
	case WH_TABLE_FILE:
		if ((flags & O_ACCMODE) != O_RDONLY) {
			if (p.view)
				return -EACCES;
			if (p.pending)
				return -EBUSY;
			if (!(flags & (O_TRUNC | O_APPEND))) {
				log_warn("%s: open a table file with O_TRUNC (replace its rows) or "
					 "O_APPEND (add to them)",
					 path);
				return -EINVAL;
			}
			return wh_open_load(t, &p, NULL, flags, 0, out, st);
		}
		if (p.pending)
			return -EBUSY;
		fh = wh_fh_new(WHFH_SNAP);
		if (!fh)
			return -ENOMEM;
		r = wh_stream_open(t, p.schema, p.table, &fh->snap, &fh->rd);
		if (r < 0) {
			free(fh);
			return r;
		}
		pthread_mutex_lock(&t->lock);
		wh_stat_file(t, st, wh_stream_size(fh->snap),
			     fh->snap->done ? fh->snap->made : time(NULL), !p.view);
		pthread_mutex_unlock(&t->lock);
		*out = fh;
		return 0;
	case WH_ERRORS:
		if ((flags & O_ACCMODE) != O_RDONLY)
			return -EACCES;
		fh = wh_fh_new(WHFH_TEXT);
		if (!fh)
			return -ENOMEM;
		pthread_mutex_lock(&t->lock);
		struct whent *e = whtree_ent(t, p.schema, p.table, 0);

		fh->text = e && e->errors ? strdup(e->errors) : strdup("");
		pthread_mutex_unlock(&t->lock);
		if (!fh->text) {
			free(fh);
			return -ENOMEM;
		}
		fh->textlen = strlen(fh->text);
		wh_stat_file(t, st, (off_t)fh->textlen, time(NULL), 0);
		*out = fh;
		return 0;
	case WH_LOAD_FILE:
		return -EBUSY;
	case WH_ROOT:
	case WH_SCHEMA:
	case WH_LOAD_DIR:
		return -EISDIR;
	case WH_NONE:
	default:
		return -ENOENT;
	}
}

static int wh_create(void *ctx, const char *path, mode_t mode, int flags, void **out,
		     struct stat *st)
{
	struct whtree *t = ctx;
	struct whpath p;
	int r = wh_resolve(t, path, &p);

	(void)mode;
	if (r < 0)
		return r;
	if (t->cfg.read_only)
		return -EROFS;
	if (p.kind == WH_TABLE_FILE)
		return wh_open(ctx, path, flags | O_TRUNC, out, st);
	if (p.kind != WH_NONE)
		return -EEXIST;
	if (p.depth == 2 && wh_ends_with(p.table, ".csv")) {
		/* SCHEMA/NEW.csv: a new table */
		if ((r = wh_schema_exists(t, p.schema)) <= 0)
			return r < 0 ? r : -ENOENT;
		p.table[strlen(p.table) - 4] = '\0';
		if (!wh_catalog_name_ok(p.table) || t->cfg.table)
			return -EPERM;
		return wh_open_load(t, &p, NULL, flags, 1, out, st);
	}
	if (p.depth == 3) {
		struct whpath dir;
		char dpath[2 * WH_NAME_MAX + 4];

		snprintf(dpath, sizeof(dpath), "/%s/%s", p.schema, p.table);
		if ((r = wh_resolve(t, dpath, &dir)) < 0)
			return r;
		if (dir.kind != WH_LOAD_DIR)
			return -ENOENT;
		if (!strcmp(p.name, WH_ERRORS_NAME))
			return -EACCES;
		return wh_open_load(t, &dir, p.name, flags, dir.pending, out, st);
	}
	return -EPERM;
}

static ssize_t wh_read(void *ctx, void *handle, char *buf, size_t size, off_t off)
{
	struct whfh *fh = handle;

	(void)ctx;
	switch (fh->kind) {
	case WHFH_SNAP:
		return wh_stream_read(fh->snap, &fh->rd, buf, size, off);
	case WHFH_TEXT:
		if (off < 0 || (size_t)off >= fh->textlen)
			return 0;
		if (size > fh->textlen - (size_t)off)
			size = fh->textlen - (size_t)off;
		memcpy(buf, fh->text + off, size);
		return (ssize_t)size;
	case WHFH_LOAD:
	default:
		return -EBADF;
	}
}

static ssize_t wh_write(void *ctx, const char *path, void *handle, const char *buf, size_t size,
			off_t off)
{
	struct whfh *fh = handle;
	struct whload *ld = fh->ld;
	int r = 0;

	(void)ctx;
	(void)path;
	if (fh->kind != WHFH_LOAD)
		return -EBADF;
	pthread_mutex_lock(&ld->lock);
	if (ld->finished) {
		r = -EIO;
	} else if (off != ld->written && !ld->append) {
		/* (With O_APPEND the kernel writes at the size it last knew,
		 * the table's export after a stat or a read: still the end.) */
		wh_load_fail(ld, -EIO, "%s", "a load takes a file written from start to end");
		r = -EIO;
	} else if (ld->status) {
		r = ld->status;
	} else if (ld->create) {
		r = spool_pwrite(ld->sf, buf, size, off);
		if (r < 0)
			wh_load_fail(ld, r, "cannot spool the file: %s", strerror(-r));
	} else {
		r = wh_load_feed(ld, buf, size);
	}
	if (r == 0)
		ld->written += (off_t)size;
	pthread_mutex_unlock(&ld->lock);
	if (r < 0)
		return wh_load_errno(r);
	return (ssize_t)size;
}

static int wh_flush(void *ctx, const char *path, void *handle)
{
	struct whfh *fh = handle;
	int r;

	(void)ctx;
	(void)path;
	if (fh->kind != WHFH_LOAD)
		return 0;
	pthread_mutex_lock(&fh->ld->lock);
	if (!fh->ld->finished && fh->ld->status == 0 && fh->ld->written == 0) {
		/* Nothing written yet: an empty file is an error, but this may
		 * be the close of a descriptor a shell or dd dup'ed before
		 * writing through the copy.  So say it, and keep the load open
		 * to the writes that may follow; the last close decides. */
		r = -EIO;
		if (!fh->ld->empty_reported)
			wh_load_report(fh->ld, WH_EMPTY_MSG);
		fh->ld->empty_reported = 1;
	} else {
		r = wh_load_finish(fh->ld);
	}
	pthread_mutex_unlock(&fh->ld->lock);
	return r;
}

static int wh_fsync(void *ctx, const char *path, void *handle, int datasync)
{
	(void)ctx;
	(void)path;
	(void)handle;
	(void)datasync;
	/* A load happens at close; before that there is nothing durable to
	 * wait for. */
	return 0;
}

static int wh_fgetattr(void *ctx, void *handle, struct stat *st)
{
	struct whtree *t = ctx;
	struct whfh *fh = handle;

	switch (fh->kind) {
	case WHFH_SNAP:
		pthread_mutex_lock(&t->lock);
		wh_stat_file(t, st, wh_stream_size(fh->snap),
			     fh->snap->done ? fh->snap->made : time(NULL), 1);
		pthread_mutex_unlock(&t->lock);
		return 0;
	case WHFH_TEXT:
		wh_stat_file(t, st, (off_t)fh->textlen, time(NULL), 0);
		return 0;
	case WHFH_LOAD:
	default:
		pthread_mutex_lock(&fh->ld->lock);
		wh_stat_file(t, st, fh->ld->written, time(NULL), 1);
		pthread_mutex_unlock(&fh->ld->lock);
		return 0;
	}
}

/* A table file opened while its export runs reads past its size (0 until
 * the export ends): the kernel must ask for every read. */
static int wh_streaming(void *ctx, void *handle)
{
	struct whtree *t = ctx;
	struct whfh *fh = handle;
	int r;

	if (fh->kind != WHFH_SNAP)
		return 0;
	pthread_mutex_lock(&t->lock);
	r = !fh->snap->done;
	pthread_mutex_unlock(&t->lock);
	return r;
}

static int wh_release(void *ctx, const char *path, void *handle)
{
	struct whtree *t = ctx;
	struct whfh *fh = handle;

	(void)path;
	if (fh->kind == WHFH_LOAD) {
		pthread_mutex_lock(&fh->ld->lock);
		wh_load_finish(fh->ld);
		pthread_mutex_unlock(&fh->ld->lock);
		wh_load_unlist(t, fh->ld);
		wh_load_free(fh->ld);
	} else if (fh->kind == WHFH_SNAP) {
		wh_stream_close(fh->snap, &fh->rd);
	}
	free(fh->text);
	free(fh);
	return 0;
}

static int wh_truncate(void *ctx, const char *path, void *handle, off_t size)
{
	struct whfh *fh = handle;

	(void)ctx;
	(void)path;
	/* What open(O_TRUNC) or cp may do to a file it just made. */
	if (fh && fh->kind == WHFH_LOAD && size == fh->ld->written)
		return 0;
	return -EPERM;
}

static int wh_setattr(void *ctx, const char *path, void *fh, const struct backend_setattr *a)
{
	(void)ctx;
	(void)path;
	(void)fh;
	(void)a;
	/* Tables keep no modes, owners or times; cp -p must not fail. */
	return 0;
}

static int wh_drop(struct whtree *t, const struct whpath *p)
{
	char *err = NULL, *q, *sql = NULL;
	PGconn *c;
	int r;

	if (!t->cfg.allow_drop) {
		log_notice("/%s/%s: not dropped (mount with -o allow_drop to let rm drop tables)",
			   p->schema, p->table);
		return -EPERM;
	}
	c = whdb_get(t->cfg.db, &err);
	if (!c) {
		log_err("%s", err ? err : "cannot connect");
		free(err);
		return -EIO;
	}
	q = whsql_qualified(p->schema, p->table);
	if (q && asprintf(&sql, "DROP %s %s", p->view ? "VIEW" : "TABLE", q) < 0)
		sql = NULL;
	r = sql ? whdb_run(t->cfg.db, c, sql, 1, &err) : -ENOMEM;
	if (r < 0)
		log_err("cannot drop %s: %s", q ? q : p->table, err ? err : strerror(-r));
	else
		log_notice("dropped %s", q);
	whdb_put(t->cfg.db, c);
	wh_export_snap_forget(t, p->schema, p->table);
	wh_catalog_forget(t, p->schema);
	free(q);
	free(sql);
	free(err);
	return r < 0 ? (r == -ENOMEM ? r : -EIO) : 0;
}

/* wh_resolve() for a change: -EROFS first on a read-only mount. */
static int wh_resolve_change(struct whtree *t, const char *path, struct whpath *p)
{
	return t->cfg.read_only ? -EROFS : wh_resolve(t, path, p);
}

static int wh_unlink(void *ctx, const char *path)
{
	struct whtree *t = ctx;
	struct whpath p;
	int r = wh_resolve_change(t, path, &p);

	if (r < 0)
		return r;
	switch (p.kind) {
	case WH_TABLE_FILE:
		return p.pending ? -EBUSY : wh_drop(t, &p);
	case WH_ERRORS:
		pthread_mutex_lock(&t->lock);
		struct whent *e = whtree_ent(t, p.schema, p.table, 0);

		if (e) {
			free(e->errors);
			e->errors = NULL;
		}
		pthread_mutex_unlock(&t->lock);
		return 0;
	case WH_LOAD_FILE:
		return -EBUSY;
	case WH_NONE:
		return -ENOENT;
	default:
		return -EISDIR;
	}
}

static int wh_mkdir(void *ctx, const char *path, mode_t mode)
{
	struct whtree *t = ctx;
	struct whpath p;
	struct whent *e;
	int r = wh_resolve_change(t, path, &p);

	(void)mode;
	if (r < 0)
		return r;
	if (p.kind != WH_NONE)
		return -EEXIST;
	if (p.depth != 2 || !wh_catalog_name_ok(p.table) || t->cfg.table)
		return -EPERM;
	if ((r = wh_schema_exists(t, p.schema)) <= 0)
		return r < 0 ? r : -ENOENT;
	/* A folder for a table the first file copied into it will make. */
	pthread_mutex_lock(&t->lock);
	e = whtree_ent(t, p.schema, p.table, 1);
	if (e)
		e->pending_dir = 1;
	pthread_mutex_unlock(&t->lock);
	return e ? 0 : -ENOMEM;
}

static int wh_rmdir(void *ctx, const char *path)
{
	struct whtree *t = ctx;
	struct whpath p;
	int r = wh_resolve_change(t, path, &p);

	if (r < 0)
		return r;
	if (p.kind == WH_NONE)
		return -ENOENT;
	if (p.kind != WH_LOAD_DIR)
		return p.kind == WH_SCHEMA || p.kind == WH_ROOT ? -EPERM : -ENOTDIR;
	if (p.pending) {
		struct whent *e;

		pthread_mutex_lock(&t->lock);
		e = whtree_ent(t, p.schema, p.table, 0);
		r = wh_find_load(t, p.schema, p.table, NULL) ? -EBUSY : 0;
		if (e && r == 0) {
			/* A failed new table's .errors go with its folder. */
			e->pending_dir = 0;
			free(e->errors);
			e->errors = NULL;
		}
		pthread_mutex_unlock(&t->lock);
		return r;
	}
	return wh_drop(t, &p);
}

static int wh_rename(void *ctx, const char *from, const char *to, unsigned flags)
{
	(void)ctx;
	(void)from;
	(void)to;
	(void)flags;
	return -EPERM;
}

static int wh_statfs(void *ctx, struct statvfs *st)
{
	(void)ctx;
	memset(st, 0, sizeof(*st));
	st->f_bsize = st->f_frsize = 4096;
	st->f_namemax = WH_NAME_MAX - 1;
	return 0;
}

static int wh_start(void *ctx)
{
	struct whtree *t = ctx;

	if (!t->cfg.redshift || (t->cfg.read_only && !t->cfg.unload))
		return 0;
	t->workers = pool_new(t->cfg.workers);
	if (!t->workers)
		return -ENOMEM;
	if (t->cfg.unload && !(t->prefetch = prefetch_new(&t->cfg.prefetch, t->workers)))
		return -ENOMEM;
	if (t->cfg.read_only)
		return 0;
	struct uploader_config uc = {.buffer_total = t->cfg.write_buffer};

	t->uploader = uploader_new(t->cfg.s3, t->workers, &uc);
	return t->uploader ? 0 : -ENOMEM;
}

static void wh_destroy(void *ctx)
{
	struct whtree *t = ctx;
	struct whent *e, *next;

	if (!t)
		return;
	wh_stream_stop_all(t);
	uploader_free(t->uploader);
	prefetch_free(t->prefetch);
	pool_free(t->workers);
	wh_catalog_free(t);
	for (e = t->ents; e; e = next) {
		next = e->next;
		wh_stream_unref(e->snap);
		free(e->schema);
		free(e->table);
		free(e->errors);
		free(e);
	}
	pthread_mutex_destroy(&t->lock);
	pthread_mutex_destroy(&t->cat_lock);
	pthread_cond_destroy(&t->exports_ended);
	free(t);
}

static const struct backend_ops wh_ops = {
    .getattr = wh_getattr,
    .readdir = wh_readdir,
    .open = wh_open,
    .read = wh_read,
    .fgetattr = wh_fgetattr,
    .streaming = wh_streaming,
    .release = wh_release,
    .statfs = wh_statfs,
    .create = wh_create,
    .write = wh_write,
    .flush = wh_flush,
    .fsync = wh_fsync,
    .truncate = wh_truncate,
    .setattr = wh_setattr,
    .unlink = wh_unlink,
    .mkdir = wh_mkdir,
    .rmdir = wh_rmdir,
    .rename = wh_rename,
    .start = wh_start,
    .destroy = wh_destroy,
};

int whtree_new(const struct whtree_config *cfg, struct backend *out)
{
	struct whtree *t = calloc(1, sizeof(*t));

	if (!t)
		return -ENOMEM;
	t->cfg = *cfg;
	t->started = time(NULL);
	pthread_mutex_init(&t->lock, NULL);
	pthread_mutex_init(&t->cat_lock, NULL);
	pthread_cond_init(&t->exports_ended, NULL);
	out->ops = &wh_ops;
	out->ctx = t;
	return 0;
}

int whtree_probe(struct whdb *db, const char *schema, const char *table, char **err)
{
	PGconn *c = whdb_get(db, err);
	PGresult *res;
	int r = 0;

	if (!c)
		return -EIO;
	if (table) {
		res = whdb_exec(db, c, wh_catalog_sql_cols, 2, (const char *const[]){schema, table},
				0, err);
		if (res && PQntuples(res) == 0) {
			free(*err);
			if (asprintf(err, "no table %s.%s in the database", schema, table) < 0)
				*err = NULL;
			r = -ENOENT;
		}
	} else {
		res = whdb_exec(db, c, wh_catalog_sql_schemas, 0, NULL, 0, err);
	}
	if (!res)
		r = -EIO;
	PQclear(res);
	whdb_put(db, c);
	return r;
}
