/* export.c - a table exported to CSV, into the spool file of a stream
 * (stream.c) that readers read as it grows.  PostgreSQL: COPY TO STDOUT;
 * Redshift: a SELECT formatted as PostgreSQL's CSV, or (-o unload) UNLOAD
 * to the staging prefix.  See whtree_i.h.
 */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "s3/creds.h"
#include "csvfmt.h"
#include "gunzip.h"
#include <json-c/json.h>
#include "log.h"
#include "s3/prefetch.h"
#include "s3/s3.h"
#include "spool.h"
#include "whdb.h"
#include "whsql.h"
#include "whtree_i.h"

/* --------------------------------------------------------------------- */
/* export: a table into a stream */

/* A staging prefix no other load or unload uses, ending in '/':
 * PREFIXodofs-WHAT-PID-SEQ-RANDOM/.  COPY takes every object under the
 * prefix it is given, and UNLOAD's files must not meet another's. */
char *wh_export_stage_prefix(struct whtree *t, const char *what)
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

struct wh_export {
	struct whsnap *snap;
	struct buf row;
	int ncols;
	int started; /* wh_stream_started was called */
};

/* The query was accepted: the open waiting for it returns. */
static void wh_export_started(struct wh_export *x)
{
	if (!x->started) {
		x->started = 1;
		wh_stream_started(x->snap);
	}
}

static int wh_export_bytes(void *arg, const char *data, size_t len)
{
	struct wh_export *x = arg;

	return wh_stream_put(x->snap, data, len);
}

static int wh_export_flush(struct wh_export *x)
{
	int r = wh_export_bytes(x, x->row.data ? x->row.data : "", x->row.len);

	buf_reset(&x->row);
	return r;
}

/* COPY TO STDOUT sends a row at a time: gather them into writes of
 * WH_CHUNK, not one write per row; but when nothing more has come for now
 * (data NULL) and a reader waits, hand over what is held. */
static int wh_export_copy(void *arg, const char *data, size_t len)
{
	struct wh_export *x = arg;
	int r;

	wh_export_started(x);
	if (!data)
		return x->row.len && wh_stream_wanted(x->snap) ? wh_export_flush(x) : 0;
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

	if (!res) /* nothing more for now */
		return x->row.len && wh_stream_wanted(x->snap) ? wh_export_flush(x) : 0;
	if (first) {
		wh_export_started(x);
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
 * into the stream, under a header of the table's columns, then deletes
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

struct wh_slice {
	struct whtree *t;
	const char *key;
};

static ssize_t wh_slice_fetch(void *arg, off_t off, size_t len, char *buf)
{
	struct wh_slice *sl = arg;

	return s3_get_range(sl->t->cfg.s3, sl->t->cfg.staging_bucket, sl->key, off, len, NULL, buf);
}

/* One gzip'd slice, unzipped into the stream: through the S3 prefetcher
 * (parallel range GETs ahead of the reader, as for s3:// reads), which
 * needs the slice's size (a HEAD: the manifest's content_length is not
 * trusted with the end of the data), or one range at a time without it. */
static int wh_unload_slice(struct whtree *t, const char *key, struct wh_export *x, char *chunk)
{
	struct gunzip *gz = gunzip_new(wh_unload_sink, x);
	struct wh_slice sl = {.t = t, .key = key};
	struct prefetch_file *pf = NULL;
	struct s3_object o;
	int r = 0;

	if (!gz)
		return -ENOMEM;
	if (t->prefetch && (r = s3_head(t->cfg.s3, t->cfg.staging_bucket, key, &o)) == 0 &&
	    !(pf = prefetch_open(t->prefetch, o.size, wh_slice_fetch, &sl)))
		r = -ENOMEM;
	for (off_t off = 0; r == 0;) {
		ssize_t n = pf ? prefetch_read(pf, chunk, WH_CHUNK, off)
			       : s3_get_range(t->cfg.s3, t->cfg.staging_bucket, key, off, WH_CHUNK,
					      NULL, chunk);

		if (n < 0)
			r = (int)n;
		if (n <= 0)
			break;
		r = gunzip_feed(gz, chunk, (size_t)n);
		off += n;
		if (!pf && (size_t)n < WH_CHUNK)
			break;
	}
	prefetch_close(pf);
	if (r == 0)
		r = gunzip_finish(gz);
	gunzip_free(gz);
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
	cols = whdb_exec(t->cfg.db, c, wh_catalog_sql_cols, 2, (const char *const[]){schema, table},
			 0, err);
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
	if (!(prefix = wh_export_stage_prefix(t, "unload")))
		goto out;
	if (asprintf(&url, "s3://%s/%s", t->cfg.staging_bucket, prefix) < 0) {
		url = NULL;
		goto out;
	}
	if ((r = wh_load_rs_creds(t, &cr, err)) < 0)
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
	wh_load_scrub(*err, cr.secret_access_key);
	wh_load_scrub(*err, cr.session_token);
	/* Whatever happened, everything under the prefix is ours to delete. */
	s3_list(t->cfg.s3, t->cfg.staging_bucket, prefix, NULL, 0, wh_unload_list, &made);
	if (r < 0)
		goto out;
	wh_export_started(x);
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
	for (size_t i = 0; chunk && r == 0 && i < slices.n; i++)
		r = wh_unload_slice(t, slices.keys[i], x, chunk);
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

int wh_export_run(struct whtree *t, struct whsnap *s)
{
	struct wh_export x = {.snap = s};
	const char *schema = s->schema, *table = s->table;
	char *err = NULL, *q = NULL, *sql = NULL;
	PGconn *c = whdb_get(t->cfg.db, &err);
	int r = -EIO;

	buf_init(&x.row, (size_t)64 << 20);
	if (!c)
		goto out;
	if (wh_stream_conn(s, c)) {
		r = -EPIPE;
		goto out;
	}
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
	} else {
		/* Generated columns left out, as COPY table TO STDOUT does: a
		 * load of the file could not write them. */
		char *cols = wh_catalog_select_list(t, c, schema, table);
		int n = asprintf(&sql, "COPY (SELECT %s FROM %s) TO STDOUT (FORMAT csv, HEADER)",
				 cols ? cols : "*", q);

		free(cols);
		if (n < 0)
			goto nomem;
		r = whdb_copy_out(t->cfg.db, c, sql, wh_export_copy, &x, &err);
	}
	if (r == 0)
		r = wh_export_flush(&x);
	goto out;
nomem:
	r = -ENOMEM;
out:
	if (c && (wh_stream_conn(s, NULL) || r == -EPIPE)) {
		/* Cancelled: the connection was cut, never to be pooled. */
		PQfinish(c);
		c = NULL;
		r = -EPIPE;
	}
	if (r == -EPIPE) {
		log_debug("export of %s.%s cancelled: its last reader closed", schema, table);
	} else if (r < 0) {
		if (r == -ENOSPC)
			log_err("cannot export %s.%s: no room in the spool for a piece of it "
				"(cache_dir is full or spool_max reached)",
				schema, table);
		else
			log_err("cannot export %s.%s: %s", schema, table, err ? err : strerror(-r));
		if (r != -ENOSPC && r != -ENOMEM && r != -EACCES)
			r = -EIO;
	}
	whdb_put(t->cfg.db, c);
	buf_free(&x.row);
	free(sql);
	free(q);
	free(err);
	return r;
}
