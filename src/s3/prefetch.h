/* prefetch.h - read-ahead for open files: parallel range GETs in a window
 * that grows while a reader keeps reading in order.
 *
 * A sequential reader gets a window that doubles with every read up to
 * window_max_bytes, cut into chunks that workers fetch in parallel.  A
 * random reader gets what it asked for, rounded up to random_min_bytes.
 * Memory is bounded per file (the window) and across all files
 * (total_max_bytes): past the total, only the bytes a read is waiting for
 * are fetched.
 */
#ifndef ODOFS_PREFETCH_H
#define ODOFS_PREFETCH_H

#include <stddef.h>
#include <sys/types.h>

struct pool;

struct prefetch_config {
	size_t window_max_bytes;
	size_t total_max_bytes;
	size_t random_min_bytes;
};

#define PREFETCH_WINDOW_START (1 << 20)
#define PREFETCH_CHUNK_MIN    (256 << 10)
#define PREFETCH_CHUNK_MAX    (16 << 20)
/* How far a read may land from where the last one ended and still count as
 * in order: the kernel sends read-ahead requests on several threads, so
 * they arrive slightly shuffled. */
#define PREFETCH_SLACK (1 << 20)
/* How long a failed fetch answers reads of its bytes with its error, in
 * ms: long enough to cover the kernel re-reading a page whose read
 * failed, short enough that a reader's own retry reaches the server. */
#define PREFETCH_FAIL_MEMORY_MS 1000

/* The window policy, pure so it can be unit-tested. */
struct prefetch_window {
	off_t next_off;	     /* where an in-order reader reads next */
	size_t window_bytes; /* how much to have fetched or in flight ahead */
};

/* Record a read; 1 if it continues the sequence, 0 if it is random.
 * in_window: the read lands in bytes already fetched or in flight. */
int prefetch_window_update(struct prefetch_window *w, off_t off, size_t len, size_t max_bytes,
			   int in_window);
/* Size of each chunk fetched for a window: a quarter of it, within
 * [PREFETCH_CHUNK_MIN, PREFETCH_CHUNK_MAX], so a full window is 4
 * requests in parallel: fewer, larger requests measured faster than eight
 * 8 MiB ones, since each request has a fixed cost at the server. */
size_t prefetch_chunk_bytes(size_t window_bytes);

/* Fetch [off, off+len) into buf: the byte count, or a negative errno. */
typedef ssize_t (*prefetch_fetch_fn)(void *arg, off_t off, size_t len, char *buf);

struct prefetch;
struct prefetch_file;

/* The shared part: the memory budget and the workers (borrowed). */
struct prefetch *prefetch_new(const struct prefetch_config *cfg, struct pool *workers);
void prefetch_free(struct prefetch *pf);
/* Bytes of chunk buffers held now, across all files. */
size_t prefetch_bytes_held(struct prefetch *pf);

/* Per open file of size bytes; fetch(arg, ...) is called from workers. */
struct prefetch_file *prefetch_open(struct prefetch *pf, off_t size, prefetch_fetch_fn fetch,
				    void *arg);
/* Bytes copied (short only at the end of the file), or a negative errno. */
ssize_t prefetch_read(struct prefetch_file *f, char *buf, size_t size, off_t off);
/* Waits for fetches in flight, then frees.  NULL is ok. */
void prefetch_close(struct prefetch_file *f);

#endif
