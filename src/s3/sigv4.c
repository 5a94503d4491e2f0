/* sigv4.c - AWS Signature Version 4 (see sigv4.h).
 *
 * Canonical request, string to sign, signing key, signature: the four steps
 * of the AWS documentation, each checked against the public test vectors.
 * Everything here is a pure function of its arguments.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "buf.h"
#include "pct.h"
#include "sigv4.h"

#define SIGV4_ALGORITHM "AWS4-HMAC-SHA256"
/* No legitimate request comes near this; a hostile or broken caller hits
 * it and gets an error instead of a huge allocation. */
#define SIGV4_MAX_CANONICAL	 (1u << 20)
#define SIGV4_MAX_SIGNED_HEADERS (64u << 10)

struct sigv4_qparam {
	char *name; /* encoded; value points into the same allocation */
	char *value;
};

struct sigv4_hdr {
	char *name; /* lower-cased copy */
	const char *value;
	size_t order; /* position in the request: keeps duplicates in order */
};

static const char sigv4_hex[] = "0123456789abcdef";
static const char sigv4_hex_upper[] = "0123456789ABCDEF";

static void sigv4_to_hex(const unsigned char *p, size_t n, char *out)
{
	for (size_t i = 0; i < n; i++) {
		out[2 * i] = sigv4_hex[p[i] >> 4];
		out[2 * i + 1] = sigv4_hex[p[i] & 15];
	}
	out[2 * n] = '\0';
}

void sigv4_sha256_hex(const void *data, size_t len, char out[65])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int md_len = 0;

	if (!EVP_Digest(data, len, md, &md_len, EVP_sha256(), NULL) || md_len != 32) {
		out[0] = '\0';
		return;
	}
	sigv4_to_hex(md, 32, out);
}

void sigv4_amz_date(time_t now, char out[17])
{
	struct tm tm;

	/* A time gmtime cannot express, or a year past 9999, leaves "" which
	 * sigv4_sign() refuses. */
	if (!gmtime_r(&now, &tm) || strftime(out, 17, "%Y%m%dT%H%M%SZ", &tm) != 16)
		out[0] = '\0';
}

static int sigv4_unreserved(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	       c == '-' || c == '_' || c == '.' || c == '~';
}

/* Write one byte per RFC 3986: unreserved bare, the rest %XX upper-case. */
static char *sigv4_put_encoded(char *o, unsigned char c)
{
	if (sigv4_unreserved(c)) {
		*o++ = (char)c;
	} else {
		*o++ = '%';
		*o++ = sigv4_hex_upper[c >> 4];
		*o++ = sigv4_hex_upper[c & 15];
	}
	return o;
}

/* Decode %XX escapes of s[0..n) and re-encode the bytes, so that "a%2db",
 * "a-b" and "a%2Db" all come out as "a-b".  A '%' not followed by two hex
 * digits is a literal '%' (encoded "%25"); '+' is a literal '+', not a
 * space: SigV4 does not speak form encoding.  Returns the end of o, which
 * needs room for 3 * n bytes. */
static char *sigv4_recode(char *o, const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == '%' && i + 2 < n) {
			int hi = pct_hexval((unsigned char)s[i + 1]);
			int lo = pct_hexval((unsigned char)s[i + 2]);

			if (hi >= 0 && lo >= 0) {
				c = (unsigned char)(hi << 4 | lo);
				i += 2;
			}
		}
		o = sigv4_put_encoded(o, c);
	}
	return o;
}

static int sigv4_qparam_cmp(const void *a, const void *b)
{
	const struct sigv4_qparam *x = a, *y = b;
	int r = strcmp(x->name, y->name);

	return r ? r : strcmp(x->value, y->value);
}

