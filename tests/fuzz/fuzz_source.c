/* fuzz-sources: src/source.c src/pct.c src/log.c */
/* fuzz-max-len: 1024 */
/* fuzz_source.c - the SOURCE argument: s3://, redshift://, postgresql://
 * URLs, and source_redact().
 *
 * Beyond crashes, it checks what a user relies on: a parsed source is
 * whole (an S3 prefix ends in '/', a database source has a host, a
 * database and a port), and the redacted form of a URL that had a
 * password parses to the same source without it. */
#include "config.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "source.h"

static int same(const char *a, const char *b)
{
	return (!a && !b) || (a && b && !strcmp(a, b));
}

/* Whether S occurs in URI other than at FIRST, or, less its first or
 * last byte, anywhere but within FIRST: a message's own punctuation (the
 * ": " after the URL it shows) can supply that one byte. */
static int elsewhere(const char *uri, const char *first, const char *s, size_t n)
{
	char core[256];
	const char *hit;

	if (strstr(first + 1, s))
		return 1;
	for (int cut = 0; cut < 2; cut++) {
		memcpy(core, s + !cut, n - 1);
		core[n - 1] = '\0';
		for (hit = strstr(uri, core); hit; hit = strstr(hit + 1, core))
			if (hit < first || hit + n - 1 > first + n)
				return 1;
	}
	return 0;
}

/* A message about a database URL that did not parse holds no password:
 * taken, when it is unclear, as the text from the first ':' after the
 * scheme to the last '@', when that text occurs only once in the URL and
 * holds no '@' itself. */
static void check_message(const char *uri, const char *err)
{
	const char *rest = strstr(uri, "://"), *at, *colon;
	char pw[256];
	size_t n;

	if (!err || !rest ||
	    (strncmp(uri, "redshift://", 11) && strncmp(uri, "postgresql://", 13) &&
	     strncmp(uri, "postgres://", 11)))
		return;
	rest += 3;
	if (!(at = strrchr(rest, '@')) || !(colon = memchr(rest, ':', (size_t)(at - rest))))
		return;
	n = (size_t)(at - colon - 1);
	if (n < 6 || n >= sizeof(pw))
		return;
	memcpy(pw, colon + 1, n);
	pw[n] = '\0';
	if (elsewhere(uri, colon + 1, pw, n))
		return; /* it may be shown as the host, the database or a parameter */
	if (strchr(pw, '@'))
		return; /* what is left after the cut can spell it again */
	if (strstr(err, pw)) {
		fprintf(stderr, "message shows '%s': %s\n", pw, err);
		FUZZ_CHECK(!"a password in the message");
	}
}

static void check_source(const struct source *s)
{
	switch (s->kind) {
	case SOURCE_S3_ALL:
		FUZZ_CHECK(!s->bucket && s->prefix && !*s->prefix);
		break;
	case SOURCE_S3_PREFIX:
	case SOURCE_S3_GLOB:
		FUZZ_CHECK(s->bucket && source_bucket_name_ok(s->bucket));
		FUZZ_CHECK(s->prefix);
		FUZZ_CHECK(!*s->prefix || s->prefix[strlen(s->prefix) - 1] == '/');
		FUZZ_CHECK(!strstr(s->prefix, "//") && s->prefix[0] != '/');
		if (s->kind == SOURCE_S3_GLOB) {
			FUZZ_CHECK(s->glob_head && s->glob_tail);
			FUZZ_CHECK(!strchr(s->glob_head, '/') && !strchr(s->glob_head, '*'));
			FUZZ_CHECK(!strchr(s->glob_tail, '*'));
		}
		break;
	case SOURCE_POSTGRES:
	case SOURCE_REDSHIFT:
		FUZZ_CHECK(s->db.host && *s->db.host);
		FUZZ_CHECK(s->db.dbname && *s->db.dbname);
		FUZZ_CHECK(s->db.port && atoi(s->db.port) >= 1 && atoi(s->db.port) <= 65535);
		FUZZ_CHECK(!s->db.table == !s->db.schema);
		if (s->db.table)
			FUZZ_CHECK(*s->db.table && *s->db.schema);
		for (size_t i = 0; i < s->db.nparams; i++)
			FUZZ_CHECK(s->db.param_keys[i] && *s->db.param_keys[i] &&
				   s->db.param_vals[i]);
		break;
	default:
		FUZZ_CHECK(!"unknown source kind");
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *uri = fuzz_strdup(data, size), *shown, *err = NULL, *err2 = NULL;
	struct source s, s2;
	int r;

	shown = source_redact(uri);
	FUZZ_CHECK(shown != NULL);
	FUZZ_CHECK(strlen(shown) <= strlen(uri));

	r = source_parse(uri, &s, &err);
	FUZZ_CHECK(r == 0 || r == -EINVAL || r == -ENOMEM);
	if (r == 0) {
		FUZZ_CHECK(err == NULL);
		check_source(&s);
		if (source_is_db(&s)) {
			/* What is shown parses to the same source, with no
			 * password left in it anywhere. */
			r = source_parse(shown, &s2, &err2);
			if (r != 0)
				fprintf(stderr, "redacted '%s' does not parse: %s\n", shown,
					err2 ? err2 : "?");
			FUZZ_CHECK(r == 0);
			FUZZ_CHECK(s2.kind == s.kind);
			FUZZ_CHECK(same(s2.db.host, s.db.host) && same(s2.db.port, s.db.port));
			FUZZ_CHECK(same(s2.db.dbname, s.db.dbname));
			FUZZ_CHECK(same(s2.db.schema, s.db.schema) &&
				   same(s2.db.table, s.db.table));
			FUZZ_CHECK(s2.db.password == NULL);
			FUZZ_CHECK(same(s2.db.user, s.db.user));
			FUZZ_CHECK(s2.db.nparams == s.db.nparams);
			for (size_t i = 0; i < s2.db.nparams; i++) {
				FUZZ_CHECK(same(s2.db.param_keys[i], s.db.param_keys[i]));
				if (!strcmp(s2.db.param_keys[i], "password"))
					FUZZ_CHECK(!*s2.db.param_vals[i]);
				else
					FUZZ_CHECK(same(s2.db.param_vals[i], s.db.param_vals[i]));
			}
			source_free(&s2);
		}
		source_free(&s);
	} else if (r == -EINVAL) {
		FUZZ_CHECK(err != NULL);
		check_message(uri, err);
	}
	free(err);
	free(err2);
	free(shown);
	free(uri);
	return 0;
}
