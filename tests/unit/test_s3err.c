/* test_s3err.c - the failure table: codes beat statuses, statuses beat curl
 * codes, and each class of row gives the errno and retry decision odofs
 * depends on. */
#include "config.h"

#include <curl/curl.h>
#include <errno.h>
#include <string.h>

#include "s3/s3err.h"
#include "unit.h"

static int is(struct s3err_class c, int err, int retryable)
{
	if (c.err == err && c.retryable == retryable)
		return 1;
	fprintf(stderr, "  got err=%d retryable=%d, expected err=%d retryable=%d\n", c.err,
		c.retryable, err, retryable);
	return 0;
}

static void test_codes(void)
{
	/* Realistic pairs: the code decides, not the status. */
	CHECK(is(s3err_classify(0, 503, "SlowDown"), -EIO, 1));
	CHECK(is(s3err_classify(0, 403, "AccessDenied"), -EACCES, 0));
	CHECK(is(s3err_classify(0, 404, "NoSuchKey"), -ENOENT, 0));
	CHECK(is(s3err_classify(0, 404, "NoSuchBucket"), -ENOENT, 0));
	CHECK(is(s3err_classify(0, 404, "NoSuchUpload"), -ENOENT, 0));
	CHECK(is(s3err_classify(0, 400, "ExpiredToken"), -EACCES, 1));
	CHECK(is(s3err_classify(0, 403, "TokenRefreshRequired"), -EACCES, 1));
	CHECK(is(s3err_classify(0, 403, "InvalidAccessKeyId"), -EACCES, 0));
	CHECK(is(s3err_classify(0, 403, "SignatureDoesNotMatch"), -EACCES, 0));
	CHECK(is(s3err_classify(0, 400, "RequestTimeout"), -EIO, 1));
	CHECK(is(s3err_classify(0, 500, "InternalError"), -EIO, 1));
	CHECK(is(s3err_classify(0, 503, "ServiceUnavailable"), -EIO, 1));
	CHECK(is(s3err_classify(0, 400, "ThrottlingException"), -EIO, 1));
	CHECK(is(s3err_classify(0, 416, "InvalidRange"), -ERANGE, 0));
	CHECK(is(s3err_classify(0, 412, "PreconditionFailed"), -ESTALE, 0));
	CHECK(is(s3err_classify(0, 400, "EntityTooLarge"), -EFBIG, 0));
	CHECK(is(s3err_classify(0, 403, "QuotaExceeded"), -EDQUOT, 0));
	CHECK(is(s3err_classify(0, 400, "KeyTooLongError"), -ENAMETOOLONG, 0));
	CHECK(is(s3err_classify(0, 400, "InvalidBucketName"), -EINVAL, 0));
	CHECK(is(s3err_classify(0, 409, "BucketNotEmpty"), -ENOTEMPTY, 0));
	CHECK(is(s3err_classify(0, 405, "MethodNotAllowed"), -EPERM, 0));
	CHECK(is(s3err_classify(0, 501, "NotImplemented"), -ENOSYS, 0));
	/* A 200 that carries an error body (CompleteMultipartUpload). */
	CHECK(is(s3err_classify(0, 200, "InternalError"), -EIO, 1));
	/* Unknown codes fall through to the status. */
	CHECK(is(s3err_classify(0, 400, "InvalidArgument"), -EINVAL, 0));
	CHECK(is(s3err_classify(0, 503, "SomethingNew"), -EIO, 1));
	CHECK(is(s3err_classify(0, 404, ""), -ENOENT, 0));
	/* Codes are case-sensitive, as S3 sends them. */
	CHECK(is(s3err_classify(0, 403, "accessdenied"), -EACCES, 0));
	CHECK(is(s3err_classify(0, 500, "slowdown"), -EIO, 1));
}

