/* upload.c - see upload.h
 *
 * Lock order: upload.lock, then uploader.lock; both are held only around
 * bookkeeping, never across a request.
 */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <openssl/evp.h>

#include "buf.h"
#include "log.h"
#include "pool.h"
#include "upload.h"

/* The part being filled starts this small and doubles, so a small file
 * (or an idle open one) holds little memory. */
#define UPLOAD_FILL_START	  (256u << 10)
#define UPLOAD_ABORT_RETRY_MIN_MS 1000
#define UPLOAD_ABORT_RETRY_MAX_MS 30000

size_t upload_part_size(unsigned part)
{
	unsigned step = part > 0 ? (part - 1) / UPLOAD_PARTS_PER_STEP : 0;
	unsigned long long size = (unsigned long long)UPLOAD_PART_MIN << step;

	return size < UPLOAD_PART_MAX ? (size_t)size : (size_t)UPLOAD_PART_MAX;
}

unsigned long long upload_max_size(void)
{
	unsigned long long sum = 0;

	for (unsigned i = 1; i <= UPLOAD_MAX_PARTS; i++)
		sum += upload_part_size(i);
	return sum;
}

/* A multipart upload owed an abort. */
struct upload_abort {
	struct upload_abort *next;
	char *bucket, *key, *upload_id;
	unsigned delay_ms;
	uint64_t due_ms;
};

struct uploader {
	struct s3 *s3;
	struct pool *pool;
	size_t budget_total;

	pthread_mutex_t lock;
	pthread_cond_t cond; /* budget freed; aborts queued; stopping */
	size_t budget_used;  /* bytes of part buffers held: filling or in flight */
	size_t inflight_bytes; /* of those, in flight */
	char **spare;	     /* recycled UPLOAD_PART_MIN buffers */
	unsigned n_spare, max_spare;
	struct upload_abort *aborts;
	int abort_thread_running;
	int stopping;
	pthread_t abort_thread;
};

struct upload {
	struct uploader *u;
	char *bucket, *key;
	struct s3_meta meta;
	int have_meta;
	char *upload_id; /* once the first part leaves */

	char *cur; /* the part being filled */
	size_t cur_len, cur_cap;
	size_t prepaid; /* budget charged at the last send for the next part */
	unsigned part; /* number of the part being filled */
	off_t size;

	pthread_mutex_t lock;
	pthread_cond_t cond; /* a part finished */
	unsigned inflight;
	struct upload_adapt adapt; /* the writer's: under no lock */
	int err;
	s3_etag *etags; /* etags[i]: part i + 1 */
	int finished;
};

struct upload_job {
	struct upload *up;
	unsigned part;
	char *buf;
	size_t len, cap;
};

static uint64_t upload_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* ---- buffers and the budget ---- */

/* Whether n kept spares fit in the budget beside the buffers held;
 * called with u->lock held. */
static int uploader_spares_fit(const struct uploader *u, unsigned n)
{
	return u->budget_used + (size_t)n * UPLOAD_PART_MIN <= u->budget_total;
}

/* Count delta bytes of a part being filled against the budget.  Filling
 * never waits (a writer holding a file open must not stall the others);
 * sending does, so write_buffer bounds the buffers of all files written at
 * once, those being filled as well as those in flight. */
static void uploader_charge(struct uploader *u, size_t delta)
{
	char *drop[UPLOAD_MAX_SPARE];
	unsigned n = 0;

	pthread_mutex_lock(&u->lock);
	u->budget_used += delta;
	/* Kept buffers give way to the ones being filled (a first part
	 * grows by realloc, not from the spares). */
	while (u->n_spare && !uploader_spares_fit(u, u->n_spare))
		drop[n++] = u->spare[--u->n_spare];
	pthread_mutex_unlock(&u->lock);
	while (n)
		free(drop[--n]);
}

/* Wait until a charged part of size bytes may go out with room for the
 * part that will be filled next, and charge that room (size bytes) now:
 * several writers sending at once must not all count on the same room.
 * One part is always let through when nothing is in flight, so a budget
 * smaller than a part, or filled by parts being written, slows writers
 * down but never stops them. */
static void uploader_send_wait(struct uploader *u, size_t size)
{
	pthread_mutex_lock(&u->lock);
	while (u->inflight_bytes > 0 && u->budget_used + size > u->budget_total)
		pthread_cond_wait(&u->cond, &u->lock);
	u->inflight_bytes += size;
	u->budget_used += size;
	pthread_mutex_unlock(&u->lock);
}

