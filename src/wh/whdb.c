/* whdb.c - see whdb.h */
#include "config.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "buf.h"
#include "log.h"
#include "whdb.h"

#define WHDB_IDLE_MAX 4		 /* connections kept open while unused */
#define WHDB_MAX_KEYS 48	 /* our defaults + the source's + the user's */
#define WHDB_ERR_MAX  (16 << 10) /* bytes of one error message */
#define WHDB_CANCELS  4		 /* cancel requests in flight at once */

struct whdb {
	const char *keys[WHDB_MAX_KEYS + 1];
	const char *vals[WHDB_MAX_KEYS + 1];
	char connect_timeout[16];
	unsigned timeout_ms;
	unsigned load_timeout_ms;

	pthread_mutex_t lock;
	PGconn *idle[WHDB_IDLE_MAX];
	unsigned n_idle;
};

static long long whdb_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void __attribute__((format(printf, 2, 3))) whdb_set_err(char **err, const char *fmt, ...);

static void whdb_set_err(char **err, const char *fmt, ...)
{
	va_list ap;

	if (!err)
		return;
	free(*err);
	va_start(ap, fmt);
	if (vasprintf(err, fmt, ap) < 0)
		*err = NULL;
	va_end(ap);
}

struct whdb *whdb_new(const struct whdb_config *cfg)
{
	struct whdb *db = calloc(1, sizeof(*db));
	unsigned n = 0;

	if (!db)
		return NULL;
	db->timeout_ms = cfg->timeout_ms;
	db->load_timeout_ms = cfg->load_timeout_ms;
	snprintf(db->connect_timeout, sizeof(db->connect_timeout), "%u",
		 cfg->timeout_ms < 2000 ? 2 : cfg->timeout_ms / 1000);
	/* Our defaults first: libpq takes the last value of a key, so the
	 * source's parameters (?keepalives=0) win. */
	static const char *const dflt[][2] = {
	    {"application_name", "odofs"}, {"client_encoding", "UTF8"},	 {"keepalives", "1"},
	    {"keepalives_idle", "10"},	   {"keepalives_interval", "5"}, {"keepalives_count", "3"},
	};
	for (size_t i = 0; i < sizeof(dflt) / sizeof(dflt[0]); i++) {
		db->keys[n] = dflt[i][0];
		db->vals[n++] = dflt[i][1];
	}
	db->keys[n] = "connect_timeout";
	db->vals[n++] = db->connect_timeout;
	for (size_t i = 0; cfg->keys[i] && n < WHDB_MAX_KEYS; i++) {
		db->keys[n] = cfg->keys[i];
		db->vals[n++] = cfg->vals[i];
	}
	db->keys[n] = db->vals[n] = NULL;
	pthread_mutex_init(&db->lock, NULL);
	return db;
}

void whdb_free(struct whdb *db)
{
	if (!db)
		return;
	for (unsigned i = 0; i < db->n_idle; i++)
		PQfinish(db->idle[i]);
	pthread_mutex_destroy(&db->lock);
	free(db);
}

/* libpq's messages end in a newline and may span lines: one line. */
static char *whdb_one_line(const char *msg)
{
	struct buf b;
	size_t n = strlen(msg);

	while (n && (msg[n - 1] == '\n' || msg[n - 1] == ' '))
		n--;
	buf_init(&b, WHDB_ERR_MAX);
	for (size_t i = 0; i < n; i++) {
		if (msg[i] == '\n') {
			buf_append(&b, "; ", 2);
			while (i + 1 < n && (msg[i + 1] == ' ' || msg[i + 1] == '\t'))
				i++;
		} else if (buf_append(&b, &msg[i], 1) < 0) {
			break;
		}
	}
	return buf_steal(&b);
}

/* Server notices (Redshift's "Load into table ... completed") go to the
 * log, not to the daemon's stderr. */
