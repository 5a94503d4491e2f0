/* bucketopts.h - the bucket tree's options: how far ahead an open file's
 * reads fetch, per file and over all of them, and the disk cache of
 * fetched blocks.  Given to any mount and
 * checked there; only s3:// mounts use them. */
#ifndef ODOFS_BUCKETOPTS_H
#define ODOFS_BUCKETOPTS_H

#include <stddef.h>

#include "opts.h"

struct bucketopts {
	/* from the command line */
	char *readahead_arg;
	char *readahead_total_arg;
	char *data_cache_arg;
	char *data_cache_max_arg;

	/* resolved by the layer's resolve */
	size_t readahead_bytes;
	size_t readahead_total_bytes;
	char *data_cache_dir; /* absolute, or NULL: no disk cache */
	size_t data_cache_max_bytes;
};

/* Sets b to its defaults and *layer to its table for opts_parse(); the
 * layer's free releases what b holds, not b itself. */
void bucketopts_init(struct bucketopts *b, struct opts_layer *layer);

#endif
