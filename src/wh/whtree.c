/* whtree.c - see whtree.h
 *
 * State, all under t->lock unless said otherwise:
 *   - the catalog: schemas and each schema's relations, refreshed when
 *     older than the TTL (refreshes serialise on cat_lock);
 *   - one whent per table that has a snapshot, a .errors text, or is a
 *     folder made with mkdir before its table exists;
 *   - the loads in progress (whload), so their files can be looked up.
 *
 * Loads into an existing table stream: PostgreSQL gets the bytes in COPY
 * FROM STDIN as they are written (decompressed, JSON turned into CSV rows),
 * Redshift gets them through the multipart uploader into a fresh staging
 * prefix, then one COPY FROM 's3://...'.  A load that creates its table
 * spools the file first, since the types come from all of its data; then
 * it replays the spool through the same path, after a CREATE TABLE in the
 * same transaction.
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "s3/creds.h"
#include "csvfmt.h"
#include "csvinfer.h"
#include "gunzip.h"
#include "jsonrow.h"
#include <json-c/json.h>
#include "log.h"
#include "pool.h"
#include "s3/s3.h"
#include "spool.h"
#include "s3/upload.h"
#include "whdb.h"
#include "whsql.h"
#include "whtree.h"

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
};

struct whschema {
	char *name;
	struct whrel *rels;
	size_t nrels;
	long long rels_at;   /* 0: never read */
	long long listed_at; /* a readdir showed it: lookups take 0 sizes */
};

struct whsnap {
	struct spool_file *f;
	off_t size;
	long long made_ms;
	time_t made;
	unsigned refs;
};

struct whent {
	struct whent *next;
	char *schema, *table;
	struct whsnap *snap;
	unsigned changes;	     /* bumped by each change to the rows */
	pthread_mutex_t export_lock; /* one export of a table at a time */
	char *errors;		     /* the last failed load, with a newline */
	int pending_dir;	     /* mkdir'd, the table does not exist yet */
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
	struct pool *workers; /* Redshift: upload parts */
	struct uploader *uploader;
	unsigned long long load_seq;
};

enum whfh_kind { WHFH_SNAP, WHFH_TEXT, WHFH_LOAD };

struct whfh {
	enum whfh_kind kind;
	struct whsnap *snap;
	char *text;
	size_t textlen;
	struct whload *ld;
};

struct whload {
	struct whload *next; /* t->loads */
	struct whtree *t;
	pthread_mutex_t lock;
	char *schema, *table;
	char *name;    /* the file in the load folder; NULL for TABLE.csv */
	char *label;   /* for messages: schema/table/name */
	int replace;   /* DELETE FROM first */
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

	struct upload *up; /* Redshift */
	char *stage_prefix;
	char *stage_key;
};

static long long wh_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* *err = a copy of msg, for callers that report through char **err. */
static void wh_err_set(char **err, const char *msg)
{
	free(*err);
	*err = strdup(msg);
}

static int wh_fresh(const struct whtree *t, long long at)
{
	return at && wh_now_ms() - at < (long long)t->cfg.ttl_ms;
}

static void wh_strv_free(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

/* --------------------------------------------------------------------- */
/* the catalog */

static void wh_schema_clear_rels(struct whschema *s)
{
	for (size_t i = 0; i < s->nrels; i++)
		free(s->rels[i].name);
	free(s->rels);
	s->rels = NULL;
	s->nrels = 0;
	s->rels_at = 0;
}

static void wh_cat_free(struct whtree *t)
{
	for (size_t i = 0; i < t->nschemas; i++) {
		wh_schema_clear_rels(&t->schemas[i]);
		free(t->schemas[i].name);
	}
	free(t->schemas);
	t->schemas = NULL;
	t->nschemas = 0;
	t->schemas_at = 0;
}

/* Names with '/' cannot be file names; a NUL cannot reach us. */
static int wh_name_ok(const char *n)
{
	return *n && !strchr(n, '/') && strcmp(n, ".") && strcmp(n, "..") &&
	       strlen(n) < WH_NAME_MAX - 8;
}

static const char wh_sql_schemas[] =
    "SELECT nspname FROM pg_catalog.pg_namespace WHERE nspname !~ '^pg_' AND nspname <> "
    "'information_schema' ORDER BY 1";
static const char wh_sql_rels[] =
    "SELECT c.relname, c.relkind IN ('v','m') FROM pg_catalog.pg_class c JOIN "
    "pg_catalog.pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1 AND c.relkind IN "
    "('r','p','v','m','f') ORDER BY 1";
static const char wh_sql_cols[] =
    "SELECT a.attname FROM pg_catalog.pg_attribute a JOIN pg_catalog.pg_class c ON c.oid = "
    "a.attrelid JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1 "
    "AND c.relname = $2 AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum";

/* Run a catalog query on a pooled connection. */
static PGresult *wh_query(struct whtree *t, const char *sql, int n, const char *const *params,
			  char **err)
{
	PGconn *c = whdb_get(t->cfg.db, err);
	PGresult *res;

	if (!c)
		return NULL;
	res = whdb_exec(t->cfg.db, c, sql, n, params, 0, err);
	if (!res && PQstatus(c) == CONNECTION_BAD) {
		/* A pooled connection whose server went away (a restart) since
		 * it was checked: a catalog query is safe to run again, once,
		 * on a new one. */
		whdb_put(t->cfg.db, c);
		if (!(c = whdb_get(t->cfg.db, err)))
			return NULL;
		res = whdb_exec(t->cfg.db, c, sql, n, params, 0, err);
	}
	whdb_put(t->cfg.db, c);
	return res;
}

/* Refresh the schema list if stale.  Called with cat_lock held. */
static int wh_cat_schemas(struct whtree *t)
{
	PGresult *res;
	struct whschema *s;
	char *err = NULL;
	int n;

	if (wh_fresh(t, t->schemas_at))
		return 0;
	if (t->cfg.schema) {
		if (!t->schemas) {
			t->schemas = calloc(1, sizeof(*t->schemas));
			if (!t->schemas || !(t->schemas[0].name = strdup(t->cfg.schema)))
				return -ENOMEM;
			t->nschemas = 1;
		}
		t->schemas_at = wh_now_ms();
		return 0;
	}
	res = wh_query(t, wh_sql_schemas, 0, NULL, &err);
	if (!res) {
		log_err("cannot list schemas: %s", err ? err : "?");
		free(err);
		return -EIO;
	}
	n = PQntuples(res);
	s = calloc((size_t)n + 1, sizeof(*s));
	if (!s) {
		PQclear(res);
		return -ENOMEM;
	}
	size_t k = 0;

	for (int i = 0; i < n; i++) {
		const char *name = PQgetvalue(res, i, 0);

		if (!wh_name_ok(name))
			continue;
		s[k].name = strdup(name);
		/* Keep what we knew of a schema that is still there. */
		for (size_t j = 0; j < t->nschemas; j++)
			if (!strcmp(t->schemas[j].name, name)) {
				s[k].rels = t->schemas[j].rels;
				s[k].nrels = t->schemas[j].nrels;
				s[k].rels_at = t->schemas[j].rels_at;
				s[k].listed_at = t->schemas[j].listed_at;
				t->schemas[j].rels = NULL;
				t->schemas[j].nrels = 0;
			}
		k++;
	}
	PQclear(res);
	wh_cat_free(t);
	t->schemas = s;
	t->nschemas = k;
	t->schemas_at = wh_now_ms();
	return 0;
}

/* The schema, its relations fresh; NULL if there is no such schema (or
 * on error, *r set).  Called with cat_lock held. */
static struct whschema *wh_cat_schema(struct whtree *t, const char *name, int *r)
{
	struct whschema *s = NULL;
	PGresult *res;
	char *err = NULL;

	*r = wh_cat_schemas(t);
	if (*r < 0)
		return NULL;
	for (size_t i = 0; i < t->nschemas; i++)
		if (!strcmp(t->schemas[i].name, name))
			s = &t->schemas[i];
	if (!s) {
		*r = -ENOENT;
		return NULL;
	}
	if (wh_fresh(t, s->rels_at))
		return s;
	res = wh_query(t, wh_sql_rels, 1, (const char *const[]){name}, &err);
	if (!res) {
		log_err("cannot list the tables of %s: %s", name, err ? err : "?");
		free(err);
		*r = -EIO;
		return NULL;
	}
	wh_schema_clear_rels(s);
	s->rels = calloc((size_t)PQntuples(res) + 1, sizeof(*s->rels));
	for (int i = 0; s->rels && i < PQntuples(res); i++) {
		const char *rel = PQgetvalue(res, i, 0);

		if (!wh_name_ok(rel))
			continue;
		if (t->cfg.table && strcmp(rel, t->cfg.table))
			continue;
		s->rels[s->nrels].name = strdup(rel);
		s->rels[s->nrels++].view = PQgetvalue(res, i, 1)[0] == 't';
	}
	PQclear(res);
	s->rels_at = wh_now_ms();
	return s;
}

/* -1: no such relation; 0: a table; 1: a view.  Or a negative errno. */
static int wh_rel_kind(struct whtree *t, const char *schema, const char *rel)
{
	struct whschema *s;
	int r = -1;

	pthread_mutex_lock(&t->cat_lock);
	s = wh_cat_schema(t, schema, &r);
	if (s) {
		r = -1;
		for (size_t i = 0; i < s->nrels; i++)
			if (!strcmp(s->rels[i].name, rel))
				r = s->rels[i].view;
	}
	pthread_mutex_unlock(&t->cat_lock);
	return r == -ENOENT ? -1 : r;
}

/* Forget a schema's relations (a table was made or dropped). */
static void wh_cat_forget(struct whtree *t, const char *schema)
{
	pthread_mutex_lock(&t->cat_lock);
	for (size_t i = 0; i < t->nschemas; i++)
		if (!strcmp(t->schemas[i].name, schema)) {
			t->schemas[i].rels_at = 0;
			t->schemas[i].listed_at = 0;
		}
	pthread_mutex_unlock(&t->cat_lock);
}

/* --------------------------------------------------------------------- */
/* per-table state */

static struct whent *wh_ent(struct whtree *t, const char *schema, const char *table, int add)
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
	pthread_mutex_init(&e->export_lock, NULL);
	e->next = t->ents;
	t->ents = e;
	return e;
}