/* Give back a part buffer of cap bytes, in flight or still being filled,
 * keeping it if it is of the common size (fresh pages cost a fault and
 * zeroing each) and fits in the budget beside the buffers held. */
static void uploader_release(struct uploader *u, char *buf, size_t cap, int in_flight)
{
	pthread_mutex_lock(&u->lock);
	u->budget_used -= cap;
	if (in_flight)
		u->inflight_bytes -= cap;
	if (buf && cap == UPLOAD_PART_MIN && u->n_spare < u->max_spare &&
	    uploader_spares_fit(u, u->n_spare + 1)) {
		u->spare[u->n_spare++] = buf;
		buf = NULL;
	}
	pthread_cond_broadcast(&u->cond);
	pthread_mutex_unlock(&u->lock);
	free(buf);
}

static char *uploader_spare(struct uploader *u, size_t cap)
{
	char *buf = NULL;

	if (cap != UPLOAD_PART_MIN)
		return NULL;
	pthread_mutex_lock(&u->lock);
	if (u->n_spare)
		buf = u->spare[--u->n_spare];
	pthread_mutex_unlock(&u->lock);
	return buf;
}

/* ---- aborts owed ---- */

static int upload_abort_now(struct uploader *u, struct upload_abort *a)
{
	int r = s3_mpu_abort(u->s3, a->bucket, a->key, a->upload_id);

	if (r == 0)
		log_info("s3://%s/%s: aborted the unfinished multipart upload", a->bucket, a->key);
	return r;
}

static void upload_abort_free(struct upload_abort *a)
{
	free(a->bucket);
	free(a->key);
	free(a->upload_id);
	free(a);
}

/* Retries owed aborts with a growing delay until each succeeds. */
static void *uploader_abort_main(void *arg)
{
	struct uploader *u = arg;

	pthread_mutex_lock(&u->lock);
	while (!u->stopping) {
		uint64_t now = upload_now_ms(), next = now + UPLOAD_ABORT_RETRY_MAX_MS;
		struct upload_abort **pa = &u->aborts, *a;

		while ((a = *pa)) {
			if (a->due_ms > now) {
				if (a->due_ms < next)
					next = a->due_ms;
				pa = &a->next;
				continue;
			}
			pthread_mutex_unlock(&u->lock);
			int r = upload_abort_now(u, a);
			pthread_mutex_lock(&u->lock);
			if (r == 0) {
				*pa = a->next;
				upload_abort_free(a);
				continue;
			}
			a->delay_ms = a->delay_ms * 2 > UPLOAD_ABORT_RETRY_MAX_MS
					  ? UPLOAD_ABORT_RETRY_MAX_MS
					  : a->delay_ms * 2;
			a->due_ms = upload_now_ms() + a->delay_ms;
			pa = &a->next;
		}
		if (u->stopping)
			break;

		struct timespec until;
		uint64_t wait_ms = next > now ? next - now : 0;

		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_sec += (time_t)(wait_ms / 1000);
		until.tv_nsec += (long)(wait_ms % 1000) * 1000000L;
		if (until.tv_nsec >= 1000000000L) {
			until.tv_sec++;
			until.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&u->cond, &u->lock, &until);
	}
	pthread_mutex_unlock(&u->lock);
	return NULL;
}

/* Abort the upload's multipart upload, now or, if the server does not
 * answer, in the background until it does: parts left behind are billed. */
static void upload_abort_mpu(struct upload *up)
{
	struct uploader *u = up->u;
	struct upload_abort *a;

	if (!up->upload_id)
		return;
	a = calloc(1, sizeof(*a));
	if (!a)
		goto lost;
	a->bucket = up->bucket;
	a->key = up->key;
	a->upload_id = up->upload_id;
	if (upload_abort_now(u, a) == 0) {
		free(a);
		goto done;
	}
	a->bucket = strdup(up->bucket);
	a->key = strdup(up->key);
	a->upload_id = strdup(up->upload_id);
	if (!a->bucket || !a->key || !a->upload_id) {
		upload_abort_free(a);
		goto lost;
	}
	a->delay_ms = UPLOAD_ABORT_RETRY_MIN_MS;
	a->due_ms = upload_now_ms() + a->delay_ms;
	log_warn("s3://%s/%s: could not abort the unfinished multipart upload; retrying in the "
		 "background",
		 up->bucket, up->key);
	pthread_mutex_lock(&u->lock);
	a->next = u->aborts;
	u->aborts = a;
	if (!u->abort_thread_running &&
	    pthread_create(&u->abort_thread, NULL, uploader_abort_main, u) == 0)
		u->abort_thread_running = 1;
	pthread_cond_broadcast(&u->cond);
	pthread_mutex_unlock(&u->lock);
	goto done;
lost:
	log_err("s3://%s/%s: out of memory; multipart upload %s is left unfinished", up->bucket,
		up->key, up->upload_id);
done:
	free(up->upload_id);
	up->upload_id = NULL;
}

