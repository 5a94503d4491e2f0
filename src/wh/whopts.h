/* whopts.h - the warehouse's options: Redshift's staging prefix, role and
 * UNLOAD, libpq's password file, dropping tables, and the bound on a load.
 * An s3:// mount refuses them, but for load_timeout, which is only checked. */
#ifndef ODOFS_WHOPTS_H
#define ODOFS_WHOPTS_H

#include "opts.h"
#include "source.h"

struct whopts {
	/* from the command line */
	char *staging_arg; /* redshift: s3://BUCKET/PREFIX/ for loads */
	char *iam_role;	   /* redshift: COPY with IAM_ROLE instead of our keys */
	char *passfile;	   /* database: libpq's passfile */
	char *load_timeout_arg;
	int unload;	/* redshift: read tables through UNLOAD */
	int allow_drop; /* database: unlink/rmdir of a table drops it */
	char *load_parts_arg;

	/* resolved by the layer's resolve */
	struct source staging; /* kind SOURCE_S3_PREFIX when staging= is set */
	unsigned load_timeout_ms;
	unsigned load_parts; /* redshift: 0 = one per slice (stv_slices) */
};

/* Sets w to its defaults and *layer to its table for opts_parse(); the
 * layer's free releases what w holds, not w itself. */
void whopts_init(struct whopts *w, struct opts_layer *layer);

#endif
