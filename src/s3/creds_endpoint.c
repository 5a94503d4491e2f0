/* creds_endpoint.c - the temporary credentials of the credential chain
 * (creds.h), fetched over HTTP from the container credentials endpoint or
 * the EC2 instance metadata service, and refreshed by creds.c before they
 * expire.
 */
#include "config.h"

#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* asprintf, strndup; config.h defines it in the real build */
#endif

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <curl/curl.h>
#include <json-c/json.h>

#include "buf.h"
#include "creds.h"
#include "creds_i.h"
#include "log.h"

#define CREDS_HTTP_MAX	    (64 * 1024)
#define CREDS_HTTP_PREALLOC 8192

#define CREDS_CONTAINER_HOST	   "http://169.254.170.2"
#define CREDS_CONTAINER_CONNECT_MS 1000L
#define CREDS_CONTAINER_TIMEOUT_MS 3000L

#define CREDS_IMDS_ENDPOINT    "http://169.254.169.254"
#define CREDS_IMDS_ENDPOINT_V6 "http://[fd00:ec2::254]"
#define CREDS_IMDS_TIMEOUT_MS  1000L
#define CREDS_IMDS_ROLES       "/latest/meta-data/iam/security-credentials/"

/* ---------------------------------------------------------------------- */
/* HTTP and JSON, for the container and instance metadata endpoints */

static size_t creds_write_cb(char *data, size_t size, size_t n, void *arg)
{
	struct buf *b = arg;

	if (buf_append(b, data, size * n) < 0)
		return 0;
	return size * n;
}

/* Wipe header values (tokens) before freeing the list. */
static void creds_slist_free_secret(struct curl_slist *list)
{
	for (struct curl_slist *s = list; s; s = s->next)
		explicit_bzero(s->data, strlen(s->data));
	curl_slist_free_all(list);
}

static int creds_curl_errno(CURLcode rc)
{
	switch (rc) {
	case CURLE_OPERATION_TIMEDOUT:
		return -ETIMEDOUT;
	case CURLE_COULDNT_CONNECT:
		return -ECONNREFUSED;
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_RESOLVE_PROXY:
		return -EHOSTUNREACH;
	case CURLE_WRITE_ERROR:
		return -E2BIG;
	case CURLE_OUT_OF_MEMORY:
		return -ENOMEM;
	default:
		return -EIO;
	}
}

/* One request on h; body holds the response, *status its HTTP status.
 * A failed transfer is a negative errno with the reason in msg, which
 * begins with what. */
static int creds_http(CURL *h, const char *what, int put, const char *url, struct curl_slist *hdrs,
		      long connect_ms, long timeout_ms, struct buf *body, long *status, char *msg,
		      size_t msg_size)
{
	CURLcode rc;

	curl_easy_reset(h);
	buf_reset(body);
	*status = 0;
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, connect_ms);
	curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, timeout_ms);
#if LIBCURL_VERSION_NUM >= 0x075500
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
#else
	curl_easy_setopt(h, CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
	/* Metadata endpoints are local to the host: a proxy from the
	 * environment must not see them, nor the tokens sent to them. */
	if (strncasecmp(url, "https:", 6) != 0)
		curl_easy_setopt(h, CURLOPT_NOPROXY, "*");
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, creds_write_cb);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, body);
	if (put) {
		curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, "PUT");
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, "");
		curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, 0L);
	}
	rc = curl_easy_perform(h);
	if (rc != CURLE_OK) {
		snprintf(msg, msg_size, "%s from %.200s: %s", what, url,
			 rc == CURLE_WRITE_ERROR ? "response too large" : curl_easy_strerror(rc));
		return creds_curl_errno(rc);
	}
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, status);
	return 0;
}

/* A response buffer big enough from the start for any sane response, so it
 * never reallocates and leaves copies of the secrets in freed memory. */
static int creds_body_init(struct buf *body)
{
	buf_init(body, CREDS_HTTP_MAX);
	if (buf_appendf(body, "%*s", CREDS_HTTP_PREALLOC, "") < 0)
		return -ENOMEM;
	buf_reset(body);
	return 0;
}

/* ISO 8601 as the endpoints write it: 2024-05-06T07:08:09Z, optionally
 * with fractional seconds or a +hh:mm offset. */
