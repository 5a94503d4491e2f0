/* creds_i.h - private to the credential chain (creds.c) and its sources:
 * long-lived keys (creds_static.c) and temporary credentials from an HTTP
 * endpoint (creds_endpoint.c).
 *
 * A source fills a struct creds and returns 0 (out->access_key_id still
 * NULL when it has none), or a negative errno with a one-line reason in msg.
 */
#ifndef ODOFS_CREDS_I_H
#define ODOFS_CREDS_I_H

#include <pthread.h>
#include <stddef.h>
#include <sys/types.h>
#include <time.h>

#include "creds.h"

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

/* ---- small helpers (creds.c) ---- */

/* An environment variable, or NULL when unset or empty. */
const char *creds_getenv(const char *name);

/* creds.source, truncated if need be: it is for people to read. */
void creds_set_source(struct creds *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Wipe and free a string; NULL is fine. */
void creds_str_free(char *s);

/* Trim white space at both ends of s, in place; returns the start. */
char *creds_trim(char *s);

/* The whole of a small file, NUL-terminated.  *alloc is the size of the
 * allocation, for wiping it; *mode the file's mode when mode is not NULL. */
int creds_slurp(const char *path, char **out, size_t *alloc, mode_t *mode);

/* ---- long-lived keys (creds_static.c) ---- */

/* 1. AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN. */
int creds_from_env(struct creds *out, char *msg, size_t msg_size);

/* 2. Profile name in the shared credentials file, then the config file.
 * named: the profile was asked for (argument or AWS_PROFILE), so it must
 * exist in one of the files. */
int creds_from_profile(const char *name, int named, struct creds *out, char *msg, size_t msg_size);

/* 3. [Credentials] of the first boto config file that has one. */
int creds_from_boto(struct creds *out, char *msg, size_t msg_size);

/* ---- temporary credentials from an endpoint (creds_endpoint.c) ---- */

/* 4. Container credentials.  Setup sets p->url and the authorization
 * token from the environment: 1 when the environment asks for container
 * credentials, 0 when not. */
int creds_container_setup(struct creds_provider *p, char *msg, size_t msg_size);

/* Fetch container credentials from p->url into out. */
int creds_container_fetch(struct creds_provider *p, struct creds *out, char *msg, size_t msg_size);

/* 5. EC2 instance metadata.  Setup sets p->url to its endpoint: 1 when
 * instance metadata is to be tried, 0 when it is disabled. */
int creds_imds_setup(struct creds_provider *p, char *msg, size_t msg_size);

/* -ENOENT when there is no instance metadata service here, or it has no
 * role for us; another negative errno when a role's credentials could not
 * be had. */
int creds_imds_fetch(struct creds_provider *p, struct creds *out, char *msg, size_t msg_size);

#endif
