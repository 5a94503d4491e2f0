/* loadsplit.h - a Redshift load's CSV rows split into gzip'd parts, one
 * per slice, staged while the file is still being written.
 *
 * Redshift loads one file per slice at a time, so one staged file loads on
 * one slice.  The rows (the CSV without its header) are cut at record ends
 * (a line end outside quotes) into chunks of about WHSPLIT_CHUNK bytes,
 * dealt round-robin to N parts; each part is one gzip stream, streamed to
 * S3 through its own upload as it grows.  Every chunk remembers the line
 * of the user's file it started on, so a part's line number (from
 * stl_load_errors) maps back to the file's.  Then one COPY ... MANIFEST
 * GZIP loads them all.
 */
#ifndef ODOFS_LOADSPLIT_H
#define ODOFS_LOADSPLIT_H

#include <stddef.h>

#define WHSPLIT_CHUNK	  (1u << 20) /* bytes of rows dealt to a part at a time */
#define WHSPLIT_MAX_PARTS 1024u

struct uploader;
struct whsplit;

/* nparts parts (1..WHSPLIT_MAX_PARTS), staged as bucket/prefix + "partNNNN.gz";
 * first_line: the line of the file the rows start on (2 after a one-line
 * header).  NULL on ENOMEM. */
struct whsplit *whsplit_new(struct uploader *u, const char *bucket, const char *prefix,
			    unsigned nparts, unsigned long long first_line);

/* The next bytes of the rows.  0 or a negative errno (sticky). */
int whsplit_write(struct whsplit *sp, const char *data, size_t len);

/* The rows are complete: send the rest and make every part that got rows
 * appear.  0 or a negative errno. */
int whsplit_finish(struct whsplit *sp);

/* After whsplit_finish: Redshift's manifest listing the parts that got rows
 * (each mandatory), malloc'd JSON; NULL on ENOMEM. */
char *whsplit_manifest(const struct whsplit *sp);

/* The parts that got rows, their keys, bytes before and after gzip. */
unsigned whsplit_used(const struct whsplit *sp);
unsigned long long whsplit_raw(const struct whsplit *sp);
unsigned long long whsplit_packed(const struct whsplit *sp);

/* Key i (0..nparts-1) if that part was begun (it may be in S3), else
 * NULL. */
const char *whsplit_key(const struct whsplit *sp, unsigned i);
unsigned whsplit_nparts(const struct whsplit *sp);

/* The line of the user's file that line `line` (from 1) of the part
 * staged at url (s3://bucket/key, trailing blanks ignored) came from; 0 if
 * unknown. */
unsigned long long whsplit_line(const struct whsplit *sp, const char *url, unsigned long long line);

/* Aborts uploads not finished.  NULL is fine. */
void whsplit_free(struct whsplit *sp);

#endif
