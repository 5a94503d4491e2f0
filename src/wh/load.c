/* load.c - loads: a file written into a table, as TABLE.csv (O_TRUNC
 * replaces the rows, O_APPEND adds to them, a new name makes the table)
 * or into its load folder; a failed load's message becomes .errors.
 *
 * Loads into an existing table stream: PostgreSQL gets the bytes in COPY
 * FROM STDIN as they are written (decompressed, JSON turned into CSV rows),
 * Redshift gets them through the multipart uploader into a fresh staging
 * prefix, then one COPY FROM 's3://...'.  A load that creates its table
 * spools the file first, since the types come from all of its data; then
 * it replays the spool through the same path, after a CREATE TABLE in the
 * same transaction (newtable.c).
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "buf.h"
#include "s3/creds.h"
#include "csvfmt.h"
#include "csvinfer.h"
#include "gunzip.h"
#include "jsonrow.h"
#include "loadsplit.h"
#include "log.h"
#include "s3/s3.h"
#include "spool.h"
#include "s3/upload.h"
#include "whdb.h"
#include "whsql.h"
#include "whtree_i.h"

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
	e = whtree_ent(t, schema, table, 1);
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
/* loads */

/* What a failed load tells the writer: no room, or not allowed, as such;
 * anything else EIO, its reason in .errors. */
int wh_load_errno(int r)
{
	return r == -ENOSPC || r == -EFBIG || r == -EACCES || r == -EROFS ? r : -EIO;
}

/* The load's first failure is the one kept and reported. */
void wh_load_fail(struct whload *ld, int r, const char *fmt, ...)
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
void wh_load_scrub(char *msg, const char *secret)
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
	PGresult *res = whdb_exec(ld->t->cfg.db, ld->conn, wh_catalog_sql_cols, 2, params, 0, err);

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
		wh_load_fail(ld, r, "%s", err);
	else
		ld->in_copy = 1;
	free(sql);
	free(err);
	return r;
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

/* CSV bytes to PostgreSQL, with every unquoted line that is "\." alone
 * (which COPY FROM STDIN would take for the end of the data, dropping the
 * rows after it) sent quoted, so it loads as the value it is.  Quotes
 * toggle as in PostgreSQL's own line splitting; a "\." or "\" at a line
 * start is held back until the next byte says which it is.  len 0 with
 * final: the end of the file. */
static int wh_pg_csv(struct whload *ld, const char *data, size_t len, int final)
{
	static const char quoted[] = "\"\\.\"";
	size_t start = 0;
	int r = 0;

	/* Spans go to the COPY as they are; only held bytes are rewritten. */
	for (size_t i = 0; i < len && r == 0; i++) {
		char c = data[i];

		if (ld->csv_held == 1 && c == '.') {
			ld->csv_held = 2;
			start = i + 1;
			continue;
		}
		if (ld->csv_held) {
			int alone = ld->csv_held == 2 && (c == '\n' || c == '\r');

			r = wh_pg_put(ld, alone ? quoted : quoted + 1,
				      alone ? 4 : (size_t)ld->csv_held);
			ld->csv_held = 0;
		} else if (c == '\\' && !ld->csv_inq && !ld->csv_mid) {
			if (i > start)
				r = wh_pg_put(ld, data + start, i - start);
			ld->csv_held = 1;
			ld->csv_mid = 1;
			start = i + 1;
			continue;
		}
		if (c == '"')
			ld->csv_inq = !ld->csv_inq;
		ld->csv_mid = ld->csv_inq || (c != '\n' && c != '\r');
	}
	if (r == 0 && !ld->csv_held && len > start)
		r = wh_pg_put(ld, data + start, len - start);
	if (r == 0 && final && ld->csv_held) {
		r = wh_pg_put(ld, ld->csv_held == 2 ? quoted : quoted + 1,
			      ld->csv_held == 2 ? 4 : 1);
		ld->csv_held = 0;
	}
	return r;
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
		return wh_pg_csv(ld, data, len, 0);
	}
	if ((r = wh_head_add(ld, data, len, 0)) < 0 || !ld->header_done)
		return r;
	if ((r = wh_pg_start(ld)) < 0)
		return r;
	r = wh_pg_csv(ld, ld->head.data, ld->head.len, 0);
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

/* Redshift CSV: the number of parts, one per slice unless load_parts
 * says; the slices are asked once per mount.  1 if they cannot be. */
