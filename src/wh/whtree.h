/* src/wh/ owns the warehouse backend: the tree, catalog, exports, loads, the
 * libpq layer, SQL text, CSV formatting and inference, JSON rows, gunzip. */
/* whtree.h - Redshift and PostgreSQL tables as a folder tree: the backend
 * behind redshift:// and postgresql:// mounts.
 *
 *   /SCHEMA/              each user schema
 *   /SCHEMA/TABLE.csv     the table (or view) as CSV, header first;
 *                         written with O_TRUNC it replaces the rows, with
 *                         O_APPEND it adds to them, created it makes a table
 *   /SCHEMA/TABLE/        the load folder: a .csv, .csv.gz, .json(l) or
 *                         .json(l).gz file written here is appended to the
 *                         table when it is closed, then disappears
 *   /SCHEMA/TABLE/.errors what the last failed load of the table said
 *
 * Opening a table file starts its export and returns once the query is
 * accepted; reads get the bytes as the export makes them (stream.c).  Its
 * size is 0 until an export finished, then exact for the cache TTL, within
 * which later opens reuse that export.  A stat or a listing never exports.
 */
#ifndef ODOFS_WHTREE_H
#define ODOFS_WHTREE_H

#include <sys/types.h>

#include "backend.h"
#include "s3/prefetch.h"

struct whdb;
struct s3;
struct spool;
struct creds_provider;

struct whtree_config {
	struct whdb *db; /* borrowed */
	int redshift;
	const char *schema; /* odo's ::TABLE: only this schema ... */
	const char *table;  /* ... and this table; both NULL for all */
	uid_t uid;
	gid_t gid;
	mode_t umask;
	int read_only;
	int allow_drop;
	unsigned ttl_ms;     /* catalog and finished export lifetime */
	struct spool *spool; /* borrowed: exports and new-table loads */

	/* Redshift loads: the staging prefix and how COPY reaches it. */
	struct s3 *s3;		      /* borrowed; NULL on PostgreSQL */
	struct creds_provider *creds; /* borrowed */
	const char *staging_bucket;
	const char *staging_prefix; /* "" or ending in '/' */
	const char *region;
	const char *iam_role;		 /* NULL: the mount's own credentials */
	int unload;			 /* export through UNLOAD to the staging prefix */
	struct prefetch_config prefetch; /* reading UNLOAD's slices */
	unsigned load_parts;		 /* CSV loads' gzip parts; 0: one per slice */
	unsigned workers;
	size_t write_buffer;
};

/* Fills *out; 0 or -ENOMEM.  out->ops->destroy frees it. */
int whtree_new(const struct whtree_config *cfg, struct backend *out);

/* At mount time: connect once and list the schemas, so a wrong password
 * or host refuses the mount.  0, or -EIO with *err (malloc'd). */
int whtree_probe(struct whdb *db, const char *schema, const char *table, char **err);

#endif