static void test_statuses(void)
{
	CHECK(is(s3err_classify(0, 200, NULL), 0, 0));
	CHECK(is(s3err_classify(0, 204, NULL), 0, 0));
	CHECK(is(s3err_classify(0, 206, NULL), 0, 0));
	CHECK(is(s3err_classify(0, 304, NULL), 0, 0));
	CHECK(is(s3err_classify(0, 400, NULL), -EINVAL, 0));
	CHECK(is(s3err_classify(0, 401, NULL), -EACCES, 0));
	CHECK(is(s3err_classify(0, 403, NULL), -EACCES, 0));
	CHECK(is(s3err_classify(0, 404, NULL), -ENOENT, 0)); /* HEAD: no body */
	CHECK(is(s3err_classify(0, 405, NULL), -EPERM, 0));
	CHECK(is(s3err_classify(0, 409, NULL), -EBUSY, 0));
	CHECK(is(s3err_classify(0, 412, NULL), -ESTALE, 0));
	CHECK(is(s3err_classify(0, 416, NULL), -ERANGE, 0));
	CHECK(is(s3err_classify(0, 429, NULL), -EIO, 1));
	CHECK(is(s3err_classify(0, 418, NULL), -EIO, 0));
	CHECK(is(s3err_classify(0, 500, NULL), -EIO, 1));
	CHECK(is(s3err_classify(0, 502, NULL), -EIO, 1));
	CHECK(is(s3err_classify(0, 503, NULL), -EIO, 1));
	CHECK(is(s3err_classify(0, 504, NULL), -EIO, 1));
	CHECK(is(s3err_classify(0, 599, NULL), -EIO, 1));
	CHECK(is(s3err_classify(0, 501, NULL), -ENOSYS, 0));
	CHECK(is(s3err_classify(0, 301, NULL), -EIO, 0));
	CHECK(is(s3err_classify(0, 0, NULL), -EIO, 0));
}

static void test_curl(void)
{
	CHECK(is(s3err_classify(CURLE_OPERATION_TIMEDOUT, 0, NULL), -EIO, 1));
	CHECK(is(s3err_classify(CURLE_COULDNT_CONNECT, 0, NULL), -EIO, 1));
	CHECK(is(s3err_classify(CURLE_RECV_ERROR, 0, NULL), -EIO, 1));
	CHECK(is(s3err_classify(CURLE_SEND_ERROR, 0, NULL), -EIO, 1));
	CHECK(is(s3err_classify(CURLE_GOT_NOTHING, 0, NULL), -EIO, 1));
	CHECK(is(s3err_classify(CURLE_PARTIAL_FILE, 0, NULL), -EIO, 1));
	CHECK(is(s3err_classify(CURLE_COULDNT_RESOLVE_HOST, 0, NULL), -EIO, 1));
	CHECK(is(s3err_classify(CURLE_PEER_FAILED_VERIFICATION, 0, NULL), -EIO, 0));
	CHECK(is(s3err_classify(CURLE_SSL_CACERT_BADFILE, 0, NULL), -EIO, 0));
	CHECK(is(s3err_classify(CURLE_ABORTED_BY_CALLBACK, 0, NULL), -EINTR, 0));
	CHECK(is(s3err_classify(CURLE_UNSUPPORTED_PROTOCOL, 0, NULL), -EIO, 0));
	CHECK(is(s3err_classify(CURLE_WRITE_ERROR, 0, NULL), -EIO, 0));
	/* A transfer that broke after "200 OK" is not a success. */
	CHECK(is(s3err_classify(CURLE_PARTIAL_FILE, 200, NULL), -EIO, 1));
	CHECK(is(s3err_classify(CURLE_RECV_ERROR, 206, NULL), -EIO, 1));
	/* A failure status still decides when curl also complains. */
	CHECK(is(s3err_classify(CURLE_HTTP_RETURNED_ERROR, 404, NULL), -ENOENT, 0));
}

/* Which failures ask for the longer back-off: throttling only, and only
 * when the failure is retried at all. */
