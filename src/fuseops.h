/* fuseops.h - the FUSE callbacks: a thin adapter from libfuse's high-level
 * API to a struct backend, which it never looks inside. */
#ifndef ODOFS_FUSEOPS_H
#define ODOFS_FUSEOPS_H

#include <fuse.h>

#include "backend.h"

struct fuseops_ctx {
	struct backend backend;
	unsigned ttl_ms; /* kernel attribute and entry timeouts */
	/* The kernel keeps no attributes and no negative entries: every
	 * stat and fstat asks the backend (whose answers are in memory),
	 * for trees whose file sizes are known only once a file is open. */
	int live_attrs;
	/* The backend keeps a file unlinked while open usable through its
	 * descriptors: libfuse renames it to a hidden name (".fuse_hidden*")
	 * that the backend takes as an unlink, instead of hard_remove (which
	 * makes fstat of such a file fail with ESTALE). */
	int keep_unlinked;
	/* The kernel's read-ahead for the mount (0: leave it), set once the
	 * mount is up: see mountra.h. */
	const char *mountpoint;
	size_t kernel_readahead;
};

/* The operations table; fuse_new()'s private data is a struct fuseops_ctx. */
const struct fuse_operations *fuseops_get(void);

#endif
