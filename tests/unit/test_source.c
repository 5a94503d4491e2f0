/* test_source.c - source URLs and option values: what is accepted, and the
 * message for what is not. */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "opts.h"
#include "source.h"
#include "unit.h"

static void check_ok(const char *uri, enum source_kind kind, const char *bucket, const char *prefix,
		     const char *head, const char *tail)
{
	struct source s;
	char *err = NULL;

	CHECK(source_parse(uri, &s, &err) == 0);
	if (err) {
		fprintf(stderr, "  %s: %s\n", uri, err);
		free(err);
		return;
	}
	CHECK(s.kind == kind);
	if (bucket)
		CHECK_STR(s.bucket, bucket);
	else
		CHECK(s.bucket == NULL);
	CHECK_STR(s.prefix, prefix);
	if (head) {
		CHECK_STR(s.glob_head, head);
		CHECK_STR(s.glob_tail, tail);
	}
	source_free(&s);
}

static void check_bad(const char *uri, const char *in_message)
{
	struct source s;
	char *err = NULL;

	CHECK(source_parse(uri, &s, &err) == -EINVAL);
	CHECK(err != NULL);
	if (err && !strstr(err, in_message)) {
		fprintf(stderr, "  %s: message '%s' lacks '%s'\n", uri, err, in_message);
		CHECK(0);
	}
	CHECK(err == NULL || strchr(err, '\n') == NULL); /* one line */
	free(err);
}

static void check_db(const char *uri, enum source_kind kind, const char *user, const char *pass,
		     const char *host, const char *port, const char *db, const char *schema,
		     const char *table)
{
	struct source s;
	char *err = NULL;

	CHECK(source_parse(uri, &s, &err) == 0);
	if (err) {
		fprintf(stderr, "  %s: %s\n", uri, err);
		free(err);
		return;
	}
	CHECK(s.kind == kind);
	CHECK(source_is_db(&s));
#define CHECK_OPT(got, want)                                                                       \
	do {                                                                                       \
		if (want)                                                                          \
			CHECK_STR(got, want);                                                      \
		else                                                                               \
			CHECK((got) == NULL);                                                      \
	} while (0)
	CHECK_OPT(s.db.user, user);
	CHECK_OPT(s.db.password, pass);
	CHECK_OPT(s.db.host, host);
	CHECK_OPT(s.db.port, port);
	CHECK_OPT(s.db.dbname, db);
	CHECK_OPT(s.db.schema, schema);
	CHECK_OPT(s.db.table, table);
#undef CHECK_OPT
	source_free(&s);
}

static void check_redact(const char *uri, const char *want)
{
	char *got = source_redact(uri);

	CHECK_STR(got, want);
	free(got);
}

