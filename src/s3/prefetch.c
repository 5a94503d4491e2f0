/* prefetch.c - see prefetch.h
 *
 * Lock order: prefetch_file.lock, then prefetch.lock (the budget).  The
 * fetches themselves run on workers with no lock held.
 */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "buf.h"
#include "log.h"
#include "pool.h"
#include "prefetch.h"

enum prefetch_state {
	CHUNK_PENDING,
	CHUNK_DONE,
	CHUNK_FAILED,
};

struct prefetch_chunk {
	struct prefetch_chunk *next;
	struct prefetch_file *file;
	off_t off;
	size_t len;	 /* bytes asked for; after a short fetch, bytes held */
	size_t reserved; /* capacity of buf, charged to the budget */
	enum prefetch_state state;
	int err;
	size_t used;	  /* bytes copied out to readers */
	unsigned readers; /* readers waiting on it or copying from it */
	int orphan;	  /* dropped from the list: the last user frees it */
	char *buf;
};

/* Chunk buffers are recycled, one free list per power-of-two size from
 * PREFETCH_CHUNK_MIN to PREFETCH_CHUNK_MAX: a fresh buffer costs a page
 * fault and a zeroed page for every 4 KiB, which was a quarter of the CPU
 * time of a sequential read. */
#define PREFETCH_CLASSES 7
_Static_assert((PREFETCH_CHUNK_MIN << (PREFETCH_CLASSES - 1)) == PREFETCH_CHUNK_MAX,
	       "one free list per power of two from PREFETCH_CHUNK_MIN to PREFETCH_CHUNK_MAX");

struct prefetch_free_buf {
	struct prefetch_free_buf *next; /* stored in the buffer itself */
};

struct prefetch {
	struct prefetch_config cfg;
	struct pool *workers;
	pthread_mutex_t lock;
	size_t held_bytes;   /* buffers in use by chunks */
	size_t cached_bytes; /* buffers on the free lists */
	unsigned n_files;    /* files open: they share total_max_bytes */
	struct prefetch_free_buf *free_bufs[PREFETCH_CLASSES];
};

struct prefetch_file {
	struct prefetch *pf;
	prefetch_fetch_fn fetch;
	void *arg;
	off_t size;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct prefetch_window window;
	struct prefetch_adapt adapt;
	struct prefetch_chunk *chunks; /* unordered; a handful at a time */
	off_t fetch_end;	       /* where the next read-ahead chunk starts */
	unsigned n_inflight;
	/* The last failed fetch: [failed_off, failed_end), its error, when. */
	off_t failed_off, failed_end;
	int failed_err;
	uint64_t failed_ms;
};

static uint64_t prefetch_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* How far from next_off a read still counts as in order (prefetch.h). */
static off_t prefetch_window_slack(const struct prefetch_window *w)
{
	off_t slack = (off_t)w->read_max * PREFETCH_SLACK_READS;

	return slack > PREFETCH_SLACK ? slack : PREFETCH_SLACK;
}

int prefetch_window_update(struct prefetch_window *w, off_t off, size_t len, size_t max_bytes,
			   int in_window)
{
	off_t slack;
	int sequential;

	if (len > w->read_max)
		w->read_max = len;
	slack = prefetch_window_slack(w);
	sequential = in_window || (off == 0 && w->next_off == 0) ||
		     (off + slack >= w->next_off && off <= w->next_off + slack);

	if (sequential) {
		size_t grown = w->window_bytes ? w->window_bytes * 2 : PREFETCH_WINDOW_START;

		if (grown < len * 2)
			grown = len * 2;
		w->window_bytes = grown < max_bytes ? grown : max_bytes;
		if ((off_t)(off + len) > w->next_off)
			w->next_off = off + (off_t)len;
	} else {
		w->window_bytes = 0;
		w->next_off = off + (off_t)len;
	}
	return sequential;
}

size_t prefetch_chunk_bytes(size_t limit, unsigned parts)
{
	size_t want = limit / (parts ? parts : 1), c = PREFETCH_CHUNK_MIN;

	while (c * 2 <= want && c < PREFETCH_CHUNK_MAX)
		c *= 2;
	return c;
}