static void whdb_notice(void *arg, const char *msg)
{
	size_t n = strlen(msg);

	(void)arg;
	while (n && msg[n - 1] == '\n')
		n--;
	log_debug("database: %.*s", (int)n, msg);
}

/* Whether an idle connection still has its server: a server that was
 * restarted or ended the session has closed the socket (or sent a FATAL
 * first), which shows as input on an idle connection.  Without this check,
 * the first statement after a restart would fail on a dead connection. */
static int whdb_alive(PGconn *c)
{
	struct pollfd p = {.fd = PQsocket(c), .events = POLLIN};

	if (PQstatus(c) != CONNECTION_OK || p.fd < 0)
		return 0;
	/* Something came: a notice is fine, EOF or an error is not.  A
	 * server going down sends a FATAL message (libpq takes it for a
	 * notice on an idle connection), then closes: read until the socket
	 * has nothing more, so the EOF behind the message is seen too. */
	for (int i = 0; i < 8 && poll(&p, 1, 0) > 0; i++)
		if (!PQconsumeInput(c) || PQstatus(c) != CONNECTION_OK)
			return 0;
	return PQtransactionStatus(c) == PQTRANS_IDLE;
}

PGconn *whdb_get(struct whdb *db, char **err)
{
	PGconn *c;

	for (;;) {
		c = NULL;
		pthread_mutex_lock(&db->lock);
		if (db->n_idle)
			c = db->idle[--db->n_idle];
		pthread_mutex_unlock(&db->lock);
		if (!c)
			break;
		if (whdb_alive(c))
			return c;
		log_debug("database: dropping a pooled connection the server closed");
		PQfinish(c);
	}

	c = PQconnectdbParams(db->keys, db->vals, 0);
	if (!c) {
		whdb_set_err(err, "%s", "out of memory");
		return NULL;
	}
	if (PQstatus(c) != CONNECTION_OK) {
		char *msg = whdb_one_line(PQerrorMessage(c));

		whdb_set_err(err, "cannot connect: %s", msg ? msg : "unknown error");
		free(msg);
		PQfinish(c);
		return NULL;
	}
	/* Waits happen in poll() with a bound, never inside libpq. */
	PQsetnonblocking(c, 1);
	PQsetNoticeProcessor(c, whdb_notice, NULL);
	return c;
}

void whdb_put(struct whdb *db, PGconn *c)
{
	if (!c)
		return;
	if (PQstatus(c) == CONNECTION_OK && PQtransactionStatus(c) == PQTRANS_IDLE) {
		pthread_mutex_lock(&db->lock);
		if (db->n_idle < WHDB_IDLE_MAX) {
			db->idle[db->n_idle++] = c;
			c = NULL;
		}
		pthread_mutex_unlock(&db->lock);
	}
	PQfinish(c);
}

/* A statement's deadline. */
struct whdb_clock {
	long long deadline_ms;
};

static void whdb_clock_start(struct whdb *db, struct whdb_clock *k, int long_running)
{
	k->deadline_ms = whdb_now_ms() + (long_running ? db->load_timeout_ms : db->timeout_ms);
}

static atomic_int whdb_n_cancels;

static void *whdb_cancel_main(void *arg)
{
	PGcancel *cancel = arg;
	char errbuf[256];

	PQcancel(cancel, errbuf, sizeof(errbuf));
	PQfreeCancel(cancel);
	atomic_fetch_sub(&whdb_n_cancels, 1);
	return NULL;
}

/* PQcancel() blocks until the server has read the request, with no bound:
 * a stopped server would hold the caller for as long as it is stopped.  So
 * the request goes from a detached thread of its own, a few at most. */
