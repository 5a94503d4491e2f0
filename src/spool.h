/* spool.h - local files that hold an S3 object while it is changed in place.
 *
 * Writes that a stream cannot take (into the middle of an existing object,
 * appends to one, truncates, read-back in an O_RDWR file) go to a spool
 * file in the cache folder; the whole file is uploaded when it is closed.
 * Every spool file counts against one budget for the mount, so a spool
 * can never fill the disk unannounced: past the budget, writes fail with
 * ENOSPC.  A spool whose upload failed is kept, and its path logged, so
 * nothing the user wrote is lost.
 */
#ifndef ODOFS_SPOOL_H
#define ODOFS_SPOOL_H

#include <sys/types.h>

struct spool;
struct spool_file;

/* dir is created (0700) if missing.  NULL with *err set (malloc'd). */
struct spool *spool_new(const char *dir, off_t max_bytes, char **err);
void spool_free(struct spool *sp);

/* A new, empty spool file; label (the object's URI) is for messages. */
int spool_create(struct spool *sp, const char *label, struct spool_file **out);

ssize_t spool_pread(struct spool_file *f, char *buf, size_t size, off_t off);
/* 0, or -ENOSPC past the budget (or the disk's own errno). */
int spool_pwrite(struct spool_file *f, const char *buf, size_t size, off_t off);
int spool_truncate(struct spool_file *f, off_t size);

/* The bytes before upto will never be read again: punch them out of the
 * file (its size stays) and give their disk back to the budget, so a file
 * read once from start to end can be longer than the budget.  Reads there
 * then return zeros; the caller keeps them from happening.  0 or a
 * negative errno (a filesystem that cannot punch holes: -EOPNOTSUPP). */
int spool_discard(struct spool_file *f, off_t upto);
/* The file's writer makes room with spool_discard when the budget is
 * full, and says so itself if it cannot: ENOSPC is not logged. */
void spool_window(struct spool_file *f);

/* Keep the file on disk for the user to recover and log where it is, then
 * free the handle; the budget is given back. */
void spool_keep(struct spool_file *f, const char *why);
/* Delete and free.  NULL is fine. */
void spool_close(struct spool_file *f);

#endif
