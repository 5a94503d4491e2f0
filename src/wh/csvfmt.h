/* csvfmt.h - PostgreSQL's CSV output, byte for byte.
 *
 * A table read as SCHEMA/TABLE.csv must look exactly as
 * `COPY ... TO STDOUT (FORMAT csv)` of PostgreSQL 15 writes it
 * (CopyAttributeOutCSV), so that files compare equal whichever way they
 * were produced:
 *   - NULL is written as nothing (an empty, unquoted field);
 *   - a value is quoted with '"', inner '"' doubled, iff it holds ',', '"',
 *     '\n' or '\r', or it is the empty string (so that it differs from
 *     NULL), or, in a table of a single column, it is exactly "\." (which
 *     would otherwise read back as the end-of-data marker);
 *   - everything else goes out as is: leading and trailing spaces, tabs,
 *     backslashes and UTF-8 are not quoted;
 *   - fields are separated by ',' and a row ends with '\n'.
 *
 * Every function appends to a struct buf and returns 0, -E2BIG past the
 * buffer's maximum, -ENOMEM, or -EINVAL for a value holding a NUL byte
 * (PostgreSQL text cannot hold one).  On failure the buffer is left as it
 * was before the call: never half a field or half a row.
 */
#ifndef ODOFS_CSVFMT_H
#define ODOFS_CSVFMT_H

#include <stddef.h>

#include "buf.h"

/* One field, without separator.  single_column: the row has one field. */
int csvfmt_field(struct buf *out, const char *val, size_t len, int is_null, int single_column);

/* The end of a row: "\n". */
int csvfmt_row_end(struct buf *out);

/* A whole row of n fields, separators and line end included.  vals[i] NULL
 * or nulls[i] nonzero is a NULL; nulls may be NULL (no NULLs); lens may be
 * NULL (the values are NUL-terminated strings). */
int csvfmt_row(struct buf *out, const char *const *vals, const size_t *lens, const int *nulls,
	       size_t n);

/* User text fit for a one-line message: at most CSVFMT_CLIP bytes, cut on
 * a UTF-8 boundary, control characters as '?', "..." when cut; into out
 * (CSVFMT_CLIP + 8 bytes suffice), which is returned. */
#define CSVFMT_CLIP 64
const char *csvfmt_clip(const char *s, size_t len, char *out, size_t outlen);

#endif
