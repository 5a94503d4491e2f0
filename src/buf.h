/* buf.h - a growing byte buffer with a hard maximum (curl's dynbuf).
 *
 * Every buffer that grows with input from the network has a cap; input that
 * would pass it is an error (-E2BIG), never an out-of-memory.  The buffer
 * owns its memory; buf_free() releases it and accepts a zeroed buffer.
 */
#ifndef ODOFS_BUF_H
#define ODOFS_BUF_H

#include <stddef.h>

struct buf {
	char *data; /* always NUL-terminated when non-NULL */
	size_t len;
	size_t cap;
	size_t max;
};

void buf_init(struct buf *b, size_t max);
/* 0, -E2BIG past the maximum, -ENOMEM. */
int buf_append(struct buf *b, const void *p, size_t n);
int buf_appendf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void buf_reset(struct buf *b);
/* Hand the bytes to the caller (who frees them); the buffer is left empty. */
char *buf_steal(struct buf *b);
void buf_free(struct buf *b);
/* Wipe before freeing: for buffers that held secrets. */
void buf_free_secret(struct buf *b);

/* A large block (an upload part, a read-ahead chunk), aligned and advised
 * for transparent huge pages when it spans one, freed with free(): its
 * first write then faults once per 2 MiB rather than once per 4 KiB. */
void *buf_alloc_huge(size_t size);

#endif
