/* fuzz-sources: src/wh/whsql.c */
/* fuzz-max-len: 4096 */
/* fuzz_whsql.c - the SQL text builder of warehouse mounts (whsql).
 *
 * The input is split into fields on 0x1f (and NUL, which no C string can
 * hold): flags, schema, table, columns (split on 0x1e), S3 URL, IAM role,
 * key id, secret, session token, region, column types (split on 0x1e).
 * Each statement built from them is read back by a small tokenizer of the
 * harness's own, with the dialect's rules for '...', E'...' and "..."; the
 * tokens must be exactly the statement's expected shape, and every name
 * and string must read back as the field it came from.  An identifier or
 * literal that ended early (an injection) shows as a wrong token.
 *
 * A PostgreSQL literal must read back the same with standard_conforming
 * _strings on and off.  A builder that refuses its input (NULL) must have
 * been given something the header says it refuses.
 */
#include "config.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "wh/whsql.h"

#define MAX_FIELDS 11
#define MAX_LIST   64
#define MAX_TOKS   512

enum {
	F_FLAGS,
	F_SCHEMA,
	F_TABLE,
	F_COLS,
	F_URL,
	F_ROLE,
	F_KEY,
	F_SECRET,
	F_TOKEN,
	F_REGION,
	F_TYPES
};

enum tok_kind { T_WORD, T_IDENT, T_STR, T_OP };

struct tok {
	enum tok_kind kind;
	char *val; /* decoded: an identifier's name, a literal's value */
};

struct toks {
	struct tok t[MAX_TOKS];
	size_t n, pos;
};

/* Literal rules: Redshift and PostgreSQL with standard_conforming_strings
 * off read backslash escapes in '...'; PostgreSQL with it on does not. */
enum mode { M_REDSHIFT, M_PG_ON, M_PG_OFF };

static void toks_free(struct toks *ts)
{
	for (size_t i = 0; i < ts->n; i++)
		free(ts->t[i].val);
	ts->n = ts->pos = 0;
}

/* A quoted run from s (at the opening quote); the decoded value into out.
 * Returns the byte after the closing quote, or NULL if it never closes. */
static const char *quoted(const char *s, char q, int backslash, char *out)
{
	size_t n = 0;

	for (s++; *s; s++) {
		if (backslash && *s == '\\') {
			if (!*++s)
				return NULL;
			/* Only what whsql writes: \\ and \' (others pass through). */
			out[n++] = *s;
			continue;
		}
		if (*s == q) {
			if (s[1] == q) {
				out[n++] = q;
				s++;
				continue;
			}
			out[n] = '\0';
			return s + 1;
		}
		out[n++] = *s;
	}
	return NULL;
}