int main(void)
{
	check_ok("s3://", SOURCE_S3_ALL, NULL, "", NULL, NULL);
	check_ok("s3://bucket", SOURCE_S3_PREFIX, "bucket", "", NULL, NULL);
	check_ok("s3://bucket/", SOURCE_S3_PREFIX, "bucket", "", NULL, NULL);
	check_ok("s3://my.bucket-1/data/2024/", SOURCE_S3_PREFIX, "my.bucket-1", "data/2024/", NULL,
		 NULL);
	check_ok("s3://bucket/data", SOURCE_S3_PREFIX, "bucket", "data/", NULL, NULL);
	check_ok("s3://bucket/dir/accounts*.csv", SOURCE_S3_GLOB, "bucket", "dir/", "accounts",
		 ".csv");
	check_ok("s3://bucket/*.csv", SOURCE_S3_GLOB, "bucket", "", "", ".csv");
	check_ok("s3://bucket/a/b/pre*", SOURCE_S3_GLOB, "bucket", "a/b/", "pre", "");
	check_ok("s3://bucket/sp ace/ü/", SOURCE_S3_PREFIX, "bucket", "sp ace/ü/", NULL, NULL);

	check_bad("http://bucket/x", "unsupported source scheme");
	check_bad("bucket/x", "not a source URL");
	check_bad("s3://Bad_Bucket!", "not a valid bucket name");
	check_bad("s3://ab", "not a valid bucket name");
	check_bad("s3://-bucket", "not a valid bucket name");
	check_bad("s3://bucket/a//b", "empty path segment");
	check_bad("s3://bucket//x/", "empty path segment"); /* found by fuzzing */
	check_bad("s3://bucket//*.csv", "empty path segment");
	check_bad("s3://bucket/a*b*c", "only one '*'");
	check_bad("s3://bucket/../x", "'.' and '..'");
	check_bad("s3://bucket/a/./x", "'.' and '..'");

	check_db("redshift://alice:s3cr%40t@example.com/dev", SOURCE_REDSHIFT, "alice", "s3cr@t",
		 "example.com", "5439", "dev", NULL, NULL);
	check_db("postgresql://bob@127.0.0.1:6543/db::users", SOURCE_POSTGRES, "bob", NULL,
		 "127.0.0.1", "6543", "db", "public", "users");
	check_db("postgres://h/db::sales.orders%2E2024", SOURCE_POSTGRES, NULL, NULL, "h", "5432",
		 "db", "sales", "orders.2024");
	check_db("postgresql://u:p@[::1]:5433/d?sslmode=require", SOURCE_POSTGRES, "u", "p", "::1",
		 "5433", "d", NULL, NULL);
	{
		struct source s;
		char *err = NULL;

		CHECK(source_parse("redshift://u@h/d?sslmode=require&connect_timeout=3", &s,
				   &err) == 0);
		CHECK(s.db.nparams == 2);
		if (s.db.nparams == 2) {
			CHECK_STR(s.db.param_keys[0], "sslmode");
			CHECK_STR(s.db.param_vals[0], "require");
			CHECK_STR(s.db.param_keys[1], "connect_timeout");
			CHECK_STR(s.db.param_vals[1], "3");
		}
		source_free(&s);
		free(err);
	}
	check_bad("redshift://u:p@h", "expected USER@HOST");
	check_bad("redshift://u:p@h:99999/d", "port");
	check_bad("redshift://u:p@h:5439/d::", "::TABLE");
	check_bad("redshift://u:p%zz@h/d", "percent-escape");
	check_bad("postgresql://u@h/d?novalue", "KEY=VALUE");
	/* The password never shows in the message. */
	{
		struct source s;
		char *err = NULL;

		CHECK(source_parse("redshift://u:hunter2@h:0/d", &s, &err) == -EINVAL);
		CHECK(err && !strstr(err, "hunter2"));
		free(err);
		err = NULL;
		CHECK(source_parse("redshift://u:hun?ter2@h/d", &s, &err) == -EINVAL);
		CHECK(err && !strstr(err, "ter2"));
		free(err);
		err = NULL;
		/* An unescaped '/' in the password hides its '@'. */
		CHECK(source_parse("redshift://u:hun/ter2@h/d", &s, &err) == -EINVAL);
		CHECK(err && !strstr(err, "ter2"));
		free(err);
	}
	check_redact("redshift://alice:s3cr%40t@example.com/dev",
		     "redshift://alice@example.com/dev");
	check_redact("postgresql://u@h/d?password=x&sslmode=require",
		     "postgresql://u@h/d?password=&sslmode=require");
	/* libpq gets the key decoded, so must the redaction (found by the
	 * fuzz harness's check). */
	check_redact("postgresql://h/d?pass%77ord=secret&sslmode=require",
		     "postgresql://h/d?pass%77ord=&sslmode=require");
	check_redact("postgresql://h/d?a%zz=secret", "postgresql://h/d?a%zz=");
	/* An unescaped '?' in the password: the URL is refused, and the
	 * message (which shows this form) must not hold the password. */
	check_redact("postgresql://u:se?cret@h/d", "postgresql://u@h/d");
	check_redact("s3://bucket/a:b@c", "s3://bucket/a:b@c");
	check_redact("postgresql://h/d", "postgresql://h/d");

	CHECK(opts_parse_size("4096") == 4096);
	CHECK(opts_parse_size("64M") == 64LL << 20);
	CHECK(opts_parse_size("64MiB") == 64LL << 20);
	CHECK(opts_parse_size("2g") == 2LL << 30);
	CHECK(opts_parse_size("1k") == 1024);
	CHECK(opts_parse_size("3mb") == 3LL << 20);
	CHECK(opts_parse_size("64Mibzz") == -1);
	CHECK(opts_parse_size("64MBB") == -1);
	CHECK(opts_parse_size("") == -1);
	CHECK(opts_parse_size("M") == -1);
	CHECK(opts_parse_size("12X") == -1);
	CHECK(opts_parse_size("-1") == -1);
	CHECK(opts_parse_size("99999999999999G") == -1);
	/* Found by fuzzing: a plain number had no bound (2^63 and up came
	 * back negative, below that a size of exabytes). */
	CHECK(opts_parse_size("1099511627776") == 1LL << 40);
	CHECK(opts_parse_size("1099511627777") == -1);
	CHECK(opts_parse_size("002000000000000000000") == -1);
	CHECK(opts_parse_size("10000000000000000000") == -1);
	return unit_done("source");
}
