/* test_prefetch.c - the window policy, and prefetched reads returning the
 * right bytes under sequential, random and concurrent readers, within the
 * memory budget.  The "object" is an in-memory pattern; the fetches run on
 * real worker threads. */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pool.h"
#include "s3/prefetch.h"
#include "unit.h"

#define OBJ_SIZE ((off_t)(50 << 20) + 12345)

static atomic_size_t fetched_bytes;
static atomic_int fetch_count;
static atomic_size_t peak_held;
static struct prefetch *the_pf;
static int fail_at_off = -1;

static unsigned char pattern(off_t off)
{
	return (unsigned char)((off * 2654435761u) >> 13);
}

static ssize_t fake_fetch(void *arg, off_t off, size_t len, char *buf)
{
	size_t held = prefetch_bytes_held(the_pf);

	(void)arg;
	if (fail_at_off >= 0 && off <= fail_at_off && fail_at_off < off + (off_t)len)
		return -EIO;
	if (off + (off_t)len > OBJ_SIZE)
		len = (size_t)(OBJ_SIZE - off);
	for (size_t i = 0; i < len; i++)
		buf[i] = (char)pattern(off + (off_t)i);
	fetched_bytes += len;
	fetch_count++;
	if (held > peak_held)
		peak_held = held;
	return (ssize_t)len;
}

static int check_range(const char *buf, off_t off, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)buf[i] != pattern(off + (off_t)i))
			return 0;
	return 1;
}

static void test_window_policy(void)
{
	struct prefetch_window w = {0};
	size_t max = 64 << 20;

	CHECK(prefetch_window_update(&w, 0, 128 << 10, max, 0) == 1);
	CHECK(w.window_bytes == PREFETCH_WINDOW_START);
	CHECK(prefetch_window_update(&w, 128 << 10, 128 << 10, max, 0) == 1);
	CHECK(w.window_bytes == 2 * PREFETCH_WINDOW_START);
	for (int i = 2; i < 20; i++)
		prefetch_window_update(&w, (off_t)i * (128 << 10), 128 << 10, max, 0);
	CHECK(w.window_bytes == max); /* grows, then stops at the cap */
	CHECK(w.next_off == 20 * (128 << 10));

	/* Slightly out of order (kernel threads): still sequential. */
	CHECK(prefetch_window_update(&w, w.next_off - (256 << 10), 128 << 10, max, 0) == 1);
	CHECK(w.window_bytes == max);

	/* Far from the sequence but inside fetched data: still sequential. */
	CHECK(prefetch_window_update(&w, 0, 4096, max, 1) == 1);
	CHECK(w.window_bytes == max);

	/* A jump far away: random, the window collapses. */
	CHECK(prefetch_window_update(&w, 1LL << 30, 4096, max, 0) == 0);
	CHECK(w.window_bytes == 0);
	CHECK(w.next_off == (1LL << 30) + 4096);
	/* ... and a reader that continues from there ramps up again. */
	CHECK(prefetch_window_update(&w, (1LL << 30) + 4096, 4096, max, 0) == 1);
	CHECK(w.window_bytes == PREFETCH_WINDOW_START);

	/* 1 MiB reads (a raised read_ahead_kb) come up to 12 apart, and
	 * the ones left behind come late: still sequential. */
	memset(&w, 0, sizeof(w));
	for (int i = 0; i < 8; i++)
		prefetch_window_update(&w, (off_t)i << 20, 1 << 20, max, 0);
	CHECK(prefetch_window_update(&w, (off_t)20 << 20, 1 << 20, max, 0) == 1);
	CHECK(prefetch_window_update(&w, (off_t)9 << 20, 1 << 20, max, 0) == 1);
	CHECK(w.window_bytes == max);
	/* ... but a jump of 64 MiB is not. */
	CHECK(prefetch_window_update(&w, (off_t)85 << 20, 1 << 20, max, 0) == 0);

	CHECK(prefetch_chunk_bytes(0, 4) == PREFETCH_CHUNK_MIN);
	CHECK(prefetch_chunk_bytes(4 << 20, 4) == 1 << 20);
	CHECK(prefetch_chunk_bytes(96 << 20, 8) == 8 << 20); /* a power of two */
	CHECK(prefetch_chunk_bytes(64 << 20, 4) == PREFETCH_CHUNK_MAX);
	CHECK(prefetch_chunk_bytes(1 << 30, 1) == PREFETCH_CHUNK_MAX);
}

/* The window steps up while the reader waits and each step raises the
 * throughput, undoes a step that gained nothing, and stays within the
 * ceiling.  Time is given, not measured. */
