/* upload.h - one object written from its first byte to its last, streamed
 * to S3 while it is being written.
 *
 * Bytes are gathered into a part in memory; a full part goes out on the
 * worker pool while the writer fills the next one.  A file that ends within
 * its first part is one PUT when it is finished; a longer one is a
 * multipart upload, created when the first part leaves, completed when the
 * file is finished, and aborted on any failure, so the object appears
 * whole or not at all.  Memory is bounded by the parts in flight, never by
 * the file: per upload at most its in-flight limit plus the part being
 * filled, and across all uploads the uploader's buffer budget, which
 * counts the parts being filled as well as those in flight.  The limit
 * adapts to the link: it starts at UPLOAD_INFLIGHT_START, and while the
 * writer waits for the network and each step raised the throughput it
 * doubles, up to what the budget holds (write_buffer / part size); a step
 * that gained nothing is undone.
 */
#ifndef ODOFS_UPLOAD_H
#define ODOFS_UPLOAD_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "s3.h"

struct pool;

#define UPLOAD_PART_MIN	      (16u << 20) /* the first 1,000 parts */
#define UPLOAD_PART_MAX	      (4ull << 30) /* under S3's 5 GiB */
#define UPLOAD_MAX_SPARE      2u	 /* idle part buffers kept for reuse */
#define UPLOAD_PARTS_PER_STEP 1000u	 /* the part size doubles after each step */
#define UPLOAD_MAX_PARTS      10000u	 /* S3's limit */
#define UPLOAD_INFLIGHT_START 8u	 /* parts of one upload on the wire at first */
#define UPLOAD_GAIN_PERCENT   115u	 /* the gain a step up must bring to be kept */

/* The in-flight limit's adaptation, pure so it can be unit-tested. */
struct upload_adapt {
	unsigned limit, prev_limit;
	int probing, settled;
	uint64_t t0_ms, waited_ms; /* the sample: since when, ms the writer waited */
	unsigned parts;		   /* parts sent in the sample */
	double rate;		   /* parts/ms of the last sample kept */
};

void upload_adapt_init(struct upload_adapt *a);
/* Count one part sent after the writer waited waited_ms for a slot, at
 * now_ms; a sample spans 2 x limit parts.  ceiling: the most parts the
 * budget holds.  Returns 1 when the limit changed. */
int upload_adapt_update(struct upload_adapt *a, uint64_t waited_ms, uint64_t now_ms,
			unsigned ceiling);

/* Size of part number part (1-based): 16 MiB for parts 1-1000, 32 MiB for
 * 1001-2000, ... 4 GiB for 8001-10000.  The sum is about 11.8 TiB, past
 * S3's 5 TiB object limit, and no part exceeds S3's 5 GiB.  16 MiB, where
 * the AWS CLI and the SDKs use 8: half the requests, and as many as the
 * parts in flight need to fill a link (each one costs a round trip). */
size_t upload_part_size(unsigned part);

/* The largest object the policy can write (the sum of all parts). */
unsigned long long upload_max_size(void);

struct uploader_config {
	size_t buffer_total; /* bytes of parts held in memory, all uploads */
};

struct uploader;

/* s3 and pool are borrowed.  NULL on ENOMEM. */
struct uploader *uploader_new(struct s3 *s3, struct pool *pool, const struct uploader_config *cfg);
/* Makes one last attempt at aborts that are still owed. */
void uploader_free(struct uploader *u);

struct upload;

/* Starts nothing on the server yet.  meta may be NULL. */
struct upload *upload_new(struct uploader *u, const char *bucket, const char *key,
			  const struct s3_meta *meta);

/* S3's bounds on a part copied on the server from another object. */
#define UPLOAD_COPY_MIN (5u << 20)
#define UPLOAD_COPY_MAX (5LL << 30)

/* Begin the object with the first len bytes of src_bucket/src_key (pinned
 * to src_etag), copied by S3 itself as part 1: an append to a large object
 * then sends only the new bytes.  Only on a new upload, len within
 * [UPLOAD_COPY_MIN, UPLOAD_COPY_MAX].  0 or a negative errno (nothing is
 * left on the server). */
int upload_start_with_copy(struct upload *up, const char *src_bucket, const char *src_key,
			   const char *src_etag, off_t len);

/* Append len bytes.  Blocks while the parts in flight are at their
 * limit.  0, or the upload's first failure (sticky: later calls return it
 * too, and the multipart upload has been aborted). */
int upload_write(struct upload *up, const char *data, size_t len);

/* Append len zero bytes (a hole, or a file grown by truncate). */
int upload_write_zeros(struct upload *up, off_t len);

/* Bytes appended so far. */
off_t upload_size(const struct upload *up);

/* Whether bytes have left memory: if not, upload_pending() has them all. */
int upload_started(const struct upload *up);
const char *upload_pending(const struct upload *up, size_t *len);

/* Change the metadata the object will get.  Returns 1 if it can no longer
 * go with the upload itself (the multipart upload already exists). */
int upload_set_meta(struct upload *up, const struct s3_meta *meta);

/* Wait until every part handed over so far is stored: 0 or the failure. */
int upload_wait(struct upload *up);

/* Send what is left and make the object appear; etag_out gets its ETag.
 * On failure nothing appears and the multipart upload is aborted. */
int upload_finish(struct upload *up, s3_etag etag_out);

/* Free; an unfinished upload is aborted (retried in the background if the
 * server does not answer).  NULL is fine. */
void upload_free(struct upload *up);

#endif
