/* datacache.h - an optional disk cache of object bytes (-o data_cache=DIR).
 *
 * Blocks of DATACACHE_BLOCK bytes of one version of one object, keyed by
 * bucket, key and ETag (so a changed object is never served from old
 * blocks), each a file under DIR/odofs-data-1/ with a header that names
 * its object and block and an XXH3 sum of each 16 KiB of its bytes: a block
 * whose part being read does not check out (damaged, truncated, someone
 * else's) is deleted and fetched again, never returned.  Blocks are written to a temporary name and
 * renamed, so several mounts may share DIR.  The cache stays under its
 * size bound and keeps a free-space floor on DIR's file system, evicting
 * the blocks least recently used (by their modification time, which a hit
 * renews).  A failure to write (a full or read-only disk) turns the cache
 * off for the rest of the mount, with one warning: reads go on uncached.
 */
#ifndef ODOFS_DATACACHE_H
#define ODOFS_DATACACHE_H

#include <stdint.h>
#include <sys/types.h>

#define DATACACHE_BLOCK (1u << 20)

struct datacache;

/* What reads the bytes a cache miss needs: like s3_get_range. */
typedef ssize_t (*datacache_fetch_fn)(void *arg, off_t off, size_t len, char *buf);

/* Opens (making it if needed) the cache in dir, bounded to max_bytes.
 * NULL with *err set (the caller frees it) on failure. */
struct datacache *datacache_new(const char *dir, uint64_t max_bytes, char **err);
void datacache_free(struct datacache *dc);

/* Bytes [off, off+len) of bucket/key at etag (size bytes in all) into
 * buf: the cached blocks from disk, the rest through fetch (in whole
 * blocks, which are then kept).  Returns the byte count (short only at
 * the end of the object) or a negative errno from fetch. */
ssize_t datacache_read(struct datacache *dc, const char *bucket, const char *key, const char *etag,
		       off_t size, off_t off, size_t len, char *buf, datacache_fetch_fn fetch,
		       void *arg);

/* The same bytes from the cache alone, as a read of a file the cache
 * holds takes them: straight from its block files into buf, no fetch, no
 * read-ahead.  Returns the byte count, or -ENOENT when a block is missing
 * or does not check out (buf then holds anything), or a negative errno. */
ssize_t datacache_read_cached(struct datacache *dc, const char *bucket, const char *key,
			      const char *etag, off_t size, off_t off, size_t len, char *buf);

/* Deletes the blocks of bucket/key at etag (a version this mount has
 * replaced). */
void datacache_drop(struct datacache *dc, const char *bucket, const char *key, const char *etag);

#endif
