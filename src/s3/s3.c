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
#include "pct.h"
#include "s3.h"
#include "s3err.h"
#include "sigv4.h"

#define S3_EMPTY_SHA256	  "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
#define S3_ERROR_BODY_MAX (64 * 1024)
/* A page of 1,000 keys of 1,024 bytes, each byte percent-encoded, is
 * about 3.4 MiB: twice that is plenty for any honest server. */
#define S3_LIST_PAGE_MAX      (8 * 1024 * 1024)
#define S3_LIST_PAGE_MAX_TEXT "8 MiB"
/* max-keys odofs asks for, and what a page may hold (S3's maximum). */
#define S3_LIST_KEYS_MAX      1000
#define S3_LIST_KEYS_MAX_TEXT "1000 keys"
/* ListBuckets answers every bucket of the account in one page: 10,000 is
 * AWS's quota. */
#define S3_LIST_BUCKETS_MAX 10000
/* Continuation tokens remembered to catch a listing going in circles. */
#define S3_LIST_TOKENS_KEPT 16
#define S3_EXTRA_MAX	    8
#define S3_SIGNED_BODY_MAX  (1024 * 1024)
#define S3_RESULT_MAX	    (64 * 1024)
/* ListMultipartUploads of one key, after a CreateMultipartUpload was sent
 * twice: the uploads looked at, and the page read (1,000 at ~600 bytes). */
#define S3_SWEEP_MAX   64
#define S3_UPLOADS_MAX (1024 * 1024)

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
	if (call->sink) {
		int r = call->sink(call->sink_arg, data, n);

		if (r < 0) {
			call->sink_err = r;
			return 0; /* CURLE_WRITE_ERROR */
		}
	}
	return n;
}

/* Give up on an attempt when no byte has moved either way for stall_ms: a
 * server that stopped in the middle of a body.  curl's LOW_SPEED_LIMIT
 * cannot see that in time: it averages the speed over the last seconds,
 * so a burst of data before the stall keeps the average up for ~5 s more. */
static int s3_progress_cb(void *arg, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
			  curl_off_t ulnow)
{
	struct s3_call *call = arg;
	uint64_t now = s3_now_ms();

	(void)dltotal;
	(void)ultotal;
	if (dlnow != call->dl_seen || ulnow != call->ul_seen) {
		call->dl_seen = dlnow;
		call->ul_seen = ulnow;
		call->progress_ms = now;
		return 0;
	}
	if (now - call->progress_ms < call->stall_ms)
		return 0;
	call->stalled = 1;
	return 1; /* CURLE_ABORTED_BY_CALLBACK, reported as a time-out */
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
	 * overloaded), or stops in the middle of a body, is given up on long
	 * before the whole budget is spent, so a retry on a fresh connection
	 * still fits in it. */
	call->stall_ms = s->cfg.timeout_ms / 3 > 2000 ? s->cfg.timeout_ms / 3 : 2000;
	call->stall_ms += call->work_ms;
	call->progress_ms = s3_now_ms();
	call->dl_seen = call->ul_seen = 0;
	call->stalled = 0;
	curl_easy_setopt(call->curl, CURLOPT_XFERINFOFUNCTION, s3_progress_cb);
	curl_easy_setopt(call->curl, CURLOPT_XFERINFODATA, call);
	curl_easy_setopt(call->curl, CURLOPT_NOPROGRESS, 0L);

	call->status = 0;
	call->out_len = 0;
	if (call->out_dyn)
		buf_reset(call->out_dyn);
	call->sink_err = 0;
	if (call->sink_reset)
		call->sink_reset(call->sink_arg);
	buf_reset(&call->err_body);
	rc = curl_easy_perform(call->curl);
	if (rc == CURLE_ABORTED_BY_CALLBACK && call->stalled)
		rc = CURLE_OPERATION_TIMEDOUT;
	curl_easy_getinfo(call->curl, CURLINFO_RESPONSE_CODE, &call->status);
out:
	creds_clear(&cr);
	/* The list holds the signature and the session token: wipe it. */
	for (struct curl_slist *l = hdrs; l; l = l->next)
		explicit_bzero(l->data, strlen(l->data));
	curl_slist_free_all(hdrs);
	explicit_bzero(&sig, sizeof(sig));
	buf_free(&url);
	buf_free(&path);
	buf_free(&host);
	return rc;
}