void prefetch_adapt_init(struct prefetch_adapt *a, size_t window_max)
{
	memset(a, 0, sizeof(*a));
	a->limit = window_max;
	a->parts = PREFETCH_PARTS_START;
}

static void prefetch_adapt_sample(struct prefetch_adapt *a, uint64_t now_ms)
{
	a->t0_ms = now_ms;
	a->bytes = 0;
	a->waited_ms = 0;
}

int prefetch_adapt_update(struct prefetch_adapt *a, size_t bytes, uint64_t waited_ms,
			  uint64_t now_ms, size_t ceiling)
{
	size_t span = a->limit / 2 > PREFETCH_SAMPLE_MIN ? a->limit / 2 : PREFETCH_SAMPLE_MIN;
	uint64_t ms;
	double rate;
	int starved;

	if (a->t0_ms == 0) {
		prefetch_adapt_sample(a, now_ms ? now_ms : 1);
		return 0;
	}
	a->bytes += bytes;
	a->waited_ms += waited_ms;
	if (a->bytes < span || a->settled)
		return 0;
	ms = now_ms > a->t0_ms ? now_ms - a->t0_ms : 1;
	rate = (double)a->bytes / (double)ms;
	/* The reader waited on the network most of the time: more requests
	 * in flight may help.  A reader that seldom waits is the bound. */
	starved = a->waited_ms * 2 >= ms;
	prefetch_adapt_sample(a, now_ms);
	if (a->probing) {
		a->probing = 0;
		if (rate * 100 < a->rate * PREFETCH_GAIN_PERCENT) {
			a->limit = a->prev_limit;
			a->parts = a->prev_parts;
			a->settled = 1;
			return 1;
		}
	}
	a->rate = rate;
	if (starved) {
		size_t limit = a->limit * 2 < ceiling ? a->limit * 2 : ceiling;
		unsigned parts =
		    a->parts * 2 < PREFETCH_PARTS_MAX ? a->parts * 2 : PREFETCH_PARTS_MAX;

		if (limit < a->limit)
			limit = a->limit; /* never shrink on a step up */
		if (limit == a->limit && parts == a->parts)
			return 0;
		a->prev_limit = a->limit;
		a->prev_parts = a->parts;
		a->limit = limit;
		a->parts = parts;
		a->probing = 1;
		return 1;
	}
	return 0;
}

struct prefetch *prefetch_new(const struct prefetch_config *cfg, struct pool *workers)
{
	struct prefetch *pf = calloc(1, sizeof(*pf));

	if (!pf)
		return NULL;
	pf->cfg = *cfg;
	pf->workers = workers;
	pthread_mutex_init(&pf->lock, NULL);
	return pf;
}

static void prefetch_drop_cached(struct prefetch *pf, size_t want_free)
{
	for (int i = PREFETCH_CLASSES - 1; i >= 0 && pf->cached_bytes && want_free; i--) {
		while (pf->free_bufs[i] && want_free) {
			struct prefetch_free_buf *b = pf->free_bufs[i];
			size_t cap = (size_t)PREFETCH_CHUNK_MIN << i;

			pf->free_bufs[i] = b->next;
			pf->cached_bytes -= cap;
			want_free = want_free > cap ? want_free - cap : 0;
			free(b);
		}
	}
}

void prefetch_free(struct prefetch *pf)
{
	if (!pf)
		return;
	prefetch_drop_cached(pf, SIZE_MAX);
	pthread_mutex_destroy(&pf->lock);
	free(pf);
}

/* The size class of a buffer for len bytes, and its capacity. */
static int prefetch_class(size_t len, size_t *cap)
{
	int i = 0;

	*cap = PREFETCH_CHUNK_MIN;
	while (*cap < len && i < PREFETCH_CLASSES - 1) {
		*cap <<= 1;
		i++;
	}
	if (*cap < len)
		return -1; /* larger than any class: not recycled */
	return i;
}

