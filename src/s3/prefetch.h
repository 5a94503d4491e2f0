/* prefetch.h - read-ahead for open files: parallel range GETs in a window
 * that grows while a reader keeps reading in order.
 *
 * A sequential reader gets a window that doubles with every read up to its
 * limit, cut into chunks that workers fetch in parallel.  The limit starts
 * at window_max_bytes in 8 chunks and adapts to the link: while the reader
 * waits on the network and each step up raised the measured throughput,
 * the limit doubles and the chunks per window double (more, smaller
 * requests in flight: a bandwidth-delay product), up to total_max_bytes
 * (and PREFETCH_ADAPT_MAX); a step that gained nothing is undone.  A random
 * reader gets what it asked for, rounded up to random_min_bytes.  Memory is
 * bounded per file (the window) and across all files (total_max_bytes,
 * shared evenly between the files being read): past the total, only the
 * bytes a read is waiting for are fetched.
 */
#ifndef ODOFS_PREFETCH_H
#define ODOFS_PREFETCH_H

#include <stddef.h>
#include <stdint.h>
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
#define PREFETCH_CHUNK_FLOOR  ((size_t)4 << 20) /* adapted chunks go below only for small windows  \
						 */
/* The window's adaptation: chunks per window at first and at most, the
 * largest window, the bytes a throughput sample spans at least (else half
 * the limit), and the gain a step up must bring to be kept. */
#define PREFETCH_PARTS_START  8u
#define PREFETCH_PARTS_MAX    16u
#define PREFETCH_ADAPT_MAX    ((size_t)192 << 20)
#define PREFETCH_SAMPLE_MIN   ((size_t)16 << 20)
#define PREFETCH_GAIN_PERCENT 115u
/* How far a read may land from where the last one ended and still count as
 * in order: the kernel sends read-ahead requests on several threads, so
 * they arrive shuffled, by up to its background requests (12 by default)
 * times their size.  At least PREFETCH_SLACK, else PREFETCH_SLACK_READS
 * times the largest read seen: 1 MiB reads, from a raised read_ahead_kb,
 * arrive up to 12 MiB apart. */
#define PREFETCH_SLACK	     (1 << 20)
#define PREFETCH_SLACK_READS 32
/* How long a failed fetch answers reads of its bytes with its error, in
 * ms: long enough to cover the kernel re-reading a page whose read
 * failed, short enough that a reader's own retry reaches the server. */
#define PREFETCH_FAIL_MEMORY_MS 1000

/* The window policy, pure so it can be unit-tested. */
struct prefetch_window {
	off_t next_off;	     /* where an in-order reader reads next */
	size_t window_bytes; /* how much to have fetched or in flight ahead */
	size_t read_max;     /* the largest read seen */
};


/* The window's limit and chunking, adapted to the throughput measured. */
struct prefetch_adapt {
	size_t limit;	/* the window grows to this; 0: not started */
	unsigned parts; /* chunks per full window */
	size_t prev_limit;
	unsigned prev_parts;
	int probing; /* a step up is on trial */
	int settled; /* a step up gained nothing: no more steps */
	/* The sample being taken: since when, bytes read, ms spent waiting. */
	uint64_t t0_ms, waited_ms;
	size_t bytes;
	double rate; /* bytes/ms of the last sample kept */
};

/* Start at window_max bytes (the readahead option) in PREFETCH_PARTS_START
 * chunks. */
void prefetch_adapt_init(struct prefetch_adapt *a, size_t window_max);
/* Count a sequential read of bytes that made the reader wait waited_ms,
 * at now_ms; at the end of a sample, step the limit up (when the reader
 * mostly waited), keep a step that raised the throughput by
 * PREFETCH_GAIN_PERCENT, or undo one that did not.  ceiling: the most the
 * limit may reach.  Returns 1 when the limit or the parts changed. */
int prefetch_adapt_update(struct prefetch_adapt *a, size_t bytes, uint64_t waited_ms,
			  uint64_t now_ms, size_t ceiling);

/* Record a read; 1 if it continues the sequence, 0 if it is random.
 * in_window: the read lands in bytes already fetched or in flight. */
int prefetch_window_update(struct prefetch_window *w, off_t off, size_t len, size_t max_bytes,
			   int in_window);
/* Size of each chunk fetched for a window of limit bytes in parts chunks:
 * the power of two at or below limit / parts, within [PREFETCH_CHUNK_MIN,
 * PREFETCH_CHUNK_MAX] (buffers are recycled by power-of-two size).  On
 * loopback 4 large requests measured faster than 8 smaller ones (each
 * request has a fixed cost at the server); on a link with a round trip and
 * a cap per connection more requests in flight win, hence the adaptation. */
size_t prefetch_chunk_bytes(size_t limit, unsigned parts);

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
/* Hand over the object's first len bytes, already fetched (with the open):
 * reads of them cost no request.  Before the first read only. */
int prefetch_seed(struct prefetch_file *f, const char *data, size_t len);
/* Bytes copied (short only at the end of the file), or a negative errno. */
ssize_t prefetch_read(struct prefetch_file *f, char *buf, size_t size, off_t off);
/* Waits for fetches in flight, then frees.  NULL is ok. */
void prefetch_close(struct prefetch_file *f);

#endif
