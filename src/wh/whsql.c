/* whsql.c - see whsql.h
 *
 * Each statement is written twice by the same code: once to count its
 * bytes (w->out NULL), once into an allocation of exactly that size.  So
 * the text a statement ends up with is the text that was measured, and a
 * secret is never left behind in a buffer that grew.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "whsql.h"

struct whsql_w {
	char *out; /* NULL: only count */
	size_t len;
};

static void whsql_put(struct whsql_w *w, const char *s, size_t n)
{
	if (w->out)
		memcpy(w->out + w->len, s, n);
	w->len += n;
}

static void whsql_puts(struct whsql_w *w, const char *s)
{
	whsql_put(w, s, strlen(s));
}

/* s between open and close, each byte in esc doubled. */
static void whsql_quoted(struct whsql_w *w, const char *open, const char *s, const char *esc,
			 char close)
{
	whsql_puts(w, open);
	for (; *s; s++) {
		if (strchr(esc, *s))
			whsql_put(w, s, 1);
		whsql_put(w, s, 1);
	}
	whsql_put(w, &close, 1);
}

static void whsql_w_ident(struct whsql_w *w, const char *name)
{
	whsql_quoted(w, "\"", name, "\"", '"');
}

static void whsql_w_literal(struct whsql_w *w, const char *s, enum whsql_dialect d)
{
	if (!strchr(s, '\\'))
		whsql_quoted(w, "'", s, "'", '\'');
	else
		whsql_quoted(w, d == WHSQL_REDSHIFT ? "'" : "E'", s, "'\\", '\'');
}

/* Copy what w counted into one allocation, by running fn again. */
typedef void (*whsql_fn)(struct whsql_w *w, const void *arg);

static char *whsql_build(whsql_fn fn, const void *arg)
{
	struct whsql_w w = {0};
	size_t n;

	fn(&w, arg);
	n = w.len;
	w.out = malloc(n + 1);
	if (!w.out)
		return NULL;
	w.len = 0;
	fn(&w, arg);
	w.out[n] = '\0';
	return w.out;
}

void whsql_free_secret(char *sql)
{
	if (!sql)
		return;
	explicit_bzero(sql, strlen(sql));
	free(sql);
}

static void whsql_ident_fn(struct whsql_w *w, const void *arg)
{
	whsql_w_ident(w, arg);
}

char *whsql_ident(const char *name)
{
	if (!name || !*name) {
		errno = EINVAL;
		return NULL;
	}
	return whsql_build(whsql_ident_fn, name);
}

struct whsql_names {
	const char *schema, *table;
	const char *const *cols;
	const char *const *types;
	size_t n;
};

static void whsql_qualified_fn(struct whsql_w *w, const void *arg)
{
	const struct whsql_names *q = arg;

	whsql_w_ident(w, q->schema);
	whsql_puts(w, ".");
	whsql_w_ident(w, q->table);
}

char *whsql_qualified(const char *schema, const char *table)
{
	struct whsql_names q = {.schema = schema, .table = table};

	if (!schema || !*schema || !table || !*table) {
		errno = EINVAL;
		return NULL;
	}
	return whsql_build(whsql_qualified_fn, &q);
}

static void whsql_w_collist(struct whsql_w *w, const char *const *cols, size_t n)
{
	whsql_puts(w, "(");
	for (size_t i = 0; i < n; i++) {
		if (i)
			whsql_puts(w, ", ");
		whsql_w_ident(w, cols[i]);
	}
	whsql_puts(w, ")");
}

static int whsql_names_ok(const char *const *names, size_t n)
{
	if (n && !names)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!names[i] || !*names[i])
			return 0;
	return 1;
}

static void whsql_collist_fn(struct whsql_w *w, const void *arg)
{
	const struct whsql_names *q = arg;

	whsql_w_collist(w, q->cols, q->n);
}

char *whsql_collist(const char *const *cols, size_t n)
{
	struct whsql_names q = {.cols = cols, .n = n};

	if (n == 0 || !whsql_names_ok(cols, n)) {
		errno = EINVAL;
		return NULL;
	}
	return whsql_build(whsql_collist_fn, &q);
}