static void test_adapt_policy(void)
{
	struct prefetch_adapt a;
	size_t lim = 64 << 20, ceiling = 192 << 20;
	uint64_t t = 1000;

	prefetch_adapt_init(&a, lim);
	CHECK(a.limit == lim && a.parts == PREFETCH_PARTS_START);
	CHECK(prefetch_adapt_update(&a, 0, 0, t, ceiling) == 0); /* starts a sample */
	/* 64 MiB in 400 ms, the reader waiting 300 of them: step up. */
	t += 400;
	CHECK(prefetch_adapt_update(&a, lim, 300, t, ceiling) == 1);
	CHECK(a.limit == 2 * lim && a.parts == 2 * PREFETCH_PARTS_START);
	/* Twice the bytes in 450 ms: the step is kept, and another tried. */
	t += 450;
	CHECK(prefetch_adapt_update(&a, 2 * lim, 400, t, ceiling) == 1);
	CHECK(a.limit == ceiling && a.parts == PREFETCH_PARTS_MAX);
	/* The same rate again: undone, and no more steps. */
	t += 680;
	CHECK(prefetch_adapt_update(&a, ceiling, 500, t, ceiling) == 1);
	CHECK(a.limit == 2 * lim && a.parts == 2 * PREFETCH_PARTS_START);
	t += 100;
	CHECK(prefetch_adapt_update(&a, ceiling, 100, t, ceiling) == 0);
	CHECK(a.limit == 2 * lim);

	/* A reader that seldom waits is its own bound: no step. */
	prefetch_adapt_init(&a, lim);
	prefetch_adapt_update(&a, 0, 0, t, ceiling);
	t += 100;
	CHECK(prefetch_adapt_update(&a, lim, 10, t, ceiling) == 0);
	CHECK(a.limit == lim);
	/* A ceiling below the start never shrinks the limit. */
	prefetch_adapt_init(&a, lim);
	prefetch_adapt_update(&a, 0, 0, t, 32 << 20);
	t += 100;
	prefetch_adapt_update(&a, lim, 90, t, 32 << 20);
	CHECK(a.limit == lim);
}

static void test_sequential(struct prefetch *pf)
{
	struct prefetch_file *f = prefetch_open(pf, OBJ_SIZE, fake_fetch, NULL);
	size_t bs = 1 << 20;
	char *buf = malloc(bs);
	off_t off = 0;
	int ok = 1;

	fetched_bytes = 0;
	while (off < OBJ_SIZE) {
		ssize_t n = prefetch_read(f, buf, bs, off);

		if (n <= 0 || !check_range(buf, off, (size_t)n)) {
			ok = 0;
			break;
		}
		off += n;
	}
	CHECK(ok);
	CHECK(off == OBJ_SIZE);
	/* Read-ahead never fetched much past the end, nor twice. */
	CHECK(fetched_bytes <= (size_t)OBJ_SIZE + (1 << 20));
	CHECK(prefetch_read(f, buf, bs, OBJ_SIZE) == 0);
	prefetch_close(f);
	free(buf);
	CHECK(prefetch_bytes_held(pf) == 0);
}

/* 1 MiB reads in the order the kernel's threads deliver a raised
 * read-ahead: each group of 12 backwards.  The object is fetched once, not
 * again for every read that came early. */
static void test_shuffled(struct pool *workers)
{
	/* A small window and a large budget: what the file holds is its own
	 * doing, not the budget's. */
	struct prefetch_config cfg = {8 << 20, 256 << 20, 128 << 10};
	struct prefetch *pf = prefetch_new(&cfg, workers);
	struct prefetch_file *f = prefetch_open(pf, OBJ_SIZE, fake_fetch, NULL);
	const int group = 12, blocks = (int)((OBJ_SIZE + (1 << 20) - 1) >> 20);
	char *buf = malloc(1 << 20);
	int ok = 1;

	the_pf = pf;
	fetched_bytes = 0;
	peak_held = 0;
	for (int g = 0; g < blocks && ok; g += group) {
		for (int i = g + group - 1; i >= g; i--) {
			off_t off = (off_t)i << 20;
			ssize_t n;

			if (off >= OBJ_SIZE)
				continue;
			n = prefetch_read(f, buf, 1 << 20, off);
			if (n <= 0 || !check_range(buf, off, (size_t)n))
				ok = 0;
		}
	}
	CHECK(ok);
	CHECK(fetched_bytes <= (size_t)OBJ_SIZE + (1 << 20));
	/* Held: the window and up to two groups of reads that came early
	 * (17-28 MiB, as the workers' timing falls), not the chunks already
	 * read, kept until the reader is a slack past them (49 MiB). */
	CHECK(peak_held <= ((size_t)8 << 20) + 2 * (size_t)group * (1 << 20) + (4 << 20));
	prefetch_close(f);
	prefetch_free(pf);
	free(buf);
}

