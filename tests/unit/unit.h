/* unit.h - the smallest test harness that reads well: CHECK() records a
 * failure with its line and goes on; unit_done() returns the exit code
 * automake expects (0 pass, 1 fail, 77 skip). */
#ifndef ODOFS_UNIT_H
#define ODOFS_UNIT_H

#include <stdio.h>
#include <string.h>

static int unit_failures;
static int unit_checks;

#define CHECK(cond)                                                             \
	do {                                                                    \
		unit_checks++;                                                  \
		if (!(cond)) {                                                  \
			unit_failures++;                                        \
			fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, \
				__LINE__, #cond);                               \
		}                                                               \
	} while (0)

#define CHECK_STR(a, b)                                                         \
	do {                                                                    \
		const char *a_ = (a), *b_ = (b);                                \
		unit_checks++;                                                  \
		if (!a_ || !b_ || strcmp(a_, b_) != 0) {                        \
			unit_failures++;                                        \
			fprintf(stderr, "%s:%d: %s\n  got:      %s\n  expected: %s\n", \
				__FILE__, __LINE__, #a, a_ ? a_ : "(null)",     \
				b_ ? b_ : "(null)");                            \
		}                                                               \
	} while (0)

static inline int unit_done(const char *name)
{
	printf("%s: %d checks, %d failed\n", name, unit_checks, unit_failures);
	return unit_failures ? 1 : 0;
}

#endif
