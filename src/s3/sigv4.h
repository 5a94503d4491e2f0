/* sigv4.h - AWS Signature Version 4, as a pure function.
 *
 * Request + key + time in, Authorization header out; no I/O, no clock, no
 * global state, so the AWS test vectors can check it byte for byte.
 */
#ifndef ODOFS_SIGV4_H
#define ODOFS_SIGV4_H

#include <stddef.h>
#include <time.h>

struct sigv4_header {
	const char *name;  /* any case; canonicalised to lower case */
	const char *value; /* trimmed and inner runs of spaces folded */
};

struct sigv4_request {
	const char *method;
	/* The path as it goes on the wire, already URI-encoded ("/b/a%20b"). */
	const char *path;
	/* The query as it goes on the wire, without '?' (may be NULL or "").
	 * It is parsed, decoded, re-encoded per SigV4 and sorted. */
	const char *query;
	/* Every header to sign, host and x-amz-date included; duplicates
	 * are joined with ','. */
	const struct sigv4_header *headers;
	size_t n_headers;
	/* Hex SHA-256 of the body, or "UNSIGNED-PAYLOAD". */
	const char *payload_hash;
};

struct sigv4_key {
	const char *access_key_id;
	const char *secret_access_key;
	const char *region;  /* "us-east-1" */
	const char *service; /* "s3" */
};

enum sigv4_flags {
	/* Generic AWS services normalise the path (remove "." and "..",
	 * merge "//") and encode it a second time; S3 does neither. */
	SIGV4_NORMALIZE_PATH = 1 << 0,
};

/* Signature output; every string is NUL-terminated. */
struct sigv4_result {
	char amz_date[17];    /* "20150830T123600Z" */
	char signature[65];   /* lower-case hex */
	char authorization[2048];
};

/* "YYYYMMDDTHHMMSSZ" for the time, into out[17]. */
void sigv4_amz_date(time_t now, char out[17]);

/* Build the canonical request; the caller frees it.  NULL on ENOMEM. */
char *sigv4_canonical_request(const struct sigv4_request *req, unsigned flags);

/* Build the string to sign from a canonical request; the caller frees it. */
char *sigv4_string_to_sign(const char *canonical_request, const struct sigv4_key *key,
			   time_t now);

/* Sign: 0, or -ENOMEM / -EINVAL (missing field, authorization too long). */
int sigv4_sign(const struct sigv4_request *req, const struct sigv4_key *key, time_t now,
	       unsigned flags, struct sigv4_result *out);

/* Hex SHA-256 of a buffer into out[65]. */
void sigv4_sha256_hex(const void *data, size_t len, char out[65]);

#endif
