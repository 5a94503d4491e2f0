/* clang-format off */
/* fuzz-sources: src/opts.c src/source.c src/pct.c src/s3/creds.c src/s3/creds_static.c src/s3/creds_endpoint.c src/buf.c src/log.c src/s3/s3opts.c src/bucket/bucketopts.c src/wh/whopts.c */
/* clang-format on */
/* fuzz-max-len: 2048 */
/* fuzz_opts.c - the command line as main.c parses it: fuse_opt_parse()
 * with the core's table, then each layer's (S3 client, bucket tree,
 * warehouse) (opts_parse), then every value's check, the core's and each
 * layer's (opts_resolve), and opts_parse_size().  (clang-format leaves the
 * fuzz-sources line whole: build.sh reads it as one line.)
 *
 * The input is one argument per line: a line starting with '-' is passed
 * as it is ("-f", "-o", "-oro,uid=1"), a line starting with '@' is passed
 * without the '@' (SOURCE and MOUNTPOINT), and any other line is an option
 * string given after "-o" ("uid=1000,cache_ttl=0,staging=s3://b/p/").
 *
 * opts_parse() reports a bad option on stderr and libfuse through its log
 * function; neither exits.  Both are silenced here so that a run is not
 * one line per input; the sanitizers and libFuzzer write to their own
 * descriptors and are not affected. */
#include "config.h"

#include <errno.h>
#include <fuse.h>
#include <fuse_log.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "bucket/bucketopts.h"
#include "opts.h"
#include "s3/s3opts.h"
#include "wh/whopts.h"

#define MAX_ARGS 64

static void quiet_log(enum fuse_log_level level, const char *fmt, va_list ap)
{
	(void)level;
	(void)fmt;
	(void)ap;
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	FILE *null = fopen("/dev/null", "w");

	(void)argc;
	(void)argv;
	if (null)
		stderr = null;
	fuse_set_log_func(quiet_log);
	/* Nothing from this machine's environment or files. */
	unsetenv("AWS_ENDPOINT_URL_S3");
	unsetenv("AWS_ENDPOINT_URL");
	unsetenv("AWS_REGION");
	unsetenv("AWS_DEFAULT_REGION");
	unsetenv("AWS_PROFILE");
	setenv("AWS_CONFIG_FILE", "/nonexistent/odofs-fuzz/config", 1);
	setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/odofs-fuzz/credentials", 1);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = fuzz_strdup(data, size), *line, *save = NULL;
	char *argv[MAX_ARGS * 2 + 2];
	int argc = 0;
	struct fuse_args args;
	struct opts o;
	struct s3opts so;
	struct bucketopts bo;
	struct whopts wo;
	struct opts_layer layers[3];
	char *err = NULL;
	int r;

	argv[argc++] = "odofs";
	for (line = strtok_r(text, "\n", &save); line && argc < MAX_ARGS * 2;
	     line = strtok_r(NULL, "\n", &save)) {
		long long v = opts_parse_size(line);

		FUZZ_CHECK(v >= -1 && v <= 1LL << 40);
		if (line[0] == '-') {
			argv[argc++] = line;
		} else if (line[0] == '@') {
			argv[argc++] = line + 1;
		} else {
			argv[argc++] = "-o";
			argv[argc++] = line;
		}
	}
	argv[argc] = NULL;

	args = (struct fuse_args)FUSE_ARGS_INIT(argc, argv);
	s3opts_init(&so, &layers[0]);
	bucketopts_init(&bo, &layers[1]);
	whopts_init(&wo, &layers[2]);
	r = opts_parse(&args, &o, layers, 3);
	FUZZ_CHECK(r == 0 || r == -EINVAL);
	if (r == 0 && !o.show_help && !o.show_version) {
		r = opts_resolve(&o, &err);
		FUZZ_CHECK(r == 0 || r == -EINVAL || r == -ENOMEM);
		if (r == 0) {
			FUZZ_CHECK(err == NULL);
			FUZZ_CHECK(so.endpoint_url && so.region_name && o.cache_dir);
			FUZZ_CHECK(o.cache_dir[0] == '/');
			FUZZ_CHECK(so.path_style == 0 || so.path_style == 1);
			FUZZ_CHECK(o.timeout_ms >= 1000 && so.connections >= 1);
			FUZZ_CHECK(bo.readahead_bytes >= 256 << 10);
			FUZZ_CHECK(wo.load_timeout_ms >= 1000);
			FUZZ_CHECK(!wo.staging_arg || wo.staging.kind == SOURCE_S3_PREFIX);
			FUZZ_CHECK(!o.umask_set || o.umask <= 0777);
		} else if (r == -EINVAL) {
			FUZZ_CHECK(err != NULL);
		}
		free(err);
	}
	fuse_opt_free_args(&args);
	opts_free(&o);
	free(text);
	return 0;
}
