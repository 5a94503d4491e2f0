/* datacache.c - see datacache.h
 *
 * DIR/odofs-data-1/ID/BLOCK: ID is the SHA-256 of bucket, key and ETag in
 * hex, BLOCK the block's index in hex.  A block file is a header (4 KiB), then the
 * block's bytes (DATACACHE_BLOCK, less for the object's last block).
 * dc->lock guards the count of bytes used and the eviction, dc->ahead_lock
 * the queue of blocks to read ahead from disk; both are leaves.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include <xxhash.h>

#include "datacache.h"
#include "log.h"

#define DATACACHE_SUBDIR    "odofs-data-1"
#define DATACACHE_MAGIC	    "odofsdc3"
#define DATACACHE_HDR_BYTES 4096
/* Each piece of a block this size has its own checksum. */
#define DATACACHE_PIECE (16u << 10)
/* A read of a block's first piece asks the kernel to read this many
 * blocks ahead from disk, so that a sequential reader finds them in
 * memory. */
#define DATACACHE_AHEAD	      8
#define DATACACHE_AHEAD_QUEUE 32
/* A hit renews a block's modification time (its place in the LRU order)
 * when it is older than this. */
#define DATACACHE_TOUCH_S 60
/* Space left free on DIR's file system: this share of it. */
#define DATACACHE_FLOOR_PCT 5
/* Eviction goes down to this share of the bound, not just under it. */
#define DATACACHE_LOW_PCT 90
/* A temporary block file older than this is left over from a crash. */
#define DATACACHE_TMP_STALE_S 3600

/* The header a block file starts with, padded to DATACACHE_HDR_BYTES so
 * that the bytes sit on page boundaries (and the file takes no more disk
 * than with a smaller one: the block is whole file system blocks). */
struct datacache_hdr {
	char magic[8];
	unsigned char id[32];
	uint64_t index;
	uint32_t len;
	uint64_t sum[DATACACHE_BLOCK / DATACACHE_PIECE]; /* XXH3-64 of each piece */
};

/* The checksum of each piece of DATACACHE_PIECE bytes (the last one
 * shorter) of the len bytes at data, into sum[0], sum[1]...: xxHash's
 * XXH3, which runs near memory speed. */
static void datacache_sums(const char *data, size_t len, uint64_t *sum)
{
	for (size_t off = 0; off < len; off += DATACACHE_PIECE)
		*sum++ = XXH3_64bits(data + off,
				     len - off < DATACACHE_PIECE ? len - off : DATACACHE_PIECE);
}

struct datacache {
	char *root; /* DIR/odofs-data-1 */
	uint64_t max;
	pthread_mutex_t lock;
	uint64_t used;	   /* bytes of block files, as this mount counts them, */
	uint64_t inflight; /* of which being written by this mount */
	int off;	   /* a write failed: uncached from then on (atomic) */
	unsigned long tmp_seq;

	/* Blocks to read ahead from disk, read by a thread of their own
	 * (started at the first, so after the mount has gone to the
	 * background), so that a reader never waits for the kernel to
	 * start their reads.  A full queue drops a request: a hint. */
	pthread_mutex_t ahead_lock;
	pthread_cond_t ahead_cond;
	pthread_t ahead_thread;
	int ahead_state; /* 0 not started, 1 running, -1 cannot start: inline */
	int ahead_stop;
	unsigned ahead_first, ahead_n;
	struct datacache_ahead {
		char path[4096];
	} * ahead_queue; /* DATACACHE_AHEAD_QUEUE of them */
};

struct datacache_id {
	unsigned char bin[32];
	char hex[65];
};

static int datacache_id(const char *bucket, const char *key, const char *etag,
			struct datacache_id *id)
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	unsigned n = 0;
	int ok = md && EVP_DigestInit_ex(md, EVP_sha256(), NULL) &&
		 EVP_DigestUpdate(md, bucket, strlen(bucket) + 1) &&
		 EVP_DigestUpdate(md, key, strlen(key) + 1) &&
		 EVP_DigestUpdate(md, etag, strlen(etag)) && EVP_DigestFinal_ex(md, id->bin, &n);

	EVP_MD_CTX_free(md);
	if (!ok || n != sizeof(id->bin))
		return -ENOMEM;
	for (unsigned i = 0; i < n; i++)
		snprintf(id->hex + 2 * i, 3, "%02x", id->bin[i]);
	return 0;
}