/* Sleep before retry `attempt` (s3err_backoff_ms()).  Returns -1 without
 * sleeping when the wait would end past the deadline: no attempt could
 * follow it, so the call fails now rather than at the deadline. */
static int s3_backoff(unsigned attempt, int slow_down, uint64_t deadline_ms)
{
	static __thread unsigned seed;
	uint64_t now = s3_now_ms(), sleep_ms;

	if (!seed)
		seed = (unsigned)(now ^ (uint64_t)pthread_self() ^ ((uint64_t)getpid() << 16));
	sleep_ms = s3err_backoff_ms(attempt, slow_down, (unsigned)rand_r(&seed));
	if (now + sleep_ms >= deadline_ms)
		return -1;
	usleep((useconds_t)(sleep_ms * 1000));
	return 0;
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
	uint64_t deadline = call->deadline_ms ? call->deadline_ms : s3_now_ms() + s->cfg.timeout_ms;
	char code[64], message[256];
	struct s3err_class cls = {-EIO, 0, 0};
	CURLcode rc = CURLE_OK;
	unsigned attempt, made = 0;
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
		made++;
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
		/* No time left for another attempt: fail with this one's error. */
		if (s3_backoff(attempt, cls.slow_down, deadline) < 0)
			break;
	}
	call->attempts += made;
	r = cls.err;
	if (call->sink_err)
		r = call->sink_err; /* the caller says what was wrong with the body */
	else if (r < 0)
		s3_log_failure(call, r, rc, code, made);
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
	struct http_config hc = {cfg->connect_timeout_ms, cfg->ca_bundle, cfg->no_verify_ssl};
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

/* ---- listings ----
 *
 * A listing page is parsed as its bytes arrive (the curl write callback
 * feeds expat), never held whole.  What a page lists is staged and handed
 * to the caller only once the page is complete, so an attempt that fails
 * midway and is retried never delivers an entry twice; that bounds memory
 * to one page's entries.  S3 sends at most max-keys entries a page: more,
 * or a page over S3_LIST_PAGE_MAX bytes, is a protocol error, as is a
 * listing that goes round in circles (a continuation token seen before).
 * Pages come in key order: an entry at or below the last key of an
 * earlier page was listed already and is left out, and pages that bring
 * nothing new for longer than the operation timeout end the listing.
 */

struct s3_staged {
	enum s3xml_kind kind;
	off_t size;
	time_t mtime;
	size_t name, etag; /* offsets into s3_page.strings */
};

/* One page being received. */
struct s3_page {
	struct s3xml_parser *p;
	size_t bytes;
	struct s3_staged *entries; /* max_entries of them */
	size_t n, max_entries;
	struct buf strings;
};

struct s3_lister {
	struct s3 *s;
	char *bucket;
	char *prefix;
	char *delimiter;
	int max_keys;
	int one_page; /* the caller asked for max_keys: stop after one page */
	int buckets;  /* ListBuckets: one page, no ordering */
	struct s3_page page;
	struct buf query, token;
	char *seen[S3_LIST_TOKENS_KEPT]; /* the last continuation tokens */
	unsigned n_seen;
	struct buf last; /* the greatest name of the pages delivered */
	struct buf prev; /* ... and of the pages before the current one */
	unsigned pages;
	unsigned told_old;    /* keys listed again were reported */
	uint64_t progress_ms; /* when a page last brought something new */
	int done;
};

static int s3_page_stage(void *arg, const struct s3xml_entry *e)
{
	struct s3_page *pg = arg;
	struct s3_staged *st;
	int r;

	if (pg->n >= pg->max_entries)
		return -EOVERFLOW;
	st = &pg->entries[pg->n];
	st->kind = e->kind;
	st->size = e->size;
	st->mtime = e->mtime;
	st->name = pg->strings.len;
	r = buf_append(&pg->strings, e->name, strlen(e->name) + 1);
	st->etag = pg->strings.len;
	if (r == 0)
		r = buf_append(&pg->strings, e->etag ? e->etag : "",
			       e->etag ? strlen(e->etag) + 1 : 1);
	if (r < 0)
		return r == -E2BIG ? -EOVERFLOW : r;
	pg->n++;
	return 0;
}

static void s3_page_reset(void *arg)
{
	struct s3_page *pg = arg;

	s3xml_parser_free(pg->p);
	pg->p = s3xml_parser_new(s3_page_stage, pg);
	pg->bytes = 0;
	pg->n = 0;
	buf_reset(&pg->strings);
}

