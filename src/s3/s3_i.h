/* s3_i.h - private to src/s3/: the request engine (request.c) that the S3
 * operations (s3.c, list.c) are built on.
 *
 * An operation fills a struct s3_call and hands it to s3_perform(), which
 * signs, sends, retries and logs; the operation only builds the request and
 * reads the answer.
 */
#ifndef ODOFS_S3_I_H
#define ODOFS_S3_I_H

#include <stddef.h>
#include <stdint.h>

#include <curl/curl.h>

#include "buf.h"
#include "s3.h"
#include "s3xml.h"
#include "sigv4.h"

/* Headers a call may add (s3_call.extra), beside the ones every request has. */
#define S3_EXTRA_MAX 12

struct s3 {
	struct s3_config cfg;
	char *scheme; /* "http://" or "https://" */
	char *host;   /* host[:port] of the endpoint */
	char *region;
	struct http *http;
};

/* One request and what came back. */
struct s3_call {
	const char *method;
	const char *bucket;
	const char *key;   /* raw, unencoded; NULL or "" for bucket level */
	const char *query; /* encoded, without '?' */
	const char *range;
	const char *if_match;
	/* Headers to send and sign beside the usual ones: metadata,
	 * Content-MD5, copy sources.  Values must be header-safe. */
	const struct sigv4_header *extra;
	size_t n_extra;
	const char *body; /* request body (PUT, POST), or NULL */
	size_t body_len;
	int no_body;
	int keep_handle; /* leave call->curl for the caller to read headers */

	char *out_buf; /* fixed destination (range GET), or NULL */
	size_t out_cap;
	size_t out_len;
	struct buf *out_dyn; /* growing destination (write results), or NULL */
	/* Streaming destination (listings), or NULL: a 2xx body goes to sink
	 * as it arrives, and sink_reset starts afresh before every attempt.
	 * A negative return from sink aborts the call with it: not retried,
	 * and logged by the caller, who knows what it was reading. */
	int (*sink)(void *arg, const char *data, size_t n);
	void (*sink_reset)(void *arg);
	void *sink_arg;
	int sink_err;

	struct buf err_body;
	long status;
	CURL *curl;
	/* When the call must be done (s3_now_ms()); 0: s3_perform sets it to
	 * now + timeout.  Callers that run several s3_perform (retries of a
	 * 200 with an error body) set it once, so the timeout bounds all. */
	uint64_t deadline_ms;
	/* How long the server may work before its first byte, beyond
	 * timeout: a CompleteMultipartUpload or a copy assembles the object
	 * first and (on s3rver, MinIO) says nothing meanwhile.  Retrying such
	 * a call early would only start the same work again beside it. */
	unsigned work_ms;
	unsigned attempts; /* out: requests sent, over every s3_perform */

	/* Stall detection for the attempt in progress (s3_progress_cb). */
	unsigned stall_ms;
	uint64_t progress_ms; /* when a byte last moved */
	curl_off_t dl_seen, ul_seen;
	int stalled;
};

/* CLOCK_MONOTONIC in milliseconds: deadlines and stall detection. */
uint64_t s3_now_ms(void);

/* Percent-encode everything but RFC 3986 unreserved characters (and '/'
 * when keep_slash), as SigV4 and S3 expect. */
int s3_encode(struct buf *b, const char *s, int keep_slash);

/* Run a call to completion: 0 or a negative errno. */
int s3_perform(struct s3 *s, struct s3_call *call);

/* Run a call whose answer is an XML *Result (or an <Error> that S3 may
 * send with status 200), retrying such errors as s3_perform retries
 * others. */
int s3_perform_result(struct s3 *s, struct s3_call *call, struct s3xml_result *res);

/* The value of a response header of c (a call made with keep_handle) into
 * out, truncated to fit: 0, or -ENOENT when it is absent. */
int s3_header(CURL *c, const char *name, char *out, size_t size);

#endif
