/* whopts.c - see whopts.h */
#include "config.h"

#include <errno.h>
#include <fuse.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "whopts.h"

#define WHOPTS_OPT(t, f, v) OPTS_ENTRY(struct whopts, t, f, v)

static const struct fuse_opt whopts_table[] = {
    WHOPTS_OPT("staging=%s", staging_arg, 0),
    WHOPTS_OPT("iam_role=%s", iam_role, 0),
    WHOPTS_OPT("passfile=%s", passfile, 0),
    WHOPTS_OPT("load_timeout=%s", load_timeout_arg, 0),
    WHOPTS_OPT("unload", unload, 1),
    WHOPTS_OPT("allow_drop", allow_drop, 1),
    WHOPTS_OPT("load_parts=%s", load_parts_arg, 0),
    FUSE_OPT_END,
};

static const char whopts_usage[] =
    "Database options:\n"
    "    staging=s3://BUCKET/PREFIX/  where Redshift loads are staged (required)\n"
    "    iam_role=ARN               Redshift COPY/UNLOAD use IAM_ROLE, not our keys\n"
    "    unload                     read Redshift tables through UNLOAD to staging\n"
    "    passfile=FILE              libpq password file (~/.pgpass)\n"
    "    allow_drop                 rm of a table file or folder drops the table\n"
    "    load_timeout=SECONDS       bound on one load or export statement (3600)\n"
    "    load_parts=N               Redshift CSV loads: gzip'd parts (default: slices)\n";

/* The options that only database sources take, and the staging prefix. */
static int whopts_resolve(void *data, const struct opts *o, char **err)
{
	struct whopts *w = data;
	int redshift = o->source.kind == SOURCE_REDSHIFT;
	const char *only_db = w->passfile ? "passfile" : w->allow_drop ? "allow_drop" : NULL;
	const char *only_rs = w->staging_arg	  ? "staging"
			      : w->iam_role	  ? "iam_role"
			      : w->unload	  ? "unload"
			      : w->load_parts_arg ? "load_parts"
						  : NULL;
	int r;

	if (!source_is_db(&o->source) && (only_db || only_rs))
		return log_einval(err,
				  "-o %s is an option of redshift:// and postgresql:// sources",
				  only_db ? only_db : only_rs);
	if (!redshift && only_rs)
		return log_einval(err, "-o %s is an option of redshift:// sources", only_rs);
	if ((r = opts_seconds("load_timeout", w->load_timeout_arg, 3600000, 1, 86400 * 7,
			      &w->load_timeout_ms, err)))
		return r;
	if (w->load_parts_arg) {
		char *end;
		unsigned long n = strtoul(w->load_parts_arg, &end, 10);

		if (*w->load_parts_arg < '1' || *w->load_parts_arg > '9' || *end || n > 1024)
			return log_einval(err,
					  "load_parts=%s: expected a number of parts, 1 to 1024",
					  w->load_parts_arg);
		w->load_parts = (unsigned)n;
	}
	if (w->staging_arg) {
		char *serr = NULL;

		r = source_parse(w->staging_arg, &w->staging, &serr);
		if (r == 0 && w->staging.kind != SOURCE_S3_PREFIX) {
			source_free(&w->staging);
			r = -EINVAL;
		}
		if (r < 0) {
			r = log_einval(err, "staging=%s: expected s3://BUCKET/PREFIX/ (%s)",
				       w->staging_arg, serr ? serr : "not a bucket prefix");
			free(serr);
			return r;
		}
	}
	if (redshift && !w->staging_arg && !o->read_only)
		return log_einval(err, "a redshift:// mount loads through S3: give -o "
				       "staging=s3://BUCKET/PREFIX/ (or mount with -o ro)");
	if (w->iam_role && strncmp(w->iam_role, "arn:", 4))
		return log_einval(err, "iam_role=%s: expected an ARN (arn:aws:iam::...:role/...)",
				  w->iam_role);
	if (w->unload && !w->staging_arg)
		return log_einval(err, "unload needs -o staging=s3://BUCKET/PREFIX/");
	return 0;
}

static void whopts_free(void *data)
{
	struct whopts *w = data;

	free(w->staging_arg);
	free(w->iam_role);
	free(w->passfile);
	free(w->load_timeout_arg);
	free(w->load_parts_arg);
	source_free(&w->staging);
}

void whopts_init(struct whopts *w, struct opts_layer *layer)
{
	memset(w, 0, sizeof(*w));
	*layer = (struct opts_layer){
	    .table = whopts_table,
	    .data = w,
	    .usage = whopts_usage,
	    .resolve = whopts_resolve,
	    .free = whopts_free,
	};
}
