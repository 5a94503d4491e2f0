/* jsonrow.h - JSON lines to CSV rows (json-c).
 *
 * A file of JSON objects, one per line, copied into a table's folder is
 * loaded as the CSV rows they become: the value of each target column's
 * key, written by csvfmt as PostgreSQL would.  The bytes come in any
 * chunks; only the line being read is kept (at most 64 MiB).
 *
 * Values:
 *   string        its text, unescaped, as UTF-8
 *   number        its JSON text as written ("1.50" stays "1.50", "1e3"
 *                 stays "1e3"; "-0" becomes "0", the one integer json-c
 *                 does not keep as written)
 *   true, false   "true", "false"
 *   null, or a missing key           NULL (an empty unquoted field)
 *   object, array its JSON text, compact ({"a":[1,2]}), '/' not escaped
 * Keys that match no column are ignored.  A key given twice (or, ignoring
 * case, two keys that match one column) gives the last value.
 *
 * Errors, each "line N: ..." (lines counted from 1): a line that is not a
 * JSON object (an array, a scalar, invalid JSON, an object spread over
 * several lines), invalid UTF-8, a string holding \u0000 (PostgreSQL text
 * cannot), NaN or Infinity, an integer wider than 64 bits (json-c would
 * silently clip it: it must be written as a string), a line over 64 MiB.
 * Blank lines are skipped; lines may end in "\n" or "\r\n".
 */
#ifndef ODOFS_JSONROW_H
#define ODOFS_JSONROW_H

#include <stddef.h>

#include "buf.h"

#define JSONROW_LINE_MAX (64u << 20) /* bytes of one line */
#define JSONKEYS_MAX	 1600	     /* distinct keys: a table's columns */
#define JSONKEYS_KEY_MAX 1024	     /* bytes of one key */

struct jsonrow;

/* cols: the target columns, in order (copied; should be distinct).
 * ignorecase: match keys to columns ignoring ASCII case (Redshift's 'auto
 * ignorecase'); exactly otherwise.  NULL on ENOMEM.  Free with
 * jsonrow_free(). */
struct jsonrow *jsonrow_new(const char *const *cols, size_t ncols, int ignorecase);

/* Feed bytes in any chunks: every complete line holding an object becomes
 * one CSV row appended to out.  0, -EINVAL (a bad line), -E2BIG (out is
 * full: its maximum is too small for a row), -ENOMEM; jsonrow_error() then
 * says why, and the error is kept: later calls return it again.  Rows of
 * the lines before the bad one are in out. */
int jsonrow_feed(struct jsonrow *jr, const char *data, size_t len, struct buf *out);

/* The end of the file: a last line without "\n" becomes a row too. */
int jsonrow_finish(struct jsonrow *jr, struct buf *out);

/* One line, "" when there is no error.  Lives until the next call on jr. */
const char *jsonrow_error(const struct jsonrow *jr);

/* Accepts NULL. */
void jsonrow_free(struct jsonrow *jr);

/* The keys of a file, for a new table: every key of every object (the top
 * level only), in order of first appearance, without duplicates ignoring
 * ASCII case (the first spelling is kept).  Same lines and errors as
 * above, and more than JSONKEYS_MAX keys or one longer than
 * JSONKEYS_KEY_MAX bytes is an error too. */
struct jsonkeys;

struct jsonkeys *jsonkeys_new(void);
int jsonkeys_feed(struct jsonkeys *jk, const char *data, size_t len);
int jsonkeys_finish(struct jsonkeys *jk);
size_t jsonkeys_count(const struct jsonkeys *jk);
/* Key i; NULL past the last.  Lives as long as jk. */
const char *jsonkeys_name(const struct jsonkeys *jk, size_t i);
const char *jsonkeys_error(const struct jsonkeys *jk);
void jsonkeys_free(struct jsonkeys *jk);

#endif
