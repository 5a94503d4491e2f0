/* linkem: a link emulator for odofs's benchmarks and tests.
 *
 * A TCP proxy that shapes each connection as a real object store's link
 * does: a one-way delay per direction (a delay line on the byte stream, so
 * every request and every response pays it, not just the connect) and a rate
 * cap per connection and per direction (a token bucket), with no cap on the
 * aggregate. One process, one epoll loop, non-blocking sockets, no threads.
 *
 *   linkem --target HOST:PORT [--listen HOST:PORT] [--profile wan|region|far|none]
 *          [--delay-ms MS] [--rate BYTES/s] [--buffer BYTES] [--no-handshake]
 *          [--stats FILE]
 *
 * See README.md next to this file for the model and its limits.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#define LINKEM_READ_CHUNK     (256 * 1024)	/* largest single read */
#define LINKEM_BUF_UNSHAPED   (256 * 1024)	/* no delay, no rate */
#define LINKEM_BUF_DELAY_ONLY (4 * 1024 * 1024) /* delay, no rate: a BDP limit */
#define LINKEM_BUF_MIN	      (64 * 1024)
#define LINKEM_BURST_MIN      (64 * 1024)	      /* token bucket depth, at least */
#define LINKEM_BURST_NS	      2000000		      /* ... or 2 ms worth of rate */
#define LINKEM_RECORDS	      1024		      /* delay-line entries per direction */
#define LINKEM_COALESCE_NS    20000		      /* reads closer than this share an entry */
#define LINKEM_PUMP_BUDGET    (4 * LINKEM_READ_CHUNK) /* bytes read per turn */
#define LINKEM_HTTP_LINE_MAX  256		      /* longer lines are kept truncated */
#define LINKEM_EVENTS	      256

/* ---------------------------------------------------------------------- */
/* options */

struct linkem_opts {
	const char *listen;
	const char *target;
	uint64_t delay_ns;
	uint64_t rate_bytes_s; /* 0: unlimited */
	uint64_t buffer_bytes; /* 0: derived from delay and rate */
	bool handshake;	       /* the first client bytes wait one round trip */
	const char *stats_path;
};

static struct linkem_opts opts = {
    .listen = "127.0.0.1:0",
    .handshake = true,
};

struct linkem_profile {
	const char *name;
	double delay_ms;
	uint64_t rate_bytes_s;
	const char *what;
};

static const struct linkem_profile linkem_profiles[] = {
    {"none", 0, 0, "no shaping"},
    {"region", 1, 80000000, "same region: 1 ms each way, 80 MB/s per connection"},
    {"wan", 10, 40000000, "nearby region: 10 ms each way, 40 MB/s per connection"},
    {"far", 40, 20000000, "another continent: 40 ms each way, 20 MB/s per connection"},
};

static void linkem_usage(FILE *f)
{
	fprintf(f, "usage: linkem --target HOST:PORT [options]\n"
		   "  --listen HOST:PORT  where to listen (default 127.0.0.1:0; port 0 picks one)\n"
		   "  --target HOST:PORT  the server every connection is forwarded to\n"
		   "  --profile NAME      delay and rate preset (see below); --delay-ms and\n"
		   "                      --rate given as well override its values\n"
		   "  --delay-ms MS       one-way delay, each direction (fractions allowed)\n"
		   "  --rate BYTES/s      cap per connection and per direction; suffixes are\n"
		   "                      decimal (k=1e3, M=1e6, G=1e9) or binary (Ki, Mi, Gi);\n"
		   "                      0 = unlimited\n"
		   "  --buffer BYTES      delay-line size per direction (default: rate*delay\n"
		   "                      plus a burst and a read, or 4 MiB with a delay and\n"
		   "                      no rate, or 256 KiB unshaped)\n"
		   "  --no-handshake      do not charge the connect's round trip\n"
		   "  --stats FILE        write counters to FILE on SIGUSR1 and at exit\n"
		   "                      (without it they go to stderr)\n"
		   "profiles:\n");
	for (size_t i = 0; i < sizeof(linkem_profiles) / sizeof(linkem_profiles[0]); i++)
		fprintf(f, "  %-8s %s\n", linkem_profiles[i].name, linkem_profiles[i].what);
	fprintf(f, "Prints \"listening HOST:PORT\" on stdout once ready. SIGTERM/SIGINT exit 0.\n");
}