static int sigv4_put_query(struct buf *out, const char *query)
{
	struct sigv4_qparam *params = NULL;
	size_t n_params = 0, max_params = 1;
	const char *p;
	int r;

	if (!query || !*query)
		return 0;
	for (p = query; *p; p++)
		max_params += *p == '&';
	params = calloc(max_params, sizeof(*params));
	if (!params)
		return -ENOMEM;

	p = query;
	while (*p) {
		size_t len = strcspn(p, "&");
		const char *eq = memchr(p, '=', len);
		size_t name_len = eq ? (size_t)(eq - p) : len;
		char *o;

		/* "a&&b" and a trailing '&' carry no parameter. */
		if (len == 0) {
			p++;
			continue;
		}
		/* Each input byte becomes at most three; two NULs. */
		o = malloc(3 * len + 2);
		if (!o) {
			r = -ENOMEM;
			goto out;
		}
		params[n_params].name = o;
		o = sigv4_recode(o, p, name_len);
		*o++ = '\0';
		params[n_params].value = o;
		if (eq)
			o = sigv4_recode(o, eq + 1, len - name_len - 1);
		*o = '\0';
		n_params++;
		p += len;
		if (*p == '&')
			p++;
	}

	/* Sorted by encoded name, then encoded value: the byte order of what
	 * is signed, so "Param" sorts before "Param-3" and 'Z' before 'a'. */
	qsort(params, n_params, sizeof(*params), sigv4_qparam_cmp);
	for (size_t i = 0; i < n_params; i++) {
		r = buf_appendf(out, "%s%s=%s", i ? "&" : "", params[i].name, params[i].value);
		if (r < 0)
			goto out;
	}
	r = 0;
out:
	for (size_t i = 0; i < n_params; i++)
		free(params[i].name);
	free(params);
	return r;
}

/* The S3 rule: the path exactly as sent, already encoded once. */
static int sigv4_put_path_s3(struct buf *out, const char *path)
{
	if (!path || !*path)
		return buf_append(out, "/", 1);
	return buf_append(out, path, strlen(path));
}

/* The generic-service rule: remove "." and ".." segments and empty ones
 * ("//"), as RFC 3986 5.2.4 does, then encode every segment once more.
 * The encoding is on top of whatever the caller's path already holds, so
 * "%20" becomes "%2520": the double encoding the other services expect. */
static int sigv4_put_path_normalized(struct buf *out, const char *path)
{
	struct {
		const char *p;
		size_t n;
	} *segs = NULL;
	size_t n_segs = 0, max_segs = 1, path_len;
	const char *p;
	int trailing_slash = 0, r;
	char *enc = NULL;

	if (!path)
		path = "";
	path_len = strlen(path);
	for (p = path; *p; p++)
		max_segs += *p == '/';
	segs = calloc(max_segs, sizeof(*segs));
	if (!segs)
		return -ENOMEM;

	for (p = path; *p;) {
		size_t len = strcspn(p, "/");

		/* What the last segment was decides the trailing slash: "/a/"
		 * and "/a/b/.." keep one, "/a" does not. */
		trailing_slash = p[len] == '/';
		if (len == 0) {
			/* empty segment: merged away */
		} else if (len == 1 && p[0] == '.') {
			trailing_slash = 1;
		} else if (len == 2 && p[0] == '.' && p[1] == '.') {
			if (n_segs)
				n_segs--;
			trailing_slash = 1;
		} else {
			segs[n_segs].p = p;
			segs[n_segs].n = len;
			n_segs++;
		}
		p += len;
		if (*p == '/')
			p++;
	}

	if (n_segs == 0) {
		r = buf_append(out, "/", 1);
		goto out;
	}
	enc = malloc(3 * path_len + 1);
	if (!enc) {
		r = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < n_segs; i++) {
		char *o = enc;

		for (size_t j = 0; j < segs[i].n; j++)
			o = sigv4_put_encoded(o, (unsigned char)segs[i].p[j]);
		r = buf_append(out, "/", 1);
		if (r == 0)
			r = buf_append(out, enc, (size_t)(o - enc));
		if (r < 0)
			goto out;
	}
	r = trailing_slash ? buf_append(out, "/", 1) : 0;
out:
	free(enc);
	free(segs);
	return r;
}

static int sigv4_hdr_cmp(const void *a, const void *b)
{
	const struct sigv4_hdr *x = a, *y = b;
	int r = strcmp(x->name, y->name);

	/* qsort is not stable; the request order breaks ties so duplicate
	 * headers join in the order they were given. */
	if (r)
		return r;
	return x->order < y->order ? -1 : x->order > y->order;
}