/* ---- eviction ---- */

struct datacache_file {
	time_t mtime;
	off_t size;
	char *path;
};

static int datacache_file_cmp(const void *a, const void *b)
{
	const struct datacache_file *x = a, *y = b;

	return (x->mtime > y->mtime) - (x->mtime < y->mtime);
}

/* Every block file under the root (temporary files left by a crash are
 * deleted); *total gets their bytes.  0 or -ENOMEM. */
static int datacache_scan(struct datacache *dc, struct datacache_file **out, size_t *n,
			  uint64_t *total)
{
	DIR *top = opendir(dc->root);
	struct dirent *d, *e;
	size_t cap = 0;
	time_t now = time(NULL);

	*out = NULL;
	*n = 0;
	*total = 0;
	if (!top)
		return 0;
	while ((d = readdir(top))) {
		char sub[4096];
		DIR *dir;

		if (d->d_name[0] == '.')
			continue;
		struct stat sst;

		snprintf(sub, sizeof(sub), "%s/%s", dc->root, d->d_name);
		/* Only real folders: never follow a link out of the cache. */
		if (lstat(sub, &sst) < 0 || !S_ISDIR(sst.st_mode) || !(dir = opendir(sub)))
			continue;
		while ((e = readdir(dir))) {
			char path[4096 + 256];
			struct stat st;

			if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
				continue;
			snprintf(path, sizeof(path), "%s/%s", sub, e->d_name);
			if (lstat(path, &st) < 0 || !S_ISREG(st.st_mode))
				continue;
			if (e->d_name[0] == '.') {
				if (now - st.st_mtime > DATACACHE_TMP_STALE_S)
					unlink(path);
				continue;
			}
			if (*n == cap) {
				size_t nc = cap ? 2 * cap : 256;
				struct datacache_file *nf = realloc(*out, nc * sizeof(**out));

				if (!nf)
					goto nomem;
				*out = nf;
				cap = nc;
			}
			(*out)[*n].path = strdup(path);
			if (!(*out)[*n].path)
				goto nomem;
			(*out)[*n].mtime = st.st_mtime;
			(*out)[*n].size = st.st_size;
			*total += (uint64_t)st.st_size;
			(*n)++;
		}
		closedir(dir);
		rmdir(sub); /* only if empty */
		continue;
	nomem:
		closedir(dir);
		closedir(top);
		return -ENOMEM;
	}
	closedir(top);
	return 0;
}

/* Bytes to free so that the file system keeps its floor. */
static uint64_t datacache_floor_need(struct datacache *dc)
{
	struct statvfs sv;
	uint64_t total, avail, floor;

	if (statvfs(dc->root, &sv) < 0)
		return 0;
	total = (uint64_t)sv.f_blocks * sv.f_frsize;
	avail = (uint64_t)sv.f_bavail * sv.f_frsize;
	floor = total / 100 * DATACACHE_FLOOR_PCT;
	return avail < floor ? floor - avail : 0;
}

/* Deletes the least recently used blocks until the cache is under its low
 * mark and the floor is kept.  Called with dc->lock held. */
static void datacache_evict(struct datacache *dc)
{
	struct datacache_file *files;
	size_t n, i;
	uint64_t total, low = dc->max / 100 * DATACACHE_LOW_PCT, need = datacache_floor_need(dc);

	if (datacache_scan(dc, &files, &n, &total) < 0) {
		for (i = 0; i < n; i++)
			free(files[i].path);
		free(files);
		return;
	}
	qsort(files, n, sizeof(*files), datacache_file_cmp);
	for (i = 0; i < n && (total + dc->inflight > low || need > 0); i++) {
		if (unlink(files[i].path) == 0 || errno == ENOENT) {
			total -= (uint64_t)files[i].size;
			need = need > (uint64_t)files[i].size ? need - (uint64_t)files[i].size : 0;
		}
	}
	for (i = 0; i < n; i++)
		free(files[i].path);
	free(files);
	dc->used = total + dc->inflight;
}

/* ---- blocks ---- */