static void linkem_die(const char *fmt, ...)
{
	va_list ap;
	fputs("linkem: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(2);
}

/* "40M" -> 40000000; returns -EINVAL on anything else. */
static int linkem_parse_bytes(const char *s, uint64_t *out)
{
	char *end;
	errno = 0;
	double v = strtod(s, &end);
	if (errno || end == s || !(v >= 0))
		return -EINVAL;
	double mult = 1;
	if (*end) {
		static const struct {
			const char *suffix;
			double mult;
		} suffixes[] = {
		    {"k", 1e3},	    {"K", 1e3},	       {"M", 1e6},	     {"G", 1e9},
		    {"Ki", 1024.0}, {"Mi", 1048576.0}, {"Gi", 1073741824.0},
		};
		size_t i;
		for (i = 0; i < sizeof(suffixes) / sizeof(suffixes[0]); i++)
			if (!strcmp(end, suffixes[i].suffix))
				break;
		if (i == sizeof(suffixes) / sizeof(suffixes[0]))
			return -EINVAL;
		mult = suffixes[i].mult;
	}
	v *= mult;
	if (v > 1e18)
		return -EINVAL;
	*out = (uint64_t)v;
	return 0;
}

/* "HOST:PORT" or "[V6]:PORT" -> addrinfo list (caller frees). */
static int linkem_resolve(const char *hostport, bool passive, struct addrinfo **out)
{
	char host[256];
	const char *colon = strrchr(hostport, ':');
	if (!colon || colon == hostport || (size_t)(colon - hostport) >= sizeof(host))
		return -EINVAL;
	const char *h = hostport;
	size_t hlen = (size_t)(colon - hostport);
	if (h[0] == '[' && h[hlen - 1] == ']') {
		h++;
		hlen -= 2;
	}
	memcpy(host, h, hlen);
	host[hlen] = 0;
	struct addrinfo hints = {
	    .ai_family = AF_UNSPEC,
	    .ai_socktype = SOCK_STREAM,
	    .ai_flags = passive ? AI_PASSIVE : 0,
	};
	int r = getaddrinfo(host, colon + 1, &hints, out);
	return r ? -EINVAL : 0;
}

/* ---------------------------------------------------------------------- */
/* stats */

enum linkem_method {
	LINKEM_GET,
	LINKEM_PUT,
	LINKEM_HEAD,
	LINKEM_POST,
	LINKEM_DELETE,
	LINKEM_OTHER,
	LINKEM_N_METHODS
};
static const char *const linkem_method_names[LINKEM_N_METHODS] = {
    "get", "put", "head", "post", "delete", "other",
};

static struct {
	uint64_t accepted, active, connect_failures, aborted, non_http;
	uint64_t requests[LINKEM_N_METHODS];
	uint64_t bytes_up, bytes_down; /* forwarded: client->server, server->client */
} stats;

static void linkem_stats_print(FILE *f)
{
	uint64_t total = 0;
	for (int i = 0; i < LINKEM_N_METHODS; i++)
		total += stats.requests[i];
	fprintf(f, "connections_accepted %" PRIu64 "\n", stats.accepted);
	fprintf(f, "connections_active %" PRIu64 "\n", stats.active);
	fprintf(f, "connections_aborted %" PRIu64 "\n", stats.aborted);
	fprintf(f, "connect_failures %" PRIu64 "\n", stats.connect_failures);
	fprintf(f, "non_http_connections %" PRIu64 "\n", stats.non_http);
	fprintf(f, "requests %" PRIu64 "\n", total);
	for (int i = 0; i < LINKEM_N_METHODS; i++)
		fprintf(f, "requests_%s %" PRIu64 "\n", linkem_method_names[i], stats.requests[i]);
	fprintf(f, "bytes_up %" PRIu64 "\n", stats.bytes_up);
	fprintf(f, "bytes_down %" PRIu64 "\n", stats.bytes_down);
}

/* Written to FILE.tmp and renamed, so a reader never sees half a file. */
static void linkem_stats_dump(void)
{
	if (!opts.stats_path) {
		linkem_stats_print(stderr);
		return;
	}
	char tmp[PATH_MAX];
	if (snprintf(tmp, sizeof(tmp), "%s.tmp", opts.stats_path) >= (int)sizeof(tmp))
		return;
	FILE *f = fopen(tmp, "w");
	if (!f) {
		fprintf(stderr, "linkem: %s: %s\n", tmp, strerror(errno));
		return;
	}
	linkem_stats_print(f);
	if (fclose(f) || rename(tmp, opts.stats_path))
		fprintf(stderr, "linkem: %s: %s\n", opts.stats_path, strerror(errno));
}

/* ---------------------------------------------------------------------- */
/* HTTP/1.1 request framing, only to count requests: request line, headers,
 * then a Content-Length or chunked body, so that keep-alive and pipelined
 * requests are found where they start and not inside a body. A stream that
 * does not look like HTTP is counted once and no longer parsed. */

enum linkem_http_state {
	HTTP_START, /* expecting a request line (blank lines skipped) */
	HTTP_HEADERS,
	HTTP_BODY,
	HTTP_CHUNK_SIZE,
	HTTP_CHUNK_DATA,
	HTTP_CHUNK_END, /* the CRLF after a chunk's data */
	HTTP_TRAILERS,
	HTTP_OFF,
};

struct linkem_http {
	enum linkem_http_state state;
	char line[LINKEM_HTTP_LINE_MAX];
	size_t line_len;
	uint64_t body_left;
	bool chunked;
};

static bool linkem_http_is_line_state(enum linkem_http_state s)
{
	return s != HTTP_BODY && s != HTTP_CHUNK_DATA && s != HTTP_OFF;
}

static void linkem_http_request_line(struct linkem_http *h, const char *line)
{
	size_t n = strcspn(line, " ");
	if (n == 0 || line[n] != ' ') {
		h->state = HTTP_OFF;
		stats.non_http++;
		return;
	}
	for (size_t i = 0; i < n; i++)
		if (!((line[i] >= 'A' && line[i] <= 'Z') || line[i] == '-' || line[i] == '_')) {
			h->state = HTTP_OFF;
			stats.non_http++;
			return;
		}
	static const struct {
		const char *name;
		enum linkem_method m;
	} methods[] = {
	    {"GET", LINKEM_GET},   {"PUT", LINKEM_PUT},	      {"HEAD", LINKEM_HEAD},
	    {"POST", LINKEM_POST}, {"DELETE", LINKEM_DELETE},
	};
	enum linkem_method m = LINKEM_OTHER;
	for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++)
		if (strlen(methods[i].name) == n && !memcmp(line, methods[i].name, n))
			m = methods[i].m;
	stats.requests[m]++;
	h->state = HTTP_HEADERS;
	h->body_left = 0;
	h->chunked = false;
}

