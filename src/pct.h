/* pct.h - percent-decoding (RFC 3986 %XX escapes), shared by the source
 * URL parser, S3's url-encoded listings and the SigV4 canonicaliser.
 */
#ifndef ODOFS_PCT_H
#define ODOFS_PCT_H

#include <stddef.h>
#include <sys/types.h>

/* The value of one hex digit, either case; -1 if c is not one. */
int pct_hexval(int c);

/* Decode n bytes of s into out (room for n + 1; out may be s itself) and
 * NUL-terminate it.  plus_space: '+' means a space (form encoding, which
 * S3 uses for encoding-type=url).  Returns the decoded length, or -EINVAL
 * for a '%' without two hex digits after it or an escaped NUL, which no
 * C string can hold. */
ssize_t pct_decode(const char *s, size_t n, char *out, int plus_space);

#endif
