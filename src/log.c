/* log.c - see log.h */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "log.h"

int log_level = LOG_NOTICE;
static int log_syslog;
static const char *log_ident = "odofs";

void log_init(const char *ident, int level)
{
	log_ident = ident;
	log_level = level;
}

void log_use_syslog(int on)
{
	if (on && !log_syslog)
		openlog(log_ident, LOG_PID, LOG_DAEMON);
	log_syslog = on;
}

static const char *log_prio_name(int prio)
{
	switch (prio) {
	case LOG_EMERG:
	case LOG_ALERT:
	case LOG_CRIT:
	case LOG_ERR:
		return "error";
	case LOG_WARNING:
		return "warning";
	case LOG_NOTICE:
		return "notice";
	case LOG_INFO:
		return "info";
	default:
		return "debug";
	}
}

void log_msg(int prio, const char *fmt, ...)
{
	va_list ap;
	char line[2048];

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);

	if (log_syslog) {
		syslog(prio, "%s", line);
		return;
	}
	/* One write per line so concurrent threads do not interleave. */
	flockfile(stderr);
	fprintf(stderr, "%s: %s: %s\n", log_ident, log_prio_name(prio), line);
	funlockfile(stderr);
}

int log_einval(char **err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	if (vasprintf(err, fmt, ap) < 0)
		*err = NULL;
	va_end(ap);
	return -EINVAL;
}
