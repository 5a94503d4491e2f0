/* src/bucket/ owns the backend that shows buckets and prefixes as folders:
 * the tree, the open files, globs and the all-buckets root. */

/* s3tree.h - S3 keys as a folder tree: the backend behind s3:// mounts.
 *
 * Folders are common prefixes and "dir/" marker objects; file attributes
 * come from the listing itself, so listing a folder costs one request per
 * 1,000 entries and no HEAD per entry.  A lookup by name (HEAD) also reads
 * the POSIX attributes s3fs keeps in object metadata.  Changes map to S3
 * as s3fs maps them: mkdir puts a "dir/" marker, rename copies then
 * deletes, chmod/chown/utimens copy the object onto itself with new
 * metadata, a symlink is an object holding its target.  Open files are
 * s3file.c's.
 */
#ifndef ODOFS_S3TREE_H
#define ODOFS_S3TREE_H

#include <sys/types.h>

#include "backend.h"
#include "s3/prefetch.h"

struct s3;
struct source;
struct spool;
struct datacache;

struct s3tree_config {
	struct s3 *s3;		  /* borrowed */
	const struct source *src; /* borrowed */
	uid_t uid;
	gid_t gid;
	mode_t umask;
	int uid_forced, gid_forced; /* uid=/gid= given: they beat stored owners */
	int read_only;
	unsigned workers; /* threads for prefetch, uploads and lookups */
	struct prefetch_config prefetch;
	size_t write_buffer;	     /* bytes of upload parts in flight, all files */
	struct spool *spool;	     /* borrowed */
	struct datacache *datacache; /* borrowed; NULL: no disk cache */
};

/* Fills *out; 0 or -ENOMEM.  out->ops->destroy frees it. */
int s3tree_new(const struct s3tree_config *cfg, struct backend *out);

/* Check at mount time that the source can be listed, so a wrong secret or
 * a missing bucket stops the mount with a clear message instead of showing
 * an empty folder.  0 or a negative errno (already logged). */
int s3tree_probe(struct s3 *s3, const struct source *src);

#endif
