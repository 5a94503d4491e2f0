/* source.c - see source.h */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "pct.h"
#include "source.h"

int source_bucket_name_ok(const char *name)
{
	size_t n = strlen(name);

	if (n < 3 || n > 63)
		return 0;
	if (!isalnum((unsigned char)name[0]) || !isalnum((unsigned char)name[n - 1]))
		return 0;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)name[i];

		if (!(islower(c) || isdigit(c) || c == '.' || c == '-'))
			return 0;
	}
	return 1;
}

static void source_wipe(char *p)
{
	if (p)
		explicit_bzero(p, strlen(p));
	free(p);
}

static void source_db_free(struct source_db *d)
{
	free(d->user);
	source_wipe(d->password);
	free(d->host);
	free(d->port);
	free(d->dbname);
	free(d->schema);
	free(d->table);
	for (size_t i = 0; i < d->nparams; i++) {
		free(d->param_keys[i]);
		source_wipe(d->param_vals[i]);
	}
	free(d->param_keys);
	free(d->param_vals);
}

void source_free(struct source *s)
{
	if (!s)
		return;
	source_db_free(&s->db);
	free(s->bucket);
	free(s->prefix);
	free(s->glob_head);
	free(s->glob_tail);
	memset(s, 0, sizeof(*s));
}

/* Percent-decode n bytes of s into *out: 0, -EINVAL (a bad escape, or an
 * escaped NUL), -ENOMEM. */
static int source_decode(const char *s, size_t n, char **out)
{
	char *d = malloc(n + 1);

	if (!d)
		return -ENOMEM;
	if (pct_decode(s, n, d, 0) < 0) {
		free(d);
		return -EINVAL;
	}
	*out = d;
	return 0;
}

/* [USER[:PASS]@]HOST[:PORT]/DB[::[SCHEMA.]TABLE][?k=v&...] after the
 * scheme; the error messages never repeat the password. */
