/* gunzip.h - streaming gzip decompression (zlib).
 *
 * Files copied into a load folder may be gzipped; their bytes arrive in
 * write() order and leave, decompressed, through a sink as they come, so a
 * file of any size needs only the 256 KiB output window.  Several gzip
 * members one after the other (what `cat a.gz b.gz` or pigz make) are one
 * stream, as gzip(1) reads them.
 */
#ifndef ODOFS_GUNZIP_H
#define ODOFS_GUNZIP_H

#include <stddef.h>

/* Receives decompressed bytes, valid during the call.  A nonzero return
 * stops decompression and is returned, as is, by gunzip_feed(). */
typedef int (*gunzip_sink)(void *arg, const char *data, size_t len);

struct gunzip;

/* NULL on ENOMEM.  Free with gunzip_free(). */
struct gunzip *gunzip_new(gunzip_sink sink, void *arg);

/* Decompress the next bytes of the file, in chunks of any size.  0, the
 * sink's return value, -ENOMEM, or -EINVAL with gunzip_error() "not gzip
 * data" (the file does not start as gzip) or "corrupt gzip data".  An error
 * is kept: later calls return it again. */
int gunzip_feed(struct gunzip *g, const char *data, size_t len);

/* At the end of the file: 0, the kept error, or -EINVAL "truncated gzip
 * data" when it ended inside a member ("not gzip data" when it was empty). */
int gunzip_finish(struct gunzip *g);

/* The last error as one line ("" when none); lives as long as g. */
const char *gunzip_error(const struct gunzip *g);

/* Accepts NULL. */
void gunzip_free(struct gunzip *g);

#endif