static void linkem_http_header(struct linkem_http *h, const char *line)
{
	const char *colon = strchr(line, ':');
	if (!colon)
		return;
	size_t n = (size_t)(colon - line);
	const char *v = colon + 1 + strspn(colon + 1, " \t");
	if (n == 14 && !strncasecmp(line, "content-length", n))
		h->body_left = strtoull(v, NULL, 10);
	else if (n == 17 && !strncasecmp(line, "transfer-encoding", n) && strcasestr(v, "chunked"))
		h->chunked = true;
}

static void linkem_http_line(struct linkem_http *h, const char *line)
{
	switch (h->state) {
	case HTTP_START:
		if (*line)
			linkem_http_request_line(h, line);
		break;
	case HTTP_HEADERS:
		if (*line) {
			linkem_http_header(h, line);
		} else if (h->chunked) {
			h->state = HTTP_CHUNK_SIZE;
		} else if (h->body_left) {
			h->state = HTTP_BODY;
		} else {
			h->state = HTTP_START;
		}
		break;
	case HTTP_CHUNK_SIZE: {
		char *end;
		h->body_left = strtoull(line, &end, 16);
		if (end == line) {
			h->state = HTTP_OFF;
			stats.non_http++;
		} else {
			h->state = h->body_left ? HTTP_CHUNK_DATA : HTTP_TRAILERS;
		}
		break;
	}
	case HTTP_CHUNK_END:
		h->state = HTTP_CHUNK_SIZE;
		break;
	case HTTP_TRAILERS:
		if (!*line)
			h->state = HTTP_START;
		break;
	default:
		break;
	}
}

static void linkem_http_feed(struct linkem_http *h, const char *p, size_t n)
{
	while (n && h->state != HTTP_OFF) {
		if (!linkem_http_is_line_state(h->state)) {
			size_t k = h->body_left < n ? (size_t)h->body_left : n;
			h->body_left -= k;
			p += k;
			n -= k;
			if (!h->body_left)
				h->state = h->state == HTTP_BODY ? HTTP_START : HTTP_CHUNK_END;
			continue;
		}
		if (h->state == HTTP_START && !h->line_len && *p != '\r' && *p != '\n' &&
		    !(*p >= 'A' && *p <= 'Z')) {
			h->state = HTTP_OFF; /* binary from the first byte: not HTTP */
			stats.non_http++;
			break;
		}
		const char *nl = memchr(p, '\n', n);
		size_t k = nl ? (size_t)(nl - p) : n;
		size_t room = sizeof(h->line) - 1 - h->line_len;
		memcpy(h->line + h->line_len, p, k < room ? k : room);
		h->line_len += k < room ? k : room;
		if (!nl) {
			n -= k;
			p += k;
			continue;
		}
		p += k + 1;
		n -= k + 1;
		if (h->line_len && h->line[h->line_len - 1] == '\r')
			h->line_len--;
		h->line[h->line_len] = 0;
		h->line_len = 0;
		linkem_http_line(h, h->line);
	}
}

/* ---------------------------------------------------------------------- */
/* connections */

enum linkem_tag { TAG_LISTEN, TAG_SIGNAL, TAG_TIMER, TAG_ENDPOINT };

struct linkem_conn;

struct linkem_endpoint {
	enum linkem_tag tag; /* first: epoll data points here */
	int fd;
	struct linkem_conn *conn;
	bool connected, readable, writable;
};

