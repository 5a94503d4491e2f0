/* s3err.c - see s3err.h
 *
 * Three tables, read in order: S3 error codes, HTTP statuses, curl codes.
 * Adding a case is adding a row.
 */
#include "config.h"

#include <curl/curl.h>
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "s3err.h"

#define S3ERR_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

struct s3err_code_row {
	const char *code;
	int err;
	int retryable;
};

/* The <Code> of an S3 error body.  Codes not listed fall through to the
 * status, which is usually right (a 400 InvalidArgument is -EINVAL). */
static const struct s3err_code_row s3err_codes[] = {
    /* Credentials and permissions.  An expired session token is worth one
     * more try: the credentials provider refreshes it in between. */
    {"AccessDenied", -EACCES, 0},
    {"AccountProblem", -EACCES, 0},
    {"AllAccessDisabled", -EACCES, 0},
    {"InvalidAccessKeyId", -EACCES, 0},
    {"InvalidToken", -EACCES, 0},
    {"SignatureDoesNotMatch", -EACCES, 0},
    {"RequestTimeTooSkewed", -EACCES, 0},
    {"ExpiredToken", -EACCES, 1},
    {"TokenRefreshRequired", -EACCES, 1},
    /* Wrong region or endpoint. */
    {"AuthorizationHeaderMalformed", -EINVAL, 0},
    {"PermanentRedirect", -EINVAL, 0},
    /* Missing things. */
    {"NoSuchKey", -ENOENT, 0},
    {"NoSuchBucket", -ENOENT, 0},
    {"NoSuchUpload", -ENOENT, 0},
    {"NoSuchVersion", -ENOENT, 0},
    /* The service is busy or broke: try again, with backoff. */
    {"SlowDown", -EIO, 1},
    {"Throttling", -EIO, 1},
    {"ThrottlingException", -EIO, 1},
    {"RequestLimitExceeded", -EIO, 1},
    {"TooManyRequests", -EIO, 1},
    {"RequestTimeout", -EIO, 1},
    {"InternalError", -EIO, 1},
    {"ServiceUnavailable", -EIO, 1},
    {"IncompleteBody", -EIO, 1},
    {"BadDigest", -EIO, 1}, /* bytes damaged on the way */
    {"XAmzContentSHA256Mismatch", -EIO, 1},
    {"OperationAborted", -EBUSY, 1}, /* a conflicting operation in progress */
    /* Requests the service will never accept as sent. */
    {"InvalidRange", -ERANGE, 0}, /* read past the end: end of file */
    {"PreconditionFailed", -ESTALE, 0},
    {"EntityTooLarge", -EFBIG, 0},
    {"EntityTooSmall", -EINVAL, 0},
    {"QuotaExceeded", -EDQUOT, 0},
    {"InvalidBucketName", -EINVAL, 0},
    {"KeyTooLongError", -ENAMETOOLONG, 0},
    {"BucketNotEmpty", -ENOTEMPTY, 0},
    {"BucketAlreadyExists", -EEXIST, 0},
    {"BucketAlreadyOwnedByYou", -EEXIST, 0},
    {"MethodNotAllowed", -EPERM, 0},
    {"NotImplemented", -ENOSYS, 0},
    {"InvalidObjectState", -EIO, 0}, /* archived: restore it first */
};

struct s3err_status_row {
	long lo, hi;
	int err;
	int retryable;
};

/* HTTP statuses, first matching range wins; one row a line, as a table
 * reads. */
/* clang-format off */
static const struct s3err_status_row s3err_statuses[] = {
	{200, 299, 0, 0},
	{304, 304, 0, 0},	/* Not Modified: the cached copy is good */
	{400, 400, -EINVAL, 0},
	{401, 401, -EACCES, 0},
	{403, 403, -EACCES, 0},
	{404, 404, -ENOENT, 0},	/* HEAD has no body, so no code */
	{405, 405, -EPERM, 0},
	{408, 408, -EIO, 1},	/* Request Timeout */
	{409, 409, -EBUSY, 0},
	{412, 412, -ESTALE, 0},	/* If-Match lost: the object changed */
	{416, 416, -ERANGE, 0},	/* read past the end */
	{429, 429, -EIO, 1},
	{400, 499, -EIO, 0},	/* other client errors repeat */
	{501, 501, -ENOSYS, 0},
	{500, 599, -EIO, 1},	/* other server errors pass */
};
/* clang-format on */

struct s3err_curl_row {
	int curl_code;
	int err;
	int retryable;
};

/* Transport failures, when no status decided.  Unlisted codes are -EIO and
 * not retryable: they are local mistakes that another try will repeat. */