static void wh_snap_unref(struct whsnap *s)
{
	if (s && --s->refs == 0) {
		spool_close(s->f);
		free(s);
	}
}

/* Drop a table's snapshot: its rows changed. */
static void wh_snap_forget(struct whtree *t, const char *schema, const char *table)
{
	struct whent *e;

	pthread_mutex_lock(&t->lock);
	e = wh_ent(t, schema, table, 0);
	if (e) {
		wh_snap_unref(e->snap);
		e->snap = NULL;
		e->changes++;
	}
	pthread_mutex_unlock(&t->lock);
}

/* Give back the spool space of snapshots nobody has used for a TTL. */
static void wh_snap_sweep(struct whtree *t)
{
	for (struct whent *e = t->ents; e; e = e->next)
		if (e->snap && e->snap->refs == 1 && !wh_fresh(t, e->snap->made_ms)) {
			wh_snap_unref(e->snap);
			e->snap = NULL;
		}
}

/* Set a table's .errors.  folder: the table does not exist (a failed
 * new table), so its load folder stays to hold them, as if mkdir'd. */
static void wh_set_errors(struct whtree *t, const char *schema, const char *table, const char *msg,
			  int folder)
{
	struct whent *e;
	char stamp[32];
	time_t now = time(NULL);
	struct tm tm;

	strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&now, &tm));
	pthread_mutex_lock(&t->lock);
	e = wh_ent(t, schema, table, 1);
	if (e) {
		free(e->errors);
		if (asprintf(&e->errors, "%s %s\n", stamp, msg) < 0)
			e->errors = NULL;
		if (folder && e->errors)
			e->pending_dir = 1;
	}
	pthread_mutex_unlock(&t->lock);
}

/* --------------------------------------------------------------------- */
/* export: a table into a snapshot */

/* A staging prefix no other load or unload uses, ending in '/':
 * PREFIXodofs-WHAT-PID-SEQ-RANDOM/.  COPY takes every object under the
 * prefix it is given, and UNLOAD's files must not meet another's. */
static char *wh_stage_prefix(struct whtree *t, const char *what)
{
	unsigned char rnd[8] = {0};
	unsigned long long seq;
	char *out;

	if (getrandom(rnd, sizeof(rnd), 0) < 0)
		return NULL;
	pthread_mutex_lock(&t->lock);
	seq = ++t->load_seq;
	pthread_mutex_unlock(&t->lock);
	if (asprintf(&out, "%sodofs-%s-%ld-%llu-%02x%02x%02x%02x%02x%02x%02x%02x/",
		     t->cfg.staging_prefix, what, (long)getpid(), seq, rnd[0], rnd[1], rnd[2],
		     rnd[3], rnd[4], rnd[5], rnd[6], rnd[7]) < 0)
		return NULL;
	return out;
}

struct wh_export;
static int wh_rs_creds(struct whtree *t, struct creds *c, char **err);
static void wh_scrub(char *msg, const char *secret);
static int wh_export_unload(struct whtree *t, PGconn *c, const char *schema, const char *table,
			    struct wh_export *x, char **err);

struct wh_export {
	struct whsnap *snap;
	struct buf row;
	int ncols;
};

static int wh_export_bytes(void *arg, const char *data, size_t len)
{
	struct wh_export *x = arg;
	int r = spool_pwrite(x->snap->f, data, len, x->snap->size);

	if (r < 0)
		return r;
	x->snap->size += (off_t)len;
	return 0;
}

static int wh_export_flush(struct wh_export *x)
{
	int r = wh_export_bytes(x, x->row.data ? x->row.data : "", x->row.len);

	buf_reset(&x->row);
	return r;
}

/* COPY TO STDOUT sends a row at a time: gather them into writes of
 * WH_CHUNK, not one write per row. */
static int wh_export_copy(void *arg, const char *data, size_t len)
{
	struct wh_export *x = arg;
	int r;

	if (len >= WH_CHUNK) { /* a huge row goes as it is */
		r = wh_export_flush(x);
		return r ? r : wh_export_bytes(x, data, len);
	}
	r = buf_append(&x->row, data, len);
	if (r == 0 && x->row.len >= WH_CHUNK)
		r = wh_export_flush(x);
	return r;
}

/* Redshift has no COPY TO STDOUT: format the rows of a SELECT as
 * PostgreSQL's CSV output would. */
static int wh_export_row(void *arg, const PGresult *res, int first)
{
	struct wh_export *x = arg;
	int r = 0;

	if (first) {
		x->ncols = PQnfields(res);
		for (int j = 0; j < x->ncols && r == 0; j++) {
			const char *n = PQfname(res, j);

			if (j)
				r = buf_append(&x->row, ",", 1);
			if (r == 0)
				r = csvfmt_field(&x->row, n, strlen(n), 0, x->ncols == 1);
		}
		if (r == 0)
			r = csvfmt_row_end(&x->row);
	}
	for (int i = 0; i < PQntuples(res) && r == 0; i++) {
		for (int j = 0; j < x->ncols && r == 0; j++) {
			if (j)
				r = buf_append(&x->row, ",", 1);
			if (r == 0)
				r = csvfmt_field(&x->row, PQgetvalue(res, i, j),
						 (size_t)PQgetlength(res, i, j),
						 PQgetisnull(res, i, j), x->ncols == 1);
		}
		if (r == 0)
			r = csvfmt_row_end(&x->row);
	}
	if (r == 0 && x->row.len >= WH_CHUNK)
		r = wh_export_flush(x);
	return r;
}

/* -o unload: Redshift writes the table to the staging prefix in parallel
 * (gzip'd CSV slices and a manifest); odofs reads the slices back in order
 * into the snapshot, under a header of the table's columns, then deletes
 * them. */
struct wh_unload_obj {
	char **keys;
	size_t n;
};

static int wh_unload_list(void *arg, const struct s3xml_entry *e)
{
	struct wh_unload_obj *o = arg;
	char **k;

	if (e->kind != S3XML_OBJECT)
		return 0;
	k = realloc(o->keys, (o->n + 1) * sizeof(*k));
	if (!k)
		return -ENOMEM;
	o->keys = k;
	if (!(k[o->n] = strdup(e->name)))
		return -ENOMEM;
	o->n++;
	return 0;
}

static int wh_unload_sink(void *arg, const char *data, size_t len)
{
	return wh_export_bytes(arg, data, len);
}