struct whsql_lit {
	const char *s;
	enum whsql_dialect d;
};

static void whsql_literal_fn(struct whsql_w *w, const void *arg)
{
	const struct whsql_lit *l = arg;

	whsql_w_literal(w, l->s, l->d);
}

char *whsql_literal(const char *s, enum whsql_dialect d)
{
	struct whsql_lit l = {.s = s, .d = d};

	if (!s) {
		errno = EINVAL;
		return NULL;
	}
	return whsql_build(whsql_literal_fn, &l);
}

/* --------------------------------------------------------------------- */
/* Redshift's COPY and UNLOAD */

struct whsql_auth {
	const char *iam_role;
	const char *access_key_id, *secret_access_key, *session_token;
};

/* The credentials string is itself parsed by Redshift (key=value;...): a
 * value with ';' would add keys of its own.  '=' is fine (a value ends only
 * at ';'), and session tokens, being base64, end in '=' padding. */
static int whsql_auth_ok(const struct whsql_auth *a)
{
	const char *v[] = {a->access_key_id, a->secret_access_key, a->session_token};

	if (a->iam_role)
		return *a->iam_role != '\0';
	if (!a->access_key_id || !*a->access_key_id || !a->secret_access_key ||
	    !*a->secret_access_key)
		return 0;
	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++)
		if (v[i] && strchr(v[i], ';'))
			return 0;
	return 1;
}

/* IAM_ROLE 'arn' or CREDENTIALS 'aws_access_key_id=..;...': one Redshift
 * literal, written piece by piece so the keys never sit in a buffer of
 * their own. */
static void whsql_w_auth(struct whsql_w *w, const struct whsql_auth *a)
{
	if (a->iam_role) {
		whsql_puts(w, "IAM_ROLE ");
		whsql_w_literal(w, a->iam_role, WHSQL_REDSHIFT);
		return;
	}
	const char *parts[] = {"aws_access_key_id=",
			       a->access_key_id,
			       ";aws_secret_access_key=",
			       a->secret_access_key,
			       a->session_token && *a->session_token ? ";token=" : "",
			       a->session_token && *a->session_token ? a->session_token : ""};

	whsql_puts(w, "CREDENTIALS '");
	for (size_t i = 0; i < sizeof(parts) / sizeof(parts[0]); i++)
		for (const char *s = parts[i]; *s; s++) {
			if (*s == '\'' || *s == '\\')
				whsql_put(w, s, 1);
			whsql_put(w, s, 1);
		}
	whsql_puts(w, "'");
}

static void whsql_copy_fn(struct whsql_w *w, const void *arg)
{
	const struct whsql_copy *c = arg;
	const struct whsql_auth a = {c->iam_role, c->access_key_id, c->secret_access_key,
				     c->session_token};

	whsql_puts(w, "COPY ");
	whsql_w_ident(w, c->schema);
	whsql_puts(w, ".");
	whsql_w_ident(w, c->table);
	if (c->cols && c->ncols && !c->json) {
		whsql_puts(w, " ");
		whsql_w_collist(w, c->cols, c->ncols);
	}
	whsql_puts(w, " FROM ");
	whsql_w_literal(w, c->url, WHSQL_REDSHIFT);
	whsql_puts(w, " ");
	whsql_w_auth(w, &a);
	if (c->json)
		whsql_puts(w, " FORMAT AS JSON 'auto ignorecase'");
	else if (c->no_header)
		whsql_puts(w, " FORMAT AS CSV NULL AS ''");
	else
		whsql_puts(w, " FORMAT AS CSV IGNOREHEADER 1 NULL AS ''");
	if (c->gzip)
		whsql_puts(w, " GZIP");
	if (c->manifest)
		whsql_puts(w, " MANIFEST");
	if (c->region && *c->region) {
		whsql_puts(w, " REGION ");
		whsql_w_literal(w, c->region, WHSQL_REDSHIFT);
	}
}