static unsigned wh_rs_nparts(struct whload *ld)
{
	struct whtree *t = ld->t;
	unsigned n;
	char *err = NULL;
	PGresult *res;

	if (t->cfg.load_parts)
		return t->cfg.load_parts;
	pthread_mutex_lock(&t->lock);
	n = t->slices;
	pthread_mutex_unlock(&t->lock);
	if (n)
		return n;
	res = whdb_exec(t->cfg.db, ld->conn, "SELECT COUNT(*) FROM stv_slices", 0, NULL, 0, &err);
	if (res && PQntuples(res) == 1)
		n = (unsigned)strtoul(PQgetvalue(res, 0, 0), NULL, 10);
	if (!n) {
		log_warn("cannot count the cluster's slices (%s): Redshift loads go in one part; "
			 "-o load_parts=N sets the number",
			 err ? err : "no answer");
		n = 1;
	}
	if (n > WHSPLIT_MAX_PARTS)
		n = WHSPLIT_MAX_PARTS;
	PQclear(res);
	free(err);
	pthread_mutex_lock(&t->lock);
	t->slices = n;
	pthread_mutex_unlock(&t->lock);
	return n;
}

/* The header is read: the split begins with the rest of what was
 * gathered, its first line the one after the header record. */
static int wh_rs_split_start(struct whload *ld)
{
	struct whtree *t = ld->t;
	unsigned long long first = 1;
	int r;

	for (size_t i = 0; i < ld->head_used && i < ld->head.len; i++)
		first += ld->head.data[i] == '\n';
	ld->split =
	    whsplit_new(t->uploader, t->cfg.staging_bucket, ld->stage_prefix, ld->nparts, first);
	if (!ld->split) {
		wh_load_fail(ld, -ENOMEM, "%s", strerror(ENOMEM));
		return -ENOMEM;
	}
	r = ld->head_used < ld->head.len ? whsplit_write(ld->split, ld->head.data + ld->head_used,
							 ld->head.len - ld->head_used)
					 : 0;
	buf_free(&ld->head);
	if (r < 0)
		wh_load_fail(ld, r, "cannot stage the file in S3: %s", strerror(-r));
	return r;
}

/* Redshift CSV: the header, then the rows into the split. */
static int wh_rs_rows(struct whload *ld, const char *data, size_t len)
{
	int r;

	if (!ld->header_done) {
		if ((r = wh_head_add(ld, data, len, 0)) < 0 || !ld->header_done)
			return r;
		return wh_rs_split_start(ld);
	}
	if (!ld->body_seen && wh_has_row(data, len))
		ld->body_seen = 1;
	r = whsplit_write(ld->split, data, len);
	if (r < 0)
		wh_load_fail(ld, r, "cannot stage the file in S3: %s", strerror(-r));
	return r;
}

/* Bytes of the file in the order written, for an existing table. */
int wh_load_feed(struct whload *ld, const char *data, size_t len)
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
	if (ld->split_mode)
		return wh_rs_rows(ld, data, len);
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
		      "SELECT line_number, colname, raw_field_value, err_reason, filename FROM "
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
		char line[32];

		/* A part's line, as the line of the user's file. */
		snprintf(line, sizeof(line), "%.*s", w[0], PQgetvalue(res, 0, 0));
		if (ld->split) {
			unsigned long long l =
			    whsplit_line(ld->split, PQgetvalue(res, 0, 4),
					 strtoull(PQgetvalue(res, 0, 0), NULL, 10));

			if (l)
				snprintf(line, sizeof(line), "%llu", l);
		}
		if (asprintf(&msg, "line %s, column %.*s (value '%.*s'): %.*s", line, w[1],
			     PQgetvalue(res, 0, 1), w[2], PQgetvalue(res, 0, 2), w[3],
			     PQgetvalue(res, 0, 3)) < 0)
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
int wh_load_rs_creds(struct whtree *t, struct creds *c, char **err)
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

/* The rows are complete: the parts appear, then the manifest naming
 * them. */
static int wh_rs_split_end(struct whload *ld)
{
	struct whtree *t = ld->t;
	char *man;
	s3_etag etag;
	int r;

	if (!ld->split && (r = wh_rs_split_start(ld)) < 0)
		return r;
	if ((r = whsplit_finish(ld->split)) < 0)
		return r;
	if (asprintf(&ld->manifest_key, "%smanifest", ld->stage_prefix) < 0) {
		ld->manifest_key = NULL;
		return -ENOMEM;
	}
	if (!(man = whsplit_manifest(ld->split)))
		return -ENOMEM;
	r = s3_put(t->cfg.s3, t->cfg.staging_bucket, ld->manifest_key, man, strlen(man), NULL,
		   "application/json", etag);
	free(man);
	return r;
}