static void datacache_block_path(const struct datacache *dc, const struct datacache_id *id,
				 uint64_t index, char *out, size_t size)
{
	snprintf(out, size, "%s/%s/%" PRIx64, dc->root, id->hex, index);
}

/* Ask the kernel to read the file at path from disk, if it is there. */
static void datacache_fadvise(const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);

	if (fd < 0)
		return;
	(void)posix_fadvise(fd, 0, 0, POSIX_FADV_WILLNEED);
	close(fd);
}

static void *datacache_ahead_main(void *arg)
{
	struct datacache *dc = arg;
	char path[4096];

	pthread_mutex_lock(&dc->ahead_lock);
	for (;;) {
		while (!dc->ahead_n && !dc->ahead_stop)
			pthread_cond_wait(&dc->ahead_cond, &dc->ahead_lock);
		if (dc->ahead_stop)
			break;
		memcpy(path, dc->ahead_queue[dc->ahead_first].path, sizeof(path));
		dc->ahead_first = (dc->ahead_first + 1) % DATACACHE_AHEAD_QUEUE;
		dc->ahead_n--;
		pthread_mutex_unlock(&dc->ahead_lock);
		datacache_fadvise(path);
		pthread_mutex_lock(&dc->ahead_lock);
	}
	pthread_mutex_unlock(&dc->ahead_lock);
	return NULL;
}

/* Have block index read from disk, if it is there: a hint, so that a
 * reader finds it in memory. */
static void datacache_prefetch(struct datacache *dc, const struct datacache_id *id, uint64_t index)
{
	char path[4096];

	datacache_block_path(dc, id, index, path, sizeof(path));
	pthread_mutex_lock(&dc->ahead_lock);
	if (dc->ahead_state == 0) {
		dc->ahead_queue = calloc(DATACACHE_AHEAD_QUEUE, sizeof(*dc->ahead_queue));
		dc->ahead_state = dc->ahead_queue && pthread_create(&dc->ahead_thread, NULL,
								    datacache_ahead_main, dc) == 0
				      ? 1
				      : -1;
	}
	if (dc->ahead_state < 0) {
		pthread_mutex_unlock(&dc->ahead_lock);
		datacache_fadvise(path);
		return;
	}
	if (dc->ahead_n < DATACACHE_AHEAD_QUEUE) {
		unsigned at = (dc->ahead_first + dc->ahead_n++) % DATACACHE_AHEAD_QUEUE;

		memcpy(dc->ahead_queue[at].path, path, sizeof(path));
		pthread_cond_signal(&dc->ahead_cond);
	}
	pthread_mutex_unlock(&dc->ahead_lock);
}

/* Bytes [from, to) of block index (len bytes in all) into dst: 0, or
 * -ENOENT when the block is not there or the parts read do not check out
 * (then it is deleted).  Only the pieces of DATACACHE_PIECE bytes the
 * range touches are read and checked, so a reader of a few pages does not
 * pay for the whole block. */
