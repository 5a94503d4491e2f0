/* mdcache.h - a metadata cache as a layer: it wraps any backend and is a
 * backend itself (sshfs's cache_wrap).
 *
 * It keeps, for ttl_ms: attributes by path (found or not found), and whole
 * folder listings with every entry's attributes, for folders of up to
 * 100,000 entries (500,000 in all); a larger folder streams through
 * (opendir/readdir_at) every time it is read, in bounded memory.  A lookup of a name whose
 * parent listing is fresh is answered from that listing, found or not, so
 * `ls -l` after a listing costs no request at all.  Opening a file
 * replaces what is held for it with what the open saw.
 *
 * Every change passes through to inner and then drops what it made stale,
 * whether it succeeded or not (a failed change may have half happened):
 * the path's attributes or negative entry and its folder's listing for
 * create, unlink, symlink, truncate, setattr, an O_TRUNC open, and flush,
 * fsync and release of a file not opened read-only; for mkdir and rmdir
 * also the folder's own listing; for rename everything.  A write only
 * drops the path's attributes and keeps later lookups of it off its
 * folder's listing, whose entry for it is stale until close; a listing
 * read while a file is written may show its old size until then.  A
 * change that inner lacks (NULL) stays NULL here.
 */
#ifndef ODOFS_MDCACHE_H
#define ODOFS_MDCACHE_H

#include "backend.h"

/* Wrap inner (which the cache then owns and destroys).  ttl_ms == 0 leaves
 * inner as it is: no layer.  0 or -ENOMEM. */
int mdcache_wrap(struct backend *b, unsigned ttl_ms);

#endif