static int source_parse_db(const char *uri, const char *rest, struct source_db *d, char **err)
{
	const char *q = strchr(rest, '?');
	const char *end = q ? q : rest + strlen(rest);
	const char *slash = memchr(rest, '/', (size_t)(end - rest));
	const char *at, *host, *host_end, *port = NULL, *db, *tsep;
	int r;

	if (!slash || slash + 1 == end)
		return log_einval(err, "%s: expected USER@HOST[:PORT]/DATABASE", uri);
	at = NULL;
	for (const char *p = rest; p < slash; p++)
		if (*p == '@')
			at = p;
	host = rest;
	if (at) {
		const char *colon = memchr(rest, ':', (size_t)(at - rest));
		const char *user_end = colon ? colon : at;

		if (user_end > rest &&
		    (r = source_decode(rest, (size_t)(user_end - rest), &d->user)))
			goto bad_part;
		if (colon && (r = source_decode(colon + 1, (size_t)(at - colon - 1), &d->password)))
			goto bad_part;
		host = at + 1;
	}
	host_end = slash;
	if (*host == '[') {
		const char *close = memchr(host, ']', (size_t)(slash - host));

		if (!close)
			return log_einval(err, "%s: unterminated '[' in the host", uri);
		if (close[1] == ':')
			port = close + 2;
		else if (close + 1 != slash)
			return log_einval(err, "%s: unexpected text after ']'", uri);
		d->host = strndup(host + 1, (size_t)(close - host - 1));
	} else {
		const char *colon = memchr(host, ':', (size_t)(slash - host));

		if (colon) {
			port = colon + 1;
			host_end = colon;
		}
		d->host = strndup(host, (size_t)(host_end - host));
	}
	if (!d->host)
		return -ENOMEM;
	if (!*d->host)
		return log_einval(err, "%s: no host given", uri);
	if (port) {
		size_t n = (size_t)(slash - port);
		unsigned long v = 0;

		if (n == 0 || n > 5 || strspn(port, "0123456789") < n ||
		    (v = strtoul(port, NULL, 10)) == 0 || v > 65535)
			return log_einval(err, "%s: the port must be a number from 1 to 65535",
					  uri);
		d->port = strndup(port, n);
		if (!d->port)
			return -ENOMEM;
	}

	db = slash + 1;
	tsep = NULL;
	for (const char *p = db; p + 1 < end; p++)
		if (p[0] == ':' && p[1] == ':') {
			tsep = p;
			break;
		}
	if ((r = source_decode(db, (size_t)((tsep ? tsep : end) - db), &d->dbname)))
		goto bad_part;
	if (!*d->dbname || strchr(d->dbname, '/'))
		return log_einval(err, "%s: expected one database name after the host", uri);
	if (tsep) {
		const char *t = tsep + 2, *dot = memchr(t, '.', (size_t)(end - t));

		if (t == end || dot == t || (dot && dot + 1 == end))
			return log_einval(err, "%s: expected ::TABLE or ::SCHEMA.TABLE", uri);
		if (dot) {
			if ((r = source_decode(t, (size_t)(dot - t), &d->schema)) ||
			    (r = source_decode(dot + 1, (size_t)(end - dot - 1), &d->table)))
				goto bad_part;
		} else {
			d->schema = strdup("public");
			if (!d->schema)
				return -ENOMEM;
			if ((r = source_decode(t, (size_t)(end - t), &d->table)))
				goto bad_part;
		}
	}

	for (const char *p = q ? q + 1 : NULL; p && *p;) {
		const char *amp = strchr(p, '&'), *pe = amp ? amp : p + strlen(p);
		const char *eq = memchr(p, '=', (size_t)(pe - p));
		char **k, **v;

		if (!eq || eq == p)
			return log_einval(err, "%s: expected KEY=VALUE parameters after '?'", uri);
		k = realloc(d->param_keys, (d->nparams + 1) * sizeof(*k));
		if (!k)
			return -ENOMEM;
		d->param_keys = k;
		v = realloc(d->param_vals, (d->nparams + 1) * sizeof(*v));
		if (!v)
			return -ENOMEM;
		d->param_vals = v;
		k[d->nparams] = v[d->nparams] = NULL;
		d->nparams++;
		if ((r = source_decode(p, (size_t)(eq - p), &k[d->nparams - 1])) ||
		    (r = source_decode(eq + 1, (size_t)(pe - eq - 1), &v[d->nparams - 1])))
			goto bad_part;
		p = amp ? amp + 1 : pe;
	}
	return 0;
bad_part:
	if (r == -ENOMEM)
		return r;
	return log_einval(err, "%s: bad percent-escape (use %%XX, never %%00)", uri);
}

char *source_redact(const char *uri)
{
	char *out = strdup(uri), *rest, *end, *at = NULL, *colon, *q;

	if (!out || !(rest = strstr(out, "://")) || !strncmp(out, "s3://", 5))
		return out;
	rest += 3;
	/* Up to the '/' only: a '?' before it (in a password that should
	 * have been escaped) makes the URL unparsable, and its error message
	 * shows this form. */
	end = rest + strcspn(rest, "/");
	for (char *p = rest; p < end; p++)
		if (*p == '@')
			at = p;
	if (at && (colon = memchr(rest, ':', (size_t)(at - rest))))
		memmove(colon, at, strlen(at) + 1);
	/* ?password=... too, under any spelling that decodes to it
	 * ("pass%77ord"), as source_parse() decodes keys; a key that does
	 * not decode loses its value too. */
	for (q = strchr(out, '?'); q; q = strchr(q + 1, '&')) {
		char *k = q + 1, *key = NULL;
		size_t kn = strcspn(k, "=&");

		if (k[kn] != '=')
			continue;
		if (source_decode(k, kn, &key) == -ENOMEM) {
			free(out);
			return NULL;
		}
		if (!key || !strcmp(key, "password")) {
			char *v = k + kn + 1, *ve = v + strcspn(v, "&");

			memmove(v, ve, strlen(ve) + 1);
		}
		free(key);
	}
	return out;
}

/* For the messages about a database URL, which are only shown when it did
 * not parse: a password holding a '/' (unescaped) hides its '@' from
 * source_redact(), so cut from the first ':' to the last '@' first.  A
 * message may then lose more than the password, never less. */
