/* spool.c - see spool.h
 *
 * Lock order: spool.lock is a leaf.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "spool.h"

struct spool {
	char *dir;
	off_t max_bytes;
	pthread_mutex_t lock;
	off_t used; /* sum of the spool files' sizes */
};

struct spool_file {
	struct spool *sp;
	int fd;
	char *path;
	char *label;
	off_t size;
	off_t gone; /* bytes [0, gone) discarded: holes that hold no disk */
	int quiet;  /* the budget running out is no error (spool_discard) */
};

struct spool *spool_new(const char *dir, off_t max_bytes, char **err)
{
	struct spool *sp;
	struct stat st;

	if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
		if (asprintf(err, "cannot create cache folder %s: %s", dir, strerror(errno)) < 0)
			*err = NULL;
		return NULL;
	}
	if (stat(dir, &st) < 0 || !S_ISDIR(st.st_mode) || access(dir, W_OK | X_OK) < 0) {
		if (asprintf(err, "cache folder %s is not a writable folder", dir) < 0)
			*err = NULL;
		return NULL;
	}
	sp = calloc(1, sizeof(*sp));
	if (!sp || !(sp->dir = strdup(dir))) {
		free(sp);
		*err = strdup("out of memory");
		return NULL;
	}
	sp->max_bytes = max_bytes;
	pthread_mutex_init(&sp->lock, NULL);
	return sp;
}

void spool_free(struct spool *sp)
{
	if (!sp)
		return;
	pthread_mutex_destroy(&sp->lock);
	free(sp->dir);
	free(sp);
}

int spool_create(struct spool *sp, const char *label, struct spool_file **out)
{
	struct spool_file *f = calloc(1, sizeof(*f));

	if (!f)
		return -ENOMEM;
	f->sp = sp;
	f->fd = -1;
	if (asprintf(&f->path, "%s/spool-XXXXXX", sp->dir) < 0) {
		f->path = NULL;
		goto nomem;
	}
	f->label = strdup(label);
	if (!f->label)
		goto nomem;
	f->fd = mkostemp(f->path, O_CLOEXEC);
	if (f->fd < 0) {
		int err = errno;

		log_err("%s: cannot create a spool file in %s: %s", label, sp->dir, strerror(err));
		free(f->label);
		free(f->path);
		free(f);
		return -err;
	}
	*out = f;
	return 0;
nomem:
	free(f->label);
	free(f->path);
	free(f);
	return -ENOMEM;
}

/* Account for the file growing or shrinking to size.  A discarded start
 * holds no disk and counts for nothing. */
static int spool_resize(struct spool_file *f, off_t size)
{
	struct spool *sp = f->sp;
	off_t held = f->size - f->gone, now = size > f->gone ? size - f->gone : 0;
	int r = 0;

	pthread_mutex_lock(&sp->lock);
	if (now > held && sp->used + (now - held) > sp->max_bytes)
		r = -ENOSPC;
	else
		sp->used += now - held;
	pthread_mutex_unlock(&sp->lock);
	if (r == 0)
		f->size = size;
	else if (!f->quiet)
		log_err("%s: the spool budget (spool_max=%lld bytes) is full", f->label,
			(long long)sp->max_bytes);
	return r;
}

ssize_t spool_pread(struct spool_file *f, char *buf, size_t size, off_t off)
{
	ssize_t n = pread(f->fd, buf, size, off);

	return n < 0 ? -errno : n;
}

int spool_pwrite(struct spool_file *f, const char *buf, size_t size, off_t off)
{
	off_t end = off + (off_t)size, old = f->size;
	int r;

	if (end > f->size && (r = spool_resize(f, end)) < 0)
		return r;
	while (size > 0) {
		ssize_t n = pwrite(f->fd, buf, size, off);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			r = -errno;
			if (r != -ENOSPC && r != -EDQUOT)
				log_err("%s: cannot write the spool file %s: %s", f->label, f->path,
					strerror(errno));
			/* What did not fit is not held: count it out again,
			 * and give back what part of it the disk took. */
			if (end > old && ftruncate(f->fd, old) == 0)
				spool_resize(f, old);
			return r;
		}
		buf += n;
		off += n;
		size -= (size_t)n;
	}
	return 0;
}

int spool_truncate(struct spool_file *f, off_t size)
{
	off_t old = f->size;
	int r = spool_resize(f, size);

	if (r < 0)
		return r;
	if (ftruncate(f->fd, size) < 0) {
		r = -errno;
		spool_resize(f, old);
		return r;
	}
	return 0;
}

void spool_window(struct spool_file *f)
{
	f->quiet = 1;
}

int spool_discard(struct spool_file *f, off_t upto)
{
	struct spool *sp = f->sp;

	if (upto > f->size)
		upto = f->size;
	if (upto <= f->gone)
		return 0;
	if (fallocate(f->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, f->gone, upto - f->gone) <
	    0) {
		int r = -errno;

		log_err("%s: cannot give back the spool file's disk (%s): %s", f->label, f->path,
			strerror(errno));
		return r;
	}
	pthread_mutex_lock(&sp->lock);
	sp->used -= upto - f->gone;
	pthread_mutex_unlock(&sp->lock);
	f->gone = upto;
	return 0;
}

static void spool_release(struct spool_file *f, int keep, const char *why)
{
	if (!f)
		return;
	spool_resize(f, 0);
	if (f->fd >= 0)
		close(f->fd);
	if (keep)
		log_err("%s: %s; what was written is kept in %s", f->label, why, f->path);
	else
		unlink(f->path);
	free(f->label);
	free(f->path);
	free(f);
}

void spool_keep(struct spool_file *f, const char *why)
{
	spool_release(f, 1, why);
}

void spool_close(struct spool_file *f)
{
	spool_release(f, 0, NULL);
}
