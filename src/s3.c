/* s3.c - see s3.h
 *
 * One function, s3_perform(), sends every request: it signs each attempt
 * afresh (credentials may have been refreshed, and x-amz-date must be
 * current), bounds each attempt by what is left of the call's deadline,
 * classifies the outcome through s3err_classify(), and backs off with full
 * jitter before a retry.  The public calls only build the request and read
 * the answer.
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "buf.h"
#include "creds.h"
#include "http.h"
#include "log.h"
#include "s3.h"
#include "s3err.h"
#include "sigv4.h"

#define S3_EMPTY_SHA256	       "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
#define S3_ERROR_BODY_MAX      (64 * 1024)
#define S3_LIST_PAGE_MAX       (32 * 1024 * 1024)
#define S3_BACKOFF_BASE_MS     100
#define S3_BACKOFF_SLOWDOWN_MS 500
#define S3_BACKOFF_CAP_MS      10000
#define S3_EXTRA_MAX	       8
#define S3_SIGNED_BODY_MAX     (1024 * 1024)
#define S3_RESULT_MAX	       (64 * 1024)

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
	struct buf *out_dyn; /* growing destination (listings), or NULL */

	struct buf err_body;
	long status;
	CURL *curl;
};

static uint64_t s3_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

void s3_uri(const char *bucket, const char *key, char *out, size_t size)
{
	snprintf(out, size, "s3://%s/%s", bucket ? bucket : "", key ? key : "");
}

/* Percent-encode everything but RFC 3986 unreserved characters (and '/'
 * when keep_slash), as SigV4 and S3 expect. */
static int s3_encode(struct buf *b, const char *s, int keep_slash)
{
	static const char hex[] = "0123456789ABCDEF";
	int r = 0;

	for (; *s && r == 0; s++) {
		unsigned char c = (unsigned char)*s;

		if (isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~' ||
		    (keep_slash && c == '/')) {
			r = buf_append(b, s, 1);
		} else {
			char esc[3] = {'%', hex[c >> 4], hex[c & 15]};

			r = buf_append(b, esc, 3);
		}
	}
	return r;
}

static size_t s3_write_cb(char *data, size_t size, size_t nmemb, void *arg)
{
	struct s3_call *call = arg;
	size_t n = size * nmemb;
	long status = 0;

	curl_easy_getinfo(call->curl, CURLINFO_RESPONSE_CODE, &status);
	if (status >= 300)
		return buf_append(&call->err_body, data, n) == 0 ? n : 0;
	if (call->out_buf) {
		if (n > call->out_cap - call->out_len)
			return 0; /* more than asked for: abort, CURLE_WRITE_ERROR */
		memcpy(call->out_buf + call->out_len, data, n);
		call->out_len += n;
		return n;
	}
	if (call->out_dyn)
		return buf_append(call->out_dyn, data, n) == 0 ? n : 0;
	return n;
}

static int s3_has_header(const struct s3_call *call, const char *name)
{
	for (size_t i = 0; i < call->n_extra; i++)
		if (!strcasecmp(call->extra[i].name, name))
			return 1;
	return 0;
}

/* Build URL and headers, sign them, and run one attempt.  Returns the
 * CURLcode; call->status holds the HTTP status. */