size_t prefetch_bytes_held(struct prefetch *pf)
{
	size_t n;

	pthread_mutex_lock(&pf->lock);
	n = pf->held_bytes;
	pthread_mutex_unlock(&pf->lock);
	return n;
}

/* Take a buffer for len bytes, charged to the budget.  A forced charge
 * (bytes a reader waits for) always succeeds, so a full budget slows reads
 * down but never stalls them.  Sets *cap to what was charged. */
static char *prefetch_buf_get(struct prefetch *pf, size_t len, int force, size_t *cap)
{
	int cls = prefetch_class(len, cap), use = -1;
	char *buf = NULL;

	if (cls < 0)
		*cap = len;
	pthread_mutex_lock(&pf->lock);
	/* An idle buffer up to 4 times larger serves too: chunk sizes follow
	 * the window, and a new buffer costs its pages' first faults. */
	for (int i = cls; cls >= 0 && i <= cls + 2 && i < PREFETCH_CLASSES && use < 0; i++)
		if (pf->free_bufs[i])
			use = i;
	if (use >= 0)
		*cap = (size_t)PREFETCH_CHUNK_MIN << use;
	if (!force && pf->held_bytes + *cap > pf->cfg.total_max_bytes) {
		pthread_mutex_unlock(&pf->lock);
		return NULL;
	}
	if (use >= 0) {
		struct prefetch_free_buf *b = pf->free_bufs[use];

		pf->free_bufs[use] = b->next;
		pf->cached_bytes -= *cap;
		buf = (char *)b;
	} else if (pf->held_bytes + pf->cached_bytes + *cap > pf->cfg.total_max_bytes) {
		/* Buffers of other sizes sit idle: give them back first. */
		prefetch_drop_cached(pf, pf->held_bytes + pf->cached_bytes + *cap -
					     pf->cfg.total_max_bytes);
	}
	pf->held_bytes += *cap;
	pthread_mutex_unlock(&pf->lock);
	if (!buf) {
		buf = buf_alloc_huge(*cap);
		if (!buf) {
			pthread_mutex_lock(&pf->lock);
			pf->held_bytes -= *cap;
			pthread_mutex_unlock(&pf->lock);
		}
	}
	return buf;
}

static void prefetch_buf_put(struct prefetch *pf, char *buf, size_t cap)
{
	size_t unused;
	int cls = prefetch_class(cap, &unused);

	pthread_mutex_lock(&pf->lock);
	pf->held_bytes -= cap;
	if (cls >= 0 && unused == cap &&
	    pf->held_bytes + pf->cached_bytes + cap <= pf->cfg.total_max_bytes) {
		struct prefetch_free_buf *b = (struct prefetch_free_buf *)buf;

		b->next = pf->free_bufs[cls];
		pf->free_bufs[cls] = b;
		pf->cached_bytes += cap;
		buf = NULL;
	}
	pthread_mutex_unlock(&pf->lock);
	free(buf);
}

static void prefetch_chunk_free(struct prefetch_chunk *c)
{
	prefetch_buf_put(c->file->pf, c->buf, c->reserved);
	free(c);
}

static void prefetch_job(void *arg)
{
	struct prefetch_chunk *c = arg;
	struct prefetch_file *f = c->file;
	ssize_t n = f->fetch(f->arg, c->off, c->len, c->buf);

	pthread_mutex_lock(&f->lock);
	if (n < 0) {
		c->state = CHUNK_FAILED;
		c->err = (int)n;
		f->failed_off = c->off;
		f->failed_end = c->off + (off_t)(c->len ? c->len : 1);
		f->failed_err = (int)n;
		f->failed_ms = prefetch_now_ms();
	} else {
		c->state = CHUNK_DONE;
		c->len = (size_t)n;
	}
	f->n_inflight--;
	if (c->orphan && c->readers == 0)
		prefetch_chunk_free(c);
	pthread_cond_broadcast(&f->cond);
	pthread_mutex_unlock(&f->lock);
}

