/* test_whsql.c - identifiers, literals and Redshift statements that no
 * name, URL, region or key can break out of. */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "unit.h"
#include "wh/whsql.h"

/* The result as a string that outlives the call ("(null)" for NULL). */
static const char *keep(char *s)
{
	static char *last[8];
	static unsigned i;

	i = (i + 1) % 8;
	free(last[i]);
	last[i] = s;
	return s ? s : "(null)";
}

#define ID(n)  keep(whsql_ident(n))
#define PGL(s) keep(whsql_literal((s), WHSQL_POSTGRES))
#define RSL(s) keep(whsql_literal((s), WHSQL_REDSHIFT))

static void test_ident(void)
{
	CHECK_STR(ID("plain"), "\"plain\"");
	CHECK_STR(ID("UPPER"), "\"UPPER\"");
	CHECK_STR(ID("x\"; DROP TABLE y; --"), "\"x\"\"; DROP TABLE y; --\"");
	CHECK_STR(ID("\""), "\"\"\"\"");
	CHECK_STR(ID("it's"), "\"it's\"");
	CHECK_STR(ID("semi;colon"), "\"semi;colon\"");
	CHECK_STR(ID("back\\slash"), "\"back\\slash\"");
	CHECK_STR(ID("donn\xc3\xa9"
		     "es"),
		  "\"donn\xc3\xa9"
		  "es\"");
	CHECK_STR(ID("\xf0\x9f\x8e\x89"), "\"\xf0\x9f\x8e\x89\"");
	CHECK_STR(ID("new\nline"), "\"new\nline\"");
	CHECK_STR(ID("*/ /*"), "\"*/ /*\"");
	errno = 0;
	CHECK(whsql_ident("") == NULL && errno == EINVAL);
	CHECK(whsql_ident(NULL) == NULL);

	CHECK_STR(keep(whsql_qualified("s\"", "t.u")), "\"s\"\"\".\"t.u\"");
	CHECK(whsql_qualified("", "t") == NULL);
	CHECK(whsql_qualified("s", "") == NULL);

	const char *cols[] = {"a", "b\"c", "d, e"};

	CHECK_STR(keep(whsql_collist(cols, 3)), "(\"a\", \"b\"\"c\", \"d, e\")");
	CHECK(whsql_collist(cols, 0) == NULL);
	const char *bad[] = {"a", ""};

	CHECK(whsql_collist(bad, 2) == NULL);
}

static void test_literal(void)
{
	/* Without a backslash: '' for a quote, the same in both dialects. */
	CHECK_STR(PGL("abc"), "'abc'");
	CHECK_STR(RSL("abc"), "'abc'");
	CHECK_STR(PGL(""), "''");
	CHECK_STR(PGL("it's"), "'it''s'");
	CHECK_STR(RSL("it's"), "'it''s'");
	CHECK_STR(PGL("'; DROP TABLE y; --"), "'''; DROP TABLE y; --'");
	CHECK_STR(PGL("a\nb\tc"), "'a\nb\tc'");
	CHECK_STR(PGL("\""), "'\"'");
	/* A backslash: E'' on PostgreSQL, Redshift's own '\\'. */
	CHECK_STR(PGL("back\\slash"), "E'back\\\\slash'");
	CHECK_STR(RSL("back\\slash"), "'back\\\\slash'");
	CHECK_STR(PGL("\\'"), "E'\\\\'''");
	CHECK_STR(RSL("\\'"), "'\\\\'''");
	/* A trailing backslash cannot escape the closing quote. */
	CHECK_STR(RSL("x\\"), "'x\\\\'");
	CHECK_STR(PGL("x\\"), "E'x\\\\'");
	CHECK_STR(PGL("\xc3\xa9\xf0\x9f\x8e\x89"), "'\xc3\xa9\xf0\x9f\x8e\x89'");
	CHECK(whsql_literal(NULL, WHSQL_POSTGRES) == NULL);
}

