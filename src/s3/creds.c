/* creds.c - see creds.h */
#include "config.h"

#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* asprintf, strndup; config.h defines it in the real build */
#endif

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "creds.h"
#include "creds_i.h"
#include "log.h"

#define CREDS_REFRESH_S	      (5 * 60) /* refresh this long before expiry */
#define CREDS_RETRY_S	      30       /* between refresh attempts while still valid */
#define CREDS_EXPIRED_RETRY_S 5	       /* between attempts once they have expired */
#define CREDS_FILE_MAX	      (1024 * 1024)
#define CREDS_MSG_MAX	      512

/* ---------------------------------------------------------------------- */
/* small helpers */

/* An environment variable, or NULL when unset or empty. */
const char *creds_getenv(const char *name)
{
	const char *v = getenv(name);

	return v && *v ? v : NULL;
}

/* creds.source, truncated if need be: it is for people to read. */
void creds_set_source(struct creds *c, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(c->source, sizeof(c->source), fmt, ap);
	va_end(ap);
}

void creds_str_free(char *s)
{
	if (!s)
		return;
	explicit_bzero(s, strlen(s));
	free(s);
}

char *creds_trim(char *s)
{
	size_t n;

	while (isspace((unsigned char)*s))
		s++;
	n = strlen(s);
	while (n && isspace((unsigned char)s[n - 1]))
		s[--n] = '\0';
	return s;
}
/* The whole of a small file, NUL-terminated.  *alloc is the size of the
 * allocation, for wiping it; *mode the file's mode when mode is not NULL. */
int creds_slurp(const char *path, char **out, size_t *alloc, mode_t *mode)
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