static void test_random(struct prefetch *pf)
{
	struct prefetch_file *f = prefetch_open(pf, OBJ_SIZE, fake_fetch, NULL);
	char buf[8192];
	unsigned seed = 7;
	int ok = 1;

	fetched_bytes = 0;
	for (int i = 0; i < 200; i++) {
		off_t off = (off_t)(rand_r(&seed) % (unsigned)OBJ_SIZE);
		size_t len = 1 + (size_t)(rand_r(&seed) % sizeof(buf));
		ssize_t n = prefetch_read(f, buf, len, off);
		size_t want = off + (off_t)len > OBJ_SIZE ? (size_t)(OBJ_SIZE - off) : len;

		if (n != (ssize_t)want || !check_range(buf, off, want))
			ok = 0;
	}
	CHECK(ok);
	/* A random reader gets what it asked for plus a little: about 128K
	 * a read, not a growing window. */
	CHECK(fetched_bytes <= 200 * (size_t)(256 << 10));
	prefetch_close(f);
}

struct reader {
	struct prefetch_file *f;
	off_t start, end;
	int ok;
};

static void *reader_main(void *arg)
{
	struct reader *rd = arg;
	char *buf = malloc(128 << 10);

	rd->ok = 1;
	for (off_t off = rd->start; off < rd->end; off += 128 << 10) {
		ssize_t n = prefetch_read(rd->f, buf, 128 << 10, off);
		size_t want = off + (128 << 10) > OBJ_SIZE ? (size_t)(OBJ_SIZE - off) : 128 << 10;

		if (n != (ssize_t)want || !check_range(buf, off, want))
			rd->ok = 0;
	}
	free(buf);
	return NULL;
}

/* Several files read at once stay within the total budget (plus the
 * chunks readers are waiting for). */
static void test_budget(struct pool *workers)
{
	struct prefetch_config cfg = {16 << 20, 8 << 20, 128 << 10};
	struct prefetch *pf = prefetch_new(&cfg, workers);
	struct reader rd[4];
	pthread_t th[4];

	the_pf = pf;
	peak_held = 0;
	for (int i = 0; i < 4; i++) {
		rd[i].f = prefetch_open(pf, OBJ_SIZE, fake_fetch, NULL);
		rd[i].start = 0;
		rd[i].end = OBJ_SIZE;
		pthread_create(&th[i], NULL, reader_main, &rd[i]);
	}
	for (int i = 0; i < 4; i++) {
		pthread_join(th[i], NULL);
		CHECK(rd[i].ok);
		prefetch_close(rd[i].f);
	}
	/* 8 MiB budget, and each of 4 readers may force the chunk it waits on
	 * (at most PREFETCH_CHUNK_MAX... in practice the small window's). */
	CHECK(peak_held <= (8u << 20) + 4 * (size_t)PREFETCH_CHUNK_MAX);
	CHECK(prefetch_bytes_held(pf) == 0);
	prefetch_free(pf);
}

static void test_failure(struct prefetch *pf)
{
	struct prefetch_file *f = prefetch_open(pf, OBJ_SIZE, fake_fetch, NULL);
	char buf[4096];

	the_pf = pf;
	fail_at_off = 3 << 20;
	CHECK(prefetch_read(f, buf, sizeof(buf), 3 << 20) == -EIO);
	fail_at_off = -1;
	/* Read again at once (as the kernel does after a failed read), the
	 * same bytes get the same error without a second fetch... */
	int count = fetch_count;

	CHECK(prefetch_read(f, buf, sizeof(buf), (3 << 20) + 100) == -EIO);
	CHECK(fetch_count == count);
	/* ...bytes elsewhere are fetched as usual... */
	CHECK(prefetch_read(f, buf, sizeof(buf), 40 << 20) == (ssize_t)sizeof(buf));
	CHECK(check_range(buf, 40 << 20, sizeof(buf)));
	/* ...and the failed chunk is not kept: a later retry fetches again
	 * and succeeds. */
	usleep((PREFETCH_FAIL_MEMORY_MS + 50) * 1000);
	CHECK(prefetch_read(f, buf, sizeof(buf), 3 << 20) == (ssize_t)sizeof(buf));
	CHECK(check_range(buf, 3 << 20, sizeof(buf)));
	prefetch_close(f);
}

int main(void)
{
	struct pool *workers = pool_new(8);
	struct prefetch_config cfg = {64 << 20, 96 << 20, 128 << 10};
	struct prefetch *pf = prefetch_new(&cfg, workers);

	the_pf = pf;
	test_window_policy();
	test_adapt_policy();
	test_sequential(pf);
	test_shuffled(workers);
	the_pf = pf;
	test_random(pf);
	test_failure(pf);
	prefetch_free(pf);
	test_budget(workers);
	pool_free(workers);
	return unit_done("prefetch");
}