static int sigv4_is_space(char c)
{
	/* CR and LF too: an obs-fold continuation line is whitespace. */
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* Append a header value trimmed, with every inner run of whitespace
 * folded to one space ("a   b" signs as "a b"). */
static int sigv4_put_trimmed(struct buf *out, const char *v)
{
	int r = 0;

	while (sigv4_is_space(*v))
		v++;
	while (*v && r == 0) {
		size_t word = 0, gap = 0;

		while (v[word] && !sigv4_is_space(v[word]))
			word++;
		r = buf_append(out, v, word);
		v += word;
		while (sigv4_is_space(v[gap]))
			gap++;
		v += gap;
		if (r == 0 && gap && *v)
			r = buf_append(out, " ", 1);
	}
	return r;
}

static int sigv4_valid_header_name(const char *name)
{
	if (!*name)
		return 0;
	for (const unsigned char *p = (const unsigned char *)name; *p; p++)
		if (*p <= ' ' || *p == ':' || *p >= 0x7f)
			return 0;
	return 1;
}

/* "name:value\n" per distinct header, sorted, into out; "a;b;c" into
 * signed_headers. */
static int sigv4_put_headers(struct buf *out, struct buf *signed_headers,
			     const struct sigv4_header *headers, size_t n_headers)
{
	struct sigv4_hdr *hdrs;
	size_t n = 0;
	int r;

	hdrs = calloc(n_headers ? n_headers : 1, sizeof(*hdrs));
	if (!hdrs)
		return -ENOMEM;
	for (n = 0; n < n_headers; n++) {
		hdrs[n].name = strdup(headers[n].name);
		if (!hdrs[n].name) {
			r = -ENOMEM;
			goto out;
		}
		for (char *c = hdrs[n].name; *c; c++)
			if (*c >= 'A' && *c <= 'Z')
				*c = (char)(*c - 'A' + 'a');
		hdrs[n].value = headers[n].value;
		hdrs[n].order = n;
	}
	qsort(hdrs, n, sizeof(*hdrs), sigv4_hdr_cmp);

	for (size_t i = 0; i < n; i++) {
		int same = i > 0 && strcmp(hdrs[i].name, hdrs[i - 1].name) == 0;

		if (same) {
			r = buf_append(out, ",", 1);
		} else {
			if (i > 0)
				r = buf_append(out, "\n", 1);
			else
				r = 0;
			if (r == 0)
				r = buf_appendf(out, "%s:", hdrs[i].name);
			if (r == 0)
				r = buf_appendf(signed_headers, "%s%s", i ? ";" : "", hdrs[i].name);
		}
		if (r == 0)
			r = sigv4_put_trimmed(out, hdrs[i].value);
		if (r < 0)
			goto out;
	}
	r = n ? buf_append(out, "\n", 1) : 0;
out:
	for (size_t i = 0; i < n; i++)
		free(hdrs[i].name);
	free(hdrs);
	return r;
}

static int sigv4_check_request(const struct sigv4_request *req)
{
	if (!req || !req->method || !*req->method || !req->payload_hash || !req->headers ||
	    req->n_headers == 0)
		return -EINVAL;
	for (size_t i = 0; i < req->n_headers; i++)
		if (!req->headers[i].name || !req->headers[i].value ||
		    !sigv4_valid_header_name(req->headers[i].name))
			return -EINVAL;
	return 0;
}

/* The canonical request into creq and the signed-header list into
 * signed_headers (both initialised by the caller): 0, -EINVAL, -ENOMEM or
 * -E2BIG. */
static int sigv4_build(const struct sigv4_request *req, unsigned flags, struct buf *creq,
		       struct buf *signed_headers)
{
	int r = sigv4_check_request(req);

	if (r < 0)
		return r;
	r = buf_appendf(creq, "%s\n", req->method);
	if (r == 0)
		r = flags & SIGV4_NORMALIZE_PATH ? sigv4_put_path_normalized(creq, req->path)
						 : sigv4_put_path_s3(creq, req->path);
	if (r == 0)
		r = buf_append(creq, "\n", 1);
	if (r == 0)
		r = sigv4_put_query(creq, req->query);
	if (r == 0)
		r = buf_append(creq, "\n", 1);
	if (r == 0)
		r = sigv4_put_headers(creq, signed_headers, req->headers, req->n_headers);
	if (r == 0)
		r = buf_appendf(creq, "\n%s\n%s", signed_headers->data, req->payload_hash);
	return r;
}

char *sigv4_canonical_request(const struct sigv4_request *req, unsigned flags)
{
	struct buf creq, signed_headers;
	char *s = NULL;
	int r;

	buf_init(&creq, SIGV4_MAX_CANONICAL);
	buf_init(&signed_headers, SIGV4_MAX_SIGNED_HEADERS);
	r = sigv4_build(req, flags, &creq, &signed_headers);
	if (r < 0) {
		errno = -r;
		goto out;
	}
	s = buf_steal(&creq);
out:
	buf_free(&creq);
	buf_free(&signed_headers);
	return s;
}

static int sigv4_check_key(const struct sigv4_key *key)
{
	if (!key || !key->access_key_id || !*key->access_key_id || !key->secret_access_key ||
	    !key->region || !*key->region || !key->service || !*key->service)
		return -EINVAL;
	return 0;
}

/* The string to sign for an amz_date already computed; scope is
 * date/region/service/aws4_request. */
static char *sigv4_sts(const char *creq, const struct sigv4_key *key, const char *amz_date)
{
	struct buf sts;
	char hash[65];

	buf_init(&sts, SIGV4_MAX_CANONICAL);
	sigv4_sha256_hex(creq, strlen(creq), hash);
	if (!hash[0] || buf_appendf(&sts, SIGV4_ALGORITHM "\n%s\n%.8s/%s/%s/aws4_request\n%s",
				    amz_date, amz_date, key->region, key->service, hash) < 0) {
		buf_free(&sts);
		errno = ENOMEM;
		return NULL;
	}
	return buf_steal(&sts);
}

char *sigv4_string_to_sign(const char *canonical_request, const struct sigv4_key *key, time_t now)
{
	char amz_date[17];

	sigv4_amz_date(now, amz_date);
	if (!canonical_request || sigv4_check_key(key) < 0 || !amz_date[0]) {
		errno = EINVAL;
		return NULL;
	}
	return sigv4_sts(canonical_request, key, amz_date);
}

static int sigv4_hmac(const void *key, size_t key_len, const char *msg, unsigned char out[32])
{
	unsigned int out_len = 0;

	if (!HMAC(EVP_sha256(), key, (int)key_len, (const unsigned char *)msg, strlen(msg), out,
		  &out_len) ||
	    out_len != 32)
		return -ENOMEM;
	return 0;
}

/* kSigning = HMAC(HMAC(HMAC(HMAC("AWS4" secret, date), region), service),
 * "aws4_request"); the signature is HMAC(kSigning, string to sign). */
static int sigv4_signature(const struct sigv4_key *key, const char *date8, const char *sts,
			   char out[65])
{
	size_t secret_len = strlen(key->secret_access_key);
	unsigned char k[32], sig[32];
	char *seed;
	int r;

	seed = malloc(secret_len + 5);
	if (!seed)
		return -ENOMEM;
	memcpy(seed, "AWS4", 4);
	memcpy(seed + 4, key->secret_access_key, secret_len + 1);
	r = sigv4_hmac(seed, secret_len + 4, date8, k);
	if (r == 0)
		r = sigv4_hmac(k, sizeof(k), key->region, k);
	if (r == 0)
		r = sigv4_hmac(k, sizeof(k), key->service, k);
	if (r == 0)
		r = sigv4_hmac(k, sizeof(k), "aws4_request", k);
	if (r == 0)
		r = sigv4_hmac(k, sizeof(k), sts, sig);
	if (r == 0)
		sigv4_to_hex(sig, sizeof(sig), out);
	/* Every intermediate key signs anything for this day and region. */
	explicit_bzero(seed, secret_len + 5);
	explicit_bzero(k, sizeof(k));
	free(seed);
	return r;
}

int sigv4_sign(const struct sigv4_request *req, const struct sigv4_key *key, time_t now,
	       unsigned flags, struct sigv4_result *out)
{
	struct buf creq, signed_headers;
	struct sigv4_result res;
	char *sts = NULL;
	char date8[9];
	int r, n;

	buf_init(&creq, SIGV4_MAX_CANONICAL);
	buf_init(&signed_headers, SIGV4_MAX_SIGNED_HEADERS);
	memset(&res, 0, sizeof(res));

	sigv4_amz_date(now, res.amz_date);
	r = sigv4_check_key(key);
	if (r < 0 || !out || !res.amz_date[0]) {
		r = -EINVAL;
		goto out;
	}
	r = sigv4_build(req, flags, &creq, &signed_headers);
	/* Too big to sign is bad input, not a lack of memory. */
	if (r == -E2BIG)
		r = -EINVAL;
	if (r < 0)
		goto out;
	sts = sigv4_sts(creq.data, key, res.amz_date);
	if (!sts) {
		r = -ENOMEM;
		goto out;
	}
	memcpy(date8, res.amz_date, 8);
	date8[8] = '\0';
	r = sigv4_signature(key, date8, sts, res.signature);
	if (r < 0)
		goto out;
	n = snprintf(res.authorization, sizeof(res.authorization),
		     SIGV4_ALGORITHM " Credential=%s/%s/%s/%s/aws4_request, SignedHeaders=%s, "
				     "Signature=%s",
		     key->access_key_id, date8, key->region, key->service, signed_headers.data,
		     res.signature);
	if (n < 0 || (size_t)n >= sizeof(res.authorization)) {
		r = -EINVAL;
		goto out;
	}
	*out = res;
	r = 0;
out:
	free(sts);
	buf_free(&creq);
	buf_free(&signed_headers);
	return r;
}
