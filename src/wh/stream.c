/* stream.c - a table's export read while it is made; see whtree_i.h.
 *
 * Opening SCHEMA/TABLE.csv starts an export in a thread of its own (or
 * joins the one running, or reuses one that finished within the TTL) and
 * returns once the database has accepted the query.  The export writes
 * into a spool file; a read waits only until the bytes it asks for exist.
 *
 * The spool file is the table's one copy on disk.  When the spool is full
 * (spool_max, or the cache_dir's disk), the bytes behind every reader are
 * punched out of the file and given back, so a table of any size can be
 * read once from start to end: the spool is then a window that follows
 * the readers.  If the readers still hold it all, the export waits for
 * them; if one of them waits for bytes not made yet, the window follows
 * the waiting readers and a slower reader that comes back for what was
 * given back gets ESPIPE.  An export that has given bytes back is no
 * longer the table's copy: the next open starts another.
 *
 * When the last reader of an unfinished export closes, the export is
 * cancelled: the statement is cancelled on the server, the connection cut
 * and the spool file deleted.
 */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "spool.h"
#include "whdb.h"
#include "whtree_i.h"

#define WH_PIECE (128u << 10) /* bytes written to the spool at a time */
/* How long a read that has some of its bytes waits for the rest: a reader
 * caught up with the export then reads whole pieces, not each few KiB the
 * database sends (which cost a FUSE round trip each). */
#define WH_GATHER_NS (5 * 1000 * 1000)

void wh_stream_unref(struct whsnap *s)
{
	if (s && --s->refs == 0) {
		spool_close(s->f);
		pthread_cond_destroy(&s->cond);
		free(s->schema);
		free(s->table);
		free(s);
	}
}

/* Take s out of its table's entry: a later open starts another export.
 * Called with t->lock held. */
static void wh_stream_unlist(struct whsnap *s)
{
	if (s && s->e && s->e->snap == s) {
		s->e->snap = NULL;
		wh_stream_unref(s);
	}
}

/* Stop the export: the statement is cancelled and its connection cut.
 * Called with t->lock held. */
static void wh_stream_cancel(struct whsnap *s)
{
	if (s->done || s->cancel)
		return;
	s->cancel = 1;
	if (s->conn)
		whdb_abort(s->conn);
	pthread_cond_broadcast(&s->cond);
}

void wh_export_snap_forget(struct whtree *t, const char *schema, const char *table)
{
	struct whent *e;

	pthread_mutex_lock(&t->lock);
	e = whtree_ent(t, schema, table, 0);
	/* An export under way goes on for its readers, who opened before
	 * the change; it is no longer the table's copy. */
	if (e)
		wh_stream_unlist(e->snap);
	pthread_mutex_unlock(&t->lock);
}

/* Give back the disk of exports that failed or that nobody has read for a
 * TTL.  Called with t->lock held. */
static void wh_stream_sweep(struct whtree *t)
{
	for (struct whent *e = t->ents; e; e = e->next) {
		struct whsnap *s = e->snap;

		if (s && s->done && (s->status || (s->refs == 1 && !wh_fresh(t, s->made_ms))))
			wh_stream_unlist(s);
	}
}

off_t wh_stream_size(const struct whsnap *s)
{
	return s && s->done && !s->status ? s->size : 0;
}

int wh_stream_wanted(struct whsnap *s)
{
	return __atomic_load_n(&s->waiting, __ATOMIC_RELAXED) != 0;
}

void wh_stream_started(struct whsnap *s)
{
	pthread_mutex_lock(&s->t->lock);
	if (!s->started) {
		s->started = 1;
		pthread_cond_broadcast(&s->cond);
	}
	pthread_mutex_unlock(&s->t->lock);
}

int wh_stream_conn(struct whsnap *s, PGconn *c)
{
	int cancel;

	pthread_mutex_lock(&s->t->lock);
	s->conn = c;
	cancel = s->cancel;
	if (c && cancel)
		whdb_abort(c);
	pthread_mutex_unlock(&s->t->lock);
	return cancel;
}

/* The spool is full: give back what lies behind the readers, waiting for
 * them to move on if they still need it all.  0: there is room to try
 * again; -EPIPE: cancelled; -ENOSPC: nothing is held and still no room. */