/* A span of the delay line: bytes up to end_seq may leave at release_ns. */
struct linkem_record {
	uint64_t end_seq, release_ns, read_ns;
};

/* One direction of a connection: bytes read from src at time t wait in a
 * ring buffer until t + delay, then go to dst. Sequence numbers count bytes
 * since the start: wr_seq <= rel_seq <= rd_seq, and the ring holds
 * [wr_seq, rd_seq). The rate is charged when reading, as a link charges the
 * time to put bytes on the wire before they travel for the delay. */
struct linkem_dir {
	struct linkem_endpoint *src, *dst;
	char *buf;
	uint64_t cap;
	uint64_t rd_seq, rel_seq, wr_seq;
	struct linkem_record *recs;
	unsigned rec_head, rec_n;
	double tokens;
	uint64_t refill_ns;
	uint64_t not_before_ns; /* nothing is stamped earlier (the handshake) */
	bool src_eof, dst_shut;
	uint64_t eof_release_ns;
	uint64_t wake_ns; /* 0: nothing timed */
	uint64_t *bytes_stat;
	struct linkem_http *http; /* client->server only */
};

struct linkem_conn {
	struct linkem_endpoint client, server;
	struct linkem_dir up, down;
	struct linkem_http http;
	size_t heap_idx; /* SIZE_MAX: not in the timer heap */
	uint64_t wake_ns;
	bool dead;
	struct linkem_conn *next_dead;
};

static int epfd, timerfd, sigfd;
static struct addrinfo *target_ai;
static uint64_t burst_bytes;
static struct linkem_conn *dead_list;

static uint64_t linkem_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* --- timer heap: connections by wake_ns --- */

static struct linkem_conn **heap;
static size_t heap_n, heap_cap;

static void linkem_heap_swap(size_t a, size_t b)
{
	struct linkem_conn *t = heap[a];
	heap[a] = heap[b];
	heap[b] = t;
	heap[a]->heap_idx = a;
	heap[b]->heap_idx = b;
}

static void linkem_heap_fix(size_t i)
{
	while (i && heap[(i - 1) / 2]->wake_ns > heap[i]->wake_ns) {
		linkem_heap_swap(i, (i - 1) / 2);
		i = (i - 1) / 2;
	}
	for (;;) {
		size_t l = 2 * i + 1, r = l + 1, m = i;
		if (l < heap_n && heap[l]->wake_ns < heap[m]->wake_ns)
			m = l;
		if (r < heap_n && heap[r]->wake_ns < heap[m]->wake_ns)
			m = r;
		if (m == i)
			break;
		linkem_heap_swap(i, m);
		i = m;
	}
}

static void linkem_heap_remove(struct linkem_conn *c)
{
	size_t i = c->heap_idx;
	if (i == SIZE_MAX)
		return;
	c->heap_idx = SIZE_MAX;
	heap_n--;
	if (i != heap_n) {
		heap[i] = heap[heap_n];
		heap[i]->heap_idx = i;
		linkem_heap_fix(i);
	}
}

static void linkem_heap_set(struct linkem_conn *c, uint64_t wake_ns)
{
	if (!wake_ns) {
		linkem_heap_remove(c);
		return;
	}
	c->wake_ns = wake_ns;
	if (c->heap_idx == SIZE_MAX) {
		if (heap_n == heap_cap) {
			heap_cap = heap_cap ? 2 * heap_cap : 64;
			heap = realloc(heap, heap_cap * sizeof(*heap));
			if (!heap)
				linkem_die("out of memory");
		}
		heap[heap_n] = c;
		c->heap_idx = heap_n++;
	}
	linkem_heap_fix(c->heap_idx);
}

/* --- one direction --- */

static int linkem_dir_init(struct linkem_dir *d, struct linkem_endpoint *src,
			   struct linkem_endpoint *dst, uint64_t now, uint64_t *bytes_stat)
{
	d->src = src;
	d->dst = dst;
	d->cap = opts.buffer_bytes;
	d->buf = malloc(d->cap);
	d->recs = malloc(LINKEM_RECORDS * sizeof(*d->recs));
	if (!d->buf || !d->recs)
		return -ENOMEM;
	d->tokens = (double)burst_bytes;
	d->refill_ns = now;
	d->not_before_ns = now;
	d->bytes_stat = bytes_stat;
	return 0;
}

static void linkem_dir_free(struct linkem_dir *d)
{
	free(d->buf);
	free(d->recs);
}

/* The ring's spans [from, to) as at most two iovecs. */
static int linkem_dir_iov(struct linkem_dir *d, uint64_t from, uint64_t to, struct iovec iov[2])
{
	uint64_t len = to - from, off = from % d->cap;
	uint64_t first = d->cap - off < len ? d->cap - off : len;
	iov[0].iov_base = d->buf + off;
	iov[0].iov_len = first;
	if (first == len)
		return 1;
	iov[1].iov_base = d->buf;
	iov[1].iov_len = len - first;
	return 2;
}

