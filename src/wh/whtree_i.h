/* whtree_i.h - private to src/wh/: the warehouse tree's state and what
 * whtree.c (the FUSE-facing operations), catalog.c, export.c, stream.c,
 * load.c and newtable.c call in one another.
 *
 * State, all under t->lock unless said otherwise:
 *   - the catalog: schemas and each schema's relations, refreshed when
 *     older than the TTL (refreshes serialise on cat_lock);
 *   - one whent per table that has an export, a .errors text, or is a
 *     folder made with mkdir before its table exists;
 *   - the loads in progress (whload), so their files can be looked up.
 */
#ifndef ODOFS_WHTREE_I_H
#define ODOFS_WHTREE_I_H

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/types.h>
#include <time.h>

#include "buf.h"
#include "whdb.h"
#include "whtree.h"

struct creds;
struct gunzip;
struct jsonrow;
struct pool;
struct prefetch;
struct spool_file;
struct upload;
struct uploader;

#define WH_NAME_MAX    256	  /* bytes of a schema, table or file name */
#define WH_HEAD_MAX    (1u << 20) /* a CSV header row */
#define WH_CHUNK       (1u << 20) /* spool reads, export buffering */
#define WH_ERRORS_NAME ".errors"
#define WH_EMPTY_MSG   "the file is empty"

/* --------------------------------------------------------------------- */
/* state */

struct whrel {
	char *name;
	int view;
	mode_t deny; /* 0444 without SELECT, 0222 without INSERT */
};

struct whschema {
	char *name;
	struct whrel *rels;
	size_t nrels;
	long long rels_at; /* 0: never read */
};

/* A table's export, read while it is made (stream.c).  The export runs in
 * a thread of its own, COPY ... TO STDOUT (or what Redshift has) written
 * into a spool file, and readers wait only for the bytes they ask for.
 * Bytes behind every reader may be discarded (base) when the spool is full,
 * so a table larger than the spool can be read once from start to end.
 * Fields under t->lock. */
struct whreader {
	struct whreader *next;
	off_t pos;   /* where this reader reads next */
	int waiting; /* for bytes the export has not made yet */
};

struct whsnap {
	struct whsnap *next_run; /* t->running, while the thread runs */
	struct whtree *t;
	struct whent *e;
	char *schema, *table;
	struct spool_file *f;
	off_t size;	   /* bytes exported so far; the file's once done */
	off_t base;	   /* bytes before base were discarded */
	int started;	   /* the query was accepted (or failed: status) */
	int refused;	   /* failed before that: open fails */
	int done;	   /* finished (status says how) */
	int status;	   /* 0, or a negative errno */
	int cancel;	   /* no reader is left: stop */
	unsigned waiting;  /* readers waiting for bytes */
	unsigned nreaders; /* open handles */
	struct whreader *readers;
	PGconn *conn;	     /* the export's, while its statement runs */
	pthread_cond_t cond; /* any field above changed */
	long long made_ms;   /* when it finished */
	time_t made;
	unsigned refs;
};

struct whent {
	struct whent *next;
	char *schema, *table;
	struct whsnap *snap; /* the current export, running or finished */
	char *errors;	     /* the last failed load, with a newline */
	int pending_dir;     /* mkdir'd, the table does not exist yet */
};

struct whload;

struct whtree {
	struct whtree_config cfg;
	time_t started;
	pthread_mutex_t lock;
	pthread_mutex_t cat_lock;
	struct whschema *schemas;
	size_t nschemas;
	long long schemas_at;
	struct whent *ents;
	struct whload *loads;
	struct whsnap *running; /* exports whose thread runs */
	pthread_cond_t exports_ended;
	struct pool *workers;	   /* Redshift: upload parts, UNLOAD slice reads */
	struct prefetch *prefetch; /* -o unload: reading the slices */
	struct uploader *uploader;
	unsigned long long load_seq;
	unsigned slices; /* Redshift: stv_slices' count once asked; 0 before */
};

struct whload {
	struct whload *next; /* t->loads */
	struct whtree *t;
	pthread_mutex_t lock;
	char *schema, *table;
	char *name;    /* the file in the load folder; NULL for TABLE.csv */
	char *label;   /* for messages: schema/table/name */
	int replace;   /* DELETE FROM first */
	int append;    /* opened O_APPEND: every write adds at the end, whatever
			* offset the kernel computed from a size it knew */
	int create;    /* the table does not exist: spool, infer, CREATE */
	int new_table; /* create, kept once the replay clears it */
	int json, gzip;
	off_t written;
	int finished, status;
	char *errmsg;

	struct spool_file *sf; /* create: the whole file */

