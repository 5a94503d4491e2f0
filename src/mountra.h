/* mountra.h - the kernel's read-ahead for this mount.
 *
 * The kernel reads ahead of a FUSE file at most 128 KiB by default, so a
 * sequential reader's pages come in 128 KiB requests: 8,192 round trips
 * through the daemon per GiB.  Each FUSE mount has a backing device of its
 * own whose read_ahead_kb (in /sys/class/bdi) root may raise; the kernel
 * then sends reads of up to max_write (1 MiB) and keeps several in flight.
 * It must be set after the mount's INIT reply, which lowers it to what
 * the INIT request offered, and before the files it should apply to are
 * opened: the kernel copies it into each file at open.
 */
#ifndef ODOFS_MOUNTRA_H
#define ODOFS_MOUNTRA_H

#include <stddef.h>

/* Set the read-ahead of the mount on mountpoint (an absolute path) to
 * bytes, rounded down to KiB: 0, or -ENOENT when the mount is not in
 * /proc/self/mountinfo, or the error of writing its read_ahead_kb
 * (-EACCES when not root). */
int mountra_set(const char *mountpoint, size_t bytes);

#endif