static int s3_page_sink(void *arg, const char *data, size_t n)
{
	struct s3_page *pg = arg;

	if (!pg->p)
		return -ENOMEM;
	if (n > S3_LIST_PAGE_MAX - pg->bytes)
		return -EFBIG;
	pg->bytes += n;
	return s3xml_parser_feed(pg->p, data, n, 0);
}

void s3_key_printable(const char *key, char *out, size_t size)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *s = (const unsigned char *)key;
	size_t o = 0;

	if (!size)
		return;
	for (; *s && o + 5 < size; s++) {
		int cont = 0; /* how many continuation bytes a lead byte wants */

		if (*s >= 0xc2 && *s <= 0xdf)
			cont = 1;
		else if (*s >= 0xe0 && *s <= 0xef)
			cont = 2;
		else if (*s >= 0xf0 && *s <= 0xf4)
			cont = 3;
		if (cont) {
			int ok = 1;

			for (int i = 1; i <= cont && ok; i++)
				ok = (s[i] & 0xc0) == 0x80;
			if (ok && o + (size_t)cont + 1 < size) {
				memcpy(out + o, s, (size_t)cont + 1);
				o += (size_t)cont + 1;
				s += cont;
				continue;
			}
		}
		if (*s >= 0x20 && *s < 0x7f) {
			out[o++] = (char)*s;
		} else {
			out[o++] = '\\';
			out[o++] = 'x';
			out[o++] = hex[*s >> 4];
			out[o++] = hex[*s & 15];
		}
	}
	out[o] = '\0';
}

/* encoding-type=url: '%XX' is a byte, '+' a space (as AWS writes it).
 * In place; -EINVAL for a broken escape or a NUL, which no path can hold. */
static int s3_url_decode(char *s)
{
	return pct_decode(s, strlen(s), s, 1) < 0 ? -EINVAL : 0;
}

static const char *s3_list_what(const struct s3_lister *l)
{
	return l->buckets ? "bucket list" : "listing";
}

/* Hand the staged entries of a complete page to fn. */
static int s3_page_deliver(struct s3_lister *l, s3xml_entry_fn fn, void *arg)
{
	struct s3_page *pg = &l->page;
	int url = s3xml_parser_url_encoded(pg->p), fresh = 0, r = 0;
	unsigned old = 0;

	buf_reset(&l->prev);
	if (l->last.len && (r = buf_append(&l->prev, l->last.data, l->last.len)) < 0)
		return r;
	for (size_t i = 0; i < pg->n && r == 0; i++) {
		struct s3_staged *st = &pg->entries[i];
		struct s3xml_entry e = {
		    .kind = st->kind,
		    .name = pg->strings.data + st->name,
		    .size = st->size,
		    .mtime = st->mtime,
		    .etag = pg->strings.data + st->etag,
		};

		if (url && !l->buckets && s3_url_decode(pg->strings.data + st->name) < 0) {
			char shown[1200];

			s3_key_printable(e.name, shown, sizeof(shown));
			log_warn("s3://%s/%s: the server sent a key with a NUL byte or a broken "
				 "escape; left out",
				 l->bucket, shown);
			continue;
		}
		if (!l->buckets && l->prev.len && strcmp(e.name, l->prev.data) <= 0) {
			old++; /* listed on an earlier page */
			continue;
		}
		if (!l->buckets && (!l->last.len || strcmp(e.name, l->last.data) > 0)) {
			buf_reset(&l->last);
			r = buf_append(&l->last, e.name, strlen(e.name));
			if (r < 0)
				break;
		}
		fresh = 1;
		r = fn(arg, &e);
	}
	if (old && !l->told_old++) /* once a listing: a looping server sends many */
		log_notice("s3://%s/%s: the server listed %u key%s again; left out", l->bucket,
			   l->prefix ? l->prefix : "", old, old == 1 ? "" : "s");
	if (fresh)
		l->progress_ms = s3_now_ms();
	return r;
}