static CURLcode s3_attempt(struct s3 *s, struct s3_call *call, unsigned budget_ms)
{
	struct buf url, path, host;
	struct curl_slist *hdrs = NULL;
	struct creds cr = {0};
	struct sigv4_result sig;
	char line[2200];
	CURLcode rc = CURLE_OUT_OF_MEMORY;
	int have_key = call->key && *call->key;
	time_t now = time(NULL);
	char body_hash[65];
	const char *payload_hash = S3_EMPTY_SHA256;

	buf_init(&url, 16384);
	buf_init(&path, 8192);
	buf_init(&host, 512);

	if (call->bucket && !s->cfg.path_style)
		buf_appendf(&host, "%s.%s", call->bucket, s->host);
	else
		buf_append(&host, s->host, strlen(s->host));

	buf_append(&path, "/", 1);
	if (call->bucket && s->cfg.path_style) {
		s3_encode(&path, call->bucket, 0);
		/* A bucket-level path-style request is "/bucket", without the
		 * trailing slash some servers drop before checking signatures. */
		if (have_key)
			buf_append(&path, "/", 1);
	}
	if (have_key && s3_encode(&path, call->key, 1) < 0)
		goto out;
	if (buf_appendf(&url, "%s%s%s%s%s", s->scheme, host.data, path.data,
			call->query && *call->query ? "?" : "", call->query ? call->query : "") < 0)
		goto out;

	/* Small bodies (XML, markers, symlinks) are signed; parts are not,
	 * since hashing every byte twice costs more CPU than the network:
	 * their Content-MD5 protects them instead. */
	if (call->body && call->body_len <= S3_SIGNED_BODY_MAX) {
		sigv4_sha256_hex(call->body, call->body_len, body_hash);
		payload_hash = body_hash;
	} else if (call->body) {
		payload_hash = "UNSIGNED-PAYLOAD";
	}
	if (call->n_extra > S3_EXTRA_MAX) {
		rc = CURLE_BAD_FUNCTION_ARGUMENT;
		goto out;
	}
	if (creds_get(s->cfg.creds, &cr) < 0) {
		rc = CURLE_LOGIN_DENIED;
		goto out;
	}

	sigv4_amz_date(now, sig.amz_date);
	if (cr.access_key_id) {
		struct sigv4_header sh[4 + S3_EXTRA_MAX] = {
		    {"host", host.data},
		    {"x-amz-content-sha256", payload_hash},
		    {"x-amz-date", sig.amz_date},
		};
		size_t n = 3;
		struct sigv4_request req = {
		    .method = call->method,
		    .path = path.data,
		    .query = call->query,
		    .headers = sh,
		    .payload_hash = payload_hash,
		};

		if (cr.session_token)
			sh[n++] = (struct sigv4_header){"x-amz-security-token", cr.session_token};
		for (size_t i = 0; i < call->n_extra; i++)
			sh[n++] = call->extra[i];
		req.n_headers = n;
		struct sigv4_key key = {cr.access_key_id, cr.secret_access_key, s->region, "s3"};

		if (sigv4_sign(&req, &key, now, 0, &sig) < 0)
			goto out;
		snprintf(line, sizeof(line), "Authorization: %s", sig.authorization);
		hdrs = curl_slist_append(hdrs, line);
		if (cr.session_token) {
			/* Session tokens run to several KiB: no fixed line. */
			struct buf tok;

			buf_init(&tok, 64 * 1024);
			if (buf_appendf(&tok, "x-amz-security-token: %s", cr.session_token) == 0)
				hdrs = curl_slist_append(hdrs, tok.data);
			buf_free_secret(&tok);
		}
		explicit_bzero(line, sizeof(line));
	}
	snprintf(line, sizeof(line), "Host: %s", host.data);
	hdrs = curl_slist_append(hdrs, line);
	snprintf(line, sizeof(line), "x-amz-content-sha256: %s", payload_hash);
	hdrs = curl_slist_append(hdrs, line);
	snprintf(line, sizeof(line), "x-amz-date: %s", sig.amz_date);
	hdrs = curl_slist_append(hdrs, line);
	for (size_t i = 0; i < call->n_extra; i++) {
		snprintf(line, sizeof(line), "%s: %s", call->extra[i].name, call->extra[i].value);
		hdrs = curl_slist_append(hdrs, line);
	}
	if (call->body && !s3_has_header(call, "Content-Type")) {
		/* curl would call a body form data; it is not. */
		hdrs = curl_slist_append(hdrs, "Content-Type: application/octet-stream");
	}
	if (call->range) {
		snprintf(line, sizeof(line), "Range: %s", call->range);
		hdrs = curl_slist_append(hdrs, line);
	}
	if (call->if_match) {
		snprintf(line, sizeof(line), "If-Match: %s", call->if_match);
		hdrs = curl_slist_append(hdrs, line);
	}
	hdrs = curl_slist_append(hdrs, "Expect:");
	if (!hdrs)
		goto out;

	curl_easy_setopt(call->curl, CURLOPT_URL, url.data);
	curl_easy_setopt(call->curl, CURLOPT_HTTPHEADER, hdrs);
	curl_easy_setopt(call->curl, CURLOPT_CUSTOMREQUEST, call->method);
	if (call->no_body)
		curl_easy_setopt(call->curl, CURLOPT_NOBODY, 1L);
	if (call->body) {
		/* Sent straight from the caller's buffer, no copy. */
		curl_easy_setopt(call->curl, CURLOPT_POSTFIELDSIZE_LARGE,
				 (curl_off_t)call->body_len);
		curl_easy_setopt(call->curl, CURLOPT_POSTFIELDS, call->body);
	}
	curl_easy_setopt(call->curl, CURLOPT_WRITEFUNCTION, s3_write_cb);
	curl_easy_setopt(call->curl, CURLOPT_WRITEDATA, call);
	curl_easy_setopt(call->curl, CURLOPT_TIMEOUT_MS, (long)budget_ms);
	/* A server that accepts the connection and then says nothing (stopped,
	 * overloaded) is given up on long before the whole budget is spent,
	 * so a retry on a fresh connection still fits in it. */
	curl_easy_setopt(call->curl, CURLOPT_LOW_SPEED_LIMIT, 1L);
	curl_easy_setopt(call->curl, CURLOPT_LOW_SPEED_TIME,
			 (long)(s->cfg.timeout_ms / 3000 > 2 ? s->cfg.timeout_ms / 3000 : 2));

	call->status = 0;
	call->out_len = 0;
	if (call->out_dyn)
		buf_reset(call->out_dyn);
	buf_reset(&call->err_body);
	rc = curl_easy_perform(call->curl);
	curl_easy_getinfo(call->curl, CURLINFO_RESPONSE_CODE, &call->status);
out:
	creds_clear(&cr);
	curl_slist_free_all(hdrs);
	buf_free(&url);
	buf_free(&path);
	buf_free(&host);
	return rc;
}