static const struct s3err_curl_row s3err_curls[] = {
    {CURLE_COULDNT_RESOLVE_PROXY, -EIO, 1},
    {CURLE_COULDNT_RESOLVE_HOST, -EIO, 1},
    {CURLE_COULDNT_CONNECT, -EIO, 1},
    {CURLE_OPERATION_TIMEDOUT, -EIO, 1},
    {CURLE_SEND_ERROR, -EIO, 1},
    {CURLE_RECV_ERROR, -EIO, 1},
    {CURLE_GOT_NOTHING, -EIO, 1},
    {CURLE_PARTIAL_FILE, -EIO, 1},
    {CURLE_HTTP2, -EIO, 1},
    {CURLE_HTTP2_STREAM, -EIO, 1},
    {CURLE_AGAIN, -EIO, 1},
    {CURLE_SSL_CONNECT_ERROR, -EIO, 1},
    /* Certificates: the same certificate fails the same way. */
    {CURLE_PEER_FAILED_VERIFICATION, -EIO, 0},
    {CURLE_SSL_CERTPROBLEM, -EIO, 0},
    {CURLE_SSL_CACERT_BADFILE, -EIO, 0},
    {CURLE_SSL_CRL_BADFILE, -EIO, 0},
    {CURLE_SSL_ISSUER_ERROR, -EIO, 0},
    {CURLE_SSL_PINNEDPUBKEYNOTMATCH, -EIO, 0},
    {CURLE_SSL_INVALIDCERTSTATUS, -EIO, 0},
    {CURLE_ABORTED_BY_CALLBACK, -EINTR, 0},
    {CURLE_OUT_OF_MEMORY, -ENOMEM, 0},
    {CURLE_LOGIN_DENIED, -EACCES, 0},
    {CURLE_URL_MALFORMAT, -EINVAL, 0},
};

struct s3err_hint_row {
	int err;
	const char *hint;
};

static const struct s3err_hint_row s3err_hints[] = {
    {-EACCES, "check the credentials (profile, keys) and the bucket policy"},
    {-ENOENT, "check the bucket name, the path and the region"},
    {-EIO, "the service or the network failed; check connectivity and try again later"},
    {-EINVAL, "check the region, the endpoint and the mount options"},
    {-ESTALE, "the object changed on the server; reopen the file"},
    {-EFBIG, "the object is larger than the service accepts"},
    {-EDQUOT, "free space in the bucket or raise its quota"},
    {-ENAMETOOLONG, "S3 keys are limited to 1024 bytes"},
    {-ENOTEMPTY, "remove the objects below it first"},
    {-EPERM, "the service does not allow this operation here"},
    {-ENOSYS, "this S3 service does not implement the operation"},
    {-EBUSY, "another client is changing it; try again"},
};

/* Codes with which a service asks for fewer requests, whatever the status
 * they come with. */
static const char *const s3err_throttle_codes[] = {
    "SlowDown", "Throttling", "ThrottlingException", "RequestLimitExceeded", "TooManyRequests",
};

static int s3err_throttled(long http_status, const char *s3_code)
{
	if (http_status == 429 || http_status == 503)
		return 1;
	if (s3_code)
		for (size_t i = 0; i < S3ERR_ARRAY_SIZE(s3err_throttle_codes); i++)
			if (!strcmp(s3err_throttle_codes[i], s3_code))
				return 1;
	return 0;
}

static struct s3err_class s3err_lookup(int curl_code, long http_status, const char *s3_code);

struct s3err_class s3err_classify(int curl_code, long http_status, const char *s3_code)
{
	struct s3err_class c = s3err_lookup(curl_code, http_status, s3_code);

	c.slow_down = c.retryable && s3err_throttled(http_status, s3_code);
	return c;
}

unsigned s3err_backoff_ms(unsigned attempt, int slow_down, unsigned rnd)
{
	uint64_t cap = slow_down ? S3ERR_BACKOFF_SLOWDOWN_MS : S3ERR_BACKOFF_BASE_MS;

	/* 2^14 * 100 ms is past the cap already; no shift overflows. */
	cap <<= attempt < 14 ? attempt : 14;
	if (cap > S3ERR_BACKOFF_CAP_MS)
		cap = S3ERR_BACKOFF_CAP_MS;
	return (unsigned)(cap / 2 + rnd % (cap - cap / 2 + 1));
}

static struct s3err_class s3err_lookup(int curl_code, long http_status, const char *s3_code)
{
	struct s3err_class c = {-EIO, 0, 0};
	size_t i;

	if (s3_code && *s3_code)
		for (i = 0; i < S3ERR_ARRAY_SIZE(s3err_codes); i++)
			if (!strcmp(s3err_codes[i].code, s3_code)) {
				c.err = s3err_codes[i].err;
				c.retryable = s3err_codes[i].retryable;
				return c;
			}
	if (http_status > 0)
		for (i = 0; i < S3ERR_ARRAY_SIZE(s3err_statuses); i++) {
			const struct s3err_status_row *row = &s3err_statuses[i];

			if (http_status < row->lo || http_status > row->hi)
				continue;
			if (row->err == 0 && curl_code != CURLE_OK)
				break; /* "200 OK" then a broken transfer */
			c.err = row->err;
			c.retryable = row->retryable;
			return c;
		}
	for (i = 0; i < S3ERR_ARRAY_SIZE(s3err_curls); i++)
		if (s3err_curls[i].curl_code == curl_code) {
			c.err = s3err_curls[i].err;
			c.retryable = s3err_curls[i].retryable;
			return c;
		}
	/* Unknown curl code, unknown status (1xx, 3xx) or none at all. */
	return c;
}

const char *s3err_hint(int err)
{
	size_t i;

	if (err > 0)
		err = -err;
	for (i = 0; i < S3ERR_ARRAY_SIZE(s3err_hints); i++)
		if (s3err_hints[i].err == err)
			return s3err_hints[i].hint;
	return NULL;
}