static void test_copy(void)
{
	const char *cols[] = {"id", "na\"me"};
	struct whsql_copy c = {
	    .schema = "s",
	    .table = "x\"; DROP TABLE y; --",
	    .cols = cols,
	    .ncols = 2,
	    .url = "s3://b/p/odofs-load-1/",
	    .access_key_id = "AKIDEXAMPLE",
	    .secret_access_key = "se/cr+et",
	    .region = "us-east-1",
	};

	CHECK_STR(keep(whsql_copy(&c)),
		  "COPY \"s\".\"x\"\"; DROP TABLE y; --\" (\"id\", \"na\"\"me\") FROM "
		  "'s3://b/p/odofs-load-1/' CREDENTIALS "
		  "'aws_access_key_id=AKIDEXAMPLE;aws_secret_access_key=se/cr+et' FORMAT AS CSV "
		  "IGNOREHEADER 1 NULL AS '' REGION 'us-east-1'");
	c.session_token = "tok";
	c.gzip = 1;
	c.region = "it's\\";
	c.url = "s3://b/it's/\\/";
	CHECK_STR(keep(whsql_copy(&c)),
		  "COPY \"s\".\"x\"\"; DROP TABLE y; --\" (\"id\", \"na\"\"me\") FROM "
		  "'s3://b/it''s/\\\\/' CREDENTIALS "
		  "'aws_access_key_id=AKIDEXAMPLE;aws_secret_access_key=se/cr+et;token=tok' FORMAT "
		  "AS CSV IGNOREHEADER 1 NULL AS '' GZIP REGION 'it''s\\\\'");
	/* A load in gzip'd parts: rows only, through a manifest. */
	c.manifest = 1;
	c.no_header = 1;
	c.session_token = NULL;
	c.region = NULL;
	c.url = "s3://b/p/manifest";
	CHECK_STR(keep(whsql_copy(&c)),
		  "COPY \"s\".\"x\"\"; DROP TABLE y; --\" (\"id\", \"na\"\"me\") FROM "
		  "'s3://b/p/manifest' CREDENTIALS "
		  "'aws_access_key_id=AKIDEXAMPLE;aws_secret_access_key=se/cr+et' FORMAT AS CSV "
		  "NULL AS '' GZIP MANIFEST");
	c.manifest = 0;
	c.no_header = 0;
	/* JSON takes no column list; no region, no REGION. */
	c.json = 1;
	c.gzip = 0;
	c.region = "";
	c.session_token = NULL;
	c.url = "s3://b/p/";
	CHECK_STR(keep(whsql_copy(&c)),
		  "COPY \"s\".\"x\"\"; DROP TABLE y; --\" FROM 's3://b/p/' CREDENTIALS "
		  "'aws_access_key_id=AKIDEXAMPLE;aws_secret_access_key=se/cr+et' FORMAT AS JSON "
		  "'auto ignorecase'");
	/* An IAM role instead of keys. */
	c.iam_role = "arn:aws:iam::1:role/it's";
	CHECK_STR(keep(whsql_copy(&c)), "COPY \"s\".\"x\"\"; DROP TABLE y; --\" FROM 's3://b/p/' "
					"IAM_ROLE 'arn:aws:iam::1:role/it''s' FORMAT AS JSON "
					"'auto ignorecase'");
	/* Keys that would add keys of their own to the credentials string,
	 * or no keys at all, are refused. */
	c.iam_role = NULL;
	c.secret_access_key = "x;token=evil";
	errno = 0;
	CHECK(whsql_copy(&c) == NULL && errno == EINVAL);
	/* '=' only ends a key name: base64 session tokens end in it. */
	c.secret_access_key = "ok";
	c.session_token = "FwoGZXIvYXdzE+/a==";
	CHECK_STR(keep(whsql_copy(&c)),
		  "COPY \"s\".\"x\"\"; DROP TABLE y; --\" FROM 's3://b/p/' CREDENTIALS "
		  "'aws_access_key_id=AKIDEXAMPLE;aws_secret_access_key=ok;token=FwoGZXIvYXdzE+/a==' "
		  "FORMAT AS JSON 'auto ignorecase'");
	c.session_token = NULL;
	c.secret_access_key = NULL;
	CHECK(whsql_copy(&c) == NULL);
	c.secret_access_key = "ok";
	c.session_token = "t;x";
	CHECK(whsql_copy(&c) == NULL);
	c.session_token = NULL;
	/* A quote or backslash in a key stays inside the literal. */
	c.access_key_id = "A'\\";
	CHECK_STR(keep(whsql_copy(&c)),
		  "COPY \"s\".\"x\"\"; DROP TABLE y; --\" FROM 's3://b/p/' CREDENTIALS "
		  "'aws_access_key_id=A''\\\\;aws_secret_access_key=ok' FORMAT AS JSON "
		  "'auto ignorecase'");
	c.table = "";
	CHECK(whsql_copy(&c) == NULL);
}

static void test_unload(void)
{
	struct whsql_unload u = {
	    .schema = "it's",
	    .table = "back\\slash\"",
	    .url = "s3://b/p/",
	    .iam_role = "arn:r",
	};

	/* The query is a literal: its quotes doubled, its backslash too. */
	CHECK_STR(
	    keep(whsql_unload(&u)),
	    "UNLOAD ('SELECT * FROM \"it''s\".\"back\\\\slash\"\"\"') TO 's3://b/p/' IAM_ROLE "
	    "'arn:r' FORMAT AS CSV GZIP MANIFEST PARALLEL ON");
	u.iam_role = NULL;
	CHECK(whsql_unload(&u) == NULL);
	u.access_key_id = "k";
	u.secret_access_key = "s";
	CHECK_STR(keep(whsql_unload(&u)),
		  "UNLOAD ('SELECT * FROM \"it''s\".\"back\\\\slash\"\"\"') TO 's3://b/p/' "
		  "CREDENTIALS 'aws_access_key_id=k;aws_secret_access_key=s' FORMAT AS CSV GZIP "
		  "MANIFEST PARALLEL ON");
}

static void test_create(void)
{
	const char *cols[] = {"a\"); DROP TABLE y; --", "b"};
	const char *types[] = {"bigint", "varchar(256)"};
	const char *evil[] = {"bigint", "int); DROP TABLE y; --"};

	CHECK_STR(keep(whsql_create_table("s", "t", cols, types, 2)),
		  "CREATE TABLE \"s\".\"t\" (\"a\"\"); DROP TABLE y; --\" bigint, \"b\" "
		  "varchar(256))");
	CHECK(whsql_create_table("s", "t", cols, evil, 2) == NULL);
	CHECK(whsql_create_table("s", "t", cols, types, 0) == NULL);
	const char *empty[] = {"", "b"};

	CHECK(whsql_create_table("s", "t", empty, types, 2) == NULL);
}

int main(void)
{
	test_ident();
	test_literal();
	test_copy();
	test_unload();
	test_create();
	whsql_free_secret(NULL);
	return unit_done("test_whsql");
}
