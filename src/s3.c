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
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "creds.h"
#include "http.h"
#include "log.h"
#include "s3.h"
#include "s3err.h"
#include "sigv4.h"

#define S3_EMPTY_SHA256 "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
#define S3_ERROR_BODY_MAX (64 * 1024)
#define S3_LIST_PAGE_MAX (32 * 1024 * 1024)
#define S3_BACKOFF_BASE_MS 100
#define S3_BACKOFF_SLOWDOWN_MS 500
#define S3_BACKOFF_CAP_MS 10000

struct s3 {
	struct s3_config cfg;
	char *scheme;	/* "http://" or "https://" */
	char *host;	/* host[:port] of the endpoint */
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

	if (creds_get(s->cfg.creds, &cr) < 0) {
		rc = CURLE_LOGIN_DENIED;
		goto out;
	}

	sigv4_amz_date(now, sig.amz_date);
	if (cr.access_key_id) {
		struct sigv4_header sh[4] = {
			{"host", host.data},
			{"x-amz-content-sha256", S3_EMPTY_SHA256},
			{"x-amz-date", sig.amz_date},
			{"x-amz-security-token", cr.session_token},
		};
		struct sigv4_request req = {
			.method = call->method,
			.path = path.data,
			.query = call->query,
			.headers = sh,
			.n_headers = cr.session_token ? 4 : 3,
			.payload_hash = S3_EMPTY_SHA256,
		};
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
	hdrs = curl_slist_append(hdrs, "x-amz-content-sha256: " S3_EMPTY_SHA256);
	snprintf(line, sizeof(line), "x-amz-date: %s", sig.amz_date);
	hdrs = curl_slist_append(hdrs, line);
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
	uint64_t cap = (uint64_t)(slow_down ? S3_BACKOFF_SLOWDOWN_MS : S3_BACKOFF_BASE_MS) << attempt;
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
			  rc ? curl_easy_strerror(rc) : "", (unsigned long long)(s3_now_ms() - now));
		if (rc == CURLE_OK && call->status >= 300 && call->err_body.len)
			s3xml_parse_error(call->err_body.data, call->err_body.len, code, sizeof(code),
					  message, sizeof(message));
		if (rc == CURLE_LOGIN_DENIED) {
			cls.err = -EACCES;
			cls.retryable = 0;
		} else {
			cls = s3err_classify((int)rc, rc == CURLE_OK ? call->status : 0, code);
		}
		if (cls.err == 0 || !cls.retryable || attempt >= s->cfg.retries)
			break;
		log_info("%s %s/%s: retrying after %s", call->method, call->bucket ? call->bucket : "",
			 call->key ? call->key : "",
			 rc ? curl_easy_strerror(rc) : (code[0] ? code : "server error"));
		s3_backoff(attempt, !strcmp(code, "SlowDown") || call->status == 429 ||
					    call->status == 503,
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
				log_err("s3://%s/%s: the server sent a malformed listing page", bucket,
					prefix ? prefix : "");
				r = -EIO;
			}
			goto out;
		}
		pages++;
		if (max_keys > 0)
			break;
		if (truncated && token.len == 0) {
			log_err("s3://%s/%s: listing is truncated but has no continuation token", bucket,
				prefix ? prefix : "");
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