static void whdb_cancel(PGconn *c)
{
	PGcancel *cancel;
	pthread_attr_t attr;
	pthread_t th;

	if (atomic_fetch_add(&whdb_n_cancels, 1) >= WHDB_CANCELS)
		goto skip;
	cancel = PQgetCancel(c);
	if (!cancel)
		goto skip;
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	if (pthread_create(&th, &attr, whdb_cancel_main, cancel) != 0) {
		PQfreeCancel(cancel);
		pthread_attr_destroy(&attr);
		goto skip;
	}
	pthread_attr_destroy(&attr);
	return;
skip:
	atomic_fetch_sub(&whdb_n_cancels, 1);
}

void whdb_abort(PGconn *c)
{
	whdb_cancel(c);
	if (PQsocket(c) >= 0)
		shutdown(PQsocket(c), SHUT_RDWR);
}

/* The server has not answered in time: ask it to stop, and cut the
 * connection.  Whatever is sent on it next fails at once instead of
 * waiting out another bound (a COPY's end, a ROLLBACK), and the server
 * rolls back an open transaction when it sees the connection gone. */
static int whdb_timed_out(PGconn *c, char **err)
{
	whdb_cancel(c);
	if (PQsocket(c) >= 0)
		shutdown(PQsocket(c), SHUT_RDWR);
	whdb_set_err(err, "%s", "the database did not answer in time");
	return -ETIMEDOUT;
}

static int whdb_conn_error(PGconn *c, char **err)
{
	char *msg = whdb_one_line(PQerrorMessage(c));

	whdb_set_err(err, "%s", msg && *msg ? msg : "connection to the database lost");
	free(msg);
	return -EIO;
}

/* Wait for events on c's socket, up to the deadline. */
/* Waits for events on c's socket: 0 when they came, or a negative errno
 * (at the clock's deadline: whdb_timed_out).  With slice_ms >= 0, also 1
 * when that long went by without them, the deadline still ahead. */
static int whdb_wait(PGconn *c, short events, const struct whdb_clock *k, int slice_ms, char **err)
{
	struct pollfd p = {.fd = PQsocket(c), .events = events};
	long long left = k->deadline_ms - whdb_now_ms();
	int r;

	if (p.fd < 0)
		return whdb_conn_error(c, err);
	do {
		long long ms = left > 60000 ? 60000 : left;

		if (slice_ms >= 0 && ms > slice_ms)
			ms = slice_ms;
		r = poll(&p, 1, ms > 0 ? (int)ms : 0);
		left = k->deadline_ms - whdb_now_ms();
		if (r == 0 && slice_ms >= 0 && left > 0)
			return 1;
	} while ((r == 0 && left > 0) || (r < 0 && errno == EINTR));
	if (r == 0)
		return whdb_timed_out(c, err);
	if (r < 0)
		return -errno;
	return 0;
}

static int whdb_poll(PGconn *c, short events, const struct whdb_clock *k, char **err)
{
	return whdb_wait(c, events, k, -1, err);
}

/* Send what is queued and read until a result is ready: 0, or a negative
 * errno; with slice_ms >= 0, also 1 when that long went by with nothing
 * new. */
static int whdb_pump_for(PGconn *c, const struct whdb_clock *k, int slice_ms, char **err)
{
	for (;;) {
		int f = PQflush(c);

		if (f < 0)
			return whdb_conn_error(c, err);
		if (f == 0 && !PQisBusy(c))
			return 0;
		int r = whdb_wait(c, POLLIN | (f ? POLLOUT : 0), k, slice_ms, err);

		if (r != 0)
			return r;
		if (!PQconsumeInput(c))
			return whdb_conn_error(c, err);
	}
}

static int whdb_pump(PGconn *c, const struct whdb_clock *k, char **err)
{
	return whdb_pump_for(c, k, -1, err);
}

/* SQLSTATEs, or their class (two characters), that say the user may not
 * do it: as errno.  Anything else a statement fails with is EIO. */