static int creds_parse_time(const char *s, time_t *out)
{
	struct tm tm = {0};
	int y, mo, d, h, mi, sec, n = 0, oh = 0, om = 0, sign = 0;
	const char *p;
	time_t t;

	if (sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d%n", &y, &mo, &d, &h, &mi, &sec, &n) != 6 || !n)
		return -EINVAL;
	p = s + n;
	if (*p == '.')
		for (p++; isdigit((unsigned char)*p); p++)
			;
	if (*p == 'Z' || *p == 'z') {
		p++;
	} else if (*p == '+' || *p == '-') {
		sign = *p == '-' ? -1 : 1;
		if (isdigit((unsigned char)p[1]) && isdigit((unsigned char)p[2])) {
			oh = (p[1] - '0') * 10 + (p[2] - '0');
			p += 3;
			if (*p == ':')
				p++;
			if (isdigit((unsigned char)p[0]) && isdigit((unsigned char)p[1])) {
				om = (p[0] - '0') * 10 + (p[1] - '0');
				p += 2;
			}
		} else {
			return -EINVAL;
		}
	}
	if (*p || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60)
		return -EINVAL;
	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min = mi;
	tm.tm_sec = sec;
	t = timegm(&tm);
	if (t == (time_t)-1)
		return -EINVAL;
	*out = t - sign * (oh * 3600 + om * 60);
	return 0;
}

/* A string member, or NULL. */
static const char *creds_json_str(struct json_object *obj, const char *key)
{
	struct json_object *v;

	if (!json_object_object_get_ex(obj, key, &v) || !json_object_is_type(v, json_type_string))
		return NULL;
	return json_object_get_string(v);
}

/* json-c frees without wiping: wipe the secret strings in place first. */
static void creds_json_wipe(struct json_object *obj, const char *key)
{
	struct json_object *v;

	if (json_object_object_get_ex(obj, key, &v) && json_object_is_type(v, json_type_string))
		explicit_bzero((char *)json_object_get_string(v),
			       (size_t)json_object_get_string_len(v));
}

/* {AccessKeyId, SecretAccessKey, Token, Expiration}, as both the container
 * and the instance metadata endpoints return them. */
static int creds_parse_json(const char *text, size_t len, struct creds *out, const char *what,
			    char *msg, size_t msg_size)
{
	struct json_tokener *tok = json_tokener_new();
	struct json_object *obj = NULL;
	struct creds c = {0};
	const char *code, *id, *secret, *token, *exp;
	int r = -EPROTO;

	if (!tok) {
		r = -ENOMEM;
		goto out;
	}
	obj = json_tokener_parse_ex(tok, text ? text : "", (int)len);
	if (!obj || json_tokener_get_error(tok) != json_tokener_success ||
	    !json_object_is_type(obj, json_type_object)) {
		snprintf(msg, msg_size, "%s: the response is not a JSON object", what);
		goto out;
	}
	code = creds_json_str(obj, "Code");
	if (code && strcmp(code, "Success") != 0) {
		snprintf(msg, msg_size, "%s: the endpoint says %.64s", what, code);
		goto out;
	}
	id = creds_json_str(obj, "AccessKeyId");
	secret = creds_json_str(obj, "SecretAccessKey");
	token = creds_json_str(obj, "Token");
	exp = creds_json_str(obj, "Expiration");
	if (!id || !*id || !secret || !*secret) {
		snprintf(msg, msg_size, "%s: the response has no AccessKeyId and SecretAccessKey",
			 what);
		goto out;
	}
	if (exp && *exp && creds_parse_time(exp, &c.expiration) < 0) {
		snprintf(msg, msg_size, "%s: cannot parse Expiration '%.40s'", what, exp);
		goto out;
	}
	c.access_key_id = strdup(id);
	c.secret_access_key = strdup(secret);
	c.session_token = token && *token ? strdup(token) : NULL;
	if (!c.access_key_id || !c.secret_access_key || (token && *token && !c.session_token)) {
		r = -ENOMEM;
		goto out;
	}
	*out = c;
	memset(&c, 0, sizeof(c));
	r = 0;
out:
	creds_clear(&c);
	if (obj) {
		creds_json_wipe(obj, "AccessKeyId");
		creds_json_wipe(obj, "SecretAccessKey");
		creds_json_wipe(obj, "Token");
		json_object_put(obj);
	}
	if (tok)
		json_tokener_free(tok);
	return r;
}

/* "Name: value" for a header list; the value may be a secret. */
static int creds_header_add(struct curl_slist **list, const char *name, const char *value)
{
	size_t size = strlen(name) + 2 + strlen(value) + 1;
	char *line = malloc(size);
	struct curl_slist *l;

	if (!line)
		return -ENOMEM;
	snprintf(line, size, "%s: %s", name, value);
	l = curl_slist_append(*list, line);
	explicit_bzero(line, size);
	free(line);
	if (!l)
		return -ENOMEM;
	*list = l;
	return 0;
}

/* ---------------------------------------------------------------------- */
/* 4. container */

static int creds_host_is_local(const char *host)
{
	unsigned char a[16];
	char h[64];
	size_t n = strlen(host);
	static const unsigned char eks6[16] = {0xfd, 0x00, 0x0e, 0xc2, [15] = 0x23};

	if (strcasecmp(host, "localhost") == 0)
		return 1;
	if (inet_pton(AF_INET, host, a) == 1)
		/* Loopback, and the ECS and EKS Pod Identity agents, which
		 * botocore allows too. */
		return a[0] == 127 || strcmp(host, "169.254.170.2") == 0 ||
		       strcmp(host, "169.254.170.23") == 0;
	if (n < 3 || n - 2 >= sizeof(h) || host[0] != '[' || host[n - 1] != ']')
		return 0;
	memcpy(h, host + 1, n - 2);
	h[n - 2] = '\0';
	if (inet_pton(AF_INET6, h, a) != 1)
		return 0;
	return memcmp(a, &in6addr_loopback, 16) == 0 || memcmp(a, eks6, 16) == 0;
}

/* Only https, or http to this host: the token must not travel in clear. */
static int creds_container_url_ok(const char *url)
{
	CURLU *u = curl_url();
	char *scheme = NULL, *host = NULL;
	int ok = 0;

	if (!u)
		return -ENOMEM;
	if (curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK)
		goto out;
	if (strcasecmp(scheme, "https") == 0)
		ok = 1;
	else if (strcasecmp(scheme, "http") == 0)
		ok = creds_host_is_local(host);
out:
	curl_free(scheme);
	curl_free(host);
	curl_url_cleanup(u);
	return ok;
}

/* 1 when the environment asks for container credentials, 0 when not. */
int creds_container_setup(struct creds_provider *p, char *msg, size_t msg_size)
{
	const char *rel = creds_getenv("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI");
	const char *full = creds_getenv("AWS_CONTAINER_CREDENTIALS_FULL_URI");
	const char *token_file = creds_getenv("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE");
	const char *token = creds_getenv("AWS_CONTAINER_AUTHORIZATION_TOKEN");
	int r;

	if (rel) {
		if (asprintf(&p->url, "%s%s%s", CREDS_CONTAINER_HOST, rel[0] == '/' ? "" : "/",
			     rel) < 0) {
			p->url = NULL;
			return -ENOMEM;
		}
	} else if (full) {
		r = creds_container_url_ok(full);
		if (r < 0)
			return r;
		if (!r) {
			snprintf(
			    msg, msg_size,
			    "AWS_CONTAINER_CREDENTIALS_FULL_URI '%.200s' must be https, or http "
			    "to a loopback address",
			    full);
			return -EINVAL;
		}
		p->url = strdup(full);
		if (!p->url)
			return -ENOMEM;
	} else {
		return 0;
	}
	if (token_file) {
		p->auth_token_file = strdup(token_file);
		if (!p->auth_token_file)
			return -ENOMEM;
	} else if (token) {
		p->auth_token = strdup(token);
		if (!p->auth_token)
			return -ENOMEM;
	}
	return 1;
}

int creds_container_fetch(struct creds_provider *p, struct creds *out, char *msg, size_t msg_size)
{
	struct curl_slist *hdrs = NULL;
	struct buf body;
	CURL *h = NULL;
	char *file_token = NULL;
	const char *token = p->auth_token;
	size_t alloc = 0;
	long status;
	int r;

	r = creds_body_init(&body);
	if (r < 0)
		goto out;
	if (p->auth_token_file) {
		r = creds_slurp(p->auth_token_file, &file_token, &alloc, NULL);
		if (r < 0) {
			snprintf(msg, msg_size,
				 "cannot read AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE %s: %s",
				 p->auth_token_file, strerror(-r));
			goto out;
		}
		token = creds_trim(file_token);
	}
	if (token && *token) {
		if (strpbrk(token, "\r\n")) {
			snprintf(msg, msg_size,
				 "the container authorization token contains a line break");
			r = -EINVAL;
			goto out;
		}
		r = creds_header_add(&hdrs, "Authorization", token);
		if (r < 0)
			goto out;
	}
	hdrs = curl_slist_append(hdrs, "Accept: application/json");
	h = curl_easy_init();
	if (!hdrs || !h) {
		r = -ENOMEM;
		goto out;
	}
	r = creds_http(h, "container credentials", 0, p->url, hdrs, CREDS_CONTAINER_CONNECT_MS,
		       CREDS_CONTAINER_TIMEOUT_MS, &body, &status, msg, msg_size);
	if (r < 0)
		goto out;
	if (status != 200) {
		snprintf(msg, msg_size, "container credentials from %.200s: HTTP %ld", p->url,
			 status);
		r = status == 401 || status == 403 ? -EACCES : -EIO;
		goto out;
	}
	r = creds_parse_json(body.data, body.len, out, "container credentials", msg, msg_size);
	if (r < 0)
		goto out;
	creds_set_source(out, "container credentials");
	r = 0;
out:
	if (h)
		curl_easy_cleanup(h);
	creds_slist_free_secret(hdrs);
	buf_free_secret(&body);
	if (file_token) {
		explicit_bzero(file_token, alloc);
		free(file_token);
	}
	return r;
}

/* ---------------------------------------------------------------------- */
/* 5. instance metadata */

/* 1 when instance metadata is to be tried, 0 when it is disabled. */
int creds_imds_setup(struct creds_provider *p, char *msg, size_t msg_size)
{
	const char *disabled = creds_getenv("AWS_EC2_METADATA_DISABLED");
	const char *endpoint = creds_getenv("AWS_EC2_METADATA_SERVICE_ENDPOINT");
	const char *mode = creds_getenv("AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE");
	size_t n;

	if (disabled && strcasecmp(disabled, "true") == 0)
		return 0;
	if (!endpoint)
		endpoint = mode && strcasecmp(mode, "IPv6") == 0 ? CREDS_IMDS_ENDPOINT_V6
								 : CREDS_IMDS_ENDPOINT;
	if (strncasecmp(endpoint, "http://", 7) != 0 && strncasecmp(endpoint, "https://", 8) != 0) {
		snprintf(
		    msg, msg_size,
		    "AWS_EC2_METADATA_SERVICE_ENDPOINT '%.200s' is not an http:// or https:// URL",
		    endpoint);
		return -EINVAL;
	}
	p->url = strdup(endpoint);
	if (!p->url)
		return -ENOMEM;
	n = strlen(p->url);
	while (n && p->url[n - 1] == '/')
		p->url[--n] = '\0';
	return 1;
}

static int creds_role_ok(const char *role)
{
	size_t n = strlen(role);

	if (n == 0 || n > 128)
		return 0;
	for (const char *c = role; *c; c++)
		if (!isalnum((unsigned char)*c) && !strchr("+=,.@_-", *c))
			return 0;
	return 1;
}

/* Goes into a header: printable, no spaces, not absurdly long. */
static int creds_token_ok(const char *token)
{
	size_t n = strlen(token);

	if (n == 0 || n > 4096)
		return 0;
	for (const char *c = token; *c; c++)
		if (!isgraph((unsigned char)*c))
			return 0;
	return 1;
}

/* -ENOENT when there is no instance metadata service here, or it has no
 * role for us; another negative errno when a role's credentials could not
 * be had. */
int creds_imds_fetch(struct creds_provider *p, struct creds *out, char *msg, size_t msg_size)
{
	struct curl_slist *hdrs = NULL;
	struct buf body;
	CURL *h = NULL;
	char *url = NULL, *token = NULL, *role = NULL;
	long status;
	int r;

	r = creds_body_init(&body);
	if (r < 0)
		goto out;
	h = curl_easy_init();
	if (!h || asprintf(&url, "%s/latest/api/token", p->url) < 0) {
		url = NULL;
		r = -ENOMEM;
		goto out;
	}
	hdrs = curl_slist_append(NULL, "X-aws-ec2-metadata-token-ttl-seconds: 21600");
	if (hdrs)
		hdrs = curl_slist_append(hdrs, "Content-Type:");
	if (!hdrs) {
		r = -ENOMEM;
		goto out;
	}
	/* Off EC2 this is where the second goes: no retry, and no IMDSv1
	 * attempt after a timeout. */
	r = creds_http(h, "instance metadata token", 1, url, hdrs, CREDS_IMDS_TIMEOUT_MS,
		       CREDS_IMDS_TIMEOUT_MS, &body, &status, msg, msg_size);
	curl_slist_free_all(hdrs);
	hdrs = NULL;
	if (r < 0) {
		r = r == -ENOMEM ? r : -ENOENT;
		goto out;
	}
	if (status == 200) {
		token = buf_steal(&body);
		if (!token || !creds_token_ok(creds_trim(token))) {
			snprintf(msg, msg_size, "instance metadata: malformed IMDSv2 token");
			r = token ? -EPROTO : -ENOMEM;
			goto out;
		}
		r = creds_body_init(&body);
		if (r < 0)
			goto out;
		r = creds_header_add(&hdrs, "X-aws-ec2-metadata-token", creds_trim(token));
		if (r < 0)
			goto out;
	} else if (status == 403 || status == 404 || status == 405) {
		log_debug("instance metadata: IMDSv2 token refused (HTTP %ld); trying IMDSv1",
			  status);
	} else {
		snprintf(msg, msg_size, "instance metadata token from %.200s: HTTP %ld", url,
			 status);
		r = -ENOENT;
		goto out;
	}

	free(url);
	if (asprintf(&url, "%s%s", p->url, CREDS_IMDS_ROLES) < 0) {
		url = NULL;
		r = -ENOMEM;
		goto out;
	}
	r = creds_http(h, "instance metadata role", 0, url, hdrs, CREDS_IMDS_TIMEOUT_MS,
		       CREDS_IMDS_TIMEOUT_MS, &body, &status, msg, msg_size);
	if (r < 0) {
		r = r == -ENOMEM ? r : -ENOENT;
		goto out;
	}
	if (status == 404) {
		snprintf(msg, msg_size, "instance metadata: the instance has no IAM role");
		r = -ENOENT;
		goto out;
	}
	if (status != 200) {
		snprintf(msg, msg_size, "instance metadata role from %.200s: HTTP %ld", url,
			 status);
		r = -ENOENT;
		goto out;
	}
	role = strndup(body.data ? body.data : "", strcspn(body.data ? body.data : "", "\r\n"));
	if (!role) {
		r = -ENOMEM;
		goto out;
	}
	if (!creds_role_ok(creds_trim(role))) {
		snprintf(msg, msg_size, "instance metadata: malformed role name");
		r = -EPROTO;
		goto out;
	}

	free(url);
	if (asprintf(&url, "%s%s%s", p->url, CREDS_IMDS_ROLES, creds_trim(role)) < 0) {
		url = NULL;
		r = -ENOMEM;
		goto out;
	}
	r = creds_http(h, "instance metadata credentials", 0, url, hdrs, CREDS_IMDS_TIMEOUT_MS,
		       CREDS_IMDS_TIMEOUT_MS, &body, &status, msg, msg_size);
	if (r < 0)
		goto out;
	if (status != 200) {
		snprintf(msg, msg_size, "instance metadata credentials of role '%s': HTTP %ld",
			 creds_trim(role), status);
		r = -EIO;
		goto out;
	}
	r = creds_parse_json(body.data, body.len, out, "instance metadata", msg, msg_size);
	if (r < 0)
		goto out;
	creds_set_source(out, "instance metadata role '%s'", creds_trim(role));
	r = 0;
out:
	if (h)
		curl_easy_cleanup(h);
	creds_slist_free_secret(hdrs);
	buf_free_secret(&body);
	creds_str_free(token);
	free(role);
	free(url);
	return r;
}