static char *source_redact_msg(const char *uri)
{
	char *cut = strdup(uri), *out, *rest, *at, *colon;

	if (!cut)
		return NULL;
	if ((rest = strstr(cut, "://")) && (at = strrchr(rest + 3, '@')) &&
	    (colon = memchr(rest + 3, ':', (size_t)(at - rest - 3))))
		memmove(colon, at, strlen(at) + 1);
	out = source_redact(cut);
	free(cut);
	return out;
}

int source_parse(const char *uri, struct source *out, char **err)
{
	struct source s = {0};
	const char *rest, *slash, *star;
	int r;

	*err = NULL;
	if (!strncmp(uri, "redshift://", 11) || !strncmp(uri, "postgresql://", 13) ||
	    !strncmp(uri, "postgres://", 11)) {
		int redshift = uri[0] == 'r';
		char *shown = source_redact_msg(uri);

		if (!shown)
			return -ENOMEM;
		s.kind = redshift ? SOURCE_REDSHIFT : SOURCE_POSTGRES;
		r = source_parse_db(shown, strstr(uri, "://") + 3, &s.db, err);
		free(shown);
		if (r < 0)
			goto fail;
		if (!s.db.port && !(s.db.port = strdup(redshift ? "5439" : "5432"))) {
			r = -ENOMEM;
			goto fail;
		}
		*out = s;
		return 0;
	}
	if (strncmp(uri, "s3://", 5) != 0) {
		const char *colon = strstr(uri, "://");

		if (colon)
			return log_einval(err,
					  "%.*s: unsupported source scheme (use s3://, redshift:// "
					  "or postgresql://)",
					  (int)(colon - uri), uri);
		return log_einval(err, "'%s' is not a source URL (expected s3://BUCKET/PREFIX)",
				  uri);
	}
	rest = uri + 5;
	if (*rest == '\0') {
		s.kind = SOURCE_S3_ALL;
		s.prefix = strdup("");
		goto done;
	}

	slash = strchr(rest, '/');
	s.bucket = slash ? strndup(rest, (size_t)(slash - rest)) : strdup(rest);
	if (!s.bucket) {
		r = -ENOMEM;
		goto fail;
	}
	if (!source_bucket_name_ok(s.bucket)) {
		r = log_einval(
		    err,
		    "'%s' is not a valid bucket name (3-63 characters of a-z, 0-9, '.' and '-')",
		    s.bucket);
		goto fail;
	}
	rest = slash ? slash + 1 : "";

	/* "s3://bucket//x" too: the first segment is empty. */
	if (*rest == '/' || strstr(rest, "//")) {
		r = log_einval(err, "%s: the prefix has an empty path segment ('//')", uri);
		goto fail;
	}
	star = strchr(rest, '*');
	if (star) {
		const char *dir_end = star;

		if (strchr(star + 1, '*')) {
			r = log_einval(err, "%s: only one '*' is allowed in a glob", uri);
			goto fail;
		}
		while (dir_end > rest && dir_end[-1] != '/')
			dir_end--;
		s.kind = SOURCE_S3_GLOB;
		if (asprintf(&s.prefix, "%.*s", (int)(dir_end - rest), rest) < 0)
			s.prefix = NULL;
		if (asprintf(&s.glob_head, "%.*s", (int)(star - dir_end), dir_end) < 0)
			s.glob_head = NULL;
		s.glob_tail = strdup(star + 1);
		if (!s.prefix || !s.glob_head || !s.glob_tail) {
			r = -ENOMEM;
			goto fail;
		}
		goto done;
	}

	s.kind = SOURCE_S3_PREFIX;
	if (*rest && rest[strlen(rest) - 1] != '/') {
		if (asprintf(&s.prefix, "%s/", rest) < 0)
			s.prefix = NULL;
	} else {
		s.prefix = strdup(rest);
	}
	if (!s.prefix) {
		r = -ENOMEM;
		goto fail;
	}
done:
	for (const char *p = s.prefix; *p; p++) {
		if (p == s.prefix || p[-1] == '/') {
			if (!strncmp(p, "./", 2) || !strncmp(p, "../", 3)) {
				r = log_einval(err, "%s: '.' and '..' are not allowed in a prefix",
					       uri);
				goto fail;
			}
		}
	}
	*out = s;
	return 0;
fail:
	source_free(&s);
	return r;
}
