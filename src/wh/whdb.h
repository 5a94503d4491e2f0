/* whdb.h - the database side of a warehouse mount: libpq connections and
 * statements that can never hang the mount.
 *
 * Connections are pooled (one per statement in progress, a few kept idle).
 * Every statement is sent asynchronously and waited for with poll(), so a
 * server that stops answering costs at most the statement's bound: then
 * the statement is cancelled and its connection cut (shutdown(2)), so what
 * follows on it fails at once and the server rolls back what was open.  A
 * pooled connection the server has closed (a restart) is dropped when it
 * is taken, and a new one made.  Errors come back
 * as one line for users: the server's message, with its detail and the
 * line/column context of a COPY, and never a password.
 */
#ifndef ODOFS_WHDB_H
#define ODOFS_WHDB_H

#include <libpq-fe.h>
#include <stddef.h>

struct whdb_config {
	/* libpq keywords and values, NULL-terminated (PQconnectdbParams). */
	const char *const *keys;
	const char *const *vals;
	unsigned timeout_ms;	  /* catalog statements; silence while streaming */
	unsigned load_timeout_ms; /* a load or export statement as a whole */
};

struct whdb;

struct whdb *whdb_new(const struct whdb_config *cfg);
void whdb_free(struct whdb *db);

/* A connected, idle connection: from the pool or new.  NULL with *err. */
PGconn *whdb_get(struct whdb *db, char **err);
/* Back to the pool if it is idle and healthy, else closed.  NULL is fine. */
void whdb_put(struct whdb *db, PGconn *c);

/* Run one statement ($1.. from params, text) and wait for it: the result
 * (PGRES_COMMAND_OK or PGRES_TUPLES_OK), or NULL with *err.  long_running:
 * the load bound applies instead of the catalog one. */
PGresult *whdb_exec(struct whdb *db, PGconn *c, const char *sql, int nparams,
		    const char *const *params, int long_running, char **err);
/* whdb_exec for statements whose result does not matter: 0 or a negative
 * errno (whdb_errno). */
int whdb_run(struct whdb *db, PGconn *c, const char *sql, int long_running, char **err);

/* COPY ... FROM STDIN: start it (0 or -EIO), send data, end it. */
int whdb_copy_in_start(struct whdb *db, PGconn *c, const char *sql, char **err);
int whdb_copy_in_put(struct whdb *db, PGconn *c, const char *data, size_t len, char **err);
/* errmsg NULL: finish and wait for the server's verdict; else abort with it. */
int whdb_copy_in_end(struct whdb *db, PGconn *c, const char *errmsg, char **err);

/* Streaming a result out: COPY ... TO STDOUT or a SELECT in single-row
 * mode.  The callbacks return 0 to go on or a negative errno to stop: the
 * statement is then cancelled and the connection cut (whdb_abort).  They
 * are also called with no data (data or res NULL) when nothing more has
 * come for now, before waiting for it, and again every WHDB_NUDGE_MS for
 * as long as nothing comes (what they hold may be wanted meanwhile). */
#define WHDB_NUDGE_MS 100
typedef int (*whdb_copy_fn)(void *arg, const char *data, size_t len);
int whdb_copy_out(struct whdb *db, PGconn *c, const char *sql, whdb_copy_fn fn, void *arg,
		  char **err);
/* Called with every row of a SELECT (first with row == NULL: the columns
 * are in res); vals/lens/nulls for each column. */
typedef int (*whdb_row_fn)(void *arg, const PGresult *res, int first);
int whdb_select_rows(struct whdb *db, PGconn *c, const char *sql, whdb_row_fn fn, void *arg,
		     char **err);

/* From any thread: ask the server to cancel what runs on c, and cut the
 * connection so that whatever waits on it returns at once.  c is then
 * good only for PQfinish (whdb_put does that). */
void whdb_abort(PGconn *c);

/* The errno of a failed statement's SQLSTATE: -EACCES for the
 * permission classes (42501 and the rest), -EROFS for a read-only server,
 * else -EIO.  The calls above that return an int return it. */
int whdb_errno(const char *sqlstate);

/* The one-line message of a failed result (malloc'd). */
char *whdb_result_error(const PGresult *res);

#endif