/* ---- the uploader ---- */

struct uploader *uploader_new(struct s3 *s3, struct pool *pool, const struct uploader_config *cfg)
{
	struct uploader *u = calloc(1, sizeof(*u));

	if (!u)
		return NULL;
	u->s3 = s3;
	u->pool = pool;
	u->budget_total = cfg->buffer_total;
	/* Idle spares are kept only while they fit in the budget beside the
	 * buffers held, and few of them: enough for the parts of one or two
	 * streams.  The soak test saw RSS creep by tens of MiB while up to
	 * write_buffer/(part size) of them piled up. */
	u->max_spare = (unsigned)(cfg->buffer_total / UPLOAD_PART_MIN) + 1;
	if (u->max_spare > UPLOAD_MAX_SPARE)
		u->max_spare = UPLOAD_MAX_SPARE;
	u->spare = calloc(u->max_spare, sizeof(*u->spare));
	if (!u->spare) {
		free(u);
		return NULL;
	}
	pthread_mutex_init(&u->lock, NULL);
	pthread_cond_init(&u->cond, NULL);
	return u;
}

void uploader_free(struct uploader *u)
{
	if (!u)
		return;
	pthread_mutex_lock(&u->lock);
	u->stopping = 1;
	pthread_cond_broadcast(&u->cond);
	pthread_mutex_unlock(&u->lock);
	if (u->abort_thread_running)
		pthread_join(u->abort_thread, NULL);
	while (u->aborts) {
		struct upload_abort *a = u->aborts;

		u->aborts = a->next;
		if (upload_abort_now(u, a) < 0)
			log_err("s3://%s/%s: multipart upload %s is left unfinished; abort it with "
				"`aws s3api abort-multipart-upload`",
				a->bucket, a->key, a->upload_id);
		upload_abort_free(a);
	}
	for (unsigned i = 0; i < u->n_spare; i++)
		free(u->spare[i]);
	free(u->spare);
	pthread_mutex_destroy(&u->lock);
	pthread_cond_destroy(&u->cond);
	free(u);
}

/* ---- one upload ---- */

struct upload *upload_new(struct uploader *u, const char *bucket, const char *key,
			  const struct s3_meta *meta)
{
	struct upload *up = calloc(1, sizeof(*up));

	if (!up)
		return NULL;
	up->u = u;
	up->bucket = strdup(bucket);
	up->key = strdup(key);
	up->part = 1;
	upload_adapt_init(&up->adapt);
	if (meta) {
		up->meta = *meta;
		up->have_meta = 1;
	}
	if (!up->bucket || !up->key) {
		free(up->bucket);
		free(up->key);
		free(up);
		return NULL;
	}
	pthread_mutex_init(&up->lock, NULL);
	pthread_cond_init(&up->cond, NULL);
	return up;
}

off_t upload_size(const struct upload *up)
{
	return up->size;
}

int upload_started(const struct upload *up)
{
	return up->upload_id != NULL || up->part > 1;
}

const char *upload_pending(const struct upload *up, size_t *len)
{
	*len = up->cur_len;
	return up->cur;
}

int upload_set_meta(struct upload *up, const struct s3_meta *meta)
{
	up->meta = *meta;
	up->have_meta = 1;
	return up->upload_id != NULL;
}

static int upload_error(struct upload *up)
{
	int err;

	pthread_mutex_lock(&up->lock);
	err = up->err;
	pthread_mutex_unlock(&up->lock);
	return err;
}

static void upload_fail(struct upload *up, int err)
{
	pthread_mutex_lock(&up->lock);
	if (!up->err)
		up->err = err;
	pthread_mutex_unlock(&up->lock);
}

