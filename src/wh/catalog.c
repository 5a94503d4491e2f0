/* catalog.c - the catalog cache of a warehouse mount: its schemas, each
 * schema's relations (tables and views), refreshed when older than the
 * TTL.  See whtree_i.h.
 */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "whdb.h"
#include "whsql.h"
#include "whtree_i.h"

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

void wh_catalog_free(struct whtree *t)
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
int wh_catalog_name_ok(const char *n)
{
	return *n && !strchr(n, '/') && strcmp(n, ".") && strcmp(n, "..") &&
	       strlen(n) < WH_NAME_MAX - 8;
}

const char wh_catalog_sql_schemas[] =
    "SELECT nspname FROM pg_catalog.pg_namespace WHERE nspname !~ '^pg_' AND nspname <> "
    "'information_schema' ORDER BY 1";
/* With each relation, whether the user may read it and load into it
 * (USAGE on the schema, SELECT or INSERT on the table): the file's mode. */
static const char wh_sql_rels[] =
    "SELECT c.relname, c.relkind IN ('v','m'), has_schema_privilege(n.nspname, 'USAGE') AND "
    "has_table_privilege(quote_ident(n.nspname) || '.' || quote_ident(c.relname), 'SELECT'), "
    "has_schema_privilege(n.nspname, 'USAGE') AND "
    "has_table_privilege(quote_ident(n.nspname) || '.' || quote_ident(c.relname), 'INSERT') "
    "FROM pg_catalog.pg_class c JOIN "
    "pg_catalog.pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1 AND c.relkind IN "
    "('r','p','v','m','f') ORDER BY 1";
const char wh_catalog_sql_cols[] =
    "SELECT a.attname FROM pg_catalog.pg_attribute a JOIN pg_catalog.pg_class c ON c.oid = "
    "a.attrelid JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1 "
    "AND c.relname = $2 AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum";

/* PostgreSQL only (Redshift has no attgenerated): the columns a load can
 * write, which are those COPY table TO STDOUT writes. */
static const char wh_sql_stored_cols[] =
    "SELECT a.attname FROM pg_catalog.pg_attribute a JOIN pg_catalog.pg_class c ON c.oid = "
    "a.attrelid JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1 "
    "AND c.relname = $2 AND a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated = '' "
    "ORDER BY a.attnum";

char *wh_catalog_select_list(struct whtree *t, PGconn *c, const char *schema, const char *table)
{
	PGresult *res = whdb_exec(t->cfg.db, c, wh_sql_stored_cols, 2,
				  (const char *const[]){schema, table}, 0, NULL);
	const char **cols;
	char *list = NULL;
	size_t n;

	if (!res)
		return NULL;
	n = (size_t)PQntuples(res);
	cols = calloc(n + 1, sizeof(*cols));
	for (size_t i = 0; cols && i < n; i++)
		cols[i] = PQgetvalue(res, (int)i, 0);
	/* "(a, b)" without its parentheses */
	if (cols && n && (list = whsql_collist(cols, n))) {
		size_t len = strlen(list);

		memmove(list, list + 1, len - 2);
		list[len - 2] = '\0';
	}
	free(cols);
	PQclear(res);
	return list;
}

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
int wh_catalog_schemas(struct whtree *t)
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
	res = wh_query(t, wh_catalog_sql_schemas, 0, NULL, &err);
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

		if (!wh_catalog_name_ok(name))
			continue;
		s[k].name = strdup(name);
		/* Keep what we knew of a schema that is still there. */
		for (size_t j = 0; j < t->nschemas; j++)
			if (!strcmp(t->schemas[j].name, name)) {
				s[k].rels = t->schemas[j].rels;
				s[k].nrels = t->schemas[j].nrels;
				s[k].rels_at = t->schemas[j].rels_at;
				t->schemas[j].rels = NULL;
				t->schemas[j].nrels = 0;
			}
		k++;
	}
	PQclear(res);
	wh_catalog_free(t);
	t->schemas = s;
	t->nschemas = k;
	t->schemas_at = wh_now_ms();
	return 0;
}

/* The schema, its relations fresh; NULL if there is no such schema (or
 * on error, *r set).  Called with cat_lock held. */
struct whschema *wh_catalog_schema(struct whtree *t, const char *name, int *r)
{
	struct whschema *s = NULL;
	PGresult *res;
	char *err = NULL;

	*r = wh_catalog_schemas(t);
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

		if (!wh_catalog_name_ok(rel))
			continue;
		if (t->cfg.table && strcmp(rel, t->cfg.table))
			continue;
		s->rels[s->nrels].name = strdup(rel);
		s->rels[s->nrels].deny = (PQgetvalue(res, i, 2)[0] == 't' ? 0 : 0444) |
					 (PQgetvalue(res, i, 3)[0] == 't' ? 0 : 0222);
		s->rels[s->nrels++].view = PQgetvalue(res, i, 1)[0] == 't';
	}
	PQclear(res);
	s->rels_at = wh_now_ms();
	return s;
}

/* -1: no such relation; 0: a table; 1: a view.  Or a negative errno. */
int wh_catalog_rel_kind(struct whtree *t, const char *schema, const char *rel)
{
	return wh_catalog_rel(t, schema, rel, NULL);
}

int wh_catalog_rel(struct whtree *t, const char *schema, const char *rel, mode_t *deny)
{
	struct whschema *s;
	int r = -1;

	pthread_mutex_lock(&t->cat_lock);
	s = wh_catalog_schema(t, schema, &r);
	if (s) {
		r = -1;
		for (size_t i = 0; i < s->nrels; i++)
			if (!strcmp(s->rels[i].name, rel)) {
				r = s->rels[i].view;
				if (deny)
					*deny = s->rels[i].deny;
			}
	}
	pthread_mutex_unlock(&t->cat_lock);
	return r == -ENOENT ? -1 : r;
}

/* Forget a schema's relations (a table was made or dropped). */
void wh_catalog_forget(struct whtree *t, const char *schema)
{
	pthread_mutex_lock(&t->cat_lock);
	for (size_t i = 0; i < t->nschemas; i++)
		if (!strcmp(t->schemas[i].name, schema))
			t->schemas[i].rels_at = 0;
	pthread_mutex_unlock(&t->cat_lock);
}
