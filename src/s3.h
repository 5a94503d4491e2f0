/* s3.h - the S3 requests odofs makes, signed, retried and bounded in time.
 *
 * Every call either finishes within the configured timeout (retries and
 * backoff included) or returns a negative errno from the one mapping table
 * in s3err.c.  Failures other than "not found" are logged once, saying what
 * failed and what to do, without any secret.
 */
#ifndef ODOFS_S3_H
#define ODOFS_S3_H

#include <stddef.h>
#include <sys/types.h>
#include <time.h>

#include "s3xml.h"

struct creds_provider;

struct s3_config {
	const char *endpoint_url; /* scheme://host[:port] */
	const char *region;
	int path_style;
	unsigned timeout_ms;	     /* bound on one call, retries included */
	unsigned connect_timeout_ms;
	unsigned retries;
	const char *ca_bundle;
	struct creds_provider *creds; /* borrowed; NULL: unsigned requests */
};

struct s3_object {
	off_t size;
	time_t mtime;
	char etag[80]; /* with its quotes, as S3 sends it */
};

struct s3;

struct s3 *s3_new(const struct s3_config *cfg);
void s3_free(struct s3 *s);

/* ListObjectsV2 of bucket under prefix, following continuation tokens and
 * calling fn for every object and common prefix.  delimiter NULL lists the
 * whole subtree.  max_keys > 0 stops after the first page of that size.
 * 0 or a negative errno. */
int s3_list(struct s3 *s, const char *bucket, const char *prefix, const char *delimiter,
	    int max_keys, s3xml_entry_fn fn, void *arg);

/* ListBuckets: fn is called with S3XML_BUCKET entries. */
int s3_list_buckets(struct s3 *s, s3xml_entry_fn fn, void *arg);

/* HEAD of one object; *out is set on success only. */
int s3_head(struct s3 *s, const char *bucket, const char *key, struct s3_object *out);

/* GET bytes [off, off+len) into buf.  if_match: the ETag the caller opened,
 * or NULL; a changed object is -ESTALE.  Returns the byte count (short only
 * at the end of the object) or a negative errno. */
ssize_t s3_get_range(struct s3 *s, const char *bucket, const char *key, off_t off, size_t len,
		     const char *if_match, char *buf);

/* "s3://bucket/key" for messages, into out. */
void s3_uri(const char *bucket, const char *key, char *out, size_t size);

#endif