static void linkem_dir_refill(struct linkem_dir *d, uint64_t now)
{
	if (now > d->refill_ns) {
		d->tokens += (double)(now - d->refill_ns) * (double)opts.rate_bytes_s / 1e9;
		if (d->tokens > (double)burst_bytes)
			d->tokens = (double)burst_bytes;
		d->refill_ns = now;
	}
}

static void linkem_dir_stamp(struct linkem_dir *d, uint64_t now)
{
	uint64_t release = (now > d->not_before_ns ? now : d->not_before_ns) + opts.delay_ns;
	if (d->rec_n) {
		struct linkem_record *last =
		    &d->recs[(d->rec_head + d->rec_n - 1) % LINKEM_RECORDS];
		/* Close reads share an entry; its earlier bytes wait a few µs more. */
		if (now - last->read_ns < LINKEM_COALESCE_NS || d->rec_n == LINKEM_RECORDS) {
			last->end_seq = d->rd_seq;
			last->release_ns = release;
			return;
		}
	}
	struct linkem_record *r = &d->recs[(d->rec_head + d->rec_n) % LINKEM_RECORDS];
	r->end_seq = d->rd_seq;
	r->release_ns = release;
	r->read_ns = now;
	d->rec_n++;
}

/* Moves what it can; returns 0, or -errno when the connection must go. */
static int linkem_dir_pump(struct linkem_dir *d, uint64_t now)
{
	uint64_t read_wake = 0, budget = LINKEM_PUMP_BUDGET;
	struct iovec iov[2];
	bool progress = true;

	while (progress) {
		progress = false;
		while (d->rec_n && d->recs[d->rec_head].release_ns <= now) {
			d->rel_seq = d->recs[d->rec_head].end_seq;
			d->rec_head = (d->rec_head + 1) % LINKEM_RECORDS;
			d->rec_n--;
		}
		if (d->dst->connected && d->dst->writable && d->wr_seq < d->rel_seq) {
			int n_iov = linkem_dir_iov(d, d->wr_seq, d->rel_seq, iov);
			ssize_t n = writev(d->dst->fd, iov, n_iov);
			if (n > 0) {
				d->wr_seq += (uint64_t)n;
				*d->bytes_stat += (uint64_t)n;
				progress = true;
			} else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
				d->dst->writable = false;
			} else if (n < 0 && errno != EINTR) {
				return -errno;
			}
		}
		uint64_t space = d->cap - (d->rd_seq - d->wr_seq);
		if (d->src->connected && d->src->readable && !d->src_eof && space) {
			uint64_t want = space < LINKEM_READ_CHUNK ? space : LINKEM_READ_CHUNK;
			read_wake = 0;
			if (opts.rate_bytes_s) {
				/* Read when half a bucket is there (or the space there
				 * is): reads stay large, and a late wake-up still finds
				 * the bucket not full, so no rate is lost. */
				uint64_t need = burst_bytes / 2 < want ? burst_bytes / 2 : want;
				linkem_dir_refill(d, now);
				if (d->tokens < (double)need) {
					double wait_ns = ((double)need - d->tokens) * 1e9 /
							 (double)opts.rate_bytes_s;
					read_wake = now + (uint64_t)wait_ns + 1;
					want = 0;
				} else if ((double)want > d->tokens) {
					want = (uint64_t)d->tokens;
				}
			}
			if (!budget) {
				/* Fair to the other connections: come back at once. */
				read_wake = now + 1;
				want = 0;
			} else if (want > budget) {
				want = budget;
			}
			if (want) {
				int n_iov = linkem_dir_iov(d, d->rd_seq, d->rd_seq + want, iov);
				ssize_t n = readv(d->src->fd, iov, n_iov);
				if (n > 0) {
					budget -= (uint64_t)n;
					size_t left = (size_t)n;
					for (int i = 0; d->http && i < n_iov && left; i++) {
						size_t k =
						    iov[i].iov_len < left ? iov[i].iov_len : left;
						linkem_http_feed(d->http, iov[i].iov_base, k);
						left -= k;
					}
					d->rd_seq += (uint64_t)n;
					if (opts.rate_bytes_s)
						d->tokens -= (double)n;
					linkem_dir_stamp(d, now);
					progress = true;
				} else if (n == 0) {
					d->src_eof = true;
					d->eof_release_ns =
					    (now > d->not_before_ns ? now : d->not_before_ns) +
					    opts.delay_ns;
					progress = true;
				} else if (errno == EAGAIN || errno == EWOULDBLOCK) {
					d->src->readable = false;
				} else if (errno != EINTR) {
					return -errno;
				}
			}
		}
		if (progress)
			now = linkem_now_ns();
	}

	if (d->src_eof && !d->dst_shut && d->dst->connected && d->wr_seq == d->rd_seq &&
	    now >= d->eof_release_ns) {
		/* The peer may be gone already; the other direction reports that. */
		shutdown(d->dst->fd, SHUT_WR);
		d->dst_shut = true;
	}

	uint64_t wake = 0;
	if (d->rec_n)
		wake = d->recs[d->rec_head].release_ns;
	if (read_wake && (!wake || read_wake < wake))
		wake = read_wake;
	if (d->src_eof && !d->dst_shut && d->eof_release_ns > now &&
	    (!wake || d->eof_release_ns < wake))
		wake = d->eof_release_ns;
	if (wake && wake <= now)
		wake = now + 1;
	d->wake_ns = wake;
	return 0;
}