static void upload_part_job(void *arg)
{
	struct upload_job *j = arg;
	struct upload *up = j->up;
	s3_etag etag;
	int r = 0;

	/* Once the upload has failed, the parts still queued need not go. */
	if (!upload_error(up))
		r = s3_mpu_put_part(up->u->s3, up->bucket, up->key, up->upload_id, j->part, j->buf,
				    j->len, etag);
	uploader_release(up->u, j->buf, j->cap, 1);
	pthread_mutex_lock(&up->lock);
	if (r < 0 && !up->err)
		up->err = r;
	else if (r == 0)
		memcpy(up->etags[j->part - 1], etag, sizeof(etag));
	up->inflight--;
	pthread_cond_broadcast(&up->cond);
	pthread_mutex_unlock(&up->lock);
	free(j);
}

/* Create the multipart upload, once. */
static int upload_begin_mpu(struct upload *up)
{
	int r;

	if (up->upload_id)
		return 0;
	r = s3_mpu_create(up->u->s3, up->bucket, up->key, up->have_meta ? &up->meta : NULL,
			  &up->upload_id);
	if (r < 0)
		return r;
	up->etags = calloc(UPLOAD_MAX_PARTS, sizeof(*up->etags));
	return up->etags ? 0 : -ENOMEM;
}

int upload_start_with_copy(struct upload *up, const char *src_bucket, const char *src_key,
			   const char *src_etag, off_t len)
{
	int r;

	if (up->size || up->upload_id || len < (off_t)UPLOAD_COPY_MIN || len > UPLOAD_COPY_MAX)
		return -EINVAL;
	r = upload_begin_mpu(up);
	if (r == 0)
		r = s3_mpu_copy_part(up->u->s3, up->bucket, up->key, up->upload_id, 1, src_bucket,
				     src_key, src_etag, 0, len, up->etags[0]);
	if (r < 0) {
		upload_abort_mpu(up);
		return r;
	}
	up->part = 2;
	up->size = len;
	return 0;
}

void upload_adapt_init(struct upload_adapt *a)
{
	memset(a, 0, sizeof(*a));
	a->limit = UPLOAD_INFLIGHT_START;
}

int upload_adapt_update(struct upload_adapt *a, uint64_t waited_ms, uint64_t now_ms,
			unsigned ceiling)
{
	uint64_t ms;
	double rate;
	unsigned limit;
	int starved;

	if (ceiling < 1)
		ceiling = 1;
	if (a->t0_ms == 0 || a->settled) {
		if (a->t0_ms == 0)
			a->t0_ms = now_ms ? now_ms : 1;
		return 0;
	}
	a->parts++;
	a->waited_ms += waited_ms;
	if (a->parts < 2 * a->limit)
		return 0;
	ms = now_ms > a->t0_ms ? now_ms - a->t0_ms : 1;
	rate = (double)a->parts / (double)ms;
	starved = a->waited_ms * 2 >= ms;
	a->t0_ms = now_ms;
	a->parts = 0;
	a->waited_ms = 0;
	if (a->probing) {
		a->probing = 0;
		if (rate * 100 < a->rate * UPLOAD_GAIN_PERCENT) {
			a->limit = a->prev_limit;
			a->settled = 1;
			return 1;
		}
	}
	a->rate = rate;
	limit = a->limit * 2 < ceiling ? a->limit * 2 : ceiling;
	if (!starved || limit <= a->limit)
		return 0;
	a->prev_limit = a->limit;
	a->limit = limit;
	a->probing = 1;
	return 1;
}