static const struct {
	const char *state;
	int eno;
} whdb_errnos[] = {
    {"42501", EACCES}, /* insufficient_privilege: table, column, schema */
    {"28", EACCES},    /* invalid authorization specification */
    {"2F002", EACCES}, /* SQL routine: modifying SQL data not permitted */
    {"2F003", EACCES}, /* SQL routine: prohibited SQL statement */
    {"2F004", EACCES}, /* SQL routine: reading SQL data not permitted */
    {"38002", EACCES}, /* external routine: the same three */
    {"38003", EACCES}, {"38004", EACCES}, {"0L", EACCES}, /* invalid grantor */
    {"0P", EACCES},					  /* invalid role specification */
    {"25006", EROFS}, /* read-only SQL transaction: a hot standby */
};

int whdb_errno(const char *sqlstate)
{
	if (!sqlstate || strlen(sqlstate) != 5)
		return -EIO;
	for (size_t i = 0; i < sizeof(whdb_errnos) / sizeof(whdb_errnos[0]); i++)
		if (!strncmp(sqlstate, whdb_errnos[i].state, strlen(whdb_errnos[i].state)))
			return -whdb_errnos[i].eno;
	return -EIO;
}

char *whdb_result_error(const PGresult *res)
{
	const char *msg = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
	const char *detail = PQresultErrorField(res, PG_DIAG_MESSAGE_DETAIL);
	const char *context = PQresultErrorField(res, PG_DIAG_CONTEXT);
	char *all = NULL, *line;

	if (!msg)
		return whdb_one_line(PQresultErrorMessage(res));
	if (asprintf(&all, "%s%s%s%s%s", msg, detail ? " (" : "", detail ? detail : "",
		     detail ? ")" : "", "") < 0)
		return NULL;
	if (context) {
		char *with;

		if (asprintf(&with, "%s [%s]", all, context) >= 0) {
			free(all);
			all = with;
		}
	}
	line = whdb_one_line(all);
	free(all);
	return line;
}

/* Collect every result of the statement; the first error wins, and its
 * errno goes to *eno (-EIO, or what whdb_errno makes of its SQLSTATE). */
static PGresult *whdb_finish(PGconn *c, const struct whdb_clock *k, char **err, int *eno)
{
	PGresult *res, *keep = NULL;
	int failed = 0;

	*eno = -EIO;
	for (;;) {
		if (whdb_pump(c, k, err) < 0) {
			PQclear(keep);
			return NULL;
		}
		res = PQgetResult(c);
		if (!res)
			break;
		switch (PQresultStatus(res)) {
		case PGRES_COMMAND_OK:
		case PGRES_TUPLES_OK:
			if (!failed) {
				PQclear(keep);
				keep = res;
				res = NULL;
			}
			break;
		case PGRES_COPY_IN:
		case PGRES_COPY_OUT:
			/* Not expected here: hand it to the caller. */
			PQclear(keep);
			return res;
		default:
			if (!failed) {
				char *msg = whdb_result_error(res);

				whdb_set_err(err, "%s", msg ? msg : "statement failed");
				free(msg);
				*eno = whdb_errno(PQresultErrorField(res, PG_DIAG_SQLSTATE));
			}
			failed = 1;
			PQclear(keep);
			keep = NULL;
			break;
		}
		PQclear(res);
	}
	if (failed) {
		PQclear(keep);
		return NULL;
	}
	if (!keep)
		whdb_set_err(err, "%s", "no result from the database");
	return keep;
}

static PGresult *whdb_exec_eno(struct whdb *db, PGconn *c, const char *sql, int nparams,
			       const char *const *params, int long_running, char **err, int *eno)
{
	struct whdb_clock k;
	PGresult *res;

	*eno = -EIO;
	whdb_clock_start(db, &k, long_running);
	/* Without parameters, the simple protocol: what psql sends, and
	 * what proxies and poolers in front of Redshift handle best. */
	if (!(nparams ? PQsendQueryParams(c, sql, nparams, NULL, params, NULL, NULL, 0)
		      : PQsendQuery(c, sql))) {
		whdb_conn_error(c, err);
		return NULL;
	}
	res = whdb_finish(c, &k, err, eno);
	if (res && PQresultStatus(res) != PGRES_COMMAND_OK &&
	    PQresultStatus(res) != PGRES_TUPLES_OK) {
		/* A COPY we did not ask for: end it. */
		PQclear(res);
		whdb_set_err(err, "%s", "unexpected COPY in a statement");
		return NULL;
	}
	return res;
}

