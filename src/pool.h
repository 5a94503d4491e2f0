/* pool.h - a fixed set of worker threads running queued jobs in FIFO order.
 *
 * Used for work that must run beside the caller: prefetch range GETs, and
 * the HEAD that races a listing when an unlisted path is resolved.
 */
#ifndef ODOFS_POOL_H
#define ODOFS_POOL_H

struct pool;

typedef void (*pool_job_fn)(void *arg);

/* NULL on failure. */
struct pool *pool_new(unsigned n_threads);
/* Queue fn(arg); it runs on some worker.  0 or -ENOMEM. */
int pool_submit(struct pool *p, pool_job_fn fn, void *arg);
/* Run the queued jobs to completion, stop the workers, free.  NULL is ok. */
void pool_free(struct pool *p);

#endif