/* The slices the manifest names, in its order: keys within the bucket. */
static int wh_unload_manifest(struct whtree *t, const char *key, struct wh_unload_obj *slices)
{
	size_t cap = 4 << 20;
	char *body = malloc(cap + 1);
	ssize_t n = body ? s3_get_small(t->cfg.s3, t->cfg.staging_bucket, key, body, cap) : -ENOMEM;
	struct json_object *root = NULL, *entries;
	char prefix[WH_NAME_MAX * 2];
	int r = 0;

	if (n < 0) {
		free(body);
		return (int)n;
	}
	body[n] = '\0';
	snprintf(prefix, sizeof(prefix), "s3://%s/", t->cfg.staging_bucket);
	root = json_tokener_parse(body);
	if (!root || !json_object_object_get_ex(root, "entries", &entries) ||
	    !json_object_is_type(entries, json_type_array))
		r = -EIO;
	for (size_t i = 0; r == 0 && i < json_object_array_length(entries); i++) {
		struct json_object *url, *ent = json_object_array_get_idx(entries, i);
		const char *u;

		if (!json_object_object_get_ex(ent, "url", &url) ||
		    !(u = json_object_get_string(url)) || strncmp(u, prefix, strlen(prefix))) {
			r = -EIO;
			break;
		}
		struct s3xml_entry e = {.kind = S3XML_OBJECT, .name = u + strlen(prefix)};

		r = wh_unload_list(slices, &e);
	}
	json_object_put(root);
	free(body);
	return r;
}

static int wh_export_unload(struct whtree *t, PGconn *c, const char *schema, const char *table,
			    struct wh_export *x, char **err)
{
	struct wh_unload_obj made = {0}, slices = {0};
	struct creds cr = {0};
	char *url = NULL, *sql = NULL, *prefix = NULL, *manifest = NULL, *chunk = NULL;
	PGresult *cols;
	int r = -ENOMEM;

	/* The header: the table's columns, as COPY would write them. */
	cols =
	    whdb_exec(t->cfg.db, c, wh_sql_cols, 2, (const char *const[]){schema, table}, 0, err);
	if (!cols)
		return -EIO;
	for (int i = 0; i < PQntuples(cols); i++) {
		const char *n = PQgetvalue(cols, i, 0);

		if (i)
			buf_append(&x->row, ",", 1);
		csvfmt_field(&x->row, n, strlen(n), 0, PQntuples(cols) == 1);
	}
	csvfmt_row_end(&x->row);
	PQclear(cols);
	if ((r = wh_export_flush(x)) < 0)
		return r;

	r = -ENOMEM;
	if (!(prefix = wh_stage_prefix(t, "unload")))
		goto out;
	if (asprintf(&url, "s3://%s/%s", t->cfg.staging_bucket, prefix) < 0) {
		url = NULL;
		goto out;
	}
	if ((r = wh_rs_creds(t, &cr, err)) < 0)
		goto out;
	struct whsql_unload u = {
	    .schema = schema,
	    .table = table,
	    .url = url,
	    .iam_role = t->cfg.iam_role,
	    .access_key_id = cr.access_key_id,
	    .secret_access_key = cr.secret_access_key,
	    .session_token = cr.session_token,
	};

	if (!(sql = whsql_unload(&u))) {
		r = errno == EINVAL ? -EIO : -ENOMEM;
		if (r == -EIO)
			wh_err_set(err, "the staging URL or the credentials cannot be written "
					"into UNLOAD");
		goto out;
	}
	r = whdb_run(t->cfg.db, c, sql, 1, err);
	wh_scrub(*err, cr.secret_access_key);
	wh_scrub(*err, cr.session_token);
	/* Whatever happened, everything under the prefix is ours to delete. */
	s3_list(t->cfg.s3, t->cfg.staging_bucket, prefix, NULL, 0, wh_unload_list, &made);
	if (r < 0)
		goto out;
	if (asprintf(&manifest, "%smanifest", prefix) < 0) {
		manifest = NULL;
		r = -ENOMEM;
		goto out;
	}
	if ((r = wh_unload_manifest(t, manifest, &slices)) < 0) {
		free(*err);
		*err = strdup("cannot read UNLOAD's manifest");
		goto out;
	}
	chunk = malloc(WH_CHUNK);
	for (size_t i = 0; chunk && r == 0 && i < slices.n; i++) {
		struct gunzip *gz = gunzip_new(wh_unload_sink, x);

		if (!gz) {
			r = -ENOMEM;
			break;
		}
		for (off_t off = 0; r == 0;) {
			ssize_t n = s3_get_range(t->cfg.s3, t->cfg.staging_bucket, slices.keys[i],
						 off, WH_CHUNK, NULL, chunk);

			if (n < 0)
				r = (int)n;
			if (n <= 0)
				break;
			r = gunzip_feed(gz, chunk, (size_t)n);
			off += n;
			if ((size_t)n < WH_CHUNK)
				break;
		}
		if (r == 0)
			r = gunzip_finish(gz);
		gunzip_free(gz);
	}
	if (!chunk)
		r = -ENOMEM;
out:
	for (size_t i = 0; i < made.n; i++) {
		s3_delete(t->cfg.s3, t->cfg.staging_bucket, made.keys[i]);
		free(made.keys[i]);
	}
	for (size_t i = 0; i < slices.n; i++)
		free(slices.keys[i]);
	free(made.keys);
	free(slices.keys);
	whsql_free_secret(sql);
	creds_clear(&cr);
	free(url);
	free(prefix);
	free(manifest);
	free(chunk);
	return r;
}

static int wh_export(struct whtree *t, const char *schema, const char *table, struct whsnap *snap)
{
	struct wh_export x = {.snap = snap};
	char *err = NULL, *q = NULL, *sql = NULL, *label = NULL;
	PGconn *c = whdb_get(t->cfg.db, &err);
	int r = -EIO;

	buf_init(&x.row, (size_t)64 << 20);
	if (!c)
		goto out;
	q = whsql_qualified(schema, table);
	if (!q) {
		r = -ENOMEM;
		goto out;
	}
	if (t->cfg.redshift && t->cfg.unload) {
		r = wh_export_unload(t, c, schema, table, &x, &err);
	} else if (t->cfg.redshift) {
		if (asprintf(&sql, "SELECT * FROM %s", q) < 0)
			goto nomem;
		r = whdb_select_rows(t->cfg.db, c, sql, wh_export_row, &x, &err);
		if (r == 0)
			r = wh_export_flush(&x);
	} else {
		if (asprintf(&sql, "COPY (SELECT * FROM %s) TO STDOUT (FORMAT csv, HEADER)", q) < 0)
			goto nomem;
		r = whdb_copy_out(t->cfg.db, c, sql, wh_export_copy, &x, &err);
		if (r == 0)
			r = wh_export_flush(&x);
	}
	goto out;
nomem:
	r = -ENOMEM;
out:
	if (r < 0) {
		if (asprintf(&label, "%s.%s", schema, table) < 0)
			label = NULL;
		if (r == -ENOSPC)
			log_err("cannot export %s: no room in the spool for it (cache_dir is full "
				"or spool_max reached)",
				label ? label : table);
		else
			log_err("cannot export %s: %s", label ? label : table,
				err ? err : strerror(-r));
		if (r != -ENOSPC && r != -ENOMEM)
			r = -EIO;
	}
	whdb_put(t->cfg.db, c);
	buf_free(&x.row);
	free(label);
	free(sql);
	free(q);
	free(err);
	return r;
}

/* A current snapshot of the table, referenced for the caller: made now
 * unless one younger than the TTL exists. */
static int wh_snapshot(struct whtree *t, const char *schema, const char *table, struct whsnap **out)
{
	struct whent *e;
	struct whsnap *s;
	char label[2 * WH_NAME_MAX + 2];
	unsigned changes;
	int r;

	pthread_mutex_lock(&t->lock);
	wh_snap_sweep(t);
	e = wh_ent(t, schema, table, 1);
	pthread_mutex_unlock(&t->lock);
	if (!e)
		return -ENOMEM;

	pthread_mutex_lock(&e->export_lock);
	pthread_mutex_lock(&t->lock);
	if (e->snap && wh_fresh(t, e->snap->made_ms)) {
		e->snap->refs++;
		*out = e->snap;
		pthread_mutex_unlock(&t->lock);
		pthread_mutex_unlock(&e->export_lock);
		return 0;
	}
	changes = e->changes;
	pthread_mutex_unlock(&t->lock);

	s = calloc(1, sizeof(*s));
	snprintf(label, sizeof(label), "%s.%s", schema, table);
	r = s ? spool_create(t->cfg.spool, label, &s->f) : -ENOMEM;
	if (r == 0) {
		s->made_ms = wh_now_ms();
		s->made = time(NULL);
		r = wh_export(t, schema, table, s);
	}
	if (r < 0) {
		if (s)
			spool_close(s->f);
		free(s);
		pthread_mutex_unlock(&e->export_lock);
		return r;
	}
	/* A load that committed while the export ran may not be in it: the
	 * caller, who opened before the load ended, may read it, but it is
	 * not kept for those who come after. */
	s->refs = 1;
	pthread_mutex_lock(&t->lock);
	if (e->changes == changes) {
		wh_snap_unref(e->snap);
		e->snap = s;
		s->refs++;
	}
	pthread_mutex_unlock(&t->lock);
	pthread_mutex_unlock(&e->export_lock);
	*out = s;
	return 0;
}

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
	char schema[WH_NAME_MAX];
	char table[WH_NAME_MAX];
	char name[WH_NAME_MAX];
};