static int wh_rs_copy(struct whload *ld)
{
	struct whtree *t = ld->t;
	struct creds c = {0};
	char *err = NULL, *sql = NULL, *url = NULL;
	s3_etag etag;
	int r;

	r = ld->split_mode ? wh_rs_split_end(ld) : upload_finish(ld->up, etag);
	if (r < 0) {
		wh_load_fail(ld, r, "cannot stage the file in S3: %s", strerror(-r));
		return r;
	}
	if (asprintf(&url, "s3://%s/%s", t->cfg.staging_bucket,
		     ld->split_mode ? ld->manifest_key : ld->stage_prefix) < 0) {
		url = NULL;
		r = -ENOMEM;
		goto out;
	}
	if ((r = wh_load_rs_creds(t, &c, &err)) < 0)
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
	    .gzip = ld->gzip || ld->split_mode,
	    .manifest = ld->split_mode,
	    .no_header = ld->split_mode,
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
		wh_load_scrub(err, c.secret_access_key);
		wh_load_scrub(err, c.session_token);
		why = wh_rs_load_error(ld, err);
		wh_load_fail(ld, r, "%s", why);
		free(why);
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
int wh_load_end(struct whload *ld)
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
		wh_pg_csv(ld, ld->head.data, ld->head.len, 0);
	if (ld->status == 0 && !ld->json && ld->in_copy)
		wh_pg_csv(ld, NULL, 0, 1);
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
				wh_load_fail(ld, r, "%s", err);
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
			wh_load_fail(ld, r, "%s", err);
		ld->in_txn = 0;
	}
	free(err);
	return ld->status;
}

/* The streaming machinery of a load into an existing table (or one the
 * load creates first). */
int wh_load_stream_setup(struct whload *ld)
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
	if (t->cfg.redshift && !ld->json && !ld->gzip) {
		/* Plain CSV: split across the slices once the header is read. */
		ld->split_mode = 1;
		ld->nparts = wh_rs_nparts(ld);
	} else if (t->cfg.redshift) {
		ld->up = upload_new(t->uploader, t->cfg.staging_bucket, ld->stage_key, NULL);
		if (!ld->up)
			return -ENOMEM;
	}
	return 0;
}

/* A failed load, in the log and in the table's .errors (a new table's
 * folder stays to hold them). */
void wh_load_report(struct whload *ld, const char *why)
{
	char *msg = NULL;

	if (asprintf(&msg, "load of %s failed: %s", ld->label, why) < 0)
		msg = NULL;
	log_warn("%s", msg ? msg : why);
	wh_set_errors(ld->t, ld->schema, ld->table, msg ? msg : why, ld->new_table);
	free(msg);
}

/* Whether or not the load worked, nothing stays in staging: unfinished
 * parts are aborted, the others and the manifest deleted. */
static void wh_rs_split_clean(struct whload *ld)
{
	struct whtree *t = ld->t;
	unsigned n = whsplit_nparts(ld->split), k = 0;
	char **keys = calloc(n, sizeof(*keys));

	for (unsigned i = 0; keys && i < n; i++)
		if (whsplit_key(ld->split, i) && (keys[k] = strdup(whsplit_key(ld->split, i))))
			k++;
	if (ld->status == 0)
		log_info("%s: %u of %u parts staged, %llu bytes gzip'd from %llu", ld->label,
			 whsplit_used(ld->split), n, whsplit_packed(ld->split),
			 whsplit_raw(ld->split));
	whsplit_free(ld->split);
	ld->split = NULL;
	for (unsigned i = 0; i < k; i++) {
		s3_delete(t->cfg.s3, t->cfg.staging_bucket, keys[i]);
		free(keys[i]);
	}
	free(keys);
	if (ld->manifest_key)
		s3_delete(t->cfg.s3, t->cfg.staging_bucket, ld->manifest_key);
}

int wh_load_finish(struct whload *ld)
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
	r = ld->status ? ld->status : ld->create ? wh_newtable_create(ld) : wh_load_end(ld);
	if (t->cfg.redshift && ld->split)
		wh_rs_split_clean(ld);
	else if (t->cfg.redshift && ld->stage_key) {
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
		wh_export_snap_forget(t, ld->schema, ld->table);
		wh_catalog_forget(t, ld->schema);
		pthread_mutex_lock(&t->lock);
		struct whent *e = whtree_ent(t, ld->schema, ld->table, 0);

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
		wh_catalog_forget(t, ld->schema);
	return wh_load_errno(r);
}

void wh_load_free(struct whload *ld)
{
	if (!ld)
		return;
	upload_free(ld->up);
	whsplit_free(ld->split);
	free(ld->manifest_key);
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
	ld->stage_prefix = wh_export_stage_prefix(ld->t, "load");
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
int wh_load_new(struct whtree *t, const struct whpath *p, const char *name, int replace, int create,
		struct whload **out)
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

void wh_load_unlist(struct whtree *t, struct whload *ld)
{
	pthread_mutex_lock(&t->lock);
	for (struct whload **pp = &t->loads; *pp; pp = &(*pp)->next)
		if (*pp == ld) {
			*pp = ld->next;
			break;
		}
	pthread_mutex_unlock(&t->lock);
}