/* 1 if the token was seen in this listing already; else remember it. */
static int s3_list_token_seen(struct s3_lister *l, const char *token)
{
	unsigned n = l->n_seen < S3_LIST_TOKENS_KEPT ? l->n_seen : S3_LIST_TOKENS_KEPT;

	for (unsigned i = 0; i < n; i++)
		if (!strcmp(l->seen[i], token))
			return 1;
	free(l->seen[l->n_seen % S3_LIST_TOKENS_KEPT]);
	l->seen[l->n_seen % S3_LIST_TOKENS_KEPT] = strdup(token);
	if (!l->seen[l->n_seen % S3_LIST_TOKENS_KEPT])
		return -ENOMEM;
	l->n_seen++;
	return 0;
}

struct s3_lister *s3_lister_new(struct s3 *s, const char *bucket, const char *prefix,
				const char *delimiter, int max_keys)
{
	struct s3_lister *l = calloc(1, sizeof(*l));

	if (!l)
		return NULL;
	l->s = s;
	l->buckets = bucket == NULL;
	l->bucket = strdup(bucket ? bucket : "");
	l->prefix = prefix ? strdup(prefix) : NULL;
	l->delimiter = delimiter ? strdup(delimiter) : NULL;
	l->max_keys = max_keys > 0 && max_keys < S3_LIST_KEYS_MAX ? max_keys : S3_LIST_KEYS_MAX;
	l->one_page = max_keys > 0;
	l->page.max_entries = l->buckets ? S3_LIST_BUCKETS_MAX : S3_LIST_KEYS_MAX;
	l->page.entries = calloc(l->page.max_entries, sizeof(*l->page.entries));
	/* What a page's bytes can hold, so only those bound the page. */
	buf_init(&l->page.strings, S3_LIST_PAGE_MAX);
	buf_init(&l->query, 16384);
	buf_init(&l->token, 4096);
	/* Names are at most S3XML_NAME_MAX (4096) bytes. */
	buf_init(&l->last, 8192);
	buf_init(&l->prev, 8192);
	l->progress_ms = s3_now_ms();
	if (!l->bucket || (prefix && !l->prefix) || (delimiter && !l->delimiter) ||
	    !l->page.entries) {
		s3_lister_free(l);
		return NULL;
	}
	return l;
}

void s3_lister_free(struct s3_lister *l)
{
	if (!l)
		return;
	s3xml_parser_free(l->page.p);
	free(l->page.entries);
	buf_free(&l->page.strings);
	buf_free(&l->query);
	buf_free(&l->token);
	buf_free(&l->last);
	buf_free(&l->prev);
	for (unsigned i = 0; i < S3_LIST_TOKENS_KEPT; i++)
		free(l->seen[i]);
	free(l->bucket);
	free(l->prefix);
	free(l->delimiter);
	free(l);
}

/* The query of the next page, in SigV4's sorted order for easier reading
 * of traces (the signer sorts anyway). */
static int s3_list_query(struct s3_lister *l)
{
	struct buf *q = &l->query;
	int r = 0;

	buf_reset(q);
	if (l->token.len) {
		r |= buf_append(q, "continuation-token=", 19);
		r |= s3_encode(q, l->token.data, 0);
		r |= buf_append(q, "&", 1);
	}
	if (l->delimiter) {
		r |= buf_append(q, "delimiter=", 10);
		r |= s3_encode(q, l->delimiter, 0);
		r |= buf_append(q, "&", 1);
	}
	/* Keys with characters XML 1.0 cannot carry (control characters)
	 * would make a raw page unparsable: ask for them percent-encoded. */
	r |= buf_appendf(q, "encoding-type=url&list-type=2&max-keys=%d", l->max_keys);
	if (l->prefix && *l->prefix) {
		r |= buf_append(q, "&prefix=", 8);
		r |= s3_encode(q, l->prefix, 0);
	}
	return r ? -ENAMETOOLONG : 0;
}