/* Hand the part being filled to the pool; the next part starts empty. */
static int upload_send_part(struct upload *up)
{
	struct upload_job *j;
	uint64_t t0;
	unsigned ceiling;
	int r;

	if (up->part > UPLOAD_MAX_PARTS) {
		log_err("s3://%s/%s: file too large for one S3 object (%llu bytes at most)",
			up->bucket, up->key, upload_max_size());
		return -EFBIG;
	}
	r = upload_begin_mpu(up);
	if (r < 0)
		return r;
	j = calloc(1, sizeof(*j));
	if (!j)
		return -ENOMEM;
	j->up = up;
	j->part = up->part;
	j->buf = up->cur;
	j->len = up->cur_len;
	j->cap = up->cur_cap;

	t0 = upload_now_ms();
	pthread_mutex_lock(&up->lock);
	while (up->inflight >= up->adapt.limit && !up->err)
		pthread_cond_wait(&up->cond, &up->lock);
	r = up->err;
	if (r == 0)
		up->inflight++;
	pthread_mutex_unlock(&up->lock);
	if (r < 0) {
		free(j);
		return r;
	}
	uploader_send_wait(up->u, j->cap);
	up->prepaid += j->cap;
	/* The parts the budget holds, with one being filled beside them. */
	ceiling = (unsigned)(up->u->budget_total / (j->cap ? j->cap : 1));
	ceiling = ceiling > 1 ? ceiling - 1 : 1;
	if (upload_adapt_update(&up->adapt, upload_now_ms() - t0, upload_now_ms(), ceiling))
		log_debug("s3://%s/%s: %u parts in flight", up->bucket, up->key, up->adapt.limit);
	up->cur = NULL;
	up->cur_len = up->cur_cap = 0;
	up->part++;
	if (pool_submit(up->u->pool, upload_part_job, j) < 0)
		upload_part_job(j);
	return 0;
}

/* Count delta more bytes of the part being filled, from what the last
 * send charged ahead first. */
static void upload_charge(struct upload *up, size_t delta)
{
	size_t from_prepaid = delta < up->prepaid ? delta : up->prepaid;

	up->prepaid -= from_prepaid;
	if (delta > from_prepaid)
		uploader_charge(up->u, delta - from_prepaid);
}

/* Give back the room charged for a next part that will not be filled. */
static void upload_refund(struct upload *up)
{
	if (up->prepaid)
		uploader_release(up->u, NULL, up->prepaid, 0);
	up->prepaid = 0;
}

/* Make room in the part being filled for at least one more byte. */
static int upload_grow(struct upload *up)
{
	size_t want = upload_part_size(up->part), cap;
	char *p;

	if (up->cur_cap == want)
		return 0;
	if (!up->cur && (p = uploader_spare(up->u, want))) {
		upload_charge(up, want);
		up->cur = p;
		up->cur_cap = want;
		return 0;
	}
	/* The first part grows as the file does; later ones are full size
	 * from the start. */
	cap = up->part == 1 ? (up->cur_cap ? up->cur_cap * 2 : UPLOAD_FILL_START) : want;
	if (cap > want)
		cap = want;
	p = up->cur ? realloc(up->cur, cap) : buf_alloc_huge(cap);
	if (!p)
		return -ENOMEM;
	upload_charge(up, cap - up->cur_cap);
	up->cur = p;
	up->cur_cap = cap;
	return 0;
}

/* Append len bytes from data, or zeros when data is NULL. */
static int upload_append(struct upload *up, const char *data, size_t len)
{
	int r = upload_error(up);

	if (r < 0)
		return r;
	while (len > 0) {
		size_t n;

		if (up->cur_len == up->cur_cap) {
			if (up->cur_len == upload_part_size(up->part)) {
				r = upload_send_part(up);
				if (r < 0)
					goto fail;
			}
			r = upload_grow(up);
			if (r < 0)
				goto fail;
		}
		n = up->cur_cap - up->cur_len;
		if (n > len)
			n = len;
		if (data) {
			memcpy(up->cur + up->cur_len, data, n);
			data += n;
		} else {
			memset(up->cur + up->cur_len, 0, n);
		}
		up->cur_len += n;
		up->size += (off_t)n;
		len -= n;
	}
	return 0;
fail:
	upload_fail(up, r);
	return upload_error(up);
}

int upload_write(struct upload *up, const char *data, size_t len)
{
	return upload_append(up, data, len);
}

int upload_write_zeros(struct upload *up, off_t len)
{
	while (len > 0) {
		size_t n = len > (off_t)UPLOAD_PART_MIN ? UPLOAD_PART_MIN : (size_t)len;
		int r = upload_append(up, NULL, n);

		if (r < 0)
			return r;
		len -= (off_t)n;
	}
	return 0;
}

int upload_wait(struct upload *up)
{
	int r;

	pthread_mutex_lock(&up->lock);
	while (up->inflight > 0)
		pthread_cond_wait(&up->cond, &up->lock);
	r = up->err;
	pthread_mutex_unlock(&up->lock);
	return r;
}

/* S3's ETag of a multipart object: the MD5 of the parts' binary MD5s,
 * then "-" and the part count. */
