/* request.c - the request engine behind s3.h (declared in s3_i.h)
 *
 * One function, s3_perform(), sends every request: it signs each attempt
 * afresh (credentials may have been refreshed, and x-amz-date must be
 * current), bounds each attempt by what is left of the call's deadline,
 * classifies the outcome through s3err_classify(), and backs off with full
 * jitter before a retry.  The public calls (s3.c, list.c) only build the
 * request and read the answer.
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "creds.h"
#include "http.h"
#include "log.h"
#include "s3.h"
#include "s3_i.h"
#include "s3err.h"
#include "sigv4.h"

#define S3_EMPTY_SHA256	   "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
#define S3_ERROR_BODY_MAX  (64 * 1024)
#define S3_SIGNED_BODY_MAX (1024 * 1024)
#define S3_RESULT_MAX	   (64 * 1024)

uint64_t s3_now_ms(void)
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
int s3_encode(struct buf *b, const char *s, int keep_slash)
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
	/* curl sends no length for a PUT or POST without a body, and some
	 * servers (Ceph RGW on UploadPartCopy) refuse that with 411. */
	if (!call->body && strcmp(call->method, "GET") && strcmp(call->method, "HEAD"))
		hdrs = curl_slist_append(hdrs, "Content-Length: 0");
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
int s3_perform(struct s3 *s, struct s3_call *call)
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

int s3_header(CURL *c, const char *name, char *out, size_t size)
{
	struct curl_header *h;

	if (curl_easy_header(c, name, 0, CURLH_HEADER, -1, &h) != CURLHE_OK)
		return -ENOENT;
	snprintf(out, size, "%s", h->value);
	return 0;
}

/* Run a call whose answer is an XML *Result (or an <Error> that S3 may
 * send with status 200), retrying such errors as s3_perform retries
 * others. */
int s3_perform_result(struct s3 *s, struct s3_call *call, struct s3xml_result *res)
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