static int wh_ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);

	return n > m && !strcasecmp(s + n - m, suffix);
}

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
		if (!wh_cat_schema(t, p->schema, &r) && r != -ENOENT) {
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
		k = wh_rel_kind(t, p->schema, rel);
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
	k = wh_rel_kind(t, p->schema, p->table);
	if (k < -1)
		return k;
	pthread_mutex_lock(&t->lock);
	if (k < 0) {
		struct whent *e = wh_ent(t, p->schema, p->table, 0);

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
		struct whent *e = wh_ent(t, p->schema, p->table, 0);

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

/* The size of a table file: its snapshot's, 0 right after a listing,
 * else exported now so that stat is exact. */
static int wh_table_stat(struct whtree *t, const struct whpath *p, struct stat *st, int export)
{
	struct whent *e;
	struct whsnap *s = NULL;
	int r;

	pthread_mutex_lock(&t->lock);
	e = wh_ent(t, p->schema, p->table, 0);
	if (e && e->snap && wh_fresh(t, e->snap->made_ms)) {
		wh_stat_file(t, st, e->snap->size, e->snap->made, !p->view);
		pthread_mutex_unlock(&t->lock);
		return 0;
	}
	pthread_mutex_unlock(&t->lock);
	if (!export || p->pending) {
		wh_stat_file(t, st, 0, time(NULL), !p->view);
		return 0;
	}
	r = wh_snapshot(t, p->schema, p->table, &s);
	if (r < 0)
		return r;
	wh_stat_file(t, st, s->size, s->made, !p->view);
	pthread_mutex_lock(&t->lock);
	wh_snap_unref(s);
	pthread_mutex_unlock(&t->lock);
	return 0;
}

/* Whether a readdir of the schema was answered within the TTL. */
static int wh_recently_listed(struct whtree *t, const char *schema)
{
	int listed = 0;

	pthread_mutex_lock(&t->cat_lock);
	for (size_t i = 0; i < t->nschemas; i++)
		if (!strcmp(t->schemas[i].name, schema))
			listed = wh_fresh(t, t->schemas[i].listed_at);
	pthread_mutex_unlock(&t->cat_lock);
	return listed;
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
		return 0;
	case WH_TABLE_FILE:
		return wh_table_stat(t, &p, st, !wh_recently_listed(t, p.schema));
	case WH_ERRORS: {
		struct whent *e;

		pthread_mutex_lock(&t->lock);
		e = wh_ent(t, p.schema, p.table, 0);
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
		r = wh_cat_schemas(t);
		wh_stat_dir(t, &st);
		for (size_t i = 0; r == 0 && i < t->nschemas; i++)
			if (fill(arg, t->schemas[i].name, &st))
				break;
		pthread_mutex_unlock(&t->cat_lock);
		return r;
	}
	if (p.kind == WH_SCHEMA) {
		struct whschema *s;
		size_t n;
		struct whrel *rels;

		/* Copy the names out: fill() must not run under cat_lock
		 * while the snapshot sizes need t->lock. */
		pthread_mutex_lock(&t->cat_lock);
		s = wh_cat_schema(t, p.schema, &r);
		if (!s) {
			pthread_mutex_unlock(&t->cat_lock);
			return r;
		}
		s->listed_at = wh_now_ms();
		n = s->nrels;
		rels = calloc(n + 1, sizeof(*rels));
		for (size_t i = 0; rels && i < n; i++) {
			rels[i].name = strdup(s->rels[i].name);
			rels[i].view = s->rels[i].view;
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
			wh_table_stat(t, &q, &st, 0);
			snprintf(name, sizeof(name), "%s.csv", rels[i].name);
			stop = fill(arg, name, &st);
			if (!stop && !rels[i].view) {
				wh_stat_dir(t, &st);
				stop = fill(arg, rels[i].name, &st);
			}
		}
		for (size_t i = 0; i < n; i++)
			free(rels[i].name);
		free(rels);

		/* Folders made with mkdir and tables being made by a load. */
		pthread_mutex_lock(&t->lock);
		for (struct whent *e = t->ents; e && !stop; e = e->next)
			if (e->pending_dir && !strcmp(e->schema, p.schema) &&
			    wh_rel_kind(t, e->schema, e->table) == -1) {
				wh_stat_dir(t, &st);
				stop = fill(arg, e->table, &st);
			}
		for (struct whload *l = t->loads; l && !stop; l = l->next)
			if (l->create && !l->name && !strcmp(l->schema, p.schema)) {
				wh_stat_file(t, &st, l->written, time(NULL), 1);
				snprintf(name, sizeof(name), "%s.csv", l->table);
				stop = fill(arg, name, &st);
			}
		pthread_mutex_unlock(&t->lock);
		return 0;
	}
	if (p.kind == WH_LOAD_DIR) {
		struct whent *e;
		int stop = 0;

		pthread_mutex_lock(&t->lock);
		e = wh_ent(t, p.schema, p.table, 0);
		if (e && e->errors) {
			wh_stat_file(t, &st, (off_t)strlen(e->errors), time(NULL), 0);
			stop = fill(arg, WH_ERRORS_NAME, &st);
		}
		for (struct whload *l = t->loads; l && !stop; l = l->next)
			if (l->name && !strcmp(l->schema, p.schema) && !strcmp(l->table, p.table)) {
				wh_stat_file(t, &st, l->written, time(NULL), 1);
				stop = fill(arg, l->name, &st);
			}
		pthread_mutex_unlock(&t->lock);
		return 0;
	}
	return p.kind == WH_NONE ? -ENOENT : -ENOTDIR;
}

/* --------------------------------------------------------------------- */
/* loads */

/* The load's first failure is the one kept and reported. */
static void __attribute__((format(printf, 3, 4)))
wh_load_fail(struct whload *ld, int r, const char *fmt, ...);

static void wh_load_fail(struct whload *ld, int r, const char *fmt, ...)
{
	va_list ap;

	if (ld->status != 0)
		return;
	ld->status = r;
	free(ld->errmsg);
	va_start(ap, fmt);
	if (vasprintf(&ld->errmsg, fmt, ap) < 0)
		ld->errmsg = NULL;
	va_end(ap);
}

/* The mount's own credentials would go into the COPY: take them out of
 * anything that is logged or shown. */
static void wh_scrub(char *msg, const char *secret)
{
	size_t n = secret ? strlen(secret) : 0;
	char *p;

	if (!msg || n < 4)
		return;
	while ((p = strstr(msg, secret))) {
		memset(p, '*', 3);
		memmove(p + 3, p + n, strlen(p + n) + 1);
	}
}

static int wh_load_columns(struct whload *ld, char **err)
{
	const char *params[] = {ld->schema, ld->table};
	PGresult *res = whdb_exec(ld->t->cfg.db, ld->conn, wh_sql_cols, 2, params, 0, err);

	if (!res)
		return -EIO;
	ld->ncols = (size_t)PQntuples(res);
	ld->cols = calloc(ld->ncols + 1, sizeof(*ld->cols));
	for (size_t i = 0; ld->cols && i < ld->ncols; i++)
		ld->cols[i] = strdup(PQgetvalue(res, (int)i, 0));
	PQclear(res);
	return ld->cols ? 0 : -ENOMEM;
}

/* (cols) for a COPY, from the CSV header: each name is a table column,
 * the exact one or else the only one equal but for case. */
static int wh_load_header(struct whload *ld, char **names, size_t n)
{
	ld->hdrcols = calloc(n + 1, sizeof(*ld->hdrcols));
	if (!ld->hdrcols)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		const char *col = NULL;

		for (size_t j = 0; j < ld->ncols && !col; j++)
			if (!strcmp(ld->cols[j], names[i]))
				col = ld->cols[j];
		for (size_t j = 0; j < ld->ncols && !col; j++)
			if (!strcasecmp(ld->cols[j], names[i]))
				col = ld->cols[j];
		if (!col) {
			wh_load_fail(
			    ld, -EIO,
			    "the header names column '%.200s', which table %s.%s does not have",
			    names[i], ld->schema, ld->table);
			return -EIO;
		}
		if (!(ld->hdrcols[i] = strdup(col)))
			return -ENOMEM;
		ld->nhdr = i + 1;
	}
	ld->collist = whsql_collist((const char *const *)ld->hdrcols, ld->nhdr);
	if (!ld->collist) {
		wh_load_fail(ld, -EIO, "%s", "the header row names no columns");
		return -EIO;
	}
	return 0;
}

/* Whether data holds a byte of a row: anything but line ends. */
static int wh_has_row(const char *data, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (data[i] != '\n' && data[i] != '\r')
			return 1;
	return 0;
}

/* Gather the start of a CSV until its header record is complete. */
static int wh_head_add(struct whload *ld, const char *data, size_t len, int final)
{
	char **names = NULL, *why = NULL;
	size_t n = 0, used = 0;
	int r;

	if (len && buf_append(&ld->head, data, len) < 0) {
		wh_load_fail(ld, -EIO, "%s", "the header row is longer than 1 MiB");
		return -EIO;
	}
	if (final && ld->head.len && ld->head.data[ld->head.len - 1] != '\n')
		buf_append(&ld->head, "\n", 1);
	r = csvinfer_header_err(ld->head.data ? ld->head.data : "", ld->head.len, &names, &n, &used,
				&why);
	if (r < 0) {
		wh_load_fail(ld, -EIO, "the header row is not valid CSV: %s",
			     why ? why : strerror(-r));
		free(why);
		return -EIO;
	}
	if (r == 0)
		return 0;
	r = wh_load_header(ld, names, n);
	csvinfer_names_free(names, n);
	if (r < 0)
		return r;
	ld->header_done = 1;
	ld->head_used = used;
	if (used < ld->head.len && wh_has_row(ld->head.data + used, ld->head.len - used))
		ld->body_seen = 1;
	return 0;
}

/* BEGIN, then what must happen in the same transaction before the rows. */
static int wh_load_begin(struct whload *ld, char **err)
{
	struct whdb *db = ld->t->cfg.db;
	char *sql = NULL;
	int r = 0;

	if (!ld->in_txn) {
		if ((r = whdb_run(db, ld->conn, "BEGIN", 0, err)) < 0)
			return r;
		ld->in_txn = 1;
	}
	if (ld->create_sql) {
		r = whdb_run(db, ld->conn, ld->create_sql, 1, err);
		free(ld->create_sql);
		ld->create_sql = NULL;
		if (r < 0)
			return r;
	}
	if (ld->replace) {
		/* Never TRUNCATE: on Redshift it commits the transaction. */
		if (asprintf(&sql, "DELETE FROM %s", ld->qname) < 0)
			return -ENOMEM;
		r = whdb_run(db, ld->conn, sql, 1, err);
		free(sql);
	}
	return r;
}

static int wh_pg_start(struct whload *ld)
{
	char *err = NULL, *sql = NULL;
	int r = wh_load_begin(ld, &err);

	if (r == 0) {
		if (asprintf(&sql, "COPY %s %s FROM STDIN (FORMAT csv%s)", ld->qname,
			     ld->json ? "" : ld->collist, ld->json ? "" : ", HEADER true") < 0)
			r = -ENOMEM;
		else
			r = whdb_copy_in_start(ld->t->cfg.db, ld->conn, sql, &err);
	}
	if (r < 0)
		wh_load_fail(ld, -EIO, "%s", err);
	else
		ld->in_copy = 1;
	free(sql);
	free(err);
	return r < 0 ? -EIO : 0;
}

static int wh_pg_put(struct whload *ld, const char *data, size_t len)
{
	char *err = NULL;
	int r = whdb_copy_in_put(ld->t->cfg.db, ld->conn, data, len, &err);

	if (r < 0)
		wh_load_fail(ld, -EIO, "%s", err);
	free(err);
	return r < 0 ? -EIO : 0;
}

/* Plain bytes of the file (decompressed) on their way to PostgreSQL. */
static int wh_pg_plain(void *arg, const char *data, size_t len)
{
	struct whload *ld = arg;
	int r;

	if (ld->json) {
		if (!ld->in_copy && (r = wh_pg_start(ld)) < 0)
			return r;
		if (jsonrow_feed(ld->jr, data, len, &ld->out) < 0) {
			wh_load_fail(ld, -EIO, "%s", jsonrow_error(ld->jr));
			return -EIO;
		}
		if (ld->out.len)
			ld->body_seen = 1;
		r = ld->out.len ? wh_pg_put(ld, ld->out.data, ld->out.len) : 0;
		buf_reset(&ld->out);
		return r;
	}
	if (ld->header_done) {
		if (!ld->body_seen && wh_has_row(data, len))
			ld->body_seen = 1;
		return wh_pg_put(ld, data, len);
	}
	if ((r = wh_head_add(ld, data, len, 0)) < 0 || !ld->header_done)
		return r;
	if ((r = wh_pg_start(ld)) < 0)
		return r;
	r = wh_pg_put(ld, ld->head.data, ld->head.len);
	buf_free(&ld->head);
	return r;
}

/* Redshift: the start of the file, decompressed, until the header is read. */
static int wh_rs_peek(void *arg, const char *data, size_t len)
{
	struct whload *ld = arg;

	if (!ld->header_done)
		return wh_head_add(ld, data, len, 0);
	if (!ld->body_seen && wh_has_row(data, len))
		ld->body_seen = 1;
	return 0;
}

/* Bytes of the file in the order written, for an existing table. */
static int wh_load_feed(struct whload *ld, const char *data, size_t len)
{
	int r;

	if (!ld->t->cfg.redshift) {
		if (ld->gzip) {
			r = gunzip_feed(ld->gz, data, len);
			if (r < 0 && ld->status == 0)
				wh_load_fail(ld, -EIO, "%s", gunzip_error(ld->gz));
			return r < 0 ? -EIO : 0;
		}
		return wh_pg_plain(ld, data, len);
	}
	r = upload_write(ld->up, data, len);
	if (r < 0) {
		wh_load_fail(ld, r, "cannot stage the file in S3: %s", strerror(-r));
		return r;
	}
	if (ld->json) {
		/* Only a gzip'd file is not looked into: Redshift reads it. */
		for (size_t i = 0; !ld->body_seen && i < len; i++)
			if (ld->gzip || !strchr(" \t\r\n", data[i]))
				ld->body_seen = 1;
		return 0;
	}
	if (ld->body_seen)
		return 0;
	if (ld->gzip) {
		r = gunzip_feed(ld->gz, data, len);
		if (r < 0 && ld->status == 0)
			wh_load_fail(ld, -EIO, "%s", gunzip_error(ld->gz));
		return r < 0 ? -EIO : 0;
	}
	return wh_rs_peek(ld, data, len);
}

/* After a failed Redshift COPY (and the ROLLBACK): what stl_load_errors
 * says about it. */
static char *wh_rs_load_error(struct whload *ld, const char *copy_err)
{
	char *err = NULL, *msg = NULL;
	PGresult *res =
	    whdb_exec(ld->t->cfg.db, ld->conn,
		      "SELECT line_number, colname, raw_field_value, err_reason FROM "
		      "stl_load_errors WHERE query = pg_last_copy_id() ORDER BY line_number",
		      0, NULL, 0, &err);

	if (res && PQntuples(res) > 0) {
		/* Redshift's columns are CHAR(n): blank-padded. */
		int w[4];

		for (int j = 0; j < 4; j++) {
			const char *v = PQgetvalue(res, 0, j);

			w[j] = PQgetlength(res, 0, j);
			while (w[j] > 0 && v[w[j] - 1] == ' ')
				w[j]--;
			if (w[j] > 200)
				w[j] = 200;
		}
		if (asprintf(&msg, "line %.*s, column %.*s (value '%.*s'): %.*s", w[0],
			     PQgetvalue(res, 0, 0), w[1], PQgetvalue(res, 0, 1), w[2],
			     PQgetvalue(res, 0, 2), w[3], PQgetvalue(res, 0, 3)) < 0)
			msg = NULL;
	}
	if (!msg && asprintf(&msg, "%s", copy_err ? copy_err : "COPY failed") < 0)
		msg = NULL;
	PQclear(res);
	free(err);
	return msg;
}

/* The mount's own credentials for a COPY or UNLOAD, unless it gives
 * Redshift an IAM role; the caller clears them. */
static int wh_rs_creds(struct whtree *t, struct creds *c, char **err)
{
	if (t->cfg.iam_role)
		return 0;
	if (creds_get(t->cfg.creds, c) < 0 || !c->access_key_id) {
		wh_err_set(err, "no AWS credentials to give Redshift's COPY (set them, or mount "
				"with -o iam_role=ARN)");
		return -EIO;
	}
	return 0;
}

static int wh_rs_copy(struct whload *ld)
{
	struct whtree *t = ld->t;
	struct creds c = {0};
	char *err = NULL, *sql = NULL, *url = NULL;
	s3_etag etag;
	int r;

	r = upload_finish(ld->up, etag);
	if (r < 0) {
		wh_load_fail(ld, r, "cannot stage the file in S3: %s", strerror(-r));
		return r;
	}
	if (asprintf(&url, "s3://%s/%s", t->cfg.staging_bucket, ld->stage_prefix) < 0) {
		url = NULL;
		r = -ENOMEM;
		goto out;
	}
	if ((r = wh_rs_creds(t, &c, &err)) < 0)
		goto out;
	struct whsql_copy cp = {
	    .schema = ld->schema,
	    .table = ld->table,
	    .cols = (const char *const *)ld->hdrcols,
	    .ncols = ld->nhdr,
	    .url = url,
	    .iam_role = t->cfg.iam_role,
	    .access_key_id = c.access_key_id,
	    .secret_access_key = c.secret_access_key,
	    .session_token = c.session_token,
	    .region = t->cfg.region,
	    .json = ld->json,
	    .gzip = ld->gzip,
	};

	if (!(sql = whsql_copy(&cp))) {
		r = errno == EINVAL ? -EIO : -ENOMEM;
		if (r == -EIO)
			wh_err_set(&err,
				   "the staging URL or the credentials cannot be written into "
				   "COPY");
		goto out;
	}
	if ((r = wh_load_begin(ld, &err)) < 0)
		goto out;
	r = whdb_run(t->cfg.db, ld->conn, sql, 1, &err);
	if (r < 0) {
		char *rb = NULL, *why;

		whdb_run(t->cfg.db, ld->conn, "ROLLBACK", 0, &rb);
		free(rb);
		ld->in_txn = 0;
		wh_scrub(err, c.secret_access_key);
		wh_scrub(err, c.session_token);
		why = wh_rs_load_error(ld, err);
		wh_load_fail(ld, -EIO, "%s", why);
		free(why);
		r = -EIO;
	}
out:
	if (r < 0 && r != -EIO)
		wh_load_fail(ld, r, "%s", err ? err : strerror(-r));
	else if (r == -EIO && ld->status == 0)
		wh_load_fail(ld, -EIO, "%s", err);
	whsql_free_secret(sql);
	creds_clear(&c);
	free(url);
	free(err);
	return r;
}

/* The file is complete: finish the load and commit, or roll back. */
static int wh_load_end(struct whload *ld)
{
	struct whtree *t = ld->t;
	char *err = NULL;
	int r = ld->status;

	/* (Redshift checks the gzip data itself: odofs only peeks.) */
	if (r == 0 && ld->gzip && !t->cfg.redshift && gunzip_finish(ld->gz) < 0)
		wh_load_fail(ld, -EIO, "%s", gunzip_error(ld->gz));
	if (ld->status == 0 && ld->written == 0)
		wh_load_fail(ld, -EIO, "%s", WH_EMPTY_MSG);
	if (ld->status == 0 && !ld->json && !ld->header_done) {
		wh_head_add(ld, NULL, 0, 1);
		if (ld->status == 0 && !ld->header_done)
			wh_load_fail(ld, -EIO, "%s", "the file has no header row");
	}
	/* A header alone loads nothing: most likely the export that made the
	 * file failed, and a replace would empty the table. */
	if (ld->status == 0 && !ld->json && !ld->body_seen)
		wh_load_fail(ld, -EIO, "%s", "the file has a header but no rows");
	if (ld->status == 0 && !ld->json && !ld->in_copy && !t->cfg.redshift &&
	    wh_pg_start(ld) == 0)
		wh_pg_put(ld, ld->head.data, ld->head.len);
	if (!t->cfg.redshift) {
		if (ld->status == 0 && ld->json) {
			if (!ld->in_copy)
				wh_pg_start(ld);
			if (ld->status == 0 && jsonrow_finish(ld->jr, &ld->out) < 0)
				wh_load_fail(ld, -EIO, "%s", jsonrow_error(ld->jr));
			if (ld->out.len)
				ld->body_seen = 1;
			if (ld->status == 0 && ld->out.len)
				wh_pg_put(ld, ld->out.data, ld->out.len);
			if (ld->status == 0 && !ld->body_seen)
				wh_load_fail(ld, -EIO, "%s", "the file has no JSON objects");
		}
		if (ld->in_copy) {
			r = whdb_copy_in_end(t->cfg.db, ld->conn,
					     ld->status ? "odofs: load failed" : NULL, &err);
			ld->in_copy = 0;
			if (r < 0 && ld->status == 0)
				wh_load_fail(ld, -EIO, "%s", err);
		}
	} else if (ld->status == 0 && ld->json && !ld->body_seen) {
		wh_load_fail(ld, -EIO, "%s", "the file has no JSON objects");
	} else if (ld->status == 0) {
		wh_rs_copy(ld);
	}
	if (ld->in_txn) {
		free(err);
		err = NULL;
		r = whdb_run(t->cfg.db, ld->conn, ld->status ? "ROLLBACK" : "COMMIT", 1, &err);
		if (r < 0 && ld->status == 0)
			wh_load_fail(ld, -EIO, "%s", err);
		ld->in_txn = 0;
	}
	free(err);
	return ld->status;
}

/* A new table: infer its columns from the spooled file. */
struct wh_infer {
	struct csvinfer *ci;
	struct jsonkeys *keys;
	struct jsonrow *jr;
	struct buf rows;
	const char *error;
};

static int wh_infer_sink(void *arg, const char *data, size_t len)
{
	struct wh_infer *w = arg;

	if (w->keys) {
		if (jsonkeys_feed(w->keys, data, len) < 0) {
			w->error = jsonkeys_error(w->keys);
			return -EINVAL;
		}
		return 0;
	}
	if (w->jr) {
		int r;

		if (jsonrow_feed(w->jr, data, len, &w->rows) < 0) {
			w->error = jsonrow_error(w->jr);
			return -EINVAL;
		}
		r = csvinfer_feed(w->ci, w->rows.data ? w->rows.data : "", w->rows.len);
		buf_reset(&w->rows);
		if (r < 0)
			w->error = csvinfer_error(w->ci);
		return r;
	}
	if (csvinfer_feed(w->ci, data, len) < 0) {
		w->error = csvinfer_error(w->ci);
		return -EINVAL;
	}
	return 0;
}

/* Every byte of the spooled file, as written, into fn.  A failure to
 * read the spool itself is *spool_err. */
static int wh_spool_read(struct whload *ld, gunzip_sink fn, void *arg, int *spool_err)
{
	char *chunk = malloc(WH_CHUNK);
	int r = chunk ? 0 : -ENOMEM;

	for (off_t off = 0; r == 0 && off < ld->written;) {
		ssize_t n = spool_pread(ld->sf, chunk, WH_CHUNK, off);

		if (n <= 0) {
			r = *spool_err = n < 0 ? (int)n : -EIO;
			break;
		}
		r = fn(arg, chunk, (size_t)n);
		off += n;
	}
	free(chunk);
	return r;
}

static int wh_gunzip_sink(void *arg, const char *data, size_t len)
{
	return gunzip_feed(arg, data, len);
}

/* Read the spool through gunzip (if any) into fn. */
static int wh_spool_pass(struct whload *ld, gunzip_sink fn, void *arg, const char **error)
{
	struct gunzip *gz = ld->gzip ? gunzip_new(fn, arg) : NULL;
	int spool_err = 0;
	int r = ld->gzip && !gz ? -ENOMEM
				: wh_spool_read(ld, gz ? wh_gunzip_sink : fn, gz ? (void *)gz : arg,
						&spool_err);

	if (r == 0 && gz)
		r = gunzip_finish(gz);
	if (r < 0 && gz && !*error)
		*error = gunzip_error(gz);
	/* The message must outlive gz. */
	if (r < 0 && *error) {
		static __thread char keep[256];

		snprintf(keep, sizeof(keep), "%s", *error);
		*error = keep;
	}
	gunzip_free(gz);
	return r;
}

static int wh_load_infer(struct whload *ld, char **err)
{
	struct wh_infer w = {0};
	enum csvinfer_dialect d = ld->t->cfg.redshift ? CSVINFER_REDSHIFT : CSVINFER_POSTGRES;
	char **names = NULL, **types = NULL;
	size_t n = 0;
	int r;

	buf_init(&w.rows, (size_t)128 << 20);
	w.ci = csvinfer_new();
	if (!w.ci) {
		r = -ENOMEM;
		goto out;
	}
	if (ld->json) {
		/* Columns are the keys, in order of first appearance. */
		w.keys = jsonkeys_new();
		r = w.keys ? wh_spool_pass(ld, wh_infer_sink, &w, &w.error) : -ENOMEM;
		if (r == 0 && jsonkeys_finish(w.keys) < 0) {
			w.error = jsonkeys_error(w.keys);
			r = -EINVAL;
		}
		if (r < 0)
			goto out;
		n = jsonkeys_count(w.keys);
		if (n == 0) {
			w.error = "no JSON objects with keys in the file";
			r = -EINVAL;
			goto out;
		}
		names = calloc(n, sizeof(*names));
		for (size_t i = 0; names && i < n; i++)
			names[i] = strdup(jsonkeys_name(w.keys, i));
		jsonkeys_free(w.keys);
		w.keys = NULL;
		/* Then the values, as CSV rows under a header of the keys. */
		for (size_t i = 0; names && i < n; i++) {
			if (i)
				buf_append(&w.rows, ",", 1);
			csvfmt_field(&w.rows, names[i], strlen(names[i]), 0, n == 1);
		}
		csvfmt_row_end(&w.rows);
		csvinfer_feed(w.ci, w.rows.data, w.rows.len);
		buf_reset(&w.rows);
		w.jr = jsonrow_new((const char *const *)names, n, 1);
		r = w.jr ? wh_spool_pass(ld, wh_infer_sink, &w, &w.error) : -ENOMEM;
		if (r == 0 && jsonrow_finish(w.jr, &w.rows) < 0) {
			w.error = jsonrow_error(w.jr);
			r = -EINVAL;
		}
		if (r == 0 && csvinfer_feed(w.ci, w.rows.data ? w.rows.data : "", w.rows.len) < 0) {
			w.error = csvinfer_error(w.ci);
			r = -EINVAL;
		}
	} else {
		r = wh_spool_pass(ld, wh_infer_sink, &w, &w.error);
	}
	if (r == 0 && csvinfer_finish(w.ci) < 0) {
		w.error = csvinfer_error(w.ci);
		r = -EINVAL;
	}
	if (r < 0)
		goto out;

	ld->ncols = csvinfer_ncols(w.ci);
	ld->cols = calloc(ld->ncols + 1, sizeof(*ld->cols));
	types = calloc(ld->ncols + 1, sizeof(*types));
	if (!ld->cols || !types) {
		r = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < ld->ncols && r == 0; i++) {
		char type[64];

		ld->cols[i] = strdup(csvinfer_name(w.ci, i));
		if (!ld->cols[i]) {
			r = -ENOMEM;
			break;
		}
		if (csvinfer_type(w.ci, i, d, type, sizeof(type), err) < 0) {
			r = -EINVAL;
			break;
		}
		if (!(types[i] = strdup(type)))
			r = -ENOMEM;
	}
	if (r == 0) {
		ld->create_sql =
		    whsql_create_table(ld->schema, ld->table, (const char *const *)ld->cols,
				       (const char *const *)types, ld->ncols);
		if (!ld->create_sql) {
			r = errno == EINVAL ? -EINVAL : -ENOMEM;
			if (r == -EINVAL && !*err)
				*err = strdup("the file's header names an empty column");
		}
	}
out:
	if (r < 0 && w.error && !*err)
		*err = strdup(w.error);
	if (names)
		wh_strv_free(names, n);
	if (types)
		wh_strv_free(types, ld->ncols);
	jsonkeys_free(w.keys);
	jsonrow_free(w.jr);
	csvinfer_free(w.ci);
	buf_free(&w.rows);
	return r;
}

/* The streaming machinery of a load into an existing table (or one the
 * load creates first). */
static int wh_load_stream_setup(struct whload *ld)
{
	struct whtree *t = ld->t;

	buf_init(&ld->head, WH_HEAD_MAX);
	buf_init(&ld->out, (size_t)128 << 20);
	if (ld->json && !t->cfg.redshift) {
		ld->jr = jsonrow_new((const char *const *)ld->cols, ld->ncols, 1);
		if (!ld->jr)
			return -ENOMEM;
	}
	if (ld->gzip && !(ld->json && t->cfg.redshift)) {
		ld->gz = gunzip_new(t->cfg.redshift ? wh_rs_peek : wh_pg_plain, ld);
		if (!ld->gz)
			return -ENOMEM;
	}
	if (t->cfg.redshift) {
		ld->up = upload_new(t->uploader, t->cfg.staging_bucket, ld->stage_key, NULL);
		if (!ld->up)
			return -ENOMEM;
	}
	return 0;
}

static int wh_load_feed_sink(void *arg, const char *data, size_t len)
{
	return wh_load_feed(arg, data, len);
}

static int wh_load_create(struct whload *ld)
{
	char *err = NULL;
	int r = wh_load_infer(ld, &err), spool_err = 0;

	if (r < 0) {
		wh_load_fail(ld, -EIO, "%s", err ? err : strerror(-r));
		free(err);
		return -EIO;
	}
	free(err);
	ld->create = 0;
	r = wh_load_stream_setup(ld);
	if (r < 0) {
		wh_load_fail(ld, r, "%s", strerror(-r));
		return r;
	}
	/* The replay: the spooled bytes, as if written now. */
	r = wh_spool_read(ld, wh_load_feed_sink, ld, &spool_err);
	if (spool_err)
		wh_load_fail(ld, spool_err, "cannot read the spool: %s", strerror(-spool_err));
	else if (r == -ENOMEM)
		wh_load_fail(ld, r, "%s", strerror(-r));
	return wh_load_end(ld);
}

/* A failed load, in the log and in the table's .errors (a new table's
 * folder stays to hold them). */
static void wh_load_report(struct whload *ld, const char *why)
{
	char *msg = NULL;

	if (asprintf(&msg, "load of %s failed: %s", ld->label, why) < 0)
		msg = NULL;
	log_warn("%s", msg ? msg : why);
	wh_set_errors(ld->t, ld->schema, ld->table, msg ? msg : why, ld->new_table);
	free(msg);
}

static int wh_load_finish(struct whload *ld)
{
	struct whtree *t = ld->t;
	int r;

	if (ld->finished)
		return ld->status;
	ld->finished = 1;
	if (ld->empty_reported && ld->written == 0 && ld->status == 0) {
		/* Said at the close that found it empty; nothing was begun. */
		ld->status = -EIO;
		return -EIO;
	}
	r = ld->status ? ld->status : ld->create ? wh_load_create(ld) : wh_load_end(ld);
	if (t->cfg.redshift && ld->stage_key) {
		/* Whether or not it worked, nothing stays in staging. */
		upload_free(ld->up);
		ld->up = NULL;
		if (ld->status == 0 || ld->written)
			s3_delete(t->cfg.s3, t->cfg.staging_bucket, ld->stage_key);
	}
	spool_close(ld->sf);
	ld->sf = NULL;
	if (r == 0) {
		log_info("loaded %s", ld->label);
		wh_snap_forget(t, ld->schema, ld->table);
		wh_cat_forget(t, ld->schema);
		pthread_mutex_lock(&t->lock);
		struct whent *e = wh_ent(t, ld->schema, ld->table, 0);

		if (e)
			e->pending_dir = 0;
		/* The empty close was a shell's or dd's dup: take back what it
		 * said, unless another load has said something since. */
		if (e && e->errors && ld->empty_reported && strstr(e->errors, ld->label) &&
		    strstr(e->errors, WH_EMPTY_MSG)) {
			free(e->errors);
			e->errors = NULL;
		}
		pthread_mutex_unlock(&t->lock);
		return 0;
	}
	if (ld->errmsg)
		wh_load_report(ld, ld->errmsg);
	if (ld->new_table)
		wh_cat_forget(t, ld->schema);
	return r == -ENOSPC || r == -EFBIG ? r : -EIO;
}

static void wh_load_free(struct whload *ld)
{
	if (!ld)
		return;
	upload_free(ld->up);
	spool_close(ld->sf);
	if (ld->conn)
		whdb_put(ld->t->cfg.db, ld->conn);
	if (ld->cols)
		wh_strv_free(ld->cols, ld->ncols);
	if (ld->hdrcols)
		wh_strv_free(ld->hdrcols, ld->nhdr);
	gunzip_free(ld->gz);
	jsonrow_free(ld->jr);
	buf_free(&ld->head);
	buf_free(&ld->out);
	pthread_mutex_destroy(&ld->lock);
	free(ld->schema);
	free(ld->table);
	free(ld->name);
	free(ld->label);
	free(ld->errmsg);
	free(ld->collist);
	free(ld->qname);
	free(ld->create_sql);
	free(ld->stage_prefix);
	free(ld->stage_key);
	free(ld);
}

/* The format of a file by its name. */
static int wh_format(const char *name, int *json, int *gzip)
{
	static const struct {
		const char *suffix;
		int json, gzip;
	} fmts[] = {
	    {".csv", 0, 0},	{".csv.gz", 0, 1},   {".json", 1, 0},	{".jsonl", 1, 0},
	    {".json.gz", 1, 1}, {".jsonl.gz", 1, 1}, {".ndjson", 1, 0}, {".ndjson.gz", 1, 1},
	};

	for (size_t i = 0; i < sizeof(fmts) / sizeof(fmts[0]); i++)
		if (wh_ends_with(name, fmts[i].suffix)) {
			*json = fmts[i].json;
			*gzip = fmts[i].gzip;
			return 0;
		}
	return -EINVAL;
}

/* A stage key for one load, under a prefix of its own. */
static int wh_stage_names(struct whload *ld)
{
	char base[WH_NAME_MAX];

	snprintf(base, sizeof(base), "%s", ld->name ? ld->name : "table.csv");
	for (char *p = base; *p; p++)
		if (!isalnum((unsigned char)*p) && !strchr(".-_", *p))
			*p = '_';
	ld->stage_prefix = wh_stage_prefix(ld->t, "load");
	if (!ld->stage_prefix)
		return -ENOMEM;
	if (asprintf(&ld->stage_key, "%s%s", ld->stage_prefix, base) < 0) {
		ld->stage_key = NULL;
		return -ENOMEM;
	}
	return 0;
}

/* Start a load of schema.table; name is the file in the load folder
 * (NULL for TABLE.csv). */
static int wh_load_new(struct whtree *t, const struct whpath *p, const char *name, int replace,
		       int create, struct whload **out)
{
	struct whload *ld = calloc(1, sizeof(*ld));
	char *err = NULL;
	int r;

	if (!ld)
		return -ENOMEM;
	pthread_mutex_init(&ld->lock, NULL);
	ld->t = t;
	ld->replace = replace;
	ld->create = create;
	ld->new_table = create;
	ld->schema = strdup(p->schema);
	ld->table = strdup(p->table);
	ld->name = name ? strdup(name) : NULL;
	if (!ld->schema || !ld->table || (name && !ld->name) ||
	    asprintf(&ld->label, "%s/%s%s%s", p->schema, p->table, name ? "/" : ".csv",
		     name ? name : "") < 0) {
		ld->label = NULL;
		r = -ENOMEM;
		goto fail;
	}
	if (name && wh_format(name, &ld->json, &ld->gzip) < 0) {
		log_warn("%s: a load folder takes .csv, .csv.gz, .json, .jsonl, .json.gz or "
			 ".jsonl.gz files",
			 ld->label);
		r = -EINVAL;
		goto fail;
	}
	ld->conn = whdb_get(t->cfg.db, &err);
	if (!ld->conn) {
		log_err("%s: %s", ld->label, err ? err : "cannot connect");
		r = -EIO;
		goto fail;
	}
	ld->qname = whsql_qualified(ld->schema, ld->table);
	if (!ld->qname) {
		r = -ENOMEM;
		goto fail;
	}
	if (t->cfg.redshift && (r = wh_stage_names(ld)) < 0)
		goto fail;
	if (create) {
		r = spool_create(t->cfg.spool, ld->label, &ld->sf);
		if (r < 0)
			goto fail;
	} else {
		if ((r = wh_load_columns(ld, &err)) < 0) {
			log_err("%s: %s", ld->label, err ? err : "cannot read the table's columns");
			r = -EIO;
			goto fail;
		}
		if ((r = wh_load_stream_setup(ld)) < 0)
			goto fail;
	}
	pthread_mutex_lock(&t->lock);
	ld->next = t->loads;
	t->loads = ld;
	pthread_mutex_unlock(&t->lock);
	free(err);
	*out = ld;
	return 0;
fail:
	free(err);
	wh_load_free(ld);
	return r;
}

static void wh_load_unlist(struct whtree *t, struct whload *ld)
{
	pthread_mutex_lock(&t->lock);
	for (struct whload **pp = &t->loads; *pp; pp = &(*pp)->next)
		if (*pp == ld) {
			*pp = ld->next;
			break;
		}
	pthread_mutex_unlock(&t->lock);
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
	if (wh_cat_schema(t, schema, &r))
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
		r = wh_snapshot(t, p.schema, p.table, &fh->snap);
		if (r < 0) {
			free(fh);
			return r;
		}
		wh_stat_file(t, st, fh->snap->size, fh->snap->made, !p.view);
		*out = fh;
		return 0;
	case WH_ERRORS:
		if ((flags & O_ACCMODE) != O_RDONLY)
			return -EACCES;
		fh = wh_fh_new(WHFH_TEXT);
		if (!fh)
			return -ENOMEM;
		pthread_mutex_lock(&t->lock);
		struct whent *e = wh_ent(t, p.schema, p.table, 0);

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
		if (!wh_name_ok(p.table) || t->cfg.table)
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
		if (off >= fh->snap->size)
			return 0;
		if ((off_t)size > fh->snap->size - off)
			size = (size_t)(fh->snap->size - off);
		return spool_pread(fh->snap->f, buf, size, off);
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
	} else if (off != ld->written) {
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
		return r == -ENOSPC || r == -EFBIG ? r : -EIO;
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
		wh_stat_file(t, st, fh->snap->size, fh->snap->made, 1);
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
		pthread_mutex_lock(&t->lock);
		wh_snap_unref(fh->snap);
		pthread_mutex_unlock(&t->lock);
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
	wh_snap_forget(t, p->schema, p->table);
	wh_cat_forget(t, p->schema);
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
		struct whent *e = wh_ent(t, p.schema, p.table, 0);

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
	if (p.depth != 2 || !wh_name_ok(p.table) || t->cfg.table)
		return -EPERM;
	if ((r = wh_schema_exists(t, p.schema)) <= 0)
		return r < 0 ? r : -ENOENT;
	/* A folder for a table the first file copied into it will make. */
	pthread_mutex_lock(&t->lock);
	e = wh_ent(t, p.schema, p.table, 1);
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
		e = wh_ent(t, p.schema, p.table, 0);
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

	if (!t->cfg.redshift || t->cfg.read_only)
		return 0;
	t->workers = pool_new(t->cfg.workers);
	if (!t->workers)
		return -ENOMEM;
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
	uploader_free(t->uploader);
	pool_free(t->workers);
	wh_cat_free(t);
	for (e = t->ents; e; e = next) {
		next = e->next;
		wh_snap_unref(e->snap);
		pthread_mutex_destroy(&e->export_lock);
		free(e->schema);
		free(e->table);
		free(e->errors);
		free(e);
	}
	pthread_mutex_destroy(&t->lock);
	pthread_mutex_destroy(&t->cat_lock);
	free(t);
}

static const struct backend_ops wh_ops = {
    .getattr = wh_getattr,
    .readdir = wh_readdir,
    .open = wh_open,
    .read = wh_read,
    .fgetattr = wh_fgetattr,
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
		res =
		    whdb_exec(db, c, wh_sql_cols, 2, (const char *const[]){schema, table}, 0, err);
		if (res && PQntuples(res) == 0) {
			free(*err);
			if (asprintf(err, "no table %s.%s in the database", schema, table) < 0)
				*err = NULL;
			r = -ENOENT;
		}
	} else {
		res = whdb_exec(db, c, wh_sql_schemas, 0, NULL, 0, err);
	}
	if (!res)
		r = -EIO;
	PQclear(res);
	whdb_put(db, c);
	return r;
}
