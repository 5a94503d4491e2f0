/* source.h - what a mount's SOURCE argument names.
 *
 *   s3://                     every bucket the credentials can list
 *   s3://BUCKET[/PREFIX[/]]   a bucket, or a prefix of it, as a folder tree
 *   s3://BUCKET/DIR/HEAD*TAIL odo's glob: keys that start with DIR/HEAD and
 *                             end with TAIL, at their path below DIR/
 */
#ifndef ODOFS_SOURCE_H
#define ODOFS_SOURCE_H

enum source_kind {
	SOURCE_S3_ALL,
	SOURCE_S3_PREFIX,
	SOURCE_S3_GLOB,
};

struct source {
	enum source_kind kind;
	char *bucket;	 /* NULL for SOURCE_S3_ALL */
	char *prefix;	 /* "" or a key prefix ending in '/': the mount's root */
	char *glob_head; /* SOURCE_S3_GLOB: text between prefix and '*' */
	char *glob_tail; /* SOURCE_S3_GLOB: text after '*' */
};

/* 0, or -EINVAL with *err set to a malloc'd one-line reason.
 * On success the caller owns *out and frees it with source_free(). */
int source_parse(const char *uri, struct source *out, char **err);
void source_free(struct source *s);

/* 1 if name is a valid S3 bucket name (3-63 of a-z 0-9 . -, alnum ends). */
int source_bucket_name_ok(const char *name);

#endif