static int wh_stream_room(struct whsnap *s)
{
	struct whtree *t = s->t;
	off_t upto;
	int r = 0, first;

	pthread_mutex_lock(&t->lock);
	for (;;) {
		off_t all = s->size, front = -1;

		if (s->cancel) {
			r = -EPIPE;
			break;
		}
		for (struct whreader *rd = s->readers; rd; rd = rd->next) {
			if (rd->pos < all)
				all = rd->pos;
			if (rd->waiting && (front < 0 || rd->pos < front))
				front = rd->pos;
		}
		/* Behind every reader; or, if that frees nothing and some
		 * reader waits for more, behind the waiting ones. */
		upto = all;
		if (upto <= s->base && front > s->base)
			upto = front;
		if (upto > s->size)
			upto = s->size;
		if (upto > s->base)
			break;
		if (s->base == s->size) {
			r = -ENOSPC;
			break;
		}
		pthread_cond_wait(&s->cond, &t->lock);
	}
	if (r < 0) {
		pthread_mutex_unlock(&t->lock);
		return r;
	}
	first = s->base == 0;
	s->base = upto;
	wh_stream_unlist(s);
	pthread_mutex_unlock(&t->lock);
	if (first)
		log_notice("%s.%s does not fit the spool (spool_max or the cache_dir's free disk): "
			   "it is read from start to end, and what the readers have passed is "
			   "given back",
			   s->schema, s->table);
	return spool_discard(s->f, upto);
}

int wh_stream_put(struct whsnap *s, const char *data, size_t len)
{
	struct whtree *t = s->t;
	int r;

	while (len) {
		size_t n = len < WH_PIECE ? len : WH_PIECE;

		/* Only this thread changes s->size. */
		r = spool_pwrite(s->f, data, n, s->size);
		if (r == -ENOSPC || r == -EDQUOT) {
			if ((r = wh_stream_room(s)) < 0)
				return r;
			continue;
		}
		if (r < 0)
			return r;
		pthread_mutex_lock(&t->lock);
		s->size += (off_t)n;
		if (s->waiting)
			pthread_cond_broadcast(&s->cond);
		r = s->cancel ? -EPIPE : 0;
		pthread_mutex_unlock(&t->lock);
		if (r < 0)
			return r;
		data += n;
		len -= n;
	}
	return 0;
}

static void *wh_stream_main(void *arg)
{
	struct whsnap *s = arg;
	struct whtree *t = s->t;
	int r = wh_export_run(t, s);

	pthread_mutex_lock(&t->lock);
	if (r < 0 && s->cancel)
		r = -EPIPE;
	s->status = r < 0 ? r : 0;
	s->refused = r < 0 && !s->started;
	s->done = 1;
	s->started = 1;
	s->made_ms = wh_now_ms();
	s->made = time(NULL);
	if (r < 0)
		wh_stream_unlist(s);
	for (struct whsnap **pp = &t->running; *pp; pp = &(*pp)->next_run)
		if (*pp == s) {
			*pp = s->next_run;
			break;
		}
	pthread_cond_broadcast(&s->cond);
	pthread_cond_broadcast(&t->exports_ended);
	wh_stream_unref(s);
	pthread_mutex_unlock(&t->lock);
	return NULL;
}

/* A new export of the table, listed in e and in t->running, its thread
 * started.  Called with t->lock held. */
static int wh_stream_start(struct whtree *t, struct whent *e, struct whsnap **out)
{
	struct whsnap *s = calloc(1, sizeof(*s));
	char label[2 * WH_NAME_MAX + 2];
	pthread_attr_t attr;
	pthread_t th;
	int r;

	if (!s)
		return -ENOMEM;
	s->t = t;
	s->e = e;
	s->schema = strdup(e->schema);
	s->table = strdup(e->table);
	pthread_condattr_t ca;

	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&s->cond, &ca);
	pthread_condattr_destroy(&ca);
	snprintf(label, sizeof(label), "%s.%s", e->schema, e->table);
	r = s->schema && s->table ? spool_create(t->cfg.spool, label, &s->f) : -ENOMEM;
	if (r < 0) {
		s->refs = 1;
		wh_stream_unref(s);
		return r;
	}
	spool_window(s->f);
	s->refs = 2; /* the entry's and the thread's */
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	r = -pthread_create(&th, &attr, wh_stream_main, s);
	pthread_attr_destroy(&attr);
	if (r < 0) {
		s->refs = 1;
		wh_stream_unref(s);
		return r;
	}
	s->next_run = t->running;
	t->running = s;
	e->snap = s;
	*out = s;
	return 0;
}

/* Called with t->lock held. */
static void wh_stream_detach(struct whsnap *s, struct whreader *rd)
{
	for (struct whreader **pp = &s->readers; *pp; pp = &(*pp)->next)
		if (*pp == rd) {
			*pp = rd->next;
			s->nreaders--;
			break;
		}
	if (!s->done) {
		if (s->nreaders == 0) {
			wh_stream_unlist(s);
			wh_stream_cancel(s);
		} else {
			pthread_cond_broadcast(&s->cond); /* rd held the window back */
		}
	}
	wh_stream_unref(s);
}

