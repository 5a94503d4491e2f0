/* mdcache.h - a metadata cache as a layer: it wraps any backend and is a
 * backend itself (sshfs's cache_wrap).
 *
 * It keeps, for ttl_ms: attributes by path (found or not found), and whole
 * folder listings with every entry's attributes.  A lookup of a name whose
 * parent listing is fresh is answered from that listing, found or not, so
 * `ls -l` after a listing costs no request at all.  Opening a file
 * replaces what is held for it with what the open saw.
 */
#ifndef ODOFS_MDCACHE_H
#define ODOFS_MDCACHE_H

#include "backend.h"

/* Wrap inner (which the cache then owns and destroys).  ttl_ms == 0 leaves
 * inner as it is: no layer.  0 or -ENOMEM. */
int mdcache_wrap(struct backend *b, unsigned ttl_ms);

#endif