static int datacache_load(struct datacache *dc, const struct datacache_id *id, uint64_t index,
			  size_t len, size_t from, size_t to, char *dst)
{
	char path[4096];
	struct datacache_hdr h;
	struct stat st;
	size_t p0 = from / DATACACHE_PIECE, p1 = (to - 1) / DATACACHE_PIECE;
	size_t start = p0 * DATACACHE_PIECE;
	size_t end = (p1 + 1) * DATACACHE_PIECE < len ? (p1 + 1) * DATACACHE_PIECE : len;
	char *at = dst, *tmp = NULL;
	int fd, ok;

	if (__atomic_load_n(&dc->off, __ATOMIC_RELAXED))
		return -ENOENT;
	datacache_block_path(dc, id, index, path, sizeof(path));
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return -ENOENT;
	/* The whole pieces go straight to dst when the range is theirs. */
	if ((start != from || end != to) && !(at = tmp = malloc(end - start))) {
		close(fd);
		return -ENOENT;
	}
	ok = fstat(fd, &st) == 0 && S_ISREG(st.st_mode) &&
	     st.st_size == (off_t)(DATACACHE_HDR_BYTES + len) &&
	     pread(fd, &h, sizeof(h), 0) == sizeof(h) &&
	     !memcmp(h.magic, DATACACHE_MAGIC, sizeof(h.magic)) &&
	     !memcmp(h.id, id->bin, sizeof(h.id)) && h.index == index && h.len == len &&
	     pread(fd, at, end - start, (off_t)(DATACACHE_HDR_BYTES + start)) ==
		 (ssize_t)(end - start);
	if (ok) {
		uint64_t sum[DATACACHE_BLOCK / DATACACHE_PIECE];

		datacache_sums(at, end - start, sum);
		ok = !memcmp(sum, h.sum + p0, (p1 - p0 + 1) * sizeof(*sum));
	}
	/* A block read from its start: read ahead from disk as the kernel
	 * does for a local file (each block file is opened afresh, so its
	 * own read-ahead starts over at every read).  The first block
	 * starts the window, each next one moves it on by a block. */
	if (ok && from == 0) {
		if (index == 0) {
			datacache_prefetch(dc, id, 0);
			for (uint64_t b = 1; b < DATACACHE_AHEAD; b++)
				datacache_prefetch(dc, id, b);
		}
		datacache_prefetch(dc, id, index + DATACACHE_AHEAD);
	}
	/* Recently used; renewed once a while, not at every read. */
	if (ok && time(NULL) - st.st_mtime > DATACACHE_TOUCH_S)
		(void)futimens(fd, NULL);
	close(fd);
	if (ok && tmp)
		memcpy(dst, tmp + (from - start), to - from);
	free(tmp);
	if (!ok) {
		log_info("data cache: %s did not check out: deleted, fetched again", path);
		unlink(path);
		return -ENOENT;
	}
	return 0;
}

static void datacache_disable(struct datacache *dc, const char *what, int err)
{
	pthread_mutex_lock(&dc->lock);
	if (!dc->off)
		log_warn("data cache %s: %s: %s; reading without it from now on", dc->root, what,
			 strerror(err));
	__atomic_store_n(&dc->off, 1, __ATOMIC_RELAXED);
	pthread_mutex_unlock(&dc->lock);
}

static void datacache_store(struct datacache *dc, const struct datacache_id *id, uint64_t index,
			    const char *data, size_t len)
{
	static const char pad[DATACACHE_HDR_BYTES - sizeof(struct datacache_hdr)];
	char dir[4096], tmp[4096 + 64], path[4096];
	struct datacache_hdr h = {.index = index, .len = (uint32_t)len};
	struct iovec iov[3] = {{&h, sizeof(h)}, {(void *)pad, sizeof(pad)}, {(void *)data, len}};
	size_t bytes = DATACACHE_HDR_BYTES + len;
	unsigned long seq;
	int fd, err = 0;

	if (__atomic_load_n(&dc->off, __ATOMIC_RELAXED))
		return;
	memcpy(h.magic, DATACACHE_MAGIC, sizeof(h.magic));
	memcpy(h.id, id->bin, sizeof(h.id));
	datacache_sums(data, len, h.sum);
	snprintf(dir, sizeof(dir), "%s/%s", dc->root, id->hex);
	datacache_block_path(dc, id, index, path, sizeof(path));
	pthread_mutex_lock(&dc->lock);
	seq = dc->tmp_seq++;
	if (dc->used + bytes > dc->max || datacache_floor_need(dc) > 0)
		datacache_evict(dc);
	/* Counted now, so that blocks written at once keep the bound. */
	dc->used += bytes;
	dc->inflight += bytes;
	pthread_mutex_unlock(&dc->lock);
	snprintf(tmp, sizeof(tmp), "%s/.tmp-%ld-%lu", dir, (long)getpid(), seq);
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0 && errno == ENOENT && (mkdir(dir, 0700) == 0 || errno == EEXIST))
		fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0) {
		err = errno;
		goto fail;
	}
	errno = 0;
	if (writev(fd, iov, 3) != (ssize_t)bytes)
		err = errno ? errno : ENOSPC;
	if (close(fd) < 0 && !err)
		err = errno;
	if (!err && rename(tmp, path) < 0)
		err = errno;
	if (err) {
		unlink(tmp);
		goto fail;
	}
	pthread_mutex_lock(&dc->lock);
	dc->inflight -= bytes;
	pthread_mutex_unlock(&dc->lock);
	return;