static void s3_backoff(unsigned attempt, int slow_down, uint64_t deadline_ms)
{
	static __thread unsigned seed;
	uint64_t cap = (uint64_t)(slow_down ? S3_BACKOFF_SLOWDOWN_MS : S3_BACKOFF_BASE_MS)
		       << attempt;
	uint64_t now = s3_now_ms(), sleep_ms;

	if (!seed)
		seed = (unsigned)(now ^ (uint64_t)pthread_self());
	if (cap > S3_BACKOFF_CAP_MS)
		cap = S3_BACKOFF_CAP_MS;
	sleep_ms = (uint64_t)rand_r(&seed) % (cap + 1);
	if (now + sleep_ms > deadline_ms)
		sleep_ms = deadline_ms > now ? deadline_ms - now : 0;
	usleep((useconds_t)(sleep_ms * 1000));
}

static const char *s3_describe(int err)
{
	switch (err) {
	case -EACCES:
		return "access denied";
	case -ENOENT:
		return "not found";
	case -ESTALE:
		return "changed on the server since it was opened";
	case -EIO:
		return "request failed";
	default:
		return strerror(-err);
	}
}

static void s3_log_failure(const struct s3_call *call, int err, int curl_code, const char *code,
			   unsigned attempts)
{
	char uri[1200];
	const char *hint = s3err_hint(err);

	if (err == -ENOENT || err == -ERANGE) {
		return;
	}
	s3_uri(call->bucket, call->key, uri, sizeof(uri));
	if (curl_code)
		log_err("%s %s: %s (%s, after %u attempt%s)%s%s", call->method, uri,
			s3_describe(err), curl_easy_strerror(curl_code), attempts,
			attempts == 1 ? "" : "s", hint ? "; " : "", hint ? hint : "");
	else
		log_err("%s %s: %s (%ld %s, after %u attempt%s)%s%s", call->method, uri,
			s3_describe(err), call->status, code && *code ? code : "", attempts,
			attempts == 1 ? "" : "s", hint ? "; " : "", hint ? hint : "");
}

/* Run a call to completion: 0 or a negative errno. */
static int s3_perform(struct s3 *s, struct s3_call *call)
{
	uint64_t deadline = s3_now_ms() + s->cfg.timeout_ms;
	char code[64], message[256];
	struct s3err_class cls = {-EIO, 0};
	CURLcode rc = CURLE_OK;
	unsigned attempt;
	int r;

	buf_init(&call->err_body, S3_ERROR_BODY_MAX);
	call->curl = http_handle_get(s->http);
	if (!call->curl) {
		r = -ENOMEM;
		goto out;
	}
	for (attempt = 0;; attempt++) {
		uint64_t now = s3_now_ms();

		if (now >= deadline) {
			cls.err = -EIO;
			if (!rc)
				rc = CURLE_OPERATION_TIMEDOUT;
			break;
		}
		rc = s3_attempt(s, call, (unsigned)(deadline - now));
		code[0] = '\0';
		log_debug("%s s3://%s/%s%s%s: %ld %s (%llu ms)", call->method,
			  call->bucket ? call->bucket : "", call->key ? call->key : "",
			  call->range ? " " : "", call->range ? call->range : "", call->status,
			  rc ? curl_easy_strerror(rc) : "",
			  (unsigned long long)(s3_now_ms() - now));
		if (rc == CURLE_OK && call->status >= 300 && call->err_body.len)
			s3xml_parse_error(call->err_body.data, call->err_body.len, code,
					  sizeof(code), message, sizeof(message));
		if (rc == CURLE_LOGIN_DENIED) {
			cls.err = -EACCES;
			cls.retryable = 0;
		} else {
			cls = s3err_classify((int)rc, rc == CURLE_OK ? call->status : 0, code);
		}
		if (cls.err == 0 || !cls.retryable || attempt >= s->cfg.retries)
			break;
		log_info("%s %s/%s: retrying after %s", call->method,
			 call->bucket ? call->bucket : "", call->key ? call->key : "",
			 rc ? curl_easy_strerror(rc) : (code[0] ? code : "server error"));
		s3_backoff(attempt,
			   !strcmp(code, "SlowDown") || call->status == 429 || call->status == 503,
			   deadline);
	}
	r = cls.err;
	if (r < 0)
		s3_log_failure(call, r, rc, code, attempt + 1);
out:
	if (r < 0 || !call->keep_handle) {
		http_handle_put(s->http, call->curl);
		call->curl = NULL;
	}
	buf_free(&call->err_body);
	return r;
}

