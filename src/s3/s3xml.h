/* s3xml.h - streaming parsers for the S3 XML responses odofs reads.
 *
 * Built on expat and fed as the bytes arrive, so a listing page never sits
 * whole in memory; every text field has a cap and a response over it is an
 * error, not an allocation.
 */
#ifndef ODOFS_S3XML_H
#define ODOFS_S3XML_H

#include <stddef.h>
#include <sys/types.h>
#include <time.h>

enum s3xml_kind {
	S3XML_OBJECT, /* <Contents> of ListObjectsV2 */
	S3XML_PREFIX, /* <CommonPrefixes><Prefix> of ListObjectsV2 */
	S3XML_BUCKET, /* <Bucket> of ListAllMyBucketsResult */
	S3XML_UPLOAD, /* <Upload> of ListMultipartUploadsResult */
};

struct s3xml_entry {
	enum s3xml_kind kind;
	const char *name;      /* the Key, the Prefix or the bucket Name */
	off_t size;	       /* objects */
	time_t mtime;	       /* LastModified, CreationDate or Initiated, UTC */
	const char *etag;      /* objects, quotes included as S3 sends them */
	const char *upload_id; /* uploads */
};

/* Called once per entry as it completes; the strings live until the call
 * returns.  Return 0 to go on, a negative errno to stop the parse with it. */
typedef int (*s3xml_entry_fn)(void *arg, const struct s3xml_entry *e);

struct s3xml_parser;

/* A parser for ListObjectsV2 or ListAllMyBuckets responses (recognised by
 * the root element).  NULL on ENOMEM. */
struct s3xml_parser *s3xml_parser_new(s3xml_entry_fn fn, void *arg);

/* A parser for ListMultipartUploads responses (S3XML_UPLOAD entries). */
struct s3xml_parser *s3xml_uploads_parser_new(s3xml_entry_fn fn, void *arg);

/* Feed bytes; final=1 on the last call.  0, the callback's error, or
 * -EBADMSG for malformed XML or a field over its cap, -EPROTO for an
 * unexpected root element. */
int s3xml_parser_feed(struct s3xml_parser *p, const char *data, size_t len, int final);

/* After the last feed: IsTruncated, and NextContinuationToken (or NULL). */
int s3xml_parser_truncated(const struct s3xml_parser *p);
const char *s3xml_parser_next_token(const struct s3xml_parser *p);
/* KeyCount as the server sent it, -1 if absent. */
long s3xml_parser_key_count(const struct s3xml_parser *p);
/* 1 if the page said <EncodingType>url</EncodingType> (it may come after
 * the entries): names are then percent-encoded, '+' for a space, and the
 * caller decodes them (servers that ignore encoding-type=url send raw names
 * and no such element). */
int s3xml_parser_url_encoded(const struct s3xml_parser *p);

void s3xml_parser_free(struct s3xml_parser *p);

/* Parse an S3 <Error> body: copies Code and Message (truncated to fit).
 * 0, or -EBADMSG when the body is not an S3 error document. */
int s3xml_parse_error(const char *body, size_t len, char *code, size_t code_size, char *message,
		      size_t message_size);

/* What a write answers: InitiateMultipartUploadResult (UploadId),
 * CompleteMultipartUploadResult, CopyObjectResult, CopyPartResult (ETag),
 * or an <Error>, which S3 may send with status 200 for the long-running
 * ones. */
struct s3xml_result {
	int is_error;
	char code[64];
	char message[256];
	char upload_id[1024];
	char etag[80]; /* with its quotes */
};

/* 0, or -EBADMSG when the body is none of those (or a field is too long). */
int s3xml_parse_result(const char *body, size_t len, struct s3xml_result *out);

/* "2019-10-12T17:50:30.000Z" -> time_t (UTC); -1 when malformed. */
time_t s3xml_parse_time(const char *iso8601);

#endif
