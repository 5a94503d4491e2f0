/* s3file.h - one open S3 file: reads, writes, and publishing at close.
 *
 * A file is in one of three states:
 *
 *   clean   what S3 has; reads go through prefetch (range GETs pinned to
 *           the ETag seen at open).
 *   stream  a new or truncated file written from its start through an
 *           O_WRONLY descriptor: the bytes stream out as a multipart
 *           upload (upload.c); no local copy.
 *   spool   anything else that changes the file (writes into the middle
 *           of an existing object, appends to one, truncates, reads back
 *           in O_RDWR): a local copy in the cache folder (spool.c),
 *           fetched first if the object has bytes to keep, uploaded whole
 *           at close.
 *
 * A stream becomes a spool if a write goes backwards or a read comes
 * while all its bytes are still in memory; once a part has left, it
 * cannot (S3 cannot read back an unfinished upload) and such a write
 * fails with EIO.  flush (every close()) publishes: the object appears
 * whole, or close() fails and nothing partial is visible.
 *
 * Every call takes the file's own lock: reads of a clean file share it,
 * everything else holds it alone.
 */
#ifndef ODOFS_S3FILE_H
#define ODOFS_S3FILE_H

#include <sys/types.h>

#include "backend.h"
#include "s3/s3.h"

struct prefetch;
struct spool;
struct uploader;

struct s3file_env {
	struct s3 *s3;
	struct prefetch *prefetch;
	struct uploader *uploader;
	struct spool *spool;
	struct datacache *datacache; /* NULL: none */
};

struct s3file;

/* The largest file odofs writes: S3's largest object (5 TiB).  A write or
 * truncate past it is EFBIG. */
#define S3FILE_SIZE_MAX (5LL << 40)

/* Open bucket/key.  obj: the object as a HEAD just saw it, or NULL for a
 * file being created (meta then says what it gets).  flags: open(2)'s. */
int s3file_open(const struct s3file_env *env, const char *bucket, const char *key, int flags,
		const struct s3_object *obj, const struct s3_meta *meta, struct s3file **out);
/* The object's first len bytes, fetched with the open (s3_get_first):
 * reads of them cost no request.  Right after s3file_open only. */
int s3file_seed(struct s3file *f, const char *data, size_t len);

ssize_t s3file_read(struct s3file *f, char *buf, size_t size, off_t off);
ssize_t s3file_write(struct s3file *f, const char *buf, size_t size, off_t off);
int s3file_truncate(struct s3file *f, off_t size);
int s3file_setattr(struct s3file *f, const struct backend_setattr *a);
/* A write by a user without CAP_FSETID: clear the set-id bits, as the
 * kernel's own file systems do (published at close; shown at once). */
void s3file_kill_setid(struct s3file *f);
/* Publish what was written: 0 or what close() should return. */
int s3file_flush(struct s3file *f);
/* A stream: wait until every part sent so far is stored (the object
 * still appears at close).  Anything else: publish now, as flush. */
int s3file_fsync(struct s3file *f);
void s3file_close(struct s3file *f);

/* What stat should show now; never waits for an operation in progress. */
struct s3file_info {
	off_t size;
	time_t mtime; /* of the last change, or S3's LastModified */
	struct s3_meta meta;
	int pending; /* holds changes not yet published */
};
void s3file_info(struct s3file *f, struct s3file_info *out);

/* What the file last published, as a HEAD would see it (its time 0:
 * unknown): 0, or -ENOENT when it holds changes not yet published. */
int s3file_published(struct s3file *f, struct s3_object *out);

/* The file was renamed: publish under the new key from now on. */
int s3file_retarget(struct s3file *f, const char *bucket, const char *key);
/* The file was unlinked: drop what it would publish. */
void s3file_unlinked(struct s3file *f);

#endif