static int upload_composite_etag(const s3_etag *etags, unsigned n, s3_etag out)
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	unsigned char md[16], raw[16];
	unsigned len = 16;
	int r = -EIO;

	if (!ctx || !EVP_DigestInit_ex(ctx, EVP_md5(), NULL))
		goto out;
	for (unsigned i = 0; i < n; i++) {
		const char *hex = etags[i][0] == '"' ? etags[i] + 1 : etags[i];

		for (int k = 0; k < 16; k++) {
			unsigned v;

			if (sscanf(hex + 2 * k, "%2x", &v) != 1)
				goto out;
			raw[k] = (unsigned char)v;
		}
		EVP_DigestUpdate(ctx, raw, 16);
	}
	EVP_DigestFinal_ex(ctx, md, &len);
	out[0] = '"';
	for (int k = 0; k < 16; k++)
		snprintf(out + 1 + 2 * k, 3, "%02x", md[k]);
	snprintf(out + 33, sizeof(s3_etag) - 33, "-%u\"", n);
	r = 0;
out:
	EVP_MD_CTX_free(ctx);
	return r;
}

/* Is the completed object the one sent?  S3 answers the composite ETag
 * (so does the test server): it is checked exactly.  A server that answers
 * another form (the MD5 of the whole body) or none (Ceph RGW, whose HEAD
 * shows the composite one) has still said the upload is complete, with
 * every part checked by its Content-MD5 and listed by its ETag: that is
 * trusted.  No HEAD: it could show the object of another writer of the
 * same key that finished since, which is no fault of this upload. */
static int upload_check_object(struct upload *up, const char *etag, const char *want)
{
	if (!strcasecmp(etag, want) || !strchr(etag, '-'))
		return 0;
	log_err("s3://%s/%s: the completed object is not what was sent (ETag %s, expected %s)",
		up->bucket, up->key, etag, want);
	return -EIO;
}

static int upload_complete(struct upload *up, s3_etag etag_out)
{
	unsigned n = up->part - 1;
	s3_etag want, got = "";
	int r;

	r = upload_composite_etag(up->etags, n, want);
	if (r < 0)
		return r;
	r = s3_mpu_complete(up->u->s3, up->bucket, up->key, up->upload_id, up->etags, n, got);
	if (r == -ENOENT) {
		/* An earlier attempt may have completed it, its answer lost. */
		struct s3_object obj;

		if (s3_head(up->u->s3, up->bucket, up->key, &obj) == 0)
			memcpy(got, obj.etag, sizeof(got));
		else
			return -EIO;
	} else if (r < 0) {
		return r;
	}
	free(up->upload_id); /* complete: nothing to abort any more */
	up->upload_id = NULL;
	r = upload_check_object(up, got, want);
	if (r == 0)
		memcpy(etag_out, got[0] ? got : want, sizeof(s3_etag));
	return r;
}

int upload_finish(struct upload *up, s3_etag etag_out)
{
	int r = upload_error(up);

	if (r < 0)
		goto fail;
	if (!upload_started(up)) {
		/* Within the first part: one PUT. */
		r = s3_put(up->u->s3, up->bucket, up->key, up->cur, up->cur_len,
			   up->have_meta ? &up->meta : NULL, NULL, etag_out);
		if (r < 0)
			return r;
		up->finished = 1;
		return 0;
	}
	/* The last part may be empty when the size is a multiple of the part
	 * size; S3 wants no empty part. */
	if (up->cur_len > 0) {
		r = upload_send_part(up);
		if (r < 0)
			goto fail;
	}
	upload_refund(up); /* no part follows the last */
	r = upload_wait(up);
	if (r < 0)
		goto fail;
	r = upload_complete(up, etag_out);
	if (r < 0)
		goto fail;
	up->finished = 1;
	return 0;
fail:
	upload_fail(up, r);
	upload_wait(up);
	upload_abort_mpu(up);
	return r;
}

void upload_free(struct upload *up)
{
	if (!up)
		return;
	upload_fail(up, -ECANCELED);
	upload_wait(up);
	if (!up->finished)
		upload_abort_mpu(up);
	if (up->cur)
		uploader_release(up->u, up->cur, up->cur_cap, 0);
	upload_refund(up);
	pthread_mutex_destroy(&up->lock);
	pthread_cond_destroy(&up->cond);
	free(up->etags);
	free(up->bucket);
	free(up->key);
	free(up);
}