struct s3 *s3_new(const struct s3_config *cfg)
{
	struct s3 *s = calloc(1, sizeof(*s));
	struct http_config hc = {cfg->connect_timeout_ms, cfg->ca_bundle};
	const char *host;

	if (!s)
		return NULL;
	s->cfg = *cfg;
	host = strstr(cfg->endpoint_url, "://");
	if (!host)
		goto fail;
	s->scheme = strndup(cfg->endpoint_url, (size_t)(host + 3 - cfg->endpoint_url));
	s->host = strdup(host + 3);
	s->region = strdup(cfg->region);
	s->http = http_new(&hc);
	if (!s->scheme || !s->host || !s->region || !s->http)
		goto fail;
	s->cfg.endpoint_url = NULL;
	s->cfg.region = s->region;
	s->cfg.ca_bundle = NULL;
	return s;
fail:
	s3_free(s);
	return NULL;
}

void s3_free(struct s3 *s)
{
	if (!s)
		return;
	http_free(s->http);
	free(s->scheme);
	free(s->host);
	free(s->region);
	free(s);
}

static int s3_parse_page(struct buf *page, s3xml_entry_fn fn, void *arg, int *truncated,
			 struct buf *token)
{
	struct s3xml_parser *p = s3xml_parser_new(fn, arg);
	const char *next;
	int r;

	if (!p)
		return -ENOMEM;
	r = s3xml_parser_feed(p, page->data ? page->data : "", page->len, 1);
	if (r == 0) {
		*truncated = s3xml_parser_truncated(p);
		next = s3xml_parser_next_token(p);
		buf_reset(token);
		if (next)
			r = buf_append(token, next, strlen(next));
	}
	s3xml_parser_free(p);
	return r;
}

int s3_list(struct s3 *s, const char *bucket, const char *prefix, const char *delimiter,
	    int max_keys, s3xml_entry_fn fn, void *arg)
{
	struct buf page, query, token;
	int truncated = 1, r = 0;
	unsigned pages = 0;

	buf_init(&page, S3_LIST_PAGE_MAX);
	buf_init(&query, 16384);
	buf_init(&token, 4096);
	while (truncated) {
		struct s3_call call = {.method = "GET", .bucket = bucket, .out_dyn = &page};

		/* Query names in SigV4's sorted order, for easier reading of
		 * traces; the signer sorts them anyway. */
		buf_reset(&query);
		if (token.len) {
			buf_append(&query, "continuation-token=", 19);
			s3_encode(&query, token.data, 0);
			buf_append(&query, "&", 1);
		}
		if (delimiter) {
			buf_append(&query, "delimiter=", 10);
			s3_encode(&query, delimiter, 0);
			buf_append(&query, "&", 1);
		}
		buf_append(&query, "list-type=2", 11);
		if (max_keys > 0)
			buf_appendf(&query, "&max-keys=%d", max_keys);
		if (prefix && *prefix) {
			buf_append(&query, "&prefix=", 8);
			r = s3_encode(&query, prefix, 0);
			if (r < 0)
				goto out;
		}
		call.query = query.data;
		r = s3_perform(s, &call);
		if (r < 0)
			goto out;
		r = s3_parse_page(&page, fn, arg, &truncated, &token);
		if (r < 0) {
			if (r == -EBADMSG || r == -EPROTO) {
				log_err("s3://%s/%s: the server sent a malformed listing page",
					bucket, prefix ? prefix : "");
				r = -EIO;
			}
			goto out;
		}
		pages++;
		if (max_keys > 0)
			break;
		if (truncated && token.len == 0) {
			log_err("s3://%s/%s: listing is truncated but has no continuation token",
				bucket, prefix ? prefix : "");
			r = -EIO;
			goto out;
		}
	}
	log_debug("listed s3://%s/%s in %u page%s", bucket, prefix ? prefix : "", pages,
		  pages == 1 ? "" : "s");
	r = 0;
out:
	buf_free(&page);
	buf_free(&query);
	buf_free(&token);
	return r;
}