/* Where the first chunk after off starts, or the end of the object. */
static off_t prefetch_next_start(struct prefetch_file *f, off_t off)
{
	off_t next = f->size;

	for (struct prefetch_chunk *c = f->chunks; c; c = c->next)
		if (c->state != CHUNK_FAILED && c->off > off && c->off < next)
			next = c->off;
	return next;
}

/* Start fetching [off, off+len); called with f->lock held.  NULL when the
 * budget is spent (unless forced) or memory is short. */
static struct prefetch_chunk *prefetch_start(struct prefetch_file *f, off_t off, size_t len,
					     int force)
{
	struct prefetch_chunk *c;
	off_t next = prefetch_next_start(f, off);

	/* Up to the next chunk, never over it: reads out of order (the
	 * kernel's read-ahead) and the window's fill start chunks in any
	 * order, and no byte should be fetched twice. */
	if ((off_t)len > next - off)
		len = (size_t)(next - off);
	c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	c->buf = prefetch_buf_get(f->pf, len ? len : 1, force, &c->reserved);
	if (!c->buf) {
		free(c);
		return NULL;
	}
	c->file = f;
	c->off = off;
	c->len = len;
	c->state = CHUNK_PENDING;
	if (pool_submit(f->pf->workers, prefetch_job, c) < 0) {
		prefetch_chunk_free(c);
		return NULL;
	}
	f->n_inflight++;
	c->next = f->chunks;
	f->chunks = c;
	return c;
}

static struct prefetch_chunk *prefetch_find(struct prefetch_file *f, off_t off)
{
	for (struct prefetch_chunk *c = f->chunks; c; c = c->next)
		if (c->state != CHUNK_FAILED && off >= c->off && off < c->off + (off_t)c->len)
			return c;
	return NULL;
}

static void prefetch_unlink(struct prefetch_file *f, struct prefetch_chunk *victim)
{
	for (struct prefetch_chunk **pp = &f->chunks; *pp; pp = &(*pp)->next) {
		if (*pp == victim) {
			*pp = victim->next;
			break;
		}
	}
	/* A chunk in flight, or one another reader is waiting on, outlives
	 * the list: whoever finishes with it last frees it. */
	if (victim->state == CHUNK_PENDING || victim->readers)
		victim->orphan = 1;
	else
		prefetch_chunk_free(victim);
}

/* Drop chunks the reader has left behind, or that lie beyond where a
 * random reader now is. */
static void prefetch_trim(struct prefetch_file *f, off_t lo, off_t hi)
{
	struct prefetch_chunk *c = f->chunks, *next;

	for (; c; c = next) {
		next = c->next;
		if (c->off + (off_t)c->len <= lo || c->off >= hi || c->state == CHUNK_FAILED)
			prefetch_unlink(f, c);
	}
}

/* The most one file's window may hold: the budget shared evenly between
 * the files open, so one reader's window cannot starve the others. */
static size_t prefetch_share(struct prefetch *pf)
{
	size_t share;

	pthread_mutex_lock(&pf->lock);
	share = pf->cfg.total_max_bytes / (pf->n_files ? pf->n_files : 1);
	pthread_mutex_unlock(&pf->lock);
	return share;
}

