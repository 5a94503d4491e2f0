/* pct.c - see pct.h */
#include "config.h"

#include <errno.h>

#include "pct.h"

int pct_hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

ssize_t pct_decode(const char *s, size_t n, char *out, int plus_space)
{
	char *o = out;

	for (size_t i = 0; i < n; i++) {
		int hi, lo;

		if (s[i] == '+' && plus_space) {
			*o++ = ' ';
			continue;
		}
		if (s[i] != '%') {
			*o++ = s[i];
			continue;
		}
		if (n - i < 3)
			return -EINVAL;
		hi = pct_hexval((unsigned char)s[i + 1]);
		lo = pct_hexval((unsigned char)s[i + 2]);
		if (hi < 0 || lo < 0 || (hi | lo) == 0)
			return -EINVAL;
		*o++ = (char)(hi << 4 | lo);
		i += 2;
	}
	*o = '\0';
	return o - out;
}