int s3_list_buckets(struct s3 *s, s3xml_entry_fn fn, void *arg)
{
	struct buf page, token;
	struct s3_call call = {.method = "GET", .out_dyn = &page};
	int truncated = 0, r;

	buf_init(&page, S3_LIST_PAGE_MAX);
	buf_init(&token, 4096);
	r = s3_perform(s, &call);
	if (r == 0) {
		r = s3_parse_page(&page, fn, arg, &truncated, &token);
		if (r == -EBADMSG || r == -EPROTO) {
			log_err("%s: the server sent a malformed bucket list", s->host);
			r = -EIO;
		}
	}
	buf_free(&page);
	buf_free(&token);
	return r;
}

static int s3_header(CURL *c, const char *name, char *out, size_t size)
{
	struct curl_header *h;

	if (curl_easy_header(c, name, 0, CURLH_HEADER, -1, &h) != CURLHE_OK)
		return -ENOENT;
	snprintf(out, size, "%s", h->value);
	return 0;
}

/* A decimal header value, or -1. */
static long long s3_header_num(CURL *c, const char *name)
{
	char value[64], *end;
	long long v;

	if (s3_header(c, name, value, sizeof(value)) < 0)
		return -1;
	errno = 0;
	v = strtoll(value, &end, 10);
	/* s3fs may write mtime with a fraction: "1700000000.5". */
	if (errno || end == value || (*end && *end != '.') || v < 0)
		return -1;
	return v;
}

static void s3_meta_read(CURL *c, struct s3_meta *m)
{
	long long v;

	memset(m, 0, sizeof(*m));
	if ((v = s3_header_num(c, "x-amz-meta-mode")) >= 0 && v <= 0177777) {
		m->mode = (mode_t)v;
		m->flags |= S3_META_MODE;
	}
	if ((v = s3_header_num(c, "x-amz-meta-uid")) >= 0 && v <= 0xfffffffeLL) {
		m->uid = (uid_t)v;
		m->flags |= S3_META_UID;
	}
	if ((v = s3_header_num(c, "x-amz-meta-gid")) >= 0 && v <= 0xfffffffeLL) {
		m->gid = (gid_t)v;
		m->flags |= S3_META_GID;
	}
	if ((v = s3_header_num(c, "x-amz-meta-mtime")) >= 0) {
		m->mtime = (time_t)v;
		m->flags |= S3_META_MTIME;
	}
}

int s3_head(struct s3 *s, const char *bucket, const char *key, struct s3_object *out)
{
	struct s3_call call = {
	    .method = "HEAD", .bucket = bucket, .key = key, .no_body = 1, .keep_handle = 1};
	struct s3_object obj = {0};
	char value[128];
	curl_off_t length = -1;
	int r;

	r = s3_perform(s, &call);
	if (r < 0)
		return r;
	curl_easy_getinfo(call.curl, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &length);
	obj.size = length > 0 ? (off_t)length : 0;
	if (s3_header(call.curl, "Last-Modified", value, sizeof(value)) == 0)
		obj.mtime = curl_getdate(value, NULL);
	s3_header(call.curl, "ETag", obj.etag, sizeof(obj.etag));
	s3_meta_read(call.curl, &obj.meta);
	http_handle_put(s->http, call.curl);
	*out = obj;
	return 0;
}

ssize_t s3_get_range(struct s3 *s, const char *bucket, const char *key, off_t off, size_t len,
		     const char *if_match, char *buf)
{
	char range[64], etag[sizeof(((struct s3_object *)0)->etag)];
	struct s3_call call = {
	    .method = "GET",
	    .bucket = bucket,
	    .key = key,
	    .range = range,
	    .if_match = if_match,
	    .out_buf = buf,
	    .out_cap = len,
	    .keep_handle = 1,
	};
	int r;

	if (len == 0)
		return 0;
	snprintf(range, sizeof(range), "bytes=%lld-%lld", (long long)off,
		 (long long)off + (long long)len - 1);
	r = s3_perform(s, &call);
	if (r == -ERANGE)
		return 0; /* at or past the end of the object */
	if (r < 0)
		return r;
	/* If-Match is the contract, but not every server honours it: check
	 * the ETag of what came back too, so an open file never mixes two
	 * versions of an object. */
	if (if_match && s3_header(call.curl, "ETag", etag, sizeof(etag)) == 0 &&
	    strcmp(etag, if_match) != 0)
		r = -ESTALE;
	http_handle_put(s->http, call.curl);
	return r < 0 ? r : (ssize_t)call.out_len;
}