PGresult *whdb_exec(struct whdb *db, PGconn *c, const char *sql, int nparams,
		    const char *const *params, int long_running, char **err)
{
	int eno;

	return whdb_exec_eno(db, c, sql, nparams, params, long_running, err, &eno);
}

int whdb_run(struct whdb *db, PGconn *c, const char *sql, int long_running, char **err)
{
	int eno;
	PGresult *res = whdb_exec_eno(db, c, sql, 0, NULL, long_running, err, &eno);

	if (!res)
		return eno;
	PQclear(res);
	return 0;
}

int whdb_copy_in_start(struct whdb *db, PGconn *c, const char *sql, char **err)
{
	struct whdb_clock k;
	PGresult *res;

	int eno;

	whdb_clock_start(db, &k, 0);
	if (!PQsendQuery(c, sql))
		return whdb_conn_error(c, err);
	res = whdb_finish(c, &k, err, &eno);
	if (!res)
		return eno;
	if (PQresultStatus(res) != PGRES_COPY_IN) {
		PQclear(res);
		whdb_set_err(err, "%s", "the database did not start the COPY");
		return -EIO;
	}
	PQclear(res);
	return 0;
}

int whdb_copy_in_put(struct whdb *db, PGconn *c, const char *data, size_t len, char **err)
{
	struct whdb_clock k;

	whdb_clock_start(db, &k, 0);
	while (len) {
		/* libpq takes an int length. */
		int n = len > (1u << 30) ? 1 << 30 : (int)len;
		int r = PQputCopyData(c, data, n);

		if (r < 0)
			return whdb_conn_error(c, err);
		if (r == 1) {
			data += n;
			len -= (size_t)n;
			whdb_clock_start(db, &k, 0);
			continue;
		}
		/* Its buffer is full: wait until the socket takes more.  Read
		 * too, so an error the server sends early is seen. */
		if ((r = whdb_poll(c, POLLOUT | POLLIN, &k, err)) < 0)
			return r;
		if (!PQconsumeInput(c) || PQflush(c) < 0)
			return whdb_conn_error(c, err);
	}
	/* Send it all before taking more: in nonblocking mode libpq would
	 * rather grow its buffer than wait, so this wait is what bounds the
	 * memory of a load to what the socket holds. */
	for (;;) {
		int r = PQflush(c);

		if (r < 0)
			return whdb_conn_error(c, err);
		if (r == 0)
			return 0;
		if ((r = whdb_poll(c, POLLOUT | POLLIN, &k, err)) < 0)
			return r;
		if (!PQconsumeInput(c))
			return whdb_conn_error(c, err);
	}
}

int whdb_copy_in_end(struct whdb *db, PGconn *c, const char *errmsg, char **err)
{
	struct whdb_clock k;
	PGresult *res;
	int r;

	whdb_clock_start(db, &k, 1);
	while ((r = PQputCopyEnd(c, errmsg)) == 0) {
		if ((r = whdb_poll(c, POLLOUT, &k, err)) < 0)
			return r;
		if (PQflush(c) < 0)
			return whdb_conn_error(c, err);
	}
	if (r < 0)
		return whdb_conn_error(c, err);
	res = whdb_finish(c, &k, err, &r);
	if (!res)
		return r;
	PQclear(res);
	return errmsg ? -ECANCELED : 0;
}

