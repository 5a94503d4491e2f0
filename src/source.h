/* source.h - what a mount's SOURCE argument names.
 *
 *   s3://                     every bucket the credentials can list
 *   s3://BUCKET[/PREFIX[/]]   a bucket, or a prefix of it, as a folder tree
 *   s3://BUCKET/DIR/HEAD*TAIL odo's glob: keys that start with DIR/HEAD and
 *                             end with TAIL, at their path below DIR/
 *   redshift://[USER[:PASS]@]HOST[:PORT]/DB[::[SCHEMA.]TABLE][?k=v&...]
 *   postgresql://... (or postgres://), the same; port 5439 or 5432
 */
#ifndef ODOFS_SOURCE_H
#define ODOFS_SOURCE_H

enum source_kind {
	SOURCE_S3_ALL,
	SOURCE_S3_PREFIX,
	SOURCE_S3_GLOB,
	SOURCE_POSTGRES,
	SOURCE_REDSHIFT,
};

/* A database source: the parts libpq needs, percent-decoded.  Fields not
 * in the URL are NULL (libpq's defaults and environment apply). */
struct source_db {
	char *user;
	char *password; /* wiped by source_free() */
	char *host;
	char *port;
	char *dbname;
	char *schema; /* odo's ::TABLE suffix: only this schema ... */
	char *table;  /* ... with only this table in it */
	/* ?k=v&... : further libpq parameters, in order */
	char **param_keys;
	char **param_vals;
	size_t nparams;
};

struct source {
	enum source_kind kind;
	char *bucket;	     /* NULL for SOURCE_S3_ALL */
	char *prefix;	     /* "" or a key prefix ending in '/': the mount's root */
	char *glob_head;     /* SOURCE_S3_GLOB: text between prefix and '*' */
	char *glob_tail;     /* SOURCE_S3_GLOB: text after '*' */
	struct source_db db; /* SOURCE_POSTGRES, SOURCE_REDSHIFT */
};

static inline int source_is_db(const struct source *s)
{
	return s->kind == SOURCE_POSTGRES || s->kind == SOURCE_REDSHIFT;
}

/* 0, or -EINVAL with *err set to a malloc'd one-line reason.
 * On success the caller owns *out and frees it with source_free(). */
int source_parse(const char *uri, struct source *out, char **err);
void source_free(struct source *s);

/* The source as it may be shown (mount table, logs, messages): uri with
 * a password in it replaced by nothing.  malloc'd; NULL on ENOMEM. */
char *source_redact(const char *uri);

/* 1 if name is a valid S3 bucket name (3-63 of a-z 0-9 . -, alnum ends). */
int source_bucket_name_ok(const char *name);

#endif
