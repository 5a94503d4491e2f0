/* blobserve: a minimal static HTTP/1.1 file server, fast enough to measure
 * linkem's ceiling (python3 -m http.server is not). GET and HEAD of the files
 * directly in DIR, one Range (bytes=A-B, A-, -N), keep-alive; a process per
 * connection and sendfile, so it is never the bottleneck on loopback.
 *
 *   blobserve [--port N] DIR      (port 0, the default, picks one)
 *
 * Prints "listening 127.0.0.1:PORT" once ready. Test use only: no
 * pipelining beyond what one read holds, no request bodies.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#define BLOBSERVE_HEAD_MAX 8192

static int blobserve_reply(int fd, int status, const char *reason, const char *extra,
			   uint64_t length, int keep)
{
	char head[512];
	int n = snprintf(head, sizeof(head),
			 "HTTP/1.1 %d %s\r\nContent-Length: %" PRIu64 "\r\n%s%s\r\n", status,
			 reason, length, extra, keep ? "" : "Connection: close\r\n");
	return write(fd, head, (size_t)n) == n ? 0 : -1;
}

/* Parses "bytes=A-B" against size; 0 if satisfiable, -1 otherwise. */
static int blobserve_range(const char *v, uint64_t size, uint64_t *from, uint64_t *to)
{
	char *end;
	if (strncasecmp(v, "bytes=", 6))
		return -1;
	v += 6;
	if (*v == '-') {
		uint64_t n = strtoull(v + 1, &end, 10);
		if (!n || !size)
			return -1;
		*from = n >= size ? 0 : size - n;
		*to = size - 1;
		return 0;
	}
	*from = strtoull(v, &end, 10);
	if (*end != '-' || *from >= size)
		return -1;
	*to = end[1] >= '0' && end[1] <= '9' ? strtoull(end + 1, NULL, 10) : size - 1;
	if (*to >= size)
		*to = size - 1;
	return *to >= *from ? 0 : -1;
}

static void blobserve_conn(int fd, int dirfd)
{
	char buf[BLOBSERVE_HEAD_MAX + 1];
	size_t have = 0;
	for (;;) {
		char *eoh;
		while (!(buf[have] = 0, eoh = strstr(buf, "\r\n\r\n"))) {
			if (have == BLOBSERVE_HEAD_MAX)
				return;
			ssize_t n = read(fd, buf + have, BLOBSERVE_HEAD_MAX - have);
			if (n <= 0)
				return;
			have += (size_t)n;
		}
		*eoh = 0;
		char method[16], path[1024];
		if (sscanf(buf, "%15s %1023s", method, path) != 2)
			return;
		int head_only = !strcmp(method, "HEAD");
		int keep = !strcasestr(buf, "\r\nConnection: close");
		char *range = strcasestr(buf, "\r\nRange:");
		if (range)
			range += 8 + strspn(range + 8, " \t");
		char *q = strchr(path, '?');
		if (q)
			*q = 0;
		const char *name = path[0] == '/' ? path + 1 : path;

		size_t used = (size_t)(eoh + 4 - buf);
		memmove(buf, buf + used, have - used);
		have -= used;

		if (strcmp(method, "GET") && !head_only) {
			blobserve_reply(fd, 405, "Method Not Allowed", "", 0, 0);
			return;
		}
		int ffd = -1;
		struct stat st;
		if (!*name || strchr(name, '/') || name[0] == '.' ||
		    (ffd = openat(dirfd, name, O_RDONLY | O_CLOEXEC)) < 0 || fstat(ffd, &st) ||
		    !S_ISREG(st.st_mode)) {
			if (ffd >= 0)
				close(ffd);
			if (blobserve_reply(fd, 404, "Not Found", "", 0, keep) || !keep)
				return;
			continue;
		}
		uint64_t size = (uint64_t)st.st_size, from = 0, to = size ? size - 1 : 0;
		int status = 200;
		char extra[128] = "";
		if (range) {
			if (blobserve_range(range, size, &from, &to)) {
				snprintf(extra, sizeof(extra),
					 "Content-Range: bytes */%" PRIu64 "\r\n", size);
				close(ffd);
				if (blobserve_reply(fd, 416, "Range Not Satisfiable", extra, 0,
						    keep) ||
				    !keep)
					return;
				continue;
			}
			status = 206;
			snprintf(extra, sizeof(extra),
				 "Content-Range: bytes %" PRIu64 "-%" PRIu64 "/%" PRIu64 "\r\n",
				 from, to, size);
		}
		uint64_t length = size ? to - from + 1 : 0;
		if (blobserve_reply(fd, status, status == 200 ? "OK" : "Partial Content", extra,
				    length, keep)) {
			close(ffd);
			return;
		}
		off_t off = (off_t)from;
		while (!head_only && length) {
			ssize_t n =
			    sendfile(fd, ffd, &off, length > (1u << 30) ? (1u << 30) : length);
			if (n <= 0) {
				close(ffd);
				return;
			}
			length -= (uint64_t)n;
		}
		close(ffd);
		if (!keep)
			return;
	}
}

int main(int argc, char **argv)
{
	int port = 0, one = 1;
	if (argc == 4 && !strcmp(argv[1], "--port")) {
		port = atoi(argv[2]);
		argv += 2;
		argc -= 2;
	}
	if (argc != 2) {
		fprintf(stderr, "usage: blobserve [--port N] DIR\n");
		return 2;
	}
	int dirfd = open(argv[1], O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dirfd < 0) {
		fprintf(stderr, "blobserve: %s: %s\n", argv[1], strerror(errno));
		return 2;
	}
	signal(SIGCHLD, SIG_IGN); /* children are reaped by the kernel */
	signal(SIGPIPE, SIG_IGN);
	int lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in sa = {.sin_family = AF_INET,
				 .sin_port = htons((uint16_t)port),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(sa);
	if (lfd < 0 || setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
	    bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) || listen(lfd, 128) ||
	    getsockname(lfd, (struct sockaddr *)&sa, &len)) {
		fprintf(stderr, "blobserve: listen: %s\n", strerror(errno));
		return 2;
	}
	printf("listening 127.0.0.1:%d\n", ntohs(sa.sin_port));
	fflush(stdout);
	for (;;) {
		int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			fprintf(stderr, "blobserve: accept: %s\n", strerror(errno));
			return 1;
		}
		pid_t pid = fork();
		if (pid == 0) {
			close(lfd);
			setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
			blobserve_conn(fd, dirfd);
			_exit(0);
		}
		close(fd);
	}
}
