/* log.h - one small logging module with syslog levels.
 *
 * The level is checked before any formatting happens (OpenSSH log.h).
 * Nothing that holds a secret may be passed to these macros: credentials,
 * tokens, passwords and signed headers are never logged at any level.
 */
#ifndef ODOFS_LOG_H
#define ODOFS_LOG_H

#include <syslog.h>

extern int log_level; /* LOG_ERR .. LOG_DEBUG; default LOG_NOTICE */

/* Log to stderr while in the foreground, to syslog once daemonised. */
void log_init(const char *ident, int level);
void log_use_syslog(int on);
void log_msg(int prio, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Format a one-line message for the caller to show (*err, malloc'd, NULL
 * on ENOMEM) and return -EINVAL: the idiom of every input check. */
int log_einval(char **err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define LOG_AT(prio, ...)                                                      \
	do {                                                                   \
		if ((prio) <= log_level)                                       \
			log_msg((prio), __VA_ARGS__);                          \
	} while (0)
#define log_err(...) LOG_AT(LOG_ERR, __VA_ARGS__)
#define log_warn(...) LOG_AT(LOG_WARNING, __VA_ARGS__)
#define log_notice(...) LOG_AT(LOG_NOTICE, __VA_ARGS__)
#define log_info(...) LOG_AT(LOG_INFO, __VA_ARGS__)
#define log_debug(...) LOG_AT(LOG_DEBUG, __VA_ARGS__)

#endif