fail:
	pthread_mutex_lock(&dc->lock);
	dc->inflight -= bytes;
	dc->used -= dc->used < bytes ? dc->used : bytes;
	pthread_mutex_unlock(&dc->lock);
	/* Another mount evicting the folder between mkdir and open: a
	 * block lost, not a broken cache. */
	if (err != ENOENT)
		datacache_disable(dc, "cannot write a block", err);
}

/* Bytes of block index of an object of size bytes. */
static size_t datacache_block_len(off_t size, uint64_t index)
{
	off_t start = (off_t)(index * DATACACHE_BLOCK);

	return size - start < (off_t)DATACACHE_BLOCK ? (size_t)(size - start) : DATACACHE_BLOCK;
}

/* Fetch blocks [b0, b1] in one request, keep them, copy the requested
 * part into buf (fetched straight into it when the request is those
 * whole blocks, as the read-ahead's are).  Returns 0, or -ENODATA if the
 * object ended early, or a negative errno. */
static int datacache_fill(struct datacache *dc, const struct datacache_id *id, off_t size,
			  uint64_t b0, uint64_t b1, off_t off, size_t len, char *buf,
			  datacache_fetch_fn fetch, void *arg)
{
	off_t start = (off_t)(b0 * DATACACHE_BLOCK);
	off_t end = (off_t)((b1 + 1) * DATACACHE_BLOCK);
	off_t from, to;
	char *tmp = NULL, *at;
	ssize_t n;

	if (end > size)
		end = size;
	if (start >= off && end <= off + (off_t)len)
		at = buf + (start - off);
	else if (!(at = tmp = malloc((size_t)(end - start))))
		return -ENOMEM;
	n = fetch(arg, start, (size_t)(end - start), at);
	if (n < 0) {
		free(tmp);
		return (int)n;
	}
	for (uint64_t b = b0; b <= b1; b++) {
		off_t bs = (off_t)(b * DATACACHE_BLOCK);
		size_t bl = datacache_block_len(size, b);

		if (bs - start + (off_t)bl > n)
			break;
		datacache_store(dc, id, b, at + (bs - start), bl);
	}
	from = off > start ? off : start;
	to = off + (off_t)len < start + n ? off + (off_t)len : start + n;
	if (tmp && to > from)
		memcpy(buf + (from - off), tmp + (from - start), (size_t)(to - from));
	free(tmp);
	return start + n < end ? -ENODATA : 0;
}

/* Block b's part of [off, off+len) from the cache into buf. */
static int datacache_load_part(struct datacache *dc, const struct datacache_id *id, off_t size,
			       uint64_t b, off_t off, size_t len, char *buf)
{
	off_t bs = (off_t)(b * DATACACHE_BLOCK);
	size_t bl = datacache_block_len(size, b);
	off_t from = off > bs ? off : bs;
	off_t to = off + (off_t)len < bs + (off_t)bl ? off + (off_t)len : bs + (off_t)bl;

	return datacache_load(dc, id, b, bl, (size_t)(from - bs), (size_t)(to - bs),
			      buf + (from - off));
}

/* 1 when the cache can serve a read of this version (id set), 0 when not
 * (turned off, or no ETag), or a negative errno. */
static int datacache_begin(struct datacache *dc, const char *bucket, const char *key,
			   const char *etag, struct datacache_id *id)
{
	if (__atomic_load_n(&dc->off, __ATOMIC_RELAXED) || !etag || !*etag)
		return 0;
	return datacache_id(bucket, key, etag, id) < 0 ? -ENOMEM : 1;
}

ssize_t datacache_read_cached(struct datacache *dc, const char *bucket, const char *key,
			      const char *etag, off_t size, off_t off, size_t len, char *buf)
{
	struct datacache_id id;
	int r;

	if (off >= size || len == 0)
		return 0;
	if ((r = datacache_begin(dc, bucket, key, etag, &id)) <= 0)
		return r < 0 ? r : -ENOENT;
	if (off + (off_t)len > size)
		len = (size_t)(size - off);
	for (uint64_t b = (uint64_t)off / DATACACHE_BLOCK;
	     b <= ((uint64_t)off + len - 1) / DATACACHE_BLOCK; b++)
		if ((r = datacache_load_part(dc, &id, size, b, off, len, buf)) < 0)
			return r;
	return (ssize_t)len;
}

