/* source.c - see source.h */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
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

void source_free(struct source *s)
{
	if (!s)
		return;
	free(s->bucket);
	free(s->prefix);
	free(s->glob_head);
	free(s->glob_tail);
	memset(s, 0, sizeof(*s));
}

int source_parse(const char *uri, struct source *out, char **err)
{
	struct source s = {0};
	const char *rest, *slash, *star;
	int r;

	*err = NULL;
	if (strncmp(uri, "s3://", 5) != 0) {
		const char *colon = strstr(uri, "://");

		if (colon)
			return log_einval(err, "%.*s: unsupported source scheme (use s3://)",
					   (int)(colon - uri), uri);
		return log_einval(err, "'%s' is not a source URL (expected s3://BUCKET/PREFIX)", uri);
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
		r = log_einval(err, "'%s' is not a valid bucket name (3-63 characters of a-z, 0-9, '.' and '-')",
				s.bucket);
		goto fail;
	}
	rest = slash ? slash + 1 : "";

	if (strstr(rest, "//")) {
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
				r = log_einval(err, "%s: '.' and '..' are not allowed in a prefix", uri);
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
