/* s3err.h - the one table that turns an S3 or HTTP failure into an errno
 * and a retry decision.
 *
 * Call sites never switch on statuses or codes themselves: they classify the
 * finished request here, retry while .retryable says so, and return .err.
 */
#ifndef ODOFS_S3ERR_H
#define ODOFS_S3ERR_H

struct s3err_class {
	int err;       /* 0 or a negative errno */
	int retryable; /* 1 when the same request may succeed if sent again */
	int slow_down; /* 1 when the service asked for fewer requests (SlowDown,
			* throttling codes, HTTP 503 and 429): back off longer */
};

/* Classify a finished request: curl_code is the CURLcode (0 = a response
 * arrived), http_status the HTTP status (0 if none), s3_code the <Code> from
 * an error body or NULL.
 *
 * Lookup order: the S3 code when it is one the table knows (it is more
 * precise than the status: 503 SlowDown, 400 ExpiredToken), then the HTTP
 * status, then the curl code.  A success status (2xx, 304) counts only with
 * curl_code 0: a transfer that broke after "200 OK" is a failure.
 *
 * Judgment calls: CURLE_COULDNT_RESOLVE_HOST is retryable, because
 * resolvers fail transiently (EAI_AGAIN, a network still coming up at boot)
 * and the caller's retry budget bounds what a mistyped endpoint costs;
 * CURLE_SSL_CONNECT_ERROR (a handshake cut short) is retryable, certificate
 * failures are not; 501 and NotImplemented are -ENOSYS, not retryable;
 * InvalidRange is -ERANGE, which odofs reads as end of file. */
struct s3err_class s3err_classify(int curl_code, long http_status, const char *s3_code);

/* Back-off before retry `attempt` (0 for the first retry), in ms: a time in
 * [cap/2, cap] picked by `rnd` (any random number), where cap is
 * S3ERR_BACKOFF_BASE_MS * 2^attempt, or S3ERR_BACKOFF_SLOWDOWN_MS * 2^attempt
 * when slow_down, and at most S3ERR_BACKOFF_CAP_MS.
 *
 * "Equal jitter" rather than full jitter (0 to cap): the fixed half makes
 * each wait (below the cap) at least as long as the one before, and makes SlowDown's longer
 * pause a promise rather than an average (a full-jitter wait after SlowDown
 * may be 0 ms), the random half keeps clients that failed together from
 * retrying together. */
#define S3ERR_BACKOFF_BASE_MS	  100u
#define S3ERR_BACKOFF_SLOWDOWN_MS 500u
#define S3ERR_BACKOFF_CAP_MS	  10000u
unsigned s3err_backoff_ms(unsigned attempt, int slow_down, unsigned rnd);

/* A short "what to do" for a user message about err (a negative errno),
 * e.g. for -EACCES "check the credentials (profile, keys) and the bucket
 * policy"; NULL when there is no useful advice.  Static storage. */
const char *s3err_hint(int err);

#endif
