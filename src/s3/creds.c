/* creds.c - see creds.h */
#include "config.h"

#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* asprintf, strndup; config.h defines it in the real build */
#endif

#include <arpa/inet.h>
#include <stdarg.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <json-c/json.h>

#include "buf.h"
#include "creds.h"
#include "log.h"

#define CREDS_REFRESH_S	      (5 * 60) /* refresh this long before expiry */
#define CREDS_RETRY_S	      30       /* between refresh attempts while still valid */
#define CREDS_EXPIRED_RETRY_S 5	       /* between attempts once they have expired */
#define CREDS_FILE_MAX	      (1024 * 1024)
#define CREDS_HTTP_MAX	      (64 * 1024)
#define CREDS_HTTP_PREALLOC   8192
#define CREDS_MSG_MAX	      512

#define CREDS_CONTAINER_HOST	   "http://169.254.170.2"
#define CREDS_CONTAINER_CONNECT_MS 1000L
#define CREDS_CONTAINER_TIMEOUT_MS 3000L

#define CREDS_IMDS_ENDPOINT    "http://169.254.169.254"
#define CREDS_IMDS_ENDPOINT_V6 "http://[fd00:ec2::254]"
#define CREDS_IMDS_TIMEOUT_MS  1000L
#define CREDS_IMDS_ROLES       "/latest/meta-data/iam/security-credentials/"

enum creds_kind {
	CREDS_NONE,	 /* anonymous, or nothing found */
	CREDS_STATIC,	 /* environment, profile, boto: never refreshed */
	CREDS_CONTAINER, /* refreshed from p->url */
	CREDS_IMDS,	 /* refreshed from the instance metadata at p->url */
};

struct creds_provider {
	/* Guards cur and next_refresh_at.  It is held across a refresh, so one
	 * thread fetches and the others wait for its result rather than
	 * fetching too.  Innermost lock: nothing else is taken under it. */
	pthread_mutex_t lock;
	struct creds cur;
	time_t next_refresh_at; /* no refresh attempt before this */

	enum creds_kind kind;
	char *url;	       /* container: credentials URL; IMDS: endpoint */
	char *auth_token;      /* container: AWS_CONTAINER_AUTHORIZATION_TOKEN */
	char *auth_token_file; /* container: re-read on every fetch (it rotates) */
};

/* ---------------------------------------------------------------------- */
/* small helpers */

/* An environment variable, or NULL when unset or empty. */
static const char *creds_getenv(const char *name)
{
	const char *v = getenv(name);

	return v && *v ? v : NULL;
}

