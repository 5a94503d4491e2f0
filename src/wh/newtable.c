/* newtable.c - a load that makes its table: the file was spooled whole,
 * since the column types come from all of its data; infer them (CSV, or
 * JSON keys then values), then replay the spool through load.c's streaming
 * path after a CREATE TABLE in the same transaction.  See whtree_i.h.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "csvfmt.h"
#include "csvinfer.h"
#include "gunzip.h"
#include "jsonrow.h"
#include "spool.h"
#include "whsql.h"
#include "whtree_i.h"

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
	/* The longest identifier PostgreSQL keeps (NAMEDATALEN - 1).  Redshift
	 * keeps 127, but one limit makes a file make the same table on both
	 * (and through a PostgreSQL-backed emulator). */
	size_t name_max = 63;
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
		if (strlen(ld->cols[i]) > name_max) {
			/* PostgreSQL would cut it, silently, and two names
			 * sharing their start would then clash. */
			char a[CSVFMT_CLIP * 2];

			if (asprintf(err,
				     "column %zu's name \"%s\" is %zu bytes long; a new table's "
				     "column names keep at most %zu bytes: shorten it in the file",
				     i + 1,
				     csvfmt_clip(ld->cols[i], strlen(ld->cols[i]), a, sizeof(a)),
				     strlen(ld->cols[i]), name_max) < 0)
				*err = NULL;
			r = -EINVAL;
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

static int wh_load_feed_sink(void *arg, const char *data, size_t len)
{
	return wh_load_feed(arg, data, len);
}

int wh_newtable_create(struct whload *ld)
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