ssize_t datacache_read(struct datacache *dc, const char *bucket, const char *key, const char *etag,
		       off_t size, off_t off, size_t len, char *buf, datacache_fetch_fn fetch,
		       void *arg)
{
	struct datacache_id id;
	uint64_t first, last, run = UINT64_MAX;
	ssize_t total;
	int r = 0;

	if (off >= size || len == 0)
		return 0;
	if ((r = datacache_begin(dc, bucket, key, etag, &id)) <= 0)
		return r < 0 ? r : fetch(arg, off, len, buf);
	r = 0;
	if (off + (off_t)len > size)
		len = (size_t)(size - off);
	total = (ssize_t)len;
	first = (uint64_t)off / DATACACHE_BLOCK;
	last = ((uint64_t)off + len - 1) / DATACACHE_BLOCK;
	for (uint64_t b = first; b <= last + 1 && r == 0; b++) {
		/* Past the last block: ends the last run of misses. */
		int hit = b > last || datacache_load_part(dc, &id, size, b, off, len, buf) == 0;

		if (!hit && run == UINT64_MAX)
			run = b;
		if (hit && run != UINT64_MAX) {
			r = datacache_fill(dc, &id, size, run, b - 1, off, len, buf, fetch, arg);
			if (r == -ENODATA) {
				/* Shorter than its size said: what came is all. */
				total = (ssize_t)((off_t)(run * DATACACHE_BLOCK) - off);
				total = total < 0 ? 0 : total;
				r = 0;
				break;
			}
			run = UINT64_MAX;
		}
	}
	return r < 0 ? r : total;
}

void datacache_drop(struct datacache *dc, const char *bucket, const char *key, const char *etag)
{
	struct datacache_id id;
	char dir[4096], path[4096 + 256];
	struct dirent *e;
	DIR *d;

	if (!dc || !etag || !*etag || datacache_id(bucket, key, etag, &id) < 0)
		return;
	snprintf(dir, sizeof(dir), "%s/%s", dc->root, id.hex);
	if (!(d = opendir(dir)))
		return;
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		unlink(path);
	}
	closedir(d);
	rmdir(dir);
}

struct datacache *datacache_new(const char *dir, uint64_t max_bytes, char **err)
{
	struct datacache *dc = calloc(1, sizeof(*dc));
	struct datacache_file *files = NULL;
	size_t n = 0;
	uint64_t total = 0;

	*err = NULL;
	if (!dc || asprintf(&dc->root, "%s/%s", dir, DATACACHE_SUBDIR) < 0) {
		free(dc);
		return NULL;
	}
	if ((mkdir(dir, 0700) < 0 && errno != EEXIST) ||
	    (mkdir(dc->root, 0700) < 0 && errno != EEXIST) || access(dc->root, W_OK | X_OK) < 0) {
		if (asprintf(err, "data_cache=%s: cannot use it: %s", dir, strerror(errno)) < 0)
			*err = NULL;
		free(dc->root);
		free(dc);
		return NULL;
	}
	dc->max = max_bytes;
	pthread_mutex_init(&dc->lock, NULL);
	pthread_mutex_init(&dc->ahead_lock, NULL);
	pthread_cond_init(&dc->ahead_cond, NULL);
	/* What an earlier mount left: counted, and evicted if over. */
	if (datacache_scan(dc, &files, &n, &total) == 0)
		dc->used = total;
	for (size_t i = 0; i < n; i++)
		free(files[i].path);
	free(files);
	if (dc->used > dc->max)
		datacache_evict(dc);
	return dc;
}

void datacache_free(struct datacache *dc)
{
	if (!dc)
		return;
	pthread_mutex_lock(&dc->ahead_lock);
	dc->ahead_stop = 1;
	pthread_cond_signal(&dc->ahead_cond);
	pthread_mutex_unlock(&dc->ahead_lock);
	if (dc->ahead_state > 0)
		pthread_join(dc->ahead_thread, NULL);
	free(dc->ahead_queue);
	pthread_cond_destroy(&dc->ahead_cond);
	pthread_mutex_destroy(&dc->ahead_lock);
	pthread_mutex_destroy(&dc->lock);
	free(dc->root);
	free(dc);
}