/* ---- writes ---- */

/* Header lines built for one write: values live in the struct. */
struct s3_hdrs {
	struct sigv4_header h[S3_EXTRA_MAX];
	char values[S3_EXTRA_MAX][1200];
	size_t n;
};

static void s3_hdrs_add(struct s3_hdrs *hs, const char *name, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void s3_hdrs_add(struct s3_hdrs *hs, const char *name, const char *fmt, ...)
{
	va_list ap;

	if (hs->n >= S3_EXTRA_MAX)
		return;
	va_start(ap, fmt);
	vsnprintf(hs->values[hs->n], sizeof(hs->values[hs->n]), fmt, ap);
	va_end(ap);
	hs->h[hs->n].name = name;
	hs->h[hs->n].value = hs->values[hs->n];
	hs->n++;
}

static void s3_hdrs_meta(struct s3_hdrs *hs, const struct s3_meta *m)
{
	if (!m)
		return;
	if (m->flags & S3_META_MODE)
		s3_hdrs_add(hs, "x-amz-meta-mode", "%u", (unsigned)m->mode);
	if (m->flags & S3_META_UID)
		s3_hdrs_add(hs, "x-amz-meta-uid", "%u", (unsigned)m->uid);
	if (m->flags & S3_META_GID)
		s3_hdrs_add(hs, "x-amz-meta-gid", "%u", (unsigned)m->gid);
	if (m->flags & S3_META_MTIME)
		s3_hdrs_add(hs, "x-amz-meta-mtime", "%lld", (long long)m->mtime);
}

/* MD5 of data: binary into raw[16], "\"hex\"" (as an ETag) into etag. */
static void s3_md5(const char *data, size_t len, unsigned char raw[16], s3_etag etag)
{
	unsigned int n = 16;

	EVP_Digest(data, len, raw, &n, EVP_md5(), NULL);
	etag[0] = '"';
	for (int i = 0; i < 16; i++)
		snprintf(etag + 1 + 2 * i, 3, "%02x", raw[i]);
	etag[33] = '"';
	etag[34] = '\0';
}

static void s3_hdrs_md5(struct s3_hdrs *hs, const unsigned char raw[16])
{
	char b64[32];

	EVP_EncodeBlock((unsigned char *)b64, raw, 16);
	s3_hdrs_add(hs, "Content-MD5", "%s", b64);
}

/* "x-amz-copy-source: /bucket/key", percent-encoded. */
static int s3_hdrs_copy_source(struct s3_hdrs *hs, const char *bucket, const char *key,
			       const char *etag)
{
	struct buf src;
	int r;

	buf_init(&src, sizeof(hs->values[0]) - 1);
	r = buf_append(&src, "/", 1);
	if (r == 0)
		r = s3_encode(&src, bucket, 0);
	if (r == 0)
		r = buf_append(&src, "/", 1);
	if (r == 0)
		r = s3_encode(&src, key, 1);
	if (r == 0)
		s3_hdrs_add(hs, "x-amz-copy-source", "%s", src.data);
	if (r == 0 && etag && *etag)
		s3_hdrs_add(hs, "x-amz-copy-source-if-match", "%s", etag);
	buf_free(&src);
	return r < 0 ? -ENAMETOOLONG : 0;
}

/* Compare the ETag S3 stored with the one computed here. */
static int s3_check_etag(const char *what, const char *bucket, const char *key, const char *got,
			 const char *want)
{
	if (!got[0] || !strcasecmp(got, want))
		return 0;
	log_err("%s s3://%s/%s: the server stored other bytes than were sent (ETag %s, expected "
		"%s)",
		what, bucket, key, got, want);
	return -EIO;
}

/* Run a call whose answer is an XML *Result (or an <Error> that S3 may
 * send with status 200), retrying such errors as s3_perform retries
 * others. */
static int s3_perform_result(struct s3 *s, struct s3_call *call, struct s3xml_result *res)
{
	struct buf out;
	unsigned attempt;
	int r;

	buf_init(&out, S3_RESULT_MAX);
	call->out_dyn = &out;
	for (attempt = 0;; attempt++) {
		r = s3_perform(s, call);
		if (r < 0)
			break;
		r = s3xml_parse_result(out.data, out.len, res);
		if (r < 0) {
			log_err("%s s3://%s/%s: the server's answer is not S3 XML", call->method,
				call->bucket, call->key);
			r = -EIO;
			break;
		}
		if (!res->is_error)
			break;
		struct s3err_class cls = s3err_classify(0, 500, res->code);

		r = cls.err ? cls.err : -EIO;
		if (!cls.retryable || attempt >= s->cfg.retries) {
			log_err("%s s3://%s/%s: %s (%s)", call->method, call->bucket, call->key,
				res->code, res->message);
			break;
		}
		s3_backoff(attempt, 0, s3_now_ms() + s->cfg.timeout_ms);
	}
	buf_free(&out);
	call->out_dyn = NULL;
	return r;
}

/* A *Result call whose answer that matters is the ETag (copies,
 * completions); etag_out may be NULL. */
static int s3_perform_etag(struct s3 *s, struct s3_call *call, s3_etag etag_out)
{
	struct s3xml_result res;
	int r = s3_perform_result(s, call, &res);

	if (r == 0 && etag_out)
		memcpy(etag_out, res.etag, sizeof(s3_etag));
	return r;
}

/* Send a body with its Content-MD5, and check the ETag S3 answers. */
static int s3_put_body(struct s3 *s, struct s3_call *call, struct s3_hdrs *hs, const char *what,
		       s3_etag etag_out)
{
	unsigned char raw[16];
	s3_etag want, got = "";
	int r;

	s3_md5(call->body, call->body_len, raw, want);
	s3_hdrs_md5(hs, raw);
	call->extra = hs->h;
	call->n_extra = hs->n;
	call->keep_handle = 1;
	r = s3_perform(s, call);
	if (r < 0)
		return r;
	s3_header(call->curl, "ETag", got, sizeof(s3_etag));
	http_handle_put(s->http, call->curl);
	r = s3_check_etag(what, call->bucket, call->key, got, want);
	if (r == 0 && etag_out)
		memcpy(etag_out, got[0] ? got : want, sizeof(s3_etag));
	return r;
}

int s3_put(struct s3 *s, const char *bucket, const char *key, const char *data, size_t len,
	   const struct s3_meta *meta, const char *content_type, s3_etag etag_out)
{
	struct s3_hdrs hs = {0};
	struct s3_call call = {.method = "PUT",
			       .bucket = bucket,
			       .key = key,
			       .body = data ? data : "",
			       .body_len = len};

	s3_hdrs_meta(&hs, meta);
	if (content_type)
		s3_hdrs_add(&hs, "Content-Type", "%s", content_type);
	return s3_put_body(s, &call, &hs, "PUT", etag_out);
}

int s3_mpu_create(struct s3 *s, const char *bucket, const char *key, const struct s3_meta *meta,
		  char **upload_id)
{
	struct s3_hdrs hs = {0};
	struct s3_call call = {.method = "POST", .bucket = bucket, .key = key, .query = "uploads="};
	struct s3xml_result res;
	int r;

	s3_hdrs_meta(&hs, meta);
	s3_hdrs_add(&hs, "Content-Type", "application/octet-stream");
	call.extra = hs.h;
	call.n_extra = hs.n;
	call.body = "";
	r = s3_perform_result(s, &call, &res);
	if (r < 0)
		return r;
	if (!res.upload_id[0]) {
		log_err("POST s3://%s/%s: the server started an upload but gave no UploadId",
			bucket, key);
		return -EIO;
	}
	*upload_id = strdup(res.upload_id);
	return *upload_id ? 0 : -ENOMEM;
}

/* "partNumber=N&uploadId=ID" */
static int s3_part_query(struct buf *q, unsigned part, const char *upload_id)
{
	int r = buf_appendf(q, "partNumber=%u&uploadId=", part);

	return r < 0 ? r : s3_encode(q, upload_id, 0);
}

int s3_mpu_put_part(struct s3 *s, const char *bucket, const char *key, const char *upload_id,
		    unsigned part, const char *data, size_t len, s3_etag etag_out)
{
	struct s3_hdrs hs = {0};
	struct s3_call call = {
	    .method = "PUT", .bucket = bucket, .key = key, .body = data, .body_len = len};
	struct buf q;
	int r;

	buf_init(&q, 4096);
	r = s3_part_query(&q, part, upload_id);
	if (r == 0) {
		call.query = q.data;
		r = s3_put_body(s, &call, &hs, "UploadPart", etag_out);
	}
	buf_free(&q);
	return r;
}

int s3_mpu_copy_part(struct s3 *s, const char *bucket, const char *key, const char *upload_id,
		     unsigned part, const char *src_bucket, const char *src_key,
		     const char *src_etag, off_t off, off_t len, s3_etag etag_out)
{
	struct s3_hdrs hs = {0};
	struct s3_call call = {.method = "PUT", .bucket = bucket, .key = key};
	struct buf q;
	int r;

	buf_init(&q, 4096);
	r = s3_part_query(&q, part, upload_id);
	if (r == 0)
		r = s3_hdrs_copy_source(&hs, src_bucket, src_key, src_etag);
	if (r < 0)
		goto out;
	s3_hdrs_add(&hs, "x-amz-copy-source-range", "bytes=%lld-%lld", (long long)off,
		    (long long)(off + len - 1));
	call.extra = hs.h;
	call.n_extra = hs.n;
	call.query = q.data;
	r = s3_perform_etag(s, &call, etag_out);
out:
	buf_free(&q);
	return r;
}

int s3_mpu_complete(struct s3 *s, const char *bucket, const char *key, const char *upload_id,
		    const s3_etag *parts, unsigned n, s3_etag etag_out)
{
	struct s3_call call = {.method = "POST", .bucket = bucket, .key = key};
	struct buf q, body;
	int r;

	buf_init(&q, 4096);
	/* About 80 bytes a part: 10,000 parts fit. */
	buf_init(&body, 128 + (size_t)n * 128);
	r = buf_append(&q, "uploadId=", 9);
	if (r == 0)
		r = s3_encode(&q, upload_id, 0);
	if (r == 0)
		r = buf_appendf(&body, "<CompleteMultipartUpload>");
	for (unsigned i = 0; i < n && r == 0; i++)
		r = buf_appendf(&body, "<Part><PartNumber>%u</PartNumber><ETag>%s</ETag></Part>",
				i + 1, parts[i]);
	if (r == 0)
		r = buf_appendf(&body, "</CompleteMultipartUpload>");
	if (r < 0)
		goto out;
	call.query = q.data;
	call.body = body.data;
	call.body_len = body.len;
	r = s3_perform_etag(s, &call, etag_out);
out:
	buf_free(&q);
	buf_free(&body);
	return r;
}

int s3_mpu_abort(struct s3 *s, const char *bucket, const char *key, const char *upload_id)
{
	struct s3_call call = {.method = "DELETE", .bucket = bucket, .key = key};
	struct buf q;
	int r;

	buf_init(&q, 4096);
	r = buf_append(&q, "uploadId=", 9);
	if (r == 0)
		r = s3_encode(&q, upload_id, 0);
	if (r == 0) {
		call.query = q.data;
		r = s3_perform(s, &call);
	}
	buf_free(&q);
	return r == -ENOENT ? 0 : r;
}

int s3_copy(struct s3 *s, const char *src_bucket, const char *src_key, const char *src_etag,
	    const char *bucket, const char *key, const struct s3_meta *meta,
	    const char *content_type, s3_etag etag_out)
{
	struct s3_hdrs hs = {0};
	struct s3_call call = {.method = "PUT", .bucket = bucket, .key = key};
	int r;

	r = s3_hdrs_copy_source(&hs, src_bucket, src_key, src_etag);
	if (r < 0)
		return r;
	if (meta) {
		s3_hdrs_add(&hs, "x-amz-metadata-directive", "REPLACE");
		s3_hdrs_meta(&hs, meta);
		if (content_type)
			s3_hdrs_add(&hs, "Content-Type", "%s", content_type);
	}
	call.extra = hs.h;
	call.n_extra = hs.n;
	r = s3_perform_etag(s, &call, etag_out);
	return r;
}

int s3_delete(struct s3 *s, const char *bucket, const char *key)
{
	struct s3_call call = {.method = "DELETE", .bucket = bucket, .key = key};
	int r = s3_perform(s, &call);

	return r == -ENOENT ? 0 : r;
}

ssize_t s3_get_small(struct s3 *s, const char *bucket, const char *key, char *buf, size_t cap)
{
	struct s3_object obj;
	int r = s3_head(s, bucket, key, &obj);

	if (r < 0)
		return r;
	if (obj.size > (off_t)cap)
		return -EFBIG;
	return s3_get_range(s, bucket, key, 0, (size_t)obj.size, obj.etag, buf);
}