	PGconn *conn;
	int in_txn, in_copy;
	char **cols; /* the table's columns */
	size_t ncols;
	char **hdrcols; /* the table's columns the CSV header names, in order */
	size_t nhdr;
	char *collist; /* (hdrcols), quoted */
	char *qname;   /* "schema"."table" */
	char *create_sql;
	struct buf head;
	size_t head_used; /* bytes of head that are the header record */
	int header_done;
	int body_seen;	    /* a byte of a row came after the header */
	int empty_reported; /* a close came with nothing written yet */
	struct gunzip *gz;
	struct jsonrow *jr;
	struct buf out;
	/* PostgreSQL's CSV: where the bytes sent so far leave a line, so that
	 * an unquoted "\." line (COPY's end-of-data) goes as the value "\.". */
	int csv_inq, csv_mid, csv_held; /* in quotes; not at a line start;
					 * bytes of "\." held back */

	struct upload *up; /* Redshift: the file as it is (JSON, gzip) */
	char *stage_prefix;
	char *stage_key;
	/* Redshift CSV: the rows in gzip'd parts, one per slice, and the
	 * manifest COPY reads them through (loadsplit.c). */
	int split_mode;
	unsigned nparts;
	struct whsplit *split;
	char *manifest_key;
};

/* --------------------------------------------------------------------- */
/* paths */

enum whkind {
	WH_NONE,
	WH_ROOT,
	WH_SCHEMA,
	WH_TABLE_FILE, /* SCHEMA/TABLE.csv */
	WH_LOAD_DIR,   /* SCHEMA/TABLE/ */
	WH_ERRORS,     /* SCHEMA/TABLE/.errors */
	WH_LOAD_FILE,  /* SCHEMA/TABLE/NAME being written */
};

struct whpath {
	enum whkind kind;
	int depth;
	int view;    /* WH_TABLE_FILE of a view */
	int pending; /* WH_TABLE_FILE or WH_LOAD_DIR whose table is being made */
	mode_t deny; /* mode bits the user's privileges take away (whrel) */
	char schema[WH_NAME_MAX];
	char table[WH_NAME_MAX];
	char name[WH_NAME_MAX];
};

/* --------------------------------------------------------------------- */
/* small helpers */

static inline long long wh_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* *err = a copy of msg, for callers that report through char **err. */
static inline void wh_err_set(char **err, const char *msg)
{
	free(*err);
	*err = strdup(msg);
}

static inline int wh_fresh(const struct whtree *t, long long at)
{
	return at && wh_now_ms() - at < (long long)t->cfg.ttl_ms;
}

static inline void wh_strv_free(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

static inline int wh_ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);

	return n > m && !strcasecmp(s + n - m, suffix);
}

/* --------------------------------------------------------------------- */
/* whtree.c */

/* The table's whent; with add, made if missing (NULL: no memory).  Called
 * with t->lock held. */
struct whent *whtree_ent(struct whtree *t, const char *schema, const char *table, int add);

/* --------------------------------------------------------------------- */
/* catalog.c: schemas and relations, cached per mount for the TTL */

/* The catalog's queries: schema names; a table's columns ($1 schema, $2
 * table), in order. */
extern const char wh_catalog_sql_schemas[];
extern const char wh_catalog_sql_cols[];

/* Whether n can be a file name here. */
int wh_catalog_name_ok(const char *n);

/* Frees the schemas and their relations (the mount is going away). */
void wh_catalog_free(struct whtree *t);

/* Refresh the schema list if stale.  0 or a negative errno; called with
 * cat_lock held. */
int wh_catalog_schemas(struct whtree *t);

/* The schema, its relations fresh; NULL if there is no such schema
 * (*r = -ENOENT) or on error (*r set).  Called with cat_lock held. */
struct whschema *wh_catalog_schema(struct whtree *t, const char *name, int *r);

/* -1: no such relation; 0: a table; 1: a view.  Or a negative errno.
 * Takes cat_lock. */
int wh_catalog_rel_kind(struct whtree *t, const char *schema, const char *rel);

/* wh_catalog_rel_kind, and the mode bits the user's privileges on the
 * relation take away into *deny (left alone if there is no such one). */
int wh_catalog_rel(struct whtree *t, const char *schema, const char *rel, mode_t *deny);

/* PostgreSQL: the select list of the table's columns but its generated
 * ones ("a", "b"), run on c; NULL if it has none or on error (then
 * SELECT * it is).  Malloc'd. */
char *wh_catalog_select_list(struct whtree *t, PGconn *c, const char *schema, const char *table);

/* Forget a schema's relations (a table was made or dropped).  Takes
 * cat_lock. */
void wh_catalog_forget(struct whtree *t, const char *schema);

/* --------------------------------------------------------------------- */
/* export.c: a table exported to CSV, into a stream's spool file */

/* A staging prefix no other load or unload uses, ending in '/'
 * (malloc'd); NULL on failure. */
char *wh_export_stage_prefix(struct whtree *t, const char *what);

