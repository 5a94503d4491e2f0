/* mountra.c - see mountra.h */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "mountra.h"

/* A path as /proc/self/mountinfo shows it: space, tab, newline and
 * backslash as octal escapes. */
static int mountra_escape(struct buf *out, const char *path)
{
	for (const char *p = path; *p; p++) {
		int r = strchr(" \t\n\\", *p) ? buf_appendf(out, "\\%03o", (unsigned char)*p)
					      : buf_append(out, p, 1);

		if (r < 0)
			return r;
	}
	return 0;
}

/* The "major:minor" of the last mount on mountpoint (a later mount on the
 * same path hides the earlier ones), into dev. */
static int mountra_find(const char *mountpoint, char *dev, size_t dev_size)
{
	struct buf want;
	FILE *f = fopen("/proc/self/mountinfo", "re");
	char *line = NULL, id[32], point[4096];
	size_t cap = 0;
	int r = -ENOENT;

	if (!f)
		return -errno;
	buf_init(&want, sizeof(point));
	if (mountra_escape(&want, mountpoint) < 0) {
		r = -ENAMETOOLONG;
		goto out;
	}
	/* ID PARENT MAJOR:MINOR ROOT MOUNTPOINT ... */
	while (getline(&line, &cap, f) > 0) {
		if (sscanf(line, "%*u %*u %31s %*s %4095s", id, point) == 2 &&
		    !strcmp(point, want.data)) {
			snprintf(dev, dev_size, "%s", id);
			r = 0;
		}
	}
out:
	free(line);
	buf_free(&want);
	fclose(f);
	return r;
}

int mountra_set(const char *mountpoint, size_t bytes)
{
	char dev[32], path[96], kb[32];
	int fd, r = mountra_find(mountpoint, dev, sizeof(dev));
	ssize_t len;

	if (r < 0)
		return r;
	snprintf(path, sizeof(path), "/sys/class/bdi/%s/read_ahead_kb", dev);
	len = snprintf(kb, sizeof(kb), "%zu\n", bytes >> 10);
	errno = 0;
	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	len = write(fd, kb, (size_t)len) == len ? 0 : (errno ? -errno : -EIO);
	close(fd);
	return (int)len;
}
