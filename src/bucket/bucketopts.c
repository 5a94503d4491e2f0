/* bucketopts.c - see bucketopts.h */
#include "config.h"

#include <fuse.h>
#include <stdlib.h>
#include <string.h>

#include "bucketopts.h"

#define BUCKETOPTS_OPT(t, f, v) OPTS_ENTRY(struct bucketopts, t, f, v)

static const struct fuse_opt bucketopts_table[] = {
    BUCKETOPTS_OPT("readahead=%s", readahead_arg, 0),
    BUCKETOPTS_OPT("readahead_total=%s", readahead_total_arg, 0),
    FUSE_OPT_END,
};

static const char bucketopts_usage[] =
    "Bucket options (s3:// sources):\n"
    "    readahead=SIZE             prefetch window per open file (64M)\n"
    "    readahead_total=SIZE       prefetch memory for all files (96M)\n";

static int bucketopts_resolve(void *data, const struct opts *o, char **err)
{
	struct bucketopts *b = data;
	int r;

	(void)o;
	if ((r = opts_size("readahead", b->readahead_arg, 64 << 20, 256 << 10, &b->readahead_bytes,
			   err)) ||
	    (r = opts_size("readahead_total", b->readahead_total_arg, 96 << 20, 1 << 20,
			   &b->readahead_total_bytes, err)))
		return r;
	return 0;
}

static void bucketopts_free(void *data)
{
	struct bucketopts *b = data;

	free(b->readahead_arg);
	free(b->readahead_total_arg);
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
