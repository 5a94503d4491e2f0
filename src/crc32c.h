/* crc32c.h - CRC-32C (Castagnoli), with the CPU's instruction where there
 * is one (x86-64 SSE 4.2), a table otherwise: the same value either way.
 */
#ifndef ODOFS_CRC32C_H
#define ODOFS_CRC32C_H

#include <stddef.h>
#include <stdint.h>

/* The CRC-32C of len bytes at data, continuing crc (0 to start). */
uint32_t crc32c(uint32_t crc, const void *data, size_t len);

/* The CRC-32C of each piece of piece bytes at data (the last one shorter
 * if len is not a multiple) into out[0], out[1]...: several at once,
 * which is faster than one after another. */
void crc32c_pieces(const void *data, size_t len, size_t piece, uint32_t *out);

#endif