int wh_stream_open(struct whtree *t, const char *schema, const char *table, struct whsnap **out,
		   struct whreader *rd)
{
	struct whent *e;
	struct whsnap *s;
	int r = 0;

	pthread_mutex_lock(&t->lock);
	wh_stream_sweep(t);
	e = whtree_ent(t, schema, table, 1);
	if (!e) {
		pthread_mutex_unlock(&t->lock);
		return -ENOMEM;
	}
	s = e->snap;
	if (s && (s->cancel || s->base || (s->done && (s->status || !wh_fresh(t, s->made_ms))))) {
		/* Whoever still reads the old one keeps it until they close;
		 * nobody else will. */
		wh_stream_unlist(s);
		s = NULL;
	}
	if (!s && (r = wh_stream_start(t, e, &s)) < 0) {
		pthread_mutex_unlock(&t->lock);
		return r;
	}
	memset(rd, 0, sizeof(*rd));
	rd->next = s->readers;
	s->readers = rd;
	s->nreaders++;
	s->refs++;
	while (!s->started)
		pthread_cond_wait(&s->cond, &t->lock);
	if (s->refused) {
		/* The query failed: open says so. */
		r = s->status == -EPIPE ? -EIO : s->status;
		wh_stream_detach(s, rd);
		pthread_mutex_unlock(&t->lock);
		return r;
	}
	pthread_mutex_unlock(&t->lock);
	*out = s;
	return 0;
}

ssize_t wh_stream_read(struct whsnap *s, struct whreader *rd, char *buf, size_t size, off_t off)
{
	struct whtree *t = s->t;
	struct timespec until = {0, 0}, now;
	ssize_t n;

	pthread_mutex_lock(&t->lock);
	for (;;) {
		if (off < s->base) {
			off_t base = s->base;

			pthread_mutex_unlock(&t->lock);
			log_err(
			    "%s.%s: a read at byte %lld, but the table does not fit the spool "
			    "and the bytes before %lld were given back: such a table reads only "
			    "from start to end (open it again to start over)",
			    s->schema, s->table, (long long)off, (long long)base);
			return -ESPIPE;
		}
		rd->pos = off;
		if (s->done || s->size >= off + (off_t)size)
			break;
		if (s->size > off) {
			clock_gettime(CLOCK_MONOTONIC, &now);
			if (!until.tv_sec) {
				until = now;
				until.tv_nsec += WH_GATHER_NS;
				if (until.tv_nsec >= 1000000000) {
					until.tv_sec++;
					until.tv_nsec -= 1000000000;
				}
			} else if (now.tv_sec > until.tv_sec ||
				   (now.tv_sec == until.tv_sec && now.tv_nsec >= until.tv_nsec)) {
				break;
			}
		}
		/* s->waiting is also read unlocked (wh_stream_wanted). */
		rd->waiting = 1;
		__atomic_add_fetch(&s->waiting, 1, __ATOMIC_RELAXED);
		pthread_cond_broadcast(&s->cond); /* the export may wait for room */
		if (until.tv_sec)
			pthread_cond_timedwait(&s->cond, &t->lock, &until);
		else
			pthread_cond_wait(&s->cond, &t->lock);
		__atomic_sub_fetch(&s->waiting, 1, __ATOMIC_RELAXED);
		rd->waiting = 0;
	}
	if (off >= s->size) {
		/* The end; or where the export failed. */
		n = s->status == -EPIPE ? -EIO : s->status;
		pthread_mutex_unlock(&t->lock);
		return n;
	}
	if ((off_t)size > s->size - off)
		size = (size_t)(s->size - off);
	pthread_mutex_unlock(&t->lock);
	n = spool_pread(s->f, buf, size, off);
	pthread_mutex_lock(&t->lock);
	if (n > 0)
		rd->pos = off + n;
	if (!s->done)
		pthread_cond_broadcast(&s->cond);
	pthread_mutex_unlock(&t->lock);
	return n;
}

void wh_stream_close(struct whsnap *s, struct whreader *rd)
{
	struct whtree *t = s->t; /* s may go with the reader */

	pthread_mutex_lock(&t->lock);
	wh_stream_detach(s, rd);
	pthread_mutex_unlock(&t->lock);
}

void wh_stream_stop_all(struct whtree *t)
{
	pthread_mutex_lock(&t->lock);
	for (struct whsnap *s = t->running; s; s = s->next_run)
		wh_stream_cancel(s);
	while (t->running)
		pthread_cond_wait(&t->exports_ended, &t->lock);
	pthread_mutex_unlock(&t->lock);
}