/* --- connection lifetime --- */

static void linkem_conn_kill(struct linkem_conn *c, bool abort)
{
	if (c->dead)
		return;
	c->dead = true;
	if (abort) {
		/* Pass the failure on as a reset, as a broken link would. */
		struct linger lg = {.l_onoff = 1, .l_linger = 0};
		setsockopt(c->client.fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
		setsockopt(c->server.fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
		stats.aborted++;
	}
	close(c->client.fd);
	close(c->server.fd);
	linkem_heap_remove(c);
	stats.active--;
	c->next_dead = dead_list;
	dead_list = c;
}

/* Out of descriptors, the listener (level-triggered) would wake us for ever:
 * it leaves the epoll set until a connection closes. */
static int listen_paused_fd = -1;
static enum linkem_tag listen_tag = TAG_LISTEN;

static void linkem_listen_pause(int lfd)
{
	fprintf(stderr, "linkem: accept: %s; waiting for a connection to close\n", strerror(errno));
	if (listen_paused_fd < 0 && !epoll_ctl(epfd, EPOLL_CTL_DEL, lfd, NULL))
		listen_paused_fd = lfd;
}

static void linkem_free_dead(void)
{
	if (dead_list && listen_paused_fd >= 0) {
		struct epoll_event ev = {.events = EPOLLIN, .data.ptr = &listen_tag};
		if (!epoll_ctl(epfd, EPOLL_CTL_ADD, listen_paused_fd, &ev))
			listen_paused_fd = -1;
	}
	while (dead_list) {
		struct linkem_conn *c = dead_list;
		dead_list = c->next_dead;
		linkem_dir_free(&c->up);
		linkem_dir_free(&c->down);
		free(c);
	}
}

static void linkem_conn_pump(struct linkem_conn *c)
{
	if (c->dead)
		return;
	uint64_t now = linkem_now_ns();
	int r = linkem_dir_pump(&c->up, now);
	if (!r)
		r = linkem_dir_pump(&c->down, now);
	if (r) {
		linkem_conn_kill(c, true);
		return;
	}
	if (c->up.dst_shut && c->down.dst_shut) {
		linkem_conn_kill(c, false);
		return;
	}
	uint64_t wake = c->up.wake_ns;
	if (c->down.wake_ns && (!wake || c->down.wake_ns < wake))
		wake = c->down.wake_ns;
	linkem_heap_set(c, wake);
}

static int linkem_epoll_add(int fd, void *ptr, uint32_t events)
{
	struct epoll_event ev = {.events = events, .data.ptr = ptr};
	return epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev);
}

static void linkem_conn_new(int cfd)
{
	static const int one = 1;
	uint64_t now = linkem_now_ns();
	struct linkem_conn *c = calloc(1, sizeof(*c));
	if (!c) {
		close(cfd);
		return;
	}
	stats.accepted++;
	stats.active++;
	c->heap_idx = SIZE_MAX;
	c->client = (struct linkem_endpoint){TAG_ENDPOINT, cfd, c, true, false, false};
	c->server = (struct linkem_endpoint){TAG_ENDPOINT, -1, c, false, false, false};
	int sfd = socket(target_ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	c->server.fd = sfd;
	if (linkem_dir_init(&c->up, &c->client, &c->server, now, &stats.bytes_up) ||
	    linkem_dir_init(&c->down, &c->server, &c->client, now, &stats.bytes_down) || sfd < 0) {
		fprintf(stderr, "linkem: new connection: %s\n", strerror(errno));
		linkem_conn_kill(c, true);
		return;
	}
	c->up.http = &c->http;
	/* A real connect costs a round trip before the client can send: its
	 * first bytes reach the server no earlier than 3 one-way delays after
	 * the accept, its first answer no earlier than 2 round trips. */
	if (opts.handshake)
		c->up.not_before_ns = now + 2 * opts.delay_ns;
	setsockopt(cfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	setsockopt(sfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (connect(sfd, target_ai->ai_addr, target_ai->ai_addrlen) == 0)
		c->server.connected = true;
	else if (errno != EINPROGRESS) {
		stats.connect_failures++;
		linkem_conn_kill(c, true);
		return;
	}
	uint32_t ev = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
	if (linkem_epoll_add(cfd, &c->client, ev) || linkem_epoll_add(sfd, &c->server, ev)) {
		fprintf(stderr, "linkem: epoll_ctl: %s\n", strerror(errno));
		linkem_conn_kill(c, true);
	}
}

static void linkem_endpoint_event(struct linkem_endpoint *e, uint32_t events)
{
	struct linkem_conn *c = e->conn;
	if (c->dead)
		return;
	if (!e->connected && (events & (EPOLLOUT | EPOLLERR | EPOLLHUP))) {
		int err = 0;
		socklen_t len = sizeof(err);
		getsockopt(e->fd, SOL_SOCKET, SO_ERROR, &err, &len);
		if (err) {
			stats.connect_failures++;
			linkem_conn_kill(c, true);
			return;
		}
		e->connected = true;
	}
	/* Errors and hang-ups are learnt from the next read or write. */
	if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))
		e->readable = true;
	if (events & (EPOLLOUT | EPOLLHUP | EPOLLERR))
		e->writable = true;
	linkem_conn_pump(c);
}

/* ---------------------------------------------------------------------- */

static int linkem_listen(void)
{
	struct addrinfo *ai;
	if (linkem_resolve(opts.listen, true, &ai))
		linkem_die("--listen %s: not HOST:PORT", opts.listen);
	int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	int one = 1;
	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
	    bind(fd, ai->ai_addr, ai->ai_addrlen) || listen(fd, 1024))
		linkem_die("--listen %s: %s", opts.listen, strerror(errno));
	freeaddrinfo(ai);

	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	char host[NI_MAXHOST], port[NI_MAXSERV];
	if (getsockname(fd, (struct sockaddr *)&ss, &len) ||
	    getnameinfo((struct sockaddr *)&ss, len, host, sizeof(host), port, sizeof(port),
			NI_NUMERICHOST | NI_NUMERICSERV))
		linkem_die("getsockname: %s", strerror(errno));
	if (ss.ss_family == AF_INET6)
		printf("listening [%s]:%s\n", host, port);
	else
		printf("listening %s:%s\n", host, port);
	fflush(stdout);
	return fd;
}

static void linkem_parse_args(int argc, char **argv)
{
	enum {
		OPT_LISTEN = 256,
		OPT_TARGET,
		OPT_DELAY,
		OPT_RATE,
		OPT_PROFILE,
		OPT_STATS,
		OPT_BUFFER,
		OPT_NO_HANDSHAKE,
		OPT_HELP
	};
	static const struct option longopts[] = {
	    {"listen", required_argument, NULL, OPT_LISTEN},
	    {"target", required_argument, NULL, OPT_TARGET},
	    {"delay-ms", required_argument, NULL, OPT_DELAY},
	    {"rate", required_argument, NULL, OPT_RATE},
	    {"profile", required_argument, NULL, OPT_PROFILE},
	    {"stats", required_argument, NULL, OPT_STATS},
	    {"buffer", required_argument, NULL, OPT_BUFFER},
	    {"no-handshake", no_argument, NULL, OPT_NO_HANDSHAKE},
	    {"help", no_argument, NULL, OPT_HELP},
	    {NULL, 0, NULL, 0},
	};
	const char *delay_arg = NULL, *rate_arg = NULL, *profile = NULL;
	int o;
	while ((o = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (o) {
		case OPT_LISTEN:
			opts.listen = optarg;
			break;
		case OPT_TARGET:
			opts.target = optarg;
			break;
		case OPT_DELAY:
			delay_arg = optarg;
			break;
		case OPT_RATE:
			rate_arg = optarg;
			break;
		case OPT_PROFILE:
			profile = optarg;
			break;
		case OPT_STATS:
			opts.stats_path = optarg;
			break;
		case OPT_BUFFER:
			if (linkem_parse_bytes(optarg, &opts.buffer_bytes) ||
			    opts.buffer_bytes < LINKEM_BUF_MIN)
				linkem_die("--buffer %s: want a size of at least 64Ki", optarg);
			break;
		case OPT_NO_HANDSHAKE:
			opts.handshake = false;
			break;
		case OPT_HELP:
			linkem_usage(stdout);
			exit(0);
		default:
			linkem_usage(stderr);
			exit(2);
		}
	}
	if (optind != argc || !opts.target) {
		linkem_usage(stderr);
		exit(2);
	}
	if (profile) {
		size_t i, n = sizeof(linkem_profiles) / sizeof(linkem_profiles[0]);
		for (i = 0; i < n; i++)
			if (!strcmp(profile, linkem_profiles[i].name))
				break;
		if (i == n)
			linkem_die("--profile %s: unknown; try --help", profile);
		opts.delay_ns = (uint64_t)(linkem_profiles[i].delay_ms * 1e6);
		opts.rate_bytes_s = linkem_profiles[i].rate_bytes_s;
	}
	if (delay_arg) {
		char *end;
		double ms = strtod(delay_arg, &end);
		if (end == delay_arg || *end || !(ms >= 0) || ms > 1e6)
			linkem_die("--delay-ms %s: want milliseconds", delay_arg);
		opts.delay_ns = (uint64_t)(ms * 1e6);
	}
	if (rate_arg && linkem_parse_bytes(rate_arg, &opts.rate_bytes_s))
		linkem_die("--rate %s: want bytes/s such as 40M (decimal) or 32Mi", rate_arg);

	burst_bytes = opts.rate_bytes_s * LINKEM_BURST_NS / 1000000000u;
	if (burst_bytes < LINKEM_BURST_MIN)
		burst_bytes = LINKEM_BURST_MIN;
	if (!opts.buffer_bytes) {
		if (opts.rate_bytes_s) {
			double bdp = (double)opts.rate_bytes_s * (double)opts.delay_ns / 1e9;
			opts.buffer_bytes = (uint64_t)bdp + burst_bytes + LINKEM_READ_CHUNK;
		} else {
			opts.buffer_bytes =
			    opts.delay_ns ? LINKEM_BUF_DELAY_ONLY : LINKEM_BUF_UNSHAPED;
		}
	}
	if (linkem_resolve(opts.target, false, &target_ai))
		linkem_die("--target %s: not HOST:PORT, or the host does not resolve", opts.target);
}

int main(int argc, char **argv)
{
	linkem_parse_args(argc, argv);
	signal(SIGPIPE, SIG_IGN);

	sigset_t mask;
	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGUSR1);
	sigprocmask(SIG_BLOCK, &mask, NULL);

	static enum linkem_tag signal_tag = TAG_SIGNAL, timer_tag = TAG_TIMER;
	epfd = epoll_create1(EPOLL_CLOEXEC);
	sigfd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
	timerfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (epfd < 0 || sigfd < 0 || timerfd < 0)
		linkem_die("epoll/signalfd/timerfd: %s", strerror(errno));
	int lfd = linkem_listen();
	if (linkem_epoll_add(lfd, &listen_tag, EPOLLIN) ||
	    linkem_epoll_add(sigfd, &signal_tag, EPOLLIN) ||
	    linkem_epoll_add(timerfd, &timer_tag, EPOLLIN))
		linkem_die("epoll_ctl: %s", strerror(errno));

	struct epoll_event events[LINKEM_EVENTS];
	uint64_t armed_ns = 0;
	bool running = true;
	while (running) {
		/* One timerfd, armed at the earliest wake-up of all connections:
		 * nanosecond resolution, unlike epoll_wait's milliseconds. */
		uint64_t next = heap_n ? heap[0]->wake_ns : 0;
		if (next != armed_ns) {
			struct itimerspec its = {
			    .it_value = {(time_t)(next / 1000000000u), (long)(next % 1000000000u)},
			};
			timerfd_settime(timerfd, TFD_TIMER_ABSTIME, &its, NULL);
			armed_ns = next;
		}
		int n = epoll_wait(epfd, events, LINKEM_EVENTS, -1);
		if (n < 0 && errno != EINTR)
			linkem_die("epoll_wait: %s", strerror(errno));
		for (int i = 0; i < n; i++) {
			enum linkem_tag *tag = events[i].data.ptr;
			switch (*tag) {
			case TAG_LISTEN:
				for (;;) {
					int cfd =
					    accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
					if (cfd < 0) {
						if (errno == EMFILE || errno == ENFILE)
							linkem_listen_pause(lfd);
						else if (errno != EAGAIN && errno != EWOULDBLOCK &&
							 errno != EINTR && errno != ECONNABORTED)
							fprintf(stderr, "linkem: accept: %s\n",
								strerror(errno));
						break;
					}
					linkem_conn_new(cfd);
				}
				break;
			case TAG_SIGNAL: {
				struct signalfd_siginfo si;
				while (read(sigfd, &si, sizeof(si)) == sizeof(si)) {
					if (si.ssi_signo == SIGUSR1)
						linkem_stats_dump();
					else
						running = false;
				}
				break;
			}
			case TAG_TIMER: {
				uint64_t expirations;
				if (read(timerfd, &expirations, sizeof(expirations)) < 0)
					(void)0; /* spurious: nothing to read */
				armed_ns = 0;
				break;
			}
			case TAG_ENDPOINT:
				linkem_endpoint_event((struct linkem_endpoint *)tag,
						      events[i].events);
				break;
			}
		}
		uint64_t now = linkem_now_ns();
		while (heap_n && heap[0]->wake_ns <= now) {
			struct linkem_conn *c = heap[0];
			linkem_heap_remove(c);
			linkem_conn_pump(c);
		}
		linkem_free_dead();
	}

	linkem_stats_dump();
	return 0;
}