int s3_lister_next(struct s3_lister *l, s3xml_entry_fn fn, void *arg)
{
	struct s3_call call = {
	    .method = "GET",
	    .bucket = l->buckets ? NULL : l->bucket,
	    .sink = s3_page_sink,
	    .sink_reset = s3_page_reset,
	    .sink_arg = &l->page,
	};
	const char *next;
	const char *what = s3_list_what(l);
	int r;

	if (l->done)
		return 0;
	if (!l->buckets) {
		r = s3_list_query(l);
		if (r < 0)
			return r;
		call.query = l->query.data;
	}
	r = s3_perform(l->s, &call);
	if (r == 0 && !l->page.p)
		r = -ENOMEM;
	if (r == 0)
		r = s3xml_parser_feed(l->page.p, NULL, 0, 1);
	if (r == -EFBIG || r == -EOVERFLOW) {
		log_err("s3://%s/%s: the server sent a %s page over %s; giving up", l->bucket,
			l->prefix ? l->prefix : "", what,
			r == -EFBIG  ? "the size limit (" S3_LIST_PAGE_MAX_TEXT ")"
			: l->buckets ? "the entry limit (10000 buckets)"
				     : "the entry limit (" S3_LIST_KEYS_MAX_TEXT ")");
		return -EIO;
	}
	if (r == -EBADMSG || r == -EPROTO) {
		log_err("s3://%s/%s: the server sent a malformed %s page", l->bucket,
			l->prefix ? l->prefix : "", what);
		return -EIO;
	}
	if (r < 0)
		return r;
	l->pages++;
	r = s3_page_deliver(l, fn, arg);
	if (r < 0)
		return r;
	next = s3xml_parser_next_token(l->page.p);
	if (l->buckets || l->one_page || !s3xml_parser_truncated(l->page.p)) {
		l->done = 1;
		return 0;
	}
	if (!next) {
		log_err("s3://%s/%s: %s is truncated but has no continuation token", l->bucket,
			l->prefix ? l->prefix : "", what);
		return -EIO;
	}
	r = s3_list_token_seen(l, next);
	if (r > 0) {
		log_err("s3://%s/%s: the server sent a continuation token it sent before (after "
			"%u pages): the listing would never end",
			l->bucket, l->prefix ? l->prefix : "", l->pages);
		return -EIO;
	}
	if (r < 0)
		return r;
	if (s3_now_ms() - l->progress_ms > l->s->cfg.timeout_ms) {
		log_err("s3://%s/%s: %u pages in %u s listed nothing new: the listing would never "
			"end",
			l->bucket, l->prefix ? l->prefix : "", l->pages,
			l->s->cfg.timeout_ms / 1000);
		return -EIO;
	}
	buf_reset(&l->token);
	r = buf_append(&l->token, next, strlen(next));
	return r < 0 ? -EIO : 1;
}

int s3_list(struct s3 *s, const char *bucket, const char *prefix, const char *delimiter,
	    int max_keys, s3xml_entry_fn fn, void *arg)
{
	struct s3_lister *l = s3_lister_new(s, bucket, prefix, delimiter, max_keys);
	int r;

	if (!l)
		return -ENOMEM;
	while ((r = s3_lister_next(l, fn, arg)) > 0)
		;
	log_debug("listed s3://%s/%s in %u page%s", bucket, prefix ? prefix : "", l->pages,
		  l->pages == 1 ? "" : "s");
	s3_lister_free(l);
	return r;
}