/* Export the table into s: 0 or a negative errno (-EPIPE: cancelled, no
 * reader is left).  Called by the stream's thread. */
int wh_export_run(struct whtree *t, struct whsnap *s);

/* --------------------------------------------------------------------- */
/* stream.c: exports read as they are made */

/* Bytes made by the export, in order: into the spool, waiting for readers
 * to move on when it is full.  0, -EPIPE (cancelled) or a negative errno.
 * data NULL: nothing more has come from the database for now (readers
 * waiting get what is held). */
int wh_stream_put(struct whsnap *s, const char *data, size_t len);

/* The query was accepted: open() returns. */
void wh_stream_started(struct whsnap *s);

/* Whether the export should hand over what it holds now (a reader waits). */
int wh_stream_wanted(struct whsnap *s);

/* The export's connection while its statement runs (NULL: ended), so a
 * cancel can reach it.  Returns 1 if the export was cancelled: the
 * connection is then closed, not pooled. */
int wh_stream_conn(struct whsnap *s, PGconn *c);

/* Open the table for reading: the current export (running, or finished
 * within the TTL), or a new one.  Returns once the query is accepted;
 * rd is listed as a reader of *out.  0 or a negative errno. */
int wh_stream_open(struct whtree *t, const char *schema, const char *table, struct whsnap **out,
		   struct whreader *rd);

/* Read for rd, waiting for bytes not made yet.  A byte count (0: the end)
 * or a negative errno (-ESPIPE: discarded, the table did not fit the
 * spool). */
ssize_t wh_stream_read(struct whsnap *s, struct whreader *rd, char *buf, size_t size, off_t off);

/* rd closes; the last reader of an unfinished export cancels it. */
void wh_stream_close(struct whsnap *s, struct whreader *rd);

/* The size stat shows for an open stream or a table: exact once the export
 * finished, 0 before.  Called with t->lock held. */
off_t wh_stream_size(const struct whsnap *s);

/* Drop a table's export: its rows changed.  Takes t->lock. */
void wh_export_snap_forget(struct whtree *t, const char *schema, const char *table);

/* Drop a reference; the last one frees it.  Accepts NULL.  Called with
 * t->lock held. */
void wh_stream_unref(struct whsnap *s);

/* The mount is going: cancel every export and wait for their threads. */
void wh_stream_stop_all(struct whtree *t);

/* --------------------------------------------------------------------- */
/* load.c: a file written into a table (TABLE.csv or its load folder) */

/* The errno a writer sees for a load that failed with r: ENOSPC, EFBIG,
 * EACCES and EROFS as they are, the rest EIO. */
int wh_load_errno(int r);

/* The load's first failure is the one kept and reported. */
void __attribute__((format(printf, 3, 4)))
wh_load_fail(struct whload *ld, int r, const char *fmt, ...);

/* Mask secret (the mount's own credentials) in msg, in place. */
void wh_load_scrub(char *msg, const char *secret);

/* The mount's own credentials for a COPY or UNLOAD, unless it gives
 * Redshift an IAM role; the caller clears them.  0, or -EIO with *err. */
int wh_load_rs_creds(struct whtree *t, struct creds *c, char **err);

/* Bytes of the file in the order written, for an existing table.  Called
 * with ld->lock held; 0 or a negative errno (the failure kept in ld). */
int wh_load_feed(struct whload *ld, const char *data, size_t len);

/* A failed load, in the log and in the table's .errors. */
void wh_load_report(struct whload *ld, const char *why);

/* The streaming machinery of a load into an existing table (or one the
 * load creates first).  0 or a negative errno. */
int wh_load_stream_setup(struct whload *ld);

/* The file is complete (streamed through wh_load_feed): finish the load
 * and commit, or roll back.  Returns ld->status. */
int wh_load_end(struct whload *ld);

/* The file is complete: load it, commit or roll back, once.  0 or a
 * negative errno; called with ld->lock held. */
int wh_load_finish(struct whload *ld);

/* Frees a load that is no longer listed.  Accepts NULL. */
void wh_load_free(struct whload *ld);

/* Start a load of p's schema.table, listed in t->loads; name is the file
 * in the load folder (NULL for TABLE.csv).  0 or a negative errno. */
int wh_load_new(struct whtree *t, const struct whpath *p, const char *name, int replace, int create,
		struct whload **out);

/* Take the load out of t->loads.  Takes t->lock. */
void wh_load_unlist(struct whtree *t, struct whload *ld);

/* --------------------------------------------------------------------- */
/* newtable.c: a load that makes its table */

/* Infer the table's columns from the spooled file, then replay it into
 * CREATE TABLE and the load (wh_load_end).  0 or a negative errno, the
 * failure kept in ld. */
int wh_newtable_create(struct whload *ld);

#endif