/* Keep the window ahead of a sequential reader filled. */
static void prefetch_fill(struct prefetch_file *f, off_t off)
{
	size_t window = f->window.window_bytes;
	size_t share = prefetch_share(f->pf);
	size_t chunk;
	off_t want_end;

	if (window > share) {
		/* A window cut down to its share goes in quarters: the other
		 * readers' requests fill the workers anyway, so fewer and
		 * larger requests lose nothing (four readers: 8 MiB chunks,
		 * not 4). */
		window = share;
		chunk = prefetch_chunk_bytes(window, 4);
	} else {
		chunk = prefetch_chunk_bytes(window, f->adapt.parts);
		/* A small window keeps chunks of a quarter of it up to
		 * PREFETCH_CHUNK_FLOOR: smaller ones pay their round trip for
		 * little. */
		if (chunk < PREFETCH_CHUNK_FLOOR && chunk < prefetch_chunk_bytes(window, 4))
			chunk = prefetch_chunk_bytes(
			    window < PREFETCH_CHUNK_FLOOR * 4 ? window : PREFETCH_CHUNK_FLOOR * 4, 4);
	}
	want_end = f->window.next_off + (off_t)window;

	if (want_end > f->size)
		want_end = f->size;
	/* A read past the fill point moves it there.  One behind it, whose
	 * bytes no chunk holds, came late or goes back: the read fetches its
	 * own bytes, and the fill does not go back over chunks read and
	 * dropped. */
	if (!prefetch_find(f, off) && off > f->fetch_end)
		f->fetch_end = off;
	while (f->fetch_end < want_end) {
		size_t len = chunk;
		struct prefetch_chunk *c = prefetch_find(f, f->fetch_end);

		/* Reads that came out of order started chunks of their own:
		 * step over them (prefetch_start stops short of the next). */
		if (c) {
			f->fetch_end = c->off + (off_t)c->len;
			continue;
		}
		/* Cut chunks on chunk boundaries so later windows line up. */
		if (f->fetch_end % (off_t)chunk)
			len = chunk - (size_t)(f->fetch_end % (off_t)chunk);
		c = prefetch_start(f, f->fetch_end, len, f->fetch_end <= off);
		if (!c)
			break;
		f->fetch_end = c->off + (off_t)c->len;
	}
}

struct prefetch_file *prefetch_open(struct prefetch *pf, off_t size, prefetch_fetch_fn fetch,
				    void *arg)
{
	struct prefetch_file *f = calloc(1, sizeof(*f));

	if (!f)
		return NULL;
	f->pf = pf;
	f->fetch = fetch;
	f->arg = arg;
	f->size = size;
	prefetch_adapt_init(&f->adapt, pf->cfg.window_max_bytes);
	pthread_mutex_init(&f->lock, NULL);
	pthread_cond_init(&f->cond, NULL);
	pthread_mutex_lock(&pf->lock);
	pf->n_files++;
	pthread_mutex_unlock(&pf->lock);
	return f;
}

int prefetch_seed(struct prefetch_file *f, const char *data, size_t len)
{
	struct prefetch_chunk *c;

	if ((off_t)len > f->size)
		len = (size_t)f->size;
	if (len == 0)
		return 0;
	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->buf = prefetch_buf_get(f->pf, len, 0, &c->reserved);
	if (!c->buf) {
		free(c); /* the budget is spent: the bytes are fetched again */
		return 0;
	}
	memcpy(c->buf, data, len);
	c->file = f;
	c->len = len;
	c->state = CHUNK_DONE;
	pthread_mutex_lock(&f->lock);
	c->next = f->chunks;
	f->chunks = c;
	if (f->fetch_end < (off_t)len)
		f->fetch_end = (off_t)len;
	pthread_mutex_unlock(&f->lock);
	return 0;
}