int s3_list_buckets(struct s3 *s, s3xml_entry_fn fn, void *arg)
{
	return s3_list(s, NULL, NULL, NULL, 0, fn, arg);
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
	int r, malformed;

	buf_init(&out, S3_RESULT_MAX);
	call->out_dyn = &out;
	call->deadline_ms = s3_now_ms() + s->cfg.timeout_ms + call->work_ms;
	for (attempt = 0;; attempt++) {
		struct s3err_class cls = {-EIO, 1, 0};

		r = s3_perform(s, call);
		if (r < 0)
			break;
		/* An answer cut short or damaged on the way is retried as a
		 * 500 would be: the request itself was fine. */
		malformed = s3xml_parse_result(out.data, out.len, res) < 0;
		if (!malformed && !res->is_error)
			break;
		if (!malformed)
			cls = s3err_classify(0, 500, res->code);
		r = cls.err ? cls.err : -EIO;
		if (!cls.retryable || attempt >= s->cfg.retries ||
		    s3_backoff(attempt, cls.slow_down, call->deadline_ms) < 0) {
			if (!malformed)
				log_err("%s s3://%s/%s: %s (%s)", call->method, call->bucket,
					call->key, res->code, res->message);
			else
				log_err("%s s3://%s/%s: the server's answer is not S3 XML",
					call->method, call->bucket, call->key);
			break;
		}
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

/* The uploads of one key, as ListMultipartUploads gives them. */
struct s3_uploads {
	const char *key;
	struct {
		char *id;
		time_t initiated;
	} u[S3_SWEEP_MAX];
	unsigned n;
};

static int s3_uploads_add(void *arg, const struct s3xml_entry *e)
{
	struct s3_uploads *ups = arg;

	if (e->kind != S3XML_UPLOAD || strcmp(e->name, ups->key) || ups->n == S3_SWEEP_MAX)
		return 0;
	ups->u[ups->n].id = strdup(e->upload_id);
	if (!ups->u[ups->n].id)
		return -ENOMEM;
	ups->u[ups->n++].initiated = e->mtime;
	return 0;
}

static int s3_uploads_list(struct s3 *s, const char *bucket, struct s3_uploads *ups)
{
	struct s3_call call = {.method = "GET", .bucket = bucket};
	struct s3xml_parser *p = s3xml_uploads_parser_new(s3_uploads_add, ups);
	struct buf q, out;
	int r;

	if (!p)
		return -ENOMEM;
	buf_init(&q, 4096);
	buf_init(&out, S3_UPLOADS_MAX);
	r = buf_append(&q, "prefix=", 7);
	if (r == 0)
		r = s3_encode(&q, ups->key, 0);
	if (r == 0)
		r = buf_append(&q, "&uploads=", 9);
	if (r == 0) {
		call.query = q.data;
		call.out_dyn = &out;
		r = s3_perform(s, &call);
	}
	if (r == 0)
		r = s3xml_parser_feed(p, out.data ? out.data : "", out.len, 1);
	s3xml_parser_free(p);
	buf_free(&q);
	buf_free(&out);
	return r;
}

/* A CreateMultipartUpload sent more than once may have started an upload
 * whose answer was lost: nobody knows its UploadId, and its parts would be
 * billed until a lifecycle rule ends them.  Find those uploads of the key
 * that the server started while this call ran, judged by the server's own
 * clock against the Initiated time of the upload that `id` names, and
 * abort them.  Best effort: a failure here only logs. */
static void s3_mpu_sweep(struct s3 *s, const char *bucket, const char *key, const char *id,
			 uint64_t took_ms)
{
	struct s3_uploads ups = {.key = key};
	time_t ours = (time_t)-1, from;
	unsigned i, swept = 0;
	int r = s3_uploads_list(s, bucket, &ups);

	for (i = 0; r == 0 && i < ups.n; i++)
		if (!strcmp(ups.u[i].id, id))
			ours = ups.u[i].initiated;
	if (r < 0 || ours == (time_t)-1) {
		log_info("s3://%s/%s: could not look for an upload the server started twice",
			 bucket, key);
		goto out;
	}
	/* Initiated has a resolution of a second: allow one either side. */
	from = ours - (time_t)(took_ms / 1000) - 1;
	for (i = 0; i < ups.n; i++) {
		if (!strcmp(ups.u[i].id, id) || ups.u[i].initiated < from ||
		    ups.u[i].initiated > ours + 1)
			continue;
		if (s3_mpu_abort(s, bucket, key, ups.u[i].id) == 0)
			swept++;
	}
	if (swept)
		log_info("s3://%s/%s: aborted %u upload%s whose start was answered too late",
			 bucket, key, swept, swept == 1 ? "" : "s");
out:
	for (i = 0; i < ups.n; i++)
		free(ups.u[i].id);
}

int s3_mpu_create(struct s3 *s, const char *bucket, const char *key, const struct s3_meta *meta,
		  char **upload_id)
{
	struct s3_hdrs hs = {0};
	struct s3_call call = {.method = "POST", .bucket = bucket, .key = key, .query = "uploads="};
	struct s3xml_result res;
	uint64_t t0 = s3_now_ms();
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
	if (!*upload_id)
		return -ENOMEM;
	if (call.attempts > 1)
		s3_mpu_sweep(s, bucket, key, *upload_id, s3_now_ms() - t0);
	return 0;
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

/* The server's work allowance (s3_call.work_ms) for a call that makes it
 * assemble or copy `bytes` (0: not known) or `parts` parts: one timeout,
 * plus a second a part and a second per 16 MB, within an hour. */
static unsigned s3_work_ms(const struct s3 *s, off_t bytes, unsigned parts)
{
	uint64_t ms = s->cfg.timeout_ms + (uint64_t)parts * 1000 + (uint64_t)bytes / 16000;

	return ms > 3600000 ? 3600000 : (unsigned)ms;
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
	call.work_ms = s3_work_ms(s, len, 0);
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
	call.work_ms = s3_work_ms(s, 0, n);
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
	call.work_ms = s3_work_ms(s, 0, 0);
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