char *whsql_copy(const struct whsql_copy *c)
{
	const struct whsql_auth a = {c->iam_role, c->access_key_id, c->secret_access_key,
				     c->session_token};

	if (!c->schema || !*c->schema || !c->table || !*c->table || !c->url ||
	    !whsql_names_ok(c->cols, c->cols ? c->ncols : 0) || !whsql_auth_ok(&a)) {
		errno = EINVAL;
		return NULL;
	}
	return whsql_build(whsql_copy_fn, c);
}

/* UNLOAD's query is itself a literal: SELECT * FROM "s"."t", escaped. */
static void whsql_select_fn(struct whsql_w *w, const void *arg)
{
	const struct whsql_unload *u = arg;

	whsql_puts(w, "SELECT * FROM ");
	whsql_w_ident(w, u->schema);
	whsql_puts(w, ".");
	whsql_w_ident(w, u->table);
}

struct whsql_unload_arg {
	const struct whsql_unload *u;
	const char *select;
};

static void whsql_unload_fn(struct whsql_w *w, const void *arg)
{
	const struct whsql_unload_arg *x = arg;
	const struct whsql_auth a = {x->u->iam_role, x->u->access_key_id, x->u->secret_access_key,
				     x->u->session_token};

	whsql_puts(w, "UNLOAD (");
	whsql_w_literal(w, x->select, WHSQL_REDSHIFT);
	whsql_puts(w, ") TO ");
	whsql_w_literal(w, x->u->url, WHSQL_REDSHIFT);
	whsql_puts(w, " ");
	whsql_w_auth(w, &a);
	whsql_puts(w, " FORMAT AS CSV GZIP MANIFEST PARALLEL ON");
}

char *whsql_unload(const struct whsql_unload *u)
{
	const struct whsql_auth a = {u->iam_role, u->access_key_id, u->secret_access_key,
				     u->session_token};
	struct whsql_unload_arg x = {.u = u};
	char *out;

	if (!u->schema || !*u->schema || !u->table || !*u->table || !u->url || !whsql_auth_ok(&a)) {
		errno = EINVAL;
		return NULL;
	}
	x.select = whsql_build(whsql_select_fn, u);
	if (!x.select)
		return NULL;
	out = whsql_build(whsql_unload_fn, &x);
	free((char *)x.select);
	return out;
}

/* --------------------------------------------------------------------- */
/* CREATE TABLE */

/* A plain type name: words, then at most one "(N)" or "(N,M)". */
static int whsql_type_ok(const char *type)
{
	const char *p = type;
	int digits;

	if (!type || !((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z')))
		return 0;
	while ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
	       *p == ' ' || *p == '_')
		p++;
	if (!*p)
		return 1;
	if (*p++ != '(')
		return 0;
	for (int part = 0; part < 2; part++) {
		for (digits = 0; *p >= '0' && *p <= '9'; p++)
			digits++;
		if (!digits)
			return 0;
		if (*p == ')')
			return p[1] == '\0';
		if (*p++ != ',')
			return 0;
	}
	return 0;
}

static void whsql_create_fn(struct whsql_w *w, const void *arg)
{
	const struct whsql_names *q = arg;

	whsql_puts(w, "CREATE TABLE ");
	whsql_w_ident(w, q->schema);
	whsql_puts(w, ".");
	whsql_w_ident(w, q->table);
	whsql_puts(w, " (");
	for (size_t i = 0; i < q->n; i++) {
		if (i)
			whsql_puts(w, ", ");
		whsql_w_ident(w, q->cols[i]);
		whsql_puts(w, " ");
		whsql_puts(w, q->types[i]);
	}
	whsql_puts(w, ")");
}

char *whsql_create_table(const char *schema, const char *table, const char *const *cols,
			 const char *const *types, size_t n)
{
	struct whsql_names q = {schema, table, cols, types, n};

	if (!schema || !*schema || !table || !*table || n == 0 || !whsql_names_ok(cols, n) ||
	    !types) {
		errno = EINVAL;
		return NULL;
	}
	for (size_t i = 0; i < n; i++)
		if (!whsql_type_ok(types[i])) {
			errno = EINVAL;
			return NULL;
		}
	return whsql_build(whsql_create_fn, &q);
}