/* creds.source, truncated if need be: it is for people to read. */
static void creds_set_source(struct creds *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void creds_set_source(struct creds *c, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(c->source, sizeof(c->source), fmt, ap);
	va_end(ap);
}

static void creds_str_free(char *s)
{
	if (!s)
		return;
	explicit_bzero(s, strlen(s));
	free(s);
}

static char *creds_trim(char *s)
{
	size_t n;

	while (isspace((unsigned char)*s))
		s++;
	n = strlen(s);
	while (n && isspace((unsigned char)s[n - 1]))
		s[--n] = '\0';
	return s;
}

static const char *creds_home(void)
{
	const char *home = creds_getenv("HOME");
	struct passwd *pw;

	if (home)
		return home;
	pw = getpwuid(getuid());
	return pw && pw->pw_dir && *pw->pw_dir ? pw->pw_dir : NULL;
}

/* The path named by the environment variable env (a leading "~/" expanded),
 * else $HOME/rel.  *out is NULL when there is no home directory to use. */
static int creds_path(const char *env, const char *rel, char **out)
{
	const char *v = env ? creds_getenv(env) : NULL;
	const char *home = creds_home();
	size_t n;
	char *p;

	*out = NULL;
	if (v && strncmp(v, "~/", 2) != 0) {
		p = strdup(v);
		goto done;
	}
	if (v)
		rel = v + 2;
	if (!home)
		return 0;
	n = strlen(home);
	while (n > 1 && home[n - 1] == '/')
		n--;
	if (asprintf(&p, "%.*s/%s", (int)n, home, rel) < 0)
		p = NULL;
done:
	if (!p)
		return -ENOMEM;
	*out = p;
	return 0;
}

/* A path for messages, with the home directory shown as "~". */
static void creds_show_path(const char *path, char *out, size_t size)
{
	const char *home = creds_home();
	size_t n = home ? strlen(home) : 0;

	while (n > 1 && home[n - 1] == '/')
		n--;
	if (n > 1 && strncmp(path, home, n) == 0 && path[n] == '/')
		snprintf(out, size, "~%s", path + n);
	else
		snprintf(out, size, "%s", path);
}

/* The whole of a small file, NUL-terminated.  *alloc is the size of the
 * allocation, for wiping it; *mode the file's mode when mode is not NULL. */
static int creds_slurp(const char *path, char **out, size_t *alloc, mode_t *mode)
{
	struct stat st;
	char *data = NULL;
	size_t size = 0, len = 0;
	ssize_t n;
	int fd, r;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0) {
		r = -errno;
		goto out;
	}
	if (S_ISDIR(st.st_mode)) {
		r = -EISDIR;
		goto out;
	}
	if (st.st_size > CREDS_FILE_MAX) {
		r = -EFBIG;
		goto out;
	}
	/* One allocation of the final size: growing by realloc would leave
	 * copies of the secrets behind in freed memory. */
	size = (size_t)st.st_size + 1;
	data = malloc(size);
	if (!data) {
		r = -ENOMEM;
		goto out;
	}
	while (len < size - 1) {
		n = read(fd, data + len, size - 1 - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			r = -errno;
			goto out;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	data[len] = '\0';
	if (mode)
		*mode = st.st_mode;
	*out = data;
	*alloc = size;
	data = NULL;
	r = 0;
out:
	if (data) {
		explicit_bzero(data, size);
		free(data);
	}
	close(fd);
	return r;
}

/* ---------------------------------------------------------------------- */
/* INI files: ~/.aws/credentials, ~/.aws/config, boto */

struct creds_kv {
	const char *key;
	char *value; /* malloc'd; the last one in the file wins */
};

enum creds_ini_style {
	CREDS_INI_PLAIN,  /* [NAME]: credentials file, boto */
	CREDS_INI_CONFIG, /* [profile NAME], and [default] */
};

static void creds_kv_clear(struct creds_kv *kv, size_t n_kv)
{
	for (size_t i = 0; i < n_kv; i++) {
		creds_str_free(kv[i].value);
		kv[i].value = NULL;
	}
}

static const char *creds_kv_get(const struct creds_kv *kv, size_t n_kv, const char *key)
{
	for (size_t i = 0; i < n_kv; i++)
		if (strcmp(kv[i].key, key) == 0)
			return kv[i].value && *kv[i].value ? kv[i].value : NULL;
	return NULL;
}

static int creds_section_match(const char *name, const char *want, enum creds_ini_style style)
{
	if (style == CREDS_INI_PLAIN)
		return strcmp(name, want) == 0;
	if (strcmp(want, "default") == 0 && strcmp(name, "default") == 0)
		return 1;
	if (strncmp(name, "profile", 7) != 0 || !isspace((unsigned char)name[7]))
		return 0;
	name += 7;
	while (isspace((unsigned char)*name))
		name++;
	return strcmp(name, want) == 0;
}

/* Parse text in place, keeping the values of the keys in kv (case
 * insensitive) from the sections that match section. */
static int creds_ini_parse(char *text, const char *section, enum creds_ini_style style,
			   struct creds_kv *kv, size_t n_kv, int *found)
{
	char *line, *next, *s, *end, *eq, *key, *val;
	int in_section = 0, nested = 0, indented;

	for (line = text; line; line = next) {
		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		indented = line[0] == ' ' || line[0] == '\t';
		s = creds_trim(line);
		if (!*s || *s == '#' || *s == ';')
			continue;
		if (*s == '[') {
			end = strrchr(s, ']');
			nested = 0;
			in_section = 0;
			if (!end)
				continue;
			*end = '\0';
			in_section = creds_section_match(creds_trim(s + 1), section, style);
			if (in_section)
				*found = 1;
			continue;
		}
		/* "s3 =" followed by indented lines is a nested block (botocore);
		 * its keys are not the profile's. */
		if (indented && nested)
			continue;
		nested = 0;
		eq = strchr(s, '=');
		if (!eq)
			continue;
		*eq = '\0';
		key = creds_trim(s);
		val = eq + 1;
		for (char *c = val; *c; c++) {
			if ((*c == '#' || *c == ';') && c > val && isspace((unsigned char)c[-1])) {
				*c = '\0';
				break;
			}
		}
		val = creds_trim(val);
		if (!*val)
			nested = 1;
		if (!in_section)
			continue;
		for (size_t i = 0; i < n_kv; i++) {
			if (strcasecmp(key, kv[i].key) != 0)
				continue;
			creds_str_free(kv[i].value);
			kv[i].value = strdup(val);
			if (!kv[i].value)
				return -ENOMEM;
		}
	}
	return 0;
}

/* Read the keys in kv from the sections of file path that match section.
 * 0 (*found set when such a section exists), -ENOENT when there is no
 * such file, another negative errno when it cannot be read. */
static int creds_ini_read(const char *path, const char *section, enum creds_ini_style style,
			  struct creds_kv *kv, size_t n_kv, int *found, mode_t *mode)
{
	char *text = NULL;
	size_t alloc = 0;
	int r;

	*found = 0;
	r = creds_slurp(path, &text, &alloc, mode);
	if (r < 0)
		return r;
	r = creds_ini_parse(text, section, style, kv, n_kv, found);
	explicit_bzero(text, alloc);
	free(text);
	return r;
}

/* Read a file that may hold keys; a missing file is no error, an
 * unreadable one a warning. */
static int creds_ini_try(const char *path, const char *section, enum creds_ini_style style,
			 struct creds_kv *kv, size_t n_kv, int *found, mode_t *mode)
{
	char shown[256];
	int r;

	*found = 0;
	if (!path)
		return 0;
	r = creds_ini_read(path, section, style, kv, n_kv, found, mode);
	if (r == -ENOENT || r == -ENOTDIR)
		return 0;
	if (r == -ENOMEM)
		return r;
	if (r < 0) {
		creds_show_path(path, shown, sizeof(shown));
		log_warn("cannot read %s: %s", shown, strerror(-r));
	}
	return 0;
}

/* As ssh does for private keys and s3fs for its passwd file: say so when
 * others can reach the keys, and keep working (the keys are used). */
static void creds_check_mode(const char *shown, mode_t mode)
{
	if (mode & 077)
		log_warn("%s holds AWS keys and is accessible by group or others (mode %04o); "
			 "run 'chmod 600 %s'",
			 shown, (unsigned)(mode & 07777), shown);
}

/* 1 when a file's section held a key id or a secret. */
static int creds_kv_has_keys(const struct creds_kv *kv, size_t n_kv)
{
	return creds_kv_get(kv, n_kv, "aws_access_key_id") ||
	       creds_kv_get(kv, n_kv, "aws_secret_access_key") ||
	       creds_kv_get(kv, n_kv, "aws_session_token");
}

/* Move the keys found in kv into out. */
static int creds_take_keys(struct creds_kv *kv, size_t n_kv, struct creds *out)
{
	const char *id = creds_kv_get(kv, n_kv, "aws_access_key_id");
	const char *secret = creds_kv_get(kv, n_kv, "aws_secret_access_key");
	const char *token = creds_kv_get(kv, n_kv, "aws_session_token");

	out->access_key_id = strdup(id);
	out->secret_access_key = strdup(secret);
	out->session_token = token ? strdup(token) : NULL;
	if (!out->access_key_id || !out->secret_access_key || (token && !out->session_token)) {
		creds_clear(out);
		return -ENOMEM;
	}
	out->expiration = 0;
	return 0;
}

/* ---------------------------------------------------------------------- */
/* 1. environment */

static int creds_from_env(struct creds *out, char *msg, size_t msg_size)
{
	const char *id = creds_getenv("AWS_ACCESS_KEY_ID");
	const char *secret = creds_getenv("AWS_SECRET_ACCESS_KEY");
	const char *token = creds_getenv("AWS_SESSION_TOKEN");

	if (!id && !secret)
		return 0;
	if (!id || !secret) {
		snprintf(msg, msg_size, "%s is set but %s is not; set both or neither",
			 id ? "AWS_ACCESS_KEY_ID" : "AWS_SECRET_ACCESS_KEY",
			 id ? "AWS_SECRET_ACCESS_KEY" : "AWS_ACCESS_KEY_ID");
		return -EINVAL;
	}
	if (!token)
		token = creds_getenv("AWS_SECURITY_TOKEN"); /* the older name */
	out->access_key_id = strdup(id);
	out->secret_access_key = strdup(secret);
	out->session_token = token ? strdup(token) : NULL;
	if (!out->access_key_id || !out->secret_access_key || (token && !out->session_token)) {
		creds_clear(out);
		return -ENOMEM;
	}
	creds_set_source(out, "environment");
	return 0;
}

/* ---------------------------------------------------------------------- */
/* 2. shared files */

/* Keys a profile may hold that mean another way of getting credentials,
 * one botocore would try before the profile's static keys. */
static const char *const creds_unsupported_keys[] = {
    "role_arn", "credential_process", "sso_start_url", "sso_session", "web_identity_token_file",
};

enum {
	CREDS_KV_ID,
	CREDS_KV_SECRET,
	CREDS_KV_TOKEN,
	CREDS_KV_FIRST_UNSUPPORTED,
	CREDS_KV_N = CREDS_KV_FIRST_UNSUPPORTED + 5,
};

static void creds_profile_kv(struct creds_kv *kv)
{
	kv[CREDS_KV_ID].key = "aws_access_key_id";
	kv[CREDS_KV_SECRET].key = "aws_secret_access_key";
	kv[CREDS_KV_TOKEN].key = "aws_session_token";
	for (size_t i = 0; i < CREDS_KV_N - CREDS_KV_FIRST_UNSUPPORTED; i++)
		kv[CREDS_KV_FIRST_UNSUPPORTED + i].key = creds_unsupported_keys[i];
	for (size_t i = 0; i < CREDS_KV_N; i++)
		kv[i].value = NULL;
}

/* Check one file's section for profile name; take its keys when it has
 * both.  0 with out->access_key_id still NULL when it has none. */
static int creds_profile_keys(const char *name, const char *shown, struct creds_kv *kv,
			      struct creds *out, char *msg, size_t msg_size)
{
	const char *id = kv[CREDS_KV_ID].value, *secret = kv[CREDS_KV_SECRET].value;
	int r;

	if (!(id && *id) && !(secret && *secret))
		return 0;
	if (!(id && *id) || !(secret && *secret)) {
		snprintf(msg, msg_size, "profile '%s' in %s has %s but no %s", name, shown,
			 id && *id ? "aws_access_key_id" : "aws_secret_access_key",
			 id && *id ? "aws_secret_access_key" : "aws_access_key_id");
		return -EINVAL;
	}
	r = creds_take_keys(kv, CREDS_KV_N, out);
	if (r < 0)
		return r;
	creds_set_source(out, "profile '%s' in %s", name, shown);
	return 0;
}

/* named: the profile was asked for (argument or AWS_PROFILE), so it must
 * exist in one of the files. */
static int creds_from_profile(const char *name, int named, struct creds *out, char *msg,
			      size_t msg_size)
{
	struct creds_kv ckv[CREDS_KV_N], fkv[CREDS_KV_N];
	char *cpath = NULL, *fpath = NULL;
	char cshown[160] = "~/.aws/credentials", fshown[160] = "~/.aws/config";
	mode_t cmode = 0, fmode = 0;
	int cfound = 0, ffound = 0, r;

	creds_profile_kv(ckv);
	creds_profile_kv(fkv);
	r = creds_path("AWS_SHARED_CREDENTIALS_FILE", ".aws/credentials", &cpath);
	if (r < 0)
		goto out;
	r = creds_path("AWS_CONFIG_FILE", ".aws/config", &fpath);
	if (r < 0)
		goto out;
	if (cpath)
		creds_show_path(cpath, cshown, sizeof(cshown));
	if (fpath)
		creds_show_path(fpath, fshown, sizeof(fshown));

	r = creds_ini_try(cpath, name, CREDS_INI_PLAIN, ckv, CREDS_KV_N, &cfound, &cmode);
	if (r < 0)
		goto out;
	r = creds_ini_try(fpath, name, CREDS_INI_CONFIG, fkv, CREDS_KV_N, &ffound, &fmode);
	if (r < 0)
		goto out;

	/* A file holding this profile's keys is a secret whether or not its
	 * keys win: the config file's when the credentials file has some too. */
	if (creds_kv_has_keys(ckv, CREDS_KV_N))
		creds_check_mode(cshown, cmode);
	if (creds_kv_has_keys(fkv, CREDS_KV_N))
		creds_check_mode(fshown, fmode);

	if (named && !cfound && !ffound) {
		snprintf(msg, msg_size, "profile '%s' not found in %s or %s", name, cshown, fshown);
		r = -ENOENT;
		goto out;
	}
	for (int i = CREDS_KV_FIRST_UNSUPPORTED; i < CREDS_KV_N; i++) {
		int in_c = ckv[i].value && *ckv[i].value;

		if (!in_c && !(fkv[i].value && *fkv[i].value))
			continue;
		snprintf(msg, msg_size,
			 "profile '%s' in %s uses %s, which odofs does not support; give it "
			 "aws_access_key_id and aws_secret_access_key, or export credentials with "
			 "'aws configure export-credentials --profile %s --format env'",
			 name, in_c ? cshown : fshown, ckv[i].key, name);
		r = -ENOTSUP;
		goto out;
	}
	/* The credentials file wins over the config file, as in the CLI. */
	if (cfound) {
		r = creds_profile_keys(name, cshown, ckv, out, msg, msg_size);
		if (r < 0 || out->access_key_id)
			goto out;
	}
	if (ffound) {
		r = creds_profile_keys(name, fshown, fkv, out, msg, msg_size);
		if (r < 0)
			goto out;
	}
	r = 0;
out:
	creds_kv_clear(ckv, CREDS_KV_N);
	creds_kv_clear(fkv, CREDS_KV_N);
	free(cpath);
	free(fpath);
	return r;
}

/* ---------------------------------------------------------------------- */
/* 3. boto */

static int creds_from_boto(struct creds *out, char *msg, size_t msg_size)
{
	struct creds_kv kv[2] = {{"aws_access_key_id", NULL}, {"aws_secret_access_key", NULL}};
	const char *env = creds_getenv("BOTO_CONFIG");
	char *paths[2] = {NULL, NULL};
	char shown[160];
	mode_t mode = 0;
	int found, r;

	if (env) {
		paths[0] = strdup(env);
		r = paths[0] ? 0 : -ENOMEM;
	} else {
		paths[0] = strdup("/etc/boto.cfg");
		r = paths[0] ? creds_path(NULL, ".boto", &paths[1]) : -ENOMEM;
	}
	if (r < 0)
		goto out;
	/* The first file with a [Credentials] section is used (botocore). */
	for (int i = 0; i < 2 && paths[i]; i++) {
		r = creds_ini_try(paths[i], "Credentials", CREDS_INI_PLAIN, kv, 2, &found, &mode);
		if (r < 0)
			goto out;
		if (!creds_kv_get(kv, 2, "aws_access_key_id") &&
		    !creds_kv_get(kv, 2, "aws_secret_access_key"))
			continue;
		creds_show_path(paths[i], shown, sizeof(shown));
		if (!creds_kv_get(kv, 2, "aws_access_key_id") ||
		    !creds_kv_get(kv, 2, "aws_secret_access_key")) {
			snprintf(msg, msg_size, "[Credentials] in %s has %s but no %s", shown,
				 kv[0].value && *kv[0].value ? "aws_access_key_id"
							     : "aws_secret_access_key",
				 kv[0].value && *kv[0].value ? "aws_secret_access_key"
							     : "aws_access_key_id");
			r = -EINVAL;
			goto out;
		}
		r = creds_take_keys(kv, 2, out);
		if (r < 0)
			goto out;
		creds_check_mode(shown, mode);
		creds_set_source(out, "boto config %s", shown);
		break;
	}
	r = 0;
out:
	creds_kv_clear(kv, 2);
	free(paths[0]);
	free(paths[1]);
	return r;
}

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
static int creds_container_setup(struct creds_provider *p, char *msg, size_t msg_size)
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

static int creds_container_fetch(struct creds_provider *p, struct creds *out, char *msg,
				 size_t msg_size)
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
static int creds_imds_setup(struct creds_provider *p, char *msg, size_t msg_size)
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
static int creds_imds_fetch(struct creds_provider *p, struct creds *out, char *msg, size_t msg_size)
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

/* ---------------------------------------------------------------------- */
/* the provider */

struct creds_provider *creds_new(const char *profile, int anonymous, char **err)
{
	struct creds_provider *p;
	char msg[CREDS_MSG_MAX] = "";
	const char *name;
	int named, r;

	if (err)
		*err = NULL;
	p = calloc(1, sizeof(*p));
	if (!p)
		return NULL;
	pthread_mutex_init(&p->lock, NULL);
	p->kind = CREDS_NONE;
	if (anonymous) {
		snprintf(p->cur.source, sizeof(p->cur.source), "anonymous");
		log_info("anonymous: requests will not be signed");
		r = 0;
		goto out;
	}
	if (profile && !*profile)
		profile = NULL;
	name = profile ? profile : creds_getenv("AWS_PROFILE");
	named = name != NULL;
	if (!name)
		name = "default";

	/* A profile given on the command line says which credentials to use:
	 * like botocore, do not let keys from the environment override it. */
	if (!profile) {
		r = creds_from_env(&p->cur, msg, sizeof(msg));
		if (r < 0)
			goto out;
		if (p->cur.access_key_id)
			goto found;
	} else if (creds_getenv("AWS_ACCESS_KEY_ID")) {
		log_info("profile '%s' given: AWS_ACCESS_KEY_ID in the environment is not used",
			 profile);
	}

	r = creds_from_profile(name, named, &p->cur, msg, sizeof(msg));
	if (r < 0)
		goto out;
	if (p->cur.access_key_id)
		goto found;

	r = creds_from_boto(&p->cur, msg, sizeof(msg));
	if (r < 0)
		goto out;
	if (p->cur.access_key_id)
		goto found;

	r = creds_container_setup(p, msg, sizeof(msg));
	if (r < 0)
		goto out;
	if (r > 0) {
		/* Asked for, so a failure is a misconfiguration to report now. */
		r = creds_container_fetch(p, &p->cur, msg, sizeof(msg));
		if (r < 0)
			goto out;
		p->kind = CREDS_CONTAINER;
		goto found;
	}

	r = creds_imds_setup(p, msg, sizeof(msg));
	if (r < 0)
		goto out;
	if (r > 0) {
		r = creds_imds_fetch(p, &p->cur, msg, sizeof(msg));
		if (r == 0) {
			p->kind = CREDS_IMDS;
			goto found;
		}
		if (r == -ENOMEM)
			goto out;
		if (r == -ENOENT)
			log_info("no instance metadata credentials: %s", msg);
		else
			log_warn("no instance metadata credentials: %s", msg);
		msg[0] = '\0';
	}

	log_notice("no AWS credentials found; requests will be unsigned (anonymous)");
	snprintf(p->cur.source, sizeof(p->cur.source), "none");
	r = 0;
	goto out;
found:
	if (p->kind == CREDS_NONE)
		p->kind = CREDS_STATIC;
	log_info("AWS credentials from %s", p->cur.source);
	r = 0;
out:
	if (r < 0) {
		if (err)
			*err = strdup(msg[0] ? msg : strerror(-r));
		creds_free(p);
		return NULL;
	}
	return p;
}

static int creds_copy(const struct creds *src, struct creds *dst)
{
	struct creds c = {0};

	if (src->access_key_id) {
		c.access_key_id = strdup(src->access_key_id);
		c.secret_access_key = strdup(src->secret_access_key);
		if (!c.access_key_id || !c.secret_access_key)
			goto fail;
	}
	if (src->session_token) {
		c.session_token = strdup(src->session_token);
		if (!c.session_token)
			goto fail;
	}
	c.expiration = src->expiration;
	memcpy(c.source, src->source, sizeof(c.source));
	*dst = c;
	return 0;
fail:
	creds_clear(&c);
	return -ENOMEM;
}

/* Called with p->lock held. */
static void creds_refresh(struct creds_provider *p, time_t now)
{
	struct creds fresh = {0};
	char msg[CREDS_MSG_MAX] = "";
	int r;

	if (p->kind == CREDS_CONTAINER)
		r = creds_container_fetch(p, &fresh, msg, sizeof(msg));
	else
		r = creds_imds_fetch(p, &fresh, msg, sizeof(msg));
	if (r == 0) {
		creds_clear(&p->cur);
		p->cur = fresh;
		log_info("refreshed AWS credentials from %s", p->cur.source);
	} else if (now < p->cur.expiration) {
		log_warn("cannot refresh the AWS credentials (%s); using the current ones, which "
			 "expire in %lld s",
			 msg[0] ? msg : strerror(-r), (long long)(p->cur.expiration - now));
	} else {
		log_err("cannot refresh the expired AWS credentials: %s",
			msg[0] ? msg : strerror(-r));
	}
	/* Credentials that still expire soon after a refresh (or a refresh
	 * that failed) are not fetched again by every request: wait a little,
	 * but try again when they expire. */
	if (p->cur.expiration > now) {
		p->next_refresh_at = now + CREDS_RETRY_S;
		if (p->next_refresh_at > p->cur.expiration)
			p->next_refresh_at = p->cur.expiration;
	} else {
		p->next_refresh_at = now + CREDS_EXPIRED_RETRY_S;
	}
}

int creds_get(struct creds_provider *p, struct creds *out)
{
	time_t now;
	int r;

	if (!p) {
		memset(out, 0, sizeof(*out));
		creds_set_source(out, "anonymous");
		return 0;
	}
	pthread_mutex_lock(&p->lock);
	now = time(NULL);
	if ((p->kind == CREDS_CONTAINER || p->kind == CREDS_IMDS) && p->cur.expiration &&
	    now >= p->cur.expiration - CREDS_REFRESH_S && now >= p->next_refresh_at)
		creds_refresh(p, now);
	if (p->cur.expiration && now >= p->cur.expiration) {
		r = -EKEYEXPIRED;
		goto out;
	}
	r = creds_copy(&p->cur, out);
out:
	pthread_mutex_unlock(&p->lock);
	return r;
}

void creds_clear(struct creds *c)
{
	if (!c)
		return;
	creds_str_free(c->access_key_id);
	creds_str_free(c->secret_access_key);
	creds_str_free(c->session_token);
	explicit_bzero(c, sizeof(*c));
}

void creds_free(struct creds_provider *p)
{
	if (!p)
		return;
	pthread_mutex_destroy(&p->lock);
	creds_clear(&p->cur);
	creds_str_free(p->auth_token);
	free(p->auth_token_file);
	free(p->url);
	free(p);
}

char *creds_profile_region(const char *profile)
{
	struct creds_kv kv[1] = {{"region", NULL}};
	const char *name = profile && *profile ? profile : creds_getenv("AWS_PROFILE");
	char *path = NULL;
	int found;

	if (!name)
		name = "default";
	if (creds_path("AWS_CONFIG_FILE", ".aws/config", &path) < 0 || !path)
		return NULL;
	if (creds_ini_try(path, name, CREDS_INI_CONFIG, kv, 1, &found, NULL) < 0 || !kv[0].value ||
	    !*kv[0].value) {
		creds_kv_clear(kv, 1);
		free(path);
		return NULL;
	}
	free(path);
	return kv[0].value;
}
