/* whsql.h - SQL text for warehouse mounts, built without a connection.
 *
 * Every name and string that reaches a statement goes through here, so
 * there is one place to prove that no table name, column name, S3 URL,
 * region or credential can end a literal or an identifier early.
 *
 * Identifiers are always double-quoted, '"' doubled: a quoted identifier
 * takes any character but NUL, in PostgreSQL and in Redshift alike.
 *
 * Literals are where the dialects differ.  PostgreSQL (standard_conforming
 * _strings on, the default since 9.1) reads a backslash in '...' as itself;
 * Redshift (and PostgreSQL with the setting off) reads it as an escape.  A
 * literal with no backslash means the same everywhere, so that is what we
 * write when we can: '...' with '' for a quote.  A string with a backslash
 * becomes, on PostgreSQL, E'...' with \\ and '' (E'' reads backslashes as
 * escapes whatever the setting), and on Redshift '...' with \\ and '' (as
 * Redshift's own QUOTE_LITERAL writes it; Redshift does not document E'').
 * Control bytes are kept: a newline or a tab inside a literal is data in
 * both dialects, and no escape sequence is needed for them.
 *
 * Statements that hold credentials (COPY, UNLOAD) are built in one
 * allocation of the exact size, so no realloc leaves a copy of a secret
 * behind; free them with whsql_free_secret().
 *
 * All functions return malloc'd text (the caller frees), or NULL with
 * errno set: EINVAL for input that cannot be written safely (an empty
 * identifier, a credential with ';', a column type that is not a plain
 * type name), ENOMEM.
 */
#ifndef ODOFS_WHSQL_H
#define ODOFS_WHSQL_H

#include <stddef.h>

enum whsql_dialect {
	WHSQL_POSTGRES,
	WHSQL_REDSHIFT,
};

/* "name", '"' doubled.  NULL (EINVAL) for an empty name. */
char *whsql_ident(const char *name);
/* "schema"."table" */
char *whsql_qualified(const char *schema, const char *table);
/* ("a", "b", ...): a COPY column list.  NULL (EINVAL) for n == 0. */
char *whsql_collist(const char *const *cols, size_t n);
/* 'text' or E'text' (see above). */
char *whsql_literal(const char *s, enum whsql_dialect d);

/* Redshift's COPY FROM 's3://...'. */
struct whsql_copy {
	const char *schema, *table;
	const char *const *cols; /* the CSV's columns in file order; NULL: all */
	size_t ncols;
	const char *url;      /* s3://bucket/prefix */
	const char *iam_role; /* IAM_ROLE 'arn'; NULL: CREDENTIALS with the keys */
	const char *access_key_id, *secret_access_key, *session_token;
	const char *region; /* NULL or "": no REGION clause */
	int json;	    /* FORMAT AS JSON 'auto ignorecase'; else CSV with a header */
	int gzip;
	int manifest;  /* url names a manifest (MANIFEST) */
	int no_header; /* CSV: the files hold rows only (no IGNOREHEADER 1) */
};

char *whsql_copy(const struct whsql_copy *c);

/* Redshift's UNLOAD ('SELECT * FROM "s"."t"') TO 'url' <auth> FORMAT AS CSV
 * GZIP MANIFEST PARALLEL ON; auth fields as in struct whsql_copy. */
struct whsql_unload {
	const char *schema, *table;
	const char *url;
	const char *iam_role;
	const char *access_key_id, *secret_access_key, *session_token;
};

char *whsql_unload(const struct whsql_unload *u);

/* CREATE TABLE "s"."t" ("c1" type1, ...).  Types come from csvinfer, never
 * from users; still, a type must be words (letters, digits, '_', spaces)
 * and at most one "(N)" or "(N,M)" at the end, else EINVAL. */
char *whsql_create_table(const char *schema, const char *table, const char *const *cols,
			 const char *const *types, size_t n);

/* explicit_bzero, then free.  NULL is fine. */
void whsql_free_secret(char *sql);

#endif
