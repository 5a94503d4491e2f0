/* csvinfer.h - column names and SQL types from CSV data, streaming.
 *
 * A CSV file copied into a schema's folder becomes a new table: its first
 * record names the columns and its data decides their types.  The bytes
 * are fed in any chunks as they are written; memory stays bounded whatever
 * the file's size (a few words per column, plus libcsv's buffer for the
 * field being read, itself capped).
 *
 * CSV as PostgreSQL reads it (FORMAT csv): fields separated by ',', quoted
 * with '"' (a quote inside a quoted field is doubled), records ending with
 * "\n" or "\r\n" (a lone "\r" also ends one); a quoted field may hold line
 * ends.  An unquoted empty field is NULL, a quoted one ("") is the empty
 * string.  Spaces around a field are part of it.  A final record without a
 * line end counts.  A UTF-8 byte order mark at the very start is skipped.
 * A blank line is a record of one NULL field: a row of a one-column table,
 * an error in a wider one (PostgreSQL's COPY would refuse it too).
 *
 * Header: the first record.  An empty name becomes "column_N" (N counts
 * from 1).  Two names equal but for ASCII case are an error; so are more
 * than 1600 columns (PostgreSQL's and Redshift's limit), a name longer than
 * 1024 bytes, and a file with no record at all.  Names are kept otherwise
 * as written (not trimmed, not folded).
 *
 * Types.  The rule: a new table read back gives every value as written
 * (booleans and timestamps aside, which PostgreSQL writes its own way).
 * Every non-NULL value is given the narrowest of these it fits:
 *   BOOLEAN           true, false, t or f, in any case;
 *   BIGINT            an optional '-' and digits, within 64 bits, with no
 *                     leading zero (02134 and +5 are text) and not "-0";
 *   a number          otherwise: a plain decimal as NUMERIC writes it
 *                     ("1.50", "-0.25", integers past 64 bits), or a value
 *                     that DOUBLE PRECISION writes back as it is ("1e+20",
 *                     "1.5e-05"; not "1e10", ".5" or "2.");
 *   DATE              YYYY-MM-DD, a real calendar date from year 1;
 *   TIMESTAMP         YYYY-MM-DD HH:MM:SS, with a space or a 'T' between,
 *                     and optionally '.' and 1 to 6 digits of fraction;
 *   VARCHAR           anything else, the empty string ("") included.
 * No surrounding spaces are allowed in the first five.  A column's type is
 * then the narrowest that holds all its values: BIGINT widens to a number,
 * DATE widens to TIMESTAMP, and any other mix is VARCHAR(n), with n the
 * length of its longest value in bytes (at least 1).  A column of numbers
 * is NUMERIC on PostgreSQL if all are plain decimals; on Redshift
 * DECIMAL(38,s) if all are plain decimals with s digits after the point
 * (and at most 38 digits), else DOUBLE PRECISION if that writes each back
 * as it is, else VARCHAR(n).  Past 65535 bytes PostgreSQL gets TEXT;
 * Redshift, whose VARCHAR stops there, gets an error naming the column.  A
 * column with no value but NULLs (or a file with no data rows) is
 * VARCHAR(256).  Columns are never NOT NULL.
 *
 * Errors, each one line starting with the line number (physical lines,
 * from 1, the header being line 1, counting line ends inside quoted
 * fields): a record whose field count differs from the header's, bad
 * quoting (a quote inside an unquoted field, text after a closing quote, a
 * quoted field never closed), a field longer than 64 MiB.
 */
#ifndef ODOFS_CSVINFER_H
#define ODOFS_CSVINFER_H

#include <stddef.h>

#define CSVINFER_MAX_COLUMNS 1600
#define CSVINFER_NAME_MAX    1024	 /* bytes of one column name */
#define CSVINFER_FIELD_MAX   (64u << 20) /* bytes of one field */
#define CSVINFER_TYPE_MAX    32		 /* room for any type csvinfer_type() writes */

enum csvinfer_dialect { CSVINFER_POSTGRES, CSVINFER_REDSHIFT };

struct csvinfer;

/* NULL on ENOMEM.  Free with csvinfer_free(). */
struct csvinfer *csvinfer_new(void);

/* The next bytes of the file, in chunks of any size.  0, -ENOMEM, or
 * -EINVAL with csvinfer_error() set; an error is kept and returned again
 * by later calls. */
int csvinfer_feed(struct csvinfer *ci, const char *data, size_t len);

/* The end of the file: the last record may lack its line end.  0 or
 * -EINVAL ("empty file: no header row" among others). */
int csvinfer_finish(struct csvinfer *ci);

/* The error as one line, e.g. "line 7: 3 fields, the header has 4"; ""
 * when there is none.  Lives until the next call on ci. */
const char *csvinfer_error(const struct csvinfer *ci);

/* After a successful csvinfer_finish() (before it, what the header gave
 * so far, if it is complete). */
size_t csvinfer_ncols(const struct csvinfer *ci);
/* Column i's name; NULL past the last column.  Lives as long as ci. */
const char *csvinfer_name(const struct csvinfer *ci, size_t i);

/* Column i's type for dialect d, written to out (CSVINFER_TYPE_MAX bytes
 * are always enough).  0, or -EINVAL with *err a malloc'd one-line reason
 * (a Redshift column too wide, i out of range), or -ERANGE when out is too
 * small (*err set too).  err may be NULL. */
int csvinfer_type(const struct csvinfer *ci, size_t i, enum csvinfer_dialect d, char *out,
		  size_t outlen, char **err);

/* Data rows seen (the header not counted). */
unsigned long long csvinfer_rows(const struct csvinfer *ci);

/* Accepts NULL. */
void csvinfer_free(struct csvinfer *ci);

/* The header alone, before a load streams the rest of the file.  data
 * holds the start of the file.  Returns 1 once it holds the whole first
 * record: *names (a malloc'd array of *n malloc'd strings, named as
 * above; free with csvinfer_names_free()) and *consumed, the bytes of the
 * header record with its line end (and a byte order mark before it).
 * Returns 0 when more bytes are needed: a header ending in "\r" needs the
 * next byte to tell "\r\n"; at the end of the file, a header with no line
 * end is complete: call again with "\n" appended (which *consumed then
 * counts, one past the file).  Returns -EINVAL for a malformed header, or
 * -ENOMEM.  The out-parameters are set only when 1 is returned. */
int csvinfer_header(const char *data, size_t len, char ***names, size_t *n, size_t *consumed);
/* The same, with the reason of an -EINVAL in *err (malloc'd; err may be
 * NULL), e.g. "line 1: columns 2 and 3 are both named "id" ...". */
int csvinfer_header_err(const char *data, size_t len, char ***names, size_t *n, size_t *consumed,
			char **err);
/* Accepts NULL. */
void csvinfer_names_free(char **names, size_t n);

#endif