ssize_t prefetch_read(struct prefetch_file *f, char *buf, size_t size, off_t off)
{
	off_t pos = off, end;
	ssize_t r = 0;
	uint64_t waited_ms = 0;
	int sequential;

	if (off >= f->size || size == 0)
		return 0;
	end = off + (off_t)size < f->size ? off + (off_t)size : f->size;

	pthread_mutex_lock(&f->lock);
	/* When a read fails, the kernel reads the same page again at once
	 * (its read-ahead failed, then the read itself); against a server
	 * that hangs, that second fetch would double what the user waits.
	 * A read of bytes whose fetch just failed gets the same error. */
	if (f->failed_err && off >= f->failed_off && off < f->failed_end &&
	    prefetch_now_ms() - f->failed_ms < PREFETCH_FAIL_MEMORY_MS) {
		/* Read under the lock: a fetch failing now rewrites it. */
		r = f->failed_err;
		pthread_mutex_unlock(&f->lock);
		return r;
	}
	/* A read that lands in bytes already fetched or in flight is part of
	 * the sequence even if the kernel's threads delivered it late. */
	sequential = prefetch_window_update(&f->window, off, size, f->adapt.limit,
					    prefetch_find(f, off) != NULL);
	if (sequential) {
		off_t slack = prefetch_window_slack(&f->window);
		off_t hi = f->window.next_off + (off_t)f->window.window_bytes + slack;

		/* Chunks the fill started under a larger window (a step of the
		 * adaptation undone) stay: the reader is on its way to them.
		 * Dropping them left a hole the fill had already passed, which
		 * the reads then fetched again themselves, a read at a time. */
		if (hi < f->fetch_end)
			hi = f->fetch_end;
		prefetch_trim(f, off - slack, hi);
		prefetch_fill(f, off);
	} else {
		size_t len =
		    size > f->pf->cfg.random_min_bytes ? size : f->pf->cfg.random_min_bytes;

		prefetch_trim(f, off, off + (off_t)len);
		if (!prefetch_find(f, off))
			prefetch_start(f, off, len, 1);
		f->fetch_end = off + (off_t)len;
	}

	while (pos < end) {
		struct prefetch_chunk *c = prefetch_find(f, pos);
		size_t n;

		if (!c) {
			c = prefetch_start(f, pos, (size_t)(end - pos), 1);
			if (!c) {
				r = -ENOMEM;
				break;
			}
		}
		c->readers++;
		if (c->state == CHUNK_PENDING) {
			uint64_t t0 = prefetch_now_ms();

			while (c->state == CHUNK_PENDING)
				pthread_cond_wait(&f->cond, &f->lock);
			waited_ms += prefetch_now_ms() - t0;
		}
		c->readers--;
		if (c->state == CHUNK_FAILED) {
			r = c->err;
			if (c->orphan) {
				if (c->readers == 0)
					prefetch_chunk_free(c);
			} else {
				prefetch_unlink(f, c);
			}
			break;
		}
		n = 0;
		if (pos >= c->off + (off_t)c->len) {
			/* The object ended early: it changed under us. */
			r = -EIO;
		} else {
			n = (size_t)(c->off + (off_t)c->len - pos);
			if ((off_t)n > end - pos)
				n = (size_t)(end - pos);
			memcpy(buf + (pos - off), c->buf + (pos - c->off), n);
			pos += (off_t)n;
		}
		/* A chunk read to the end is dropped at once (the kernel keeps
		 * the pages), not when the reader has left it behind by the
		 * slack: that could hold tens of MiB of the budget. */
		if (c->orphan) {
			if (c->readers == 0)
				prefetch_chunk_free(c);
		} else if ((c->used += n) >= c->len) {
			prefetch_unlink(f, c);
		}
		if (r < 0)
			break;
	}
	/* Sample the throughput once the window has ramped to its limit. */
	if (sequential && r == 0 && f->window.window_bytes >= f->adapt.limit) {
		size_t ceiling = f->pf->cfg.total_max_bytes < PREFETCH_ADAPT_MAX
				     ? f->pf->cfg.total_max_bytes
				     : PREFETCH_ADAPT_MAX;

		if (ceiling < f->pf->cfg.window_max_bytes)
			ceiling = f->pf->cfg.window_max_bytes;
		if (prefetch_adapt_update(&f->adapt, (size_t)(pos - off), waited_ms,
					  prefetch_now_ms(), ceiling))
			log_debug("prefetch: window %zu MiB in %u parts", f->adapt.limit >> 20,
				  f->adapt.parts);
	}
	pthread_mutex_unlock(&f->lock);
	if (pos > off && r == 0)
		return (ssize_t)(pos - off);
	return r < 0 ? r : (ssize_t)(pos - off);
}

void prefetch_close(struct prefetch_file *f)
{
	if (!f)
		return;
	pthread_mutex_lock(&f->lock);
	while (f->n_inflight)
		pthread_cond_wait(&f->cond, &f->lock);
	while (f->chunks)
		prefetch_unlink(f, f->chunks);
	pthread_mutex_unlock(&f->lock);
	pthread_mutex_lock(&f->pf->lock);
	f->pf->n_files--;
	pthread_mutex_unlock(&f->pf->lock);
	pthread_mutex_destroy(&f->lock);
	pthread_cond_destroy(&f->cond);
	free(f);
}