static void test_slow_down(void)
{
	CHECK(s3err_classify(0, 503, "SlowDown").slow_down == 1);
	CHECK(s3err_classify(0, 503, NULL).slow_down == 1); /* HEAD: no body */
	CHECK(s3err_classify(0, 503, "ServiceUnavailable").slow_down == 1);
	CHECK(s3err_classify(0, 429, NULL).slow_down == 1);
	CHECK(s3err_classify(0, 429, "TooManyRequests").slow_down == 1);
	CHECK(s3err_classify(0, 400, "ThrottlingException").slow_down == 1);
	CHECK(s3err_classify(0, 400, "Throttling").slow_down == 1);
	CHECK(s3err_classify(0, 400, "RequestLimitExceeded").slow_down == 1);
	CHECK(s3err_classify(0, 200, "SlowDown").slow_down == 1);
	CHECK(s3err_classify(0, 500, "InternalError").slow_down == 0);
	CHECK(s3err_classify(0, 500, NULL).slow_down == 0);
	CHECK(s3err_classify(0, 502, NULL).slow_down == 0);
	CHECK(s3err_classify(CURLE_RECV_ERROR, 0, NULL).slow_down == 0);
	CHECK(s3err_classify(0, 403, "AccessDenied").slow_down == 0);
	CHECK(s3err_classify(0, 200, NULL).slow_down == 0);
}

/* The back-off promise: in [cap/2, cap], cap doubling from 100 ms (500 ms
 * when throttled) up to 10 s; each wait at least the longest one before;
 * a throttled wait at least the longest plain one. */
static void test_backoff(void)
{
	const unsigned rnds[] = {0, 1, 49, 50, 51, 12345, 0x7fffffffu, 0xffffffffu};
	unsigned prev_max[2] = {0, 0};

	for (unsigned n = 0; n < 40; n++) {
		for (int slow = 0; slow < 2; slow++) {
			unsigned long long cap = (slow ? 500ull : 100ull) << (n < 20 ? n : 20);
			unsigned lo = ~0u, hi = 0;

			if (cap > 10000)
				cap = 10000;
			for (size_t i = 0; i < sizeof(rnds) / sizeof(rnds[0]); i++) {
				unsigned ms = s3err_backoff_ms(n, slow, rnds[i]);

				CHECK(ms >= cap / 2 && ms <= cap);
				lo = ms < lo ? ms : lo;
				hi = ms > hi ? ms : hi;
			}
			if (cap < S3ERR_BACKOFF_CAP_MS)
				CHECK(lo >= prev_max[slow]);
			CHECK(lo < hi); /* jitter */
			prev_max[slow] = hi;
			if (slow)
				CHECK(lo >= s3err_backoff_ms(n, 0, 0xffffffffu) ||
				      cap == S3ERR_BACKOFF_CAP_MS);
		}
	}
	/* The first retries, as the man page states them. */
	CHECK(s3err_backoff_ms(0, 0, 0) == 50 && s3err_backoff_ms(0, 0, 50) == 100);
	CHECK(s3err_backoff_ms(0, 1, 0) == 250 && s3err_backoff_ms(0, 1, 250) == 500);
	CHECK(s3err_backoff_ms(3, 0, 400) == 800);
	CHECK(s3err_backoff_ms(100, 1, 0) == 5000);
}

static void test_hints(void)
{
	const int errs[] = {-EACCES, -ENOENT, -EIO};
	size_t i;

	for (i = 0; i < sizeof(errs) / sizeof(errs[0]); i++) {
		const char *h = s3err_hint(errs[i]);

		CHECK(h != NULL && strlen(h) > 0);
	}
	CHECK(strstr(s3err_hint(-EACCES), "credentials") != NULL);
	CHECK(s3err_hint(EACCES) == s3err_hint(-EACCES));
	CHECK(s3err_hint(-ERANGE) == NULL);
	CHECK(s3err_hint(0) == NULL);
}

int main(void)
{
	test_codes();
	test_statuses();
	test_curl();
	test_slow_down();
	test_backoff();
	test_hints();
	return unit_done("s3err");
}