/* 0, or -1 for text that does not tokenize (an unclosed quote). */
static int tokenize(const char *sql, enum mode m, struct toks *ts)
{
	const char *s = sql;

	ts->n = ts->pos = 0;
	while (*s) {
		struct tok *t;
		char *val;

		if (*s == ' ') {
			s++;
			continue;
		}
		FUZZ_CHECK(ts->n < MAX_TOKS);
		t = &ts->t[ts->n];
		val = malloc(strlen(s) + 1);
		FUZZ_CHECK(val != NULL);
		if (*s == '"') {
			t->kind = T_IDENT;
			s = quoted(s, '"', 0, val);
		} else if ((*s == 'E' || *s == 'e') && s[1] == '\'') {
			/* Redshift: not an E'' literal but a word E and a string. */
			FUZZ_CHECK(m != M_REDSHIFT);
			t->kind = T_STR;
			s = quoted(s + 1, '\'', 1, val);
		} else if (*s == '\'') {
			t->kind = T_STR;
			s = quoted(s, '\'', m != M_PG_ON, val);
		} else if ((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') ||
			   (*s >= '0' && *s <= '9') || *s == '_') {
			size_t n = 0;

			t->kind = T_WORD;
			while ((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') ||
			       (*s >= '0' && *s <= '9') || *s == '_')
				val[n++] = *s++;
			val[n] = '\0';
		} else {
			t->kind = T_OP;
			val[0] = *s++;
			val[1] = '\0';
		}
		t->val = val;
		ts->n++;
		if (!s)
			return -1;
	}
	return 0;
}

static const struct tok *next(struct toks *ts)
{
	FUZZ_CHECK(ts->pos < ts->n);
	return &ts->t[ts->pos++];
}

static void want(struct toks *ts, enum tok_kind kind, const char *val)
{
	const struct tok *t = next(ts);

	if (t->kind != kind || strcmp(t->val, val) != 0) {
		fprintf(stderr, "token %zu: got kind %d '%s', want kind %d '%s'\n", ts->pos - 1,
			t->kind, t->val, kind, val);
		abort();
	}
}

#define WORD(ts, w)  want((ts), T_WORD, (w))
#define IDENT(ts, v) want((ts), T_IDENT, (v))
#define STR(ts, v)   want((ts), T_STR, (v))
#define OP(ts, c)    want((ts), T_OP, (c))

static void end(struct toks *ts)
{
	FUZZ_CHECK(ts->pos == ts->n);
}

/* The fields of the input. */
struct in {
	char *f[MAX_FIELDS];
	const char *cols[MAX_LIST];
	size_t ncols;
	const char *types[MAX_LIST];
	size_t ntypes;
	unsigned flags;
};

static size_t split_list(char *s, const char **out)
{
	size_t n = 0;

	if (!*s)
		return 0;
	for (char *p = s;; p++) {
		if (*p == '\x1e' || !*p) {
			int last = !*p;

			*p = '\0';
			if (n < MAX_LIST)
				out[n++] = s;
			if (last)
				break;
			s = p + 1;
		}
	}
	return n;
}

static int nonempty(const char *s)
{
	return s && *s;
}

static int names_ok(const char *const *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!*v[i])
			return 0;
	return 1;
}

static void check_auth(struct toks *ts, const char *role, const char *key, const char *secret,
		       const char *token)
{
	if (role) {
		WORD(ts, "IAM_ROLE");
		STR(ts, role);
		return;
	}
	char *want_creds;

	FUZZ_CHECK(asprintf(&want_creds, "aws_access_key_id=%s;aws_secret_access_key=%s%s%s", key,
			    secret, token && *token ? ";token=" : "",
			    token && *token ? token : "") >= 0);
	WORD(ts, "CREDENTIALS");
	STR(ts, want_creds);
	free(want_creds);
}

static int auth_ok(const char *role, const char *key, const char *secret, const char *token)
{
	if (role)
		return *role != '\0';
	if (!nonempty(key) || !nonempty(secret))
		return 0;
	return !strchr(key, ';') && !strchr(secret, ';') && !(token && strchr(token, ';'));
}

static void fuzz_literals(const struct in *in, struct toks *ts)
{
	for (int i = F_SCHEMA; i < MAX_FIELDS; i++) {
		char *pg = whsql_literal(in->f[i], WHSQL_POSTGRES);
		char *rs = whsql_literal(in->f[i], WHSQL_REDSHIFT);
		char *id = whsql_ident(in->f[i]);

		FUZZ_CHECK(pg && rs);
		/* The same value whatever standard_conforming_strings says. */
		FUZZ_CHECK(tokenize(pg, M_PG_ON, ts) == 0);
		STR(ts, in->f[i]);
		end(ts);
		toks_free(ts);
		FUZZ_CHECK(tokenize(pg, M_PG_OFF, ts) == 0);
		STR(ts, in->f[i]);
		end(ts);
		toks_free(ts);
		FUZZ_CHECK(tokenize(rs, M_REDSHIFT, ts) == 0);
		STR(ts, in->f[i]);
		end(ts);
		toks_free(ts);
		/* Without a backslash, one form for both. */
		if (!strchr(in->f[i], '\\'))
			FUZZ_CHECK(!strcmp(pg, rs));
		FUZZ_CHECK((id != NULL) == (*in->f[i] != '\0'));
		if (id) {
			FUZZ_CHECK(tokenize(id, M_PG_ON, ts) == 0);
			IDENT(ts, in->f[i]);
			end(ts);
			toks_free(ts);
		}
		free(pg);
		free(rs);
		free(id);
	}
}

static void fuzz_copy(const struct in *in, struct toks *ts)
{
	const char *role = (in->flags & 4) ? in->f[F_ROLE] : NULL;
	struct whsql_copy c = {
	    .schema = in->f[F_SCHEMA],
	    .table = in->f[F_TABLE],
	    .cols = in->ncols ? in->cols : NULL,
	    .ncols = in->ncols,
	    .url = in->f[F_URL],
	    .iam_role = role,
	    .access_key_id = in->f[F_KEY],
	    .secret_access_key = in->f[F_SECRET],
	    .session_token = (in->flags & 8) ? in->f[F_TOKEN] : NULL,
	    .region = (in->flags & 16) ? in->f[F_REGION] : NULL,
	    .json = in->flags & 1,
	    .gzip = (in->flags >> 1) & 1,
	};
	char *sql = whsql_copy(&c);
	int ok = nonempty(c.schema) && nonempty(c.table) && names_ok(in->cols, in->ncols) &&
		 auth_ok(role, c.access_key_id, c.secret_access_key, c.session_token);

	FUZZ_CHECK((sql != NULL) == ok);
	if (!sql)
		return;
	FUZZ_CHECK(tokenize(sql, M_REDSHIFT, ts) == 0);
	WORD(ts, "COPY");
	IDENT(ts, c.schema);
	OP(ts, ".");
	IDENT(ts, c.table);
	if (c.ncols && !c.json) {
		OP(ts, "(");
		for (size_t i = 0; i < c.ncols; i++) {
			if (i)
				OP(ts, ",");
			IDENT(ts, c.cols[i]);
		}
		OP(ts, ")");
	}
	WORD(ts, "FROM");
	STR(ts, c.url);
	check_auth(ts, role, c.access_key_id, c.secret_access_key, c.session_token);
	WORD(ts, "FORMAT");
	WORD(ts, "AS");
	if (c.json) {
		WORD(ts, "JSON");
		STR(ts, "auto ignorecase");
	} else {
		WORD(ts, "CSV");
		WORD(ts, "IGNOREHEADER");
		WORD(ts, "1");
		WORD(ts, "NULL");
		WORD(ts, "AS");
		STR(ts, "");
	}
	if (c.gzip)
		WORD(ts, "GZIP");
	if (c.region && *c.region) {
		WORD(ts, "REGION");
		STR(ts, c.region);
	}
	end(ts);
	toks_free(ts);
	whsql_free_secret(sql);
}

static void fuzz_unload(const struct in *in, struct toks *ts)
{
	const char *role = (in->flags & 4) ? in->f[F_ROLE] : NULL;
	struct whsql_unload u = {
	    .schema = in->f[F_SCHEMA],
	    .table = in->f[F_TABLE],
	    .url = in->f[F_URL],
	    .iam_role = role,
	    .access_key_id = in->f[F_KEY],
	    .secret_access_key = in->f[F_SECRET],
	    .session_token = (in->flags & 8) ? in->f[F_TOKEN] : NULL,
	};
	char *sql = whsql_unload(&u), *query;
	int ok = nonempty(u.schema) && nonempty(u.table) &&
		 auth_ok(role, u.access_key_id, u.secret_access_key, u.session_token);

	FUZZ_CHECK((sql != NULL) == ok);
	if (!sql)
		return;
	FUZZ_CHECK(tokenize(sql, M_REDSHIFT, ts) == 0);
	WORD(ts, "UNLOAD");
	OP(ts, "(");
	query = strdup(next(ts)->val);
	FUZZ_CHECK(query && ts->t[ts->pos - 1].kind == T_STR);
	OP(ts, ")");
	WORD(ts, "TO");
	STR(ts, u.url);
	check_auth(ts, role, u.access_key_id, u.secret_access_key, u.session_token);
	WORD(ts, "FORMAT");
	WORD(ts, "AS");
	WORD(ts, "CSV");
	WORD(ts, "GZIP");
	WORD(ts, "MANIFEST");
	WORD(ts, "PARALLEL");
	WORD(ts, "ON");
	end(ts);
	toks_free(ts);
	/* The query inside the literal is a statement of its own. */
	FUZZ_CHECK(tokenize(query, M_REDSHIFT, ts) == 0);
	WORD(ts, "SELECT");
	OP(ts, "*");
	WORD(ts, "FROM");
	IDENT(ts, u.schema);
	OP(ts, ".");
	IDENT(ts, u.table);
	end(ts);
	toks_free(ts);
	free(query);
	whsql_free_secret(sql);
}

static void fuzz_create(const struct in *in, struct toks *ts)
{
	size_t n = in->ncols < in->ntypes ? in->ncols : in->ntypes;
	char *sql = whsql_create_table(in->f[F_SCHEMA], in->f[F_TABLE], in->cols, in->types, n);

	if (!nonempty(in->f[F_SCHEMA]) || !nonempty(in->f[F_TABLE]) || n == 0 ||
	    !names_ok(in->cols, n))
		FUZZ_CHECK(sql == NULL);
	if (!sql)
		return;
	FUZZ_CHECK(tokenize(sql, M_PG_ON, ts) == 0);
	WORD(ts, "CREATE");
	WORD(ts, "TABLE");
	IDENT(ts, in->f[F_SCHEMA]);
	OP(ts, ".");
	IDENT(ts, in->f[F_TABLE]);
	OP(ts, "(");
	for (size_t i = 0; i < n; i++) {
		const struct tok *t;

		if (i)
			OP(ts, ",");
		IDENT(ts, in->cols[i]);
		/* The type: words, then at most one (N) or (N,M). */
		t = next(ts);
		FUZZ_CHECK(t->kind == T_WORD);
		while (ts->pos < ts->n && ts->t[ts->pos].kind == T_WORD)
			ts->pos++;
		if (ts->pos < ts->n && !strcmp(ts->t[ts->pos].val, "(") &&
		    ts->t[ts->pos].kind == T_OP) {
			ts->pos++;
			FUZZ_CHECK(next(ts)->kind == T_WORD);
			if (ts->pos < ts->n && !strcmp(ts->t[ts->pos].val, ",")) {
				ts->pos++;
				FUZZ_CHECK(next(ts)->kind == T_WORD);
			}
			OP(ts, ")");
		}
	}
	OP(ts, ")");
	end(ts);
	toks_free(ts);
	free(sql);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct toks ts;
	struct in in = {0};
	char *copy = malloc(size + 1), *s;
	size_t k = 0;

	FUZZ_CHECK(copy != NULL);
	memcpy(copy, data, size);
	copy[size] = '\0';
	/* Fields on 0x1f or NUL; missing ones are empty. */
	s = copy;
	for (size_t i = 0; i <= size && k < MAX_FIELDS; i++)
		if (i == size || copy[i] == '\x1f' || copy[i] == '\0') {
			copy[i] = '\0';
			in.f[k++] = s;
			s = copy + i + 1;
		}
	while (k < MAX_FIELDS)
		in.f[k++] = copy + size;
	in.flags = (unsigned char)in.f[F_FLAGS][0];
	/* The lists are split in place: take the literals first. */
	fuzz_literals(&in, &ts);
	in.ncols = split_list(in.f[F_COLS], in.cols);
	in.ntypes = split_list(in.f[F_TYPES], in.types);
	fuzz_copy(&in, &ts);
	fuzz_unload(&in, &ts);
	fuzz_create(&in, &ts);
	free(copy);
	return 0;
}