int whdb_copy_out(struct whdb *db, PGconn *c, const char *sql, whdb_copy_fn fn, void *arg,
		  char **err)
{
	struct whdb_clock k;
	PGresult *res;
	int r = 0;

	int eno;

	whdb_clock_start(db, &k, 1);
	if (!PQsendQuery(c, sql))
		return whdb_conn_error(c, err);
	res = whdb_finish(c, &k, err, &eno);
	if (!res)
		return eno;
	if (PQresultStatus(res) != PGRES_COPY_OUT) {
		PQclear(res);
		whdb_set_err(err, "%s", "the database did not start the COPY");
		return -EIO;
	}
	PQclear(res);
	for (;;) {
		char *data = NULL;
		int n = PQgetCopyData(c, &data, 1);

		if (n > 0) {
			r = fn(arg, data, (size_t)n);
			PQfreemem(data);
			if (r < 0) {
				/* The caller takes no more: stop the statement
				 * rather than read the rest of it. */
				whdb_abort(c);
				return r;
			}
			continue;
		}
		if (n == -1)
			break;
		if (n == -2)
			return whdb_conn_error(c, err);
		/* Nothing more for now: fn may hand on what it holds (and
		 * is asked again while the database stays silent, since a
		 * reader may come to wait for it meanwhile). */
		do {
			if ((r = fn(arg, NULL, 0)) < 0) {
				whdb_abort(c);
				return r;
			}
		} while ((n = whdb_wait(c, POLLIN, &k, WHDB_NUDGE_MS, err)) == 1);
		if (n < 0)
			return n;
		if (!PQconsumeInput(c))
			return whdb_conn_error(c, err);
	}
	res = whdb_finish(c, &k, err, &eno);
	if (!res)
		return eno;
	PQclear(res);
	return r;
}

int whdb_select_rows(struct whdb *db, PGconn *c, const char *sql, whdb_row_fn fn, void *arg,
		     char **err)
{
	struct whdb_clock k;
	PGresult *res;
	int first = 1, r = 0, failed = 0;

	whdb_clock_start(db, &k, 1);
	if (!PQsendQuery(c, sql))
		return whdb_conn_error(c, err);
	/* One row per result, never the whole table in memory (a cursor
	 * would make Redshift's leader node materialise it instead). */
	PQsetSingleRowMode(c);
	for (;;) {
		/* Nothing more has come for now: the caller may pass on what
		 * it holds, and is asked again while the database stays
		 * silent (a reader may come to wait for it meanwhile). */
		int nudge = r == 0 && !failed && PQisBusy(c), p = 0;

		if (r == 0 || r == -ECANCELED) {
			while (nudge && (r = fn(arg, NULL, 0)) == 0 &&
			       (p = whdb_pump_for(c, &k, WHDB_NUDGE_MS, err)) == 1)
				;
			if (r < 0 && r != -ECANCELED) {
				whdb_abort(c);
				return r;
			}
			if ((!nudge || r == -ECANCELED) && (p = whdb_pump(c, &k, err)) < 0)
				return -EIO;
			if (p < 0)
				return -EIO;
		}
		res = PQgetResult(c);
		if (!res)
			break;
		switch (PQresultStatus(res)) {
		case PGRES_SINGLE_TUPLE:
		case PGRES_TUPLES_OK:
			if (r == 0 && !failed)
				r = fn(arg, res, first);
			first = 0;
			break;
		default:
			if (!failed) {
				char *msg = whdb_result_error(res);

				whdb_set_err(err, "%s", msg ? msg : "query failed");
				free(msg);
				failed = whdb_errno(PQresultErrorField(res, PG_DIAG_SQLSTATE));
			}
			break;
		}
		PQclear(res);
		if (r < 0 && r != -ECANCELED) {
			/* Stop reading a result the caller no longer takes:
			 * the statement is cancelled and the connection cut
			 * rather than drained. */
			whdb_abort(c);
			return r;
		}
	}
	return failed ? failed : r;
}
