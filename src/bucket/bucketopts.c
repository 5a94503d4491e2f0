/* bucketopts.c - see bucketopts.h */
#include "config.h"

#include <fuse.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"

#include "bucketopts.h"

#define BUCKETOPTS_OPT(t, f, v) OPTS_ENTRY(struct bucketopts, t, f, v)

static const struct fuse_opt bucketopts_table[] = {
    BUCKETOPTS_OPT("readahead=%s", readahead_arg, 0),
    BUCKETOPTS_OPT("readahead_total=%s", readahead_total_arg, 0),
    BUCKETOPTS_OPT("data_cache=%s", data_cache_arg, 0),
    BUCKETOPTS_OPT("data_cache_max=%s", data_cache_max_arg, 0),
    FUSE_OPT_END,
};

static const char bucketopts_usage[] =
    "Bucket options (s3:// sources):\n"
    "    readahead=SIZE             prefetch window per open file (64M)\n"
    "    readahead_total=SIZE       prefetch memory for all files (192M)\n"
    "    data_cache=DIR             keep fetched blocks on disk in DIR (off)\n"
    "    data_cache_max=SIZE        bound of the disk cache (1G)\n";

static int bucketopts_resolve(void *data, const struct opts *o, char **err)
{
	struct bucketopts *b = data;
	int r;

	(void)o;
	if ((r = opts_size("readahead", b->readahead_arg, 64 << 20, 256 << 10, &b->readahead_bytes,
			   err)) ||
	    (r = opts_size("readahead_total", b->readahead_total_arg, 192 << 20, 1 << 20,
			   &b->readahead_total_bytes, err)) ||
	    (r = opts_size("data_cache_max", b->data_cache_max_arg, (size_t)1 << 30, 16 << 20,
			   &b->data_cache_max_bytes, err)))
		return r;
	if (b->data_cache_max_arg && !b->data_cache_arg)
		return log_einval(err, "data_cache_max needs data_cache=DIR");
	if (b->data_cache_arg) {
		char cwd[4096];

		if (!*b->data_cache_arg)
			return log_einval(err, "data_cache needs a folder");
		/* The daemon runs from /: a relative DIR is the caller's. */
		if (b->data_cache_arg[0] == '/')
			b->data_cache_dir = strdup(b->data_cache_arg);
		else if (!getcwd(cwd, sizeof(cwd)) ||
			 asprintf(&b->data_cache_dir, "%s/%s", cwd, b->data_cache_arg) < 0)
			b->data_cache_dir = NULL;
		if (!b->data_cache_dir)
			return log_einval(err, "data_cache=%s: cannot make it absolute",
					  b->data_cache_arg);
	}
	return 0;
}

static void bucketopts_free(void *data)
{
	struct bucketopts *b = data;

	free(b->readahead_arg);
	free(b->readahead_total_arg);
	free(b->data_cache_arg);
	free(b->data_cache_max_arg);
	free(b->data_cache_dir);
}

void bucketopts_init(struct bucketopts *b, struct opts_layer *layer)
{
	memset(b, 0, sizeof(*b));
	*layer = (struct opts_layer){
	    .table = bucketopts_table,
	    .data = b,
	    .usage = bucketopts_usage,
	    .resolve = bucketopts_resolve,
	    .free = bucketopts_free,
	};
}
