/* src/s3/ owns the S3 client both backends use: the request engine, the S3
 * operations, SigV4, credentials, XML, errors, curl pool, uploader, reader. */

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
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>

#include "s3xml.h"

struct creds_provider;

struct s3_config {
	const char *endpoint_url; /* scheme://host[:port] */
	const char *region;
	int path_style;
	unsigned timeout_ms; /* bound on one call, retries included */
	unsigned connect_timeout_ms;
	unsigned retries;
	const char *ca_bundle;
	int no_verify_ssl;	      /* -o no_verify_ssl: TLS certificates not checked */
	struct creds_provider *creds; /* borrowed; NULL: unsigned requests */
};

/* POSIX attributes kept in object metadata, in the headers s3fs uses
 * (x-amz-meta-mode, -uid, -gid, -mtime, -ctime, -rdev), so either tool
 * reads what the other wrote.  Only the fields whose flag is set are
 * present. */
enum {
	S3_META_MODE = 1 << 0,
	S3_META_UID = 1 << 1,
	S3_META_GID = 1 << 2,
	S3_META_MTIME = 1 << 3,
	S3_META_CTIME = 1 << 4,
	S3_META_RDEV = 1 << 5,
};

struct s3_meta {
	unsigned flags;
	mode_t mode; /* with its type bits: S_IFREG, S_IFDIR, S_IFLNK, S_IFIFO... */
	uid_t uid;
	gid_t gid;
	time_t mtime;
	time_t ctime;
	dev_t rdev; /* character and block devices */
};

struct s3_object {
	off_t size;
	time_t mtime;
	char etag[80]; /* with its quotes, as S3 sends it */
	struct s3_meta meta;
	char content_type[128]; /* HEAD only; "" if none */
	int dir_type;		/* Content-Type application/x-directory: a folder object */
};

/* An ETag as S3 sends it, quotes included. */
typedef char s3_etag[80];

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

/* A listing read a page at a time, in bounded memory (one page's entries),
 * for folders too large to hold.  bucket NULL: ListBuckets.  Entries come
 * in the server's order (S3: by key, pages in order; keys already listed
 * on an earlier page are left out), each page only once it has arrived
 * whole.  Pages over 1,000 entries or 8 MiB, malformed pages, a
 * continuation token seen before, and pages that bring nothing new for
 * longer than the timeout are -EIO, logged.  NULL on ENOMEM. */
struct s3_lister;
struct s3_lister *s3_lister_new(struct s3 *s, const char *bucket, const char *prefix,
				const char *delimiter, int max_keys);
/* Fetch the next page and call fn for its entries: 1 if more pages follow,
 * 0 at the end (then a no-op), or a negative errno (fn's, or the listing's). */
int s3_lister_next(struct s3_lister *l, s3xml_entry_fn fn, void *arg);
void s3_lister_free(struct s3_lister *l);

/* HEAD of one object; *out is set on success only. */
int s3_head(struct s3 *s, const char *bucket, const char *key, struct s3_object *out);

/* The first bytes of an object with what a HEAD tells: a GET of bytes
 * [0, cap) into buf, *got the bytes that came, *out the object (size from
 * Content-Range).  One request where HEAD then GET took two; an empty
 * object costs a HEAD more. */
int s3_get_first(struct s3 *s, const char *bucket, const char *key, char *buf, size_t cap,
		 size_t *got, struct s3_object *out);

/* GET bytes [off, off+len) into buf.  if_match: the ETag the caller opened,
 * or NULL; a changed object is -ESTALE.  Returns the byte count (short only
 * at the end of the object) or a negative errno. */
ssize_t s3_get_range(struct s3 *s, const char *bucket, const char *key, off_t off, size_t len,
		     const char *if_match, char *buf);

/* ---- writes ----
 * Each either completes or leaves nothing new behind that the caller does
 * not know of; etag_out (may be NULL) receives the stored ETag.  Bodies
 * carry a Content-MD5 and the ETag S3 answers is checked against it, so a
 * body damaged on the way is an error (-EIO), never a stored object. */

/* PutObject of len bytes (a whole small file, a folder marker, a symlink). */
int s3_put(struct s3 *s, const char *bucket, const char *key, const char *data, size_t len,
	   const struct s3_meta *meta, const char *content_type, s3_etag etag_out);

/* CreateMultipartUpload; *upload_id is malloc'd. */
int s3_mpu_create(struct s3 *s, const char *bucket, const char *key, const struct s3_meta *meta,
		  char **upload_id);

/* UploadPart number part (1..10000). */
int s3_mpu_put_part(struct s3 *s, const char *bucket, const char *key, const char *upload_id,
		    unsigned part, const char *data, size_t len, s3_etag etag_out);

/* UploadPartCopy of bytes [off, off+len) of src, pinned to src_etag (or
 * NULL). */
int s3_mpu_copy_part(struct s3 *s, const char *bucket, const char *key, const char *upload_id,
		     unsigned part, const char *src_bucket, const char *src_key,
		     const char *src_etag, off_t off, off_t len, s3_etag etag_out);

/* CompleteMultipartUpload of parts 1..n with their ETags; etag_out gets
 * the object's.  -ENOENT (NoSuchUpload) may mean an earlier attempt whose
 * answer was lost did complete it: the caller checks the object. */
int s3_mpu_complete(struct s3 *s, const char *bucket, const char *key, const char *upload_id,
		    const s3_etag *parts, unsigned n, s3_etag etag_out);

/* AbortMultipartUpload; an upload already gone is success. */
int s3_mpu_abort(struct s3 *s, const char *bucket, const char *key, const char *upload_id);

/* CopyObject (up to 5 GiB), pinned to src_etag (or NULL).  meta NULL
 * copies the source's metadata; otherwise it replaces it. */
int s3_copy(struct s3 *s, const char *src_bucket, const char *src_key, const char *src_etag,
	    const char *bucket, const char *key, const struct s3_meta *meta,
	    const char *content_type, s3_etag etag_out);

/* DeleteObject; a key already gone is success. */
int s3_delete(struct s3 *s, const char *bucket, const char *key);

/* The whole body of a small object (at most cap bytes, else -EFBIG). */
ssize_t s3_get_small(struct s3 *s, const char *bucket, const char *key, char *buf, size_t cap);

/* "s3://bucket/key" for messages, into out. */
void s3_uri(const char *bucket, const char *key, char *out, size_t size);

/* A key as a log line may show it, into out (truncated to fit): control
 * bytes, DEL and bytes that are not UTF-8 as \xNN, so that a hostile key
 * can neither forge log lines nor garble a terminal. */
void s3_key_printable(const char *key, char *out, size_t size);

#endif
