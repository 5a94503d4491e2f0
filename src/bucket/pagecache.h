/* pagecache.h - when the kernel may keep a file's cached pages at open.
 *
 * The kernel keeps one page cache per file, filled by reads through any
 * of its open descriptors.  An open may keep those pages
 * (FOPEN_KEEP_CACHE) only if they all hold the object this open reads:
 * the same ETag and size as when they were read, no descriptor reading
 * another version since they were last dropped, and no write through the
 * mount since.  Otherwise the open drops them, and from then on the pages
 * are filled from the version it opened.  Kept per bucket and key, in
 * bounded memory: a file whose record was evicted has its pages dropped
 * at its next open, which is always safe.
 */
#ifndef ODOFS_PAGECACHE_H
#define ODOFS_PAGECACHE_H

#include <sys/types.h>

struct pagecache;
struct pagecache_entry;

/* NULL on ENOMEM. */
struct pagecache *pagecache_new(void);
void pagecache_free(struct pagecache *pc);

/* An open of bucket/key: reading the object etag (size bytes; etag NULL
 * or "" when unknown), or writable.  Sets *keep to 1 if the pages may be
 * kept, 0 if the open must drop them.  *e is what to hand to
 * pagecache_close (NULL if out of memory: then *keep is 0). */
void pagecache_open(struct pagecache *pc, const char *bucket, const char *key, const char *etag,
		    off_t size, int writable, int *keep, struct pagecache_entry **e);
/* Whether the kernel may hold valid pages of bucket/key: an open that
 * finds the same version will keep them, so it need not fetch any bytes
 * itself (a HEAD tells it all). */
int pagecache_valid(struct pagecache *pc, const char *bucket, const char *key);
/* The release of an open that pagecache_open counted.  After a writable
 * one, the next open drops the pages. */
void pagecache_close(struct pagecache *pc, struct pagecache_entry *e, int writable);

#endif
