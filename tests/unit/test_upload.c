/* test_upload.c - the part-size policy reaches S3's 5 TiB object limit
 * within 10,000 parts, every part within S3's bounds, small files cheap. */
#include "config.h"

#include "unit.h"
#include "s3/upload.h"

#define MiB (1024ULL * 1024)
#define GiB (1024 * MiB)
#define TiB (1024 * GiB)

int main(void)
{
	unsigned long long sum = 0, at_5tib = 0;
	size_t prev = 0;
	int within_bounds = 1, monotonic = 1;

	/* Small files: the first part (and so the single-PUT threshold) is
	 * 16 MiB, and a 1 GiB file needs 64 parts. */
	CHECK(upload_part_size(1) == 16 * MiB);
	CHECK(upload_part_size(1000) == 16 * MiB);
	CHECK(upload_part_size(1001) == 32 * MiB);
	CHECK(upload_part_size(9000) == 4 * GiB);
	CHECK(upload_part_size(10000) == 4 * GiB);

	for (unsigned p = 1; p <= UPLOAD_MAX_PARTS; p++) {
		size_t size = upload_part_size(p);

		/* S3: 5 MiB to 5 GiB per part (the last may be smaller). */
		if (size < 5 * MiB || size > 5 * GiB)
			within_bounds = 0;
		if (size < prev)
			monotonic = 0;
		prev = size;
		sum += size;
		if (!at_5tib && sum >= 5 * TiB)
			at_5tib = p;
	}
	CHECK(within_bounds);
	CHECK(monotonic);
	CHECK(sum >= 5 * TiB);
	CHECK(at_5tib > 0 && at_5tib <= UPLOAD_MAX_PARTS);
	CHECK(upload_max_size() == sum);
	printf("5 TiB reached at part %llu; the policy's limit is %.2f TiB\n", at_5tib,
	       (double)sum / (double)TiB);

	/* Memory: the parts of a file below 15.6 GiB are all 16 MiB, so its
	 * upload holds at most (its in-flight limit + 1) x 16 MiB. */
	sum = 0;
	for (unsigned p = 1; upload_part_size(p) == 16 * MiB; p++)
		sum += upload_part_size(p);
	CHECK(sum == 1000 * 16 * MiB);

	/* Parts in flight: step up while the writer waits and the rate grows,
	 * undo a step that gained nothing, never past the ceiling. */
	{
		struct upload_adapt a;
		const unsigned ceil = 4 * UPLOAD_INFLIGHT_START - 1;
		uint64_t t = 1000;
		unsigned i;

		upload_adapt_init(&a);
		CHECK(a.limit == UPLOAD_INFLIGHT_START);
		upload_adapt_update(&a, 0, t, ceil); /* starts the sample */
		for (i = 0; i < 2 * UPLOAD_INFLIGHT_START - 1; i++)
			CHECK(upload_adapt_update(&a, 90, t += 100, ceil) == 0);
		/* a sample spans twice the limit's parts */
		CHECK(upload_adapt_update(&a, 90, t += 100, ceil) == 1);
		CHECK(a.limit == 2 * UPLOAD_INFLIGHT_START);
		for (i = 0; i < 4 * UPLOAD_INFLIGHT_START - 1; i++)
			upload_adapt_update(&a, 40, t += 50, ceil); /* twice the rate: kept */
		CHECK(upload_adapt_update(&a, 40, t += 50, ceil) == 1);
		CHECK(a.limit == ceil); /* the ceiling */
		for (i = 0; i < 2 * ceil - 1; i++)
			upload_adapt_update(&a, 45, t += 50, ceil); /* no gain: undone */
		CHECK(upload_adapt_update(&a, 45, t += 50, ceil) == 1);
		CHECK(a.limit == 2 * UPLOAD_INFLIGHT_START);
		CHECK(a.settled);

		/* A writer that never waits is its own bound. */
		upload_adapt_init(&a);
		upload_adapt_update(&a, 0, t, ceil);
		for (i = 0; i < 20; i++)
			CHECK(upload_adapt_update(&a, 0, t += 100, ceil) == 0);
		CHECK(a.limit == UPLOAD_INFLIGHT_START);
	}
	return unit_done("test_upload");
}
