/* opts.c - see opts.h */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <fuse.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <syslog.h>

#include "log.h"
#include "opts.h"

#define OPT(t, f, v) OPTS_ENTRY(struct opts, t, f, v)

enum {
	KEY_HELP,
	KEY_VERSION,
	KEY_FOREGROUND,
	KEY_DEBUG,
	KEY_IGNORE,
	KEY_RO,
	KEY_PASS,
};

static const struct fuse_opt opts_table[] = {
    OPT("uid=%u", uid, 0),
    OPT("uid=", uid_set, 1),
    OPT("gid=%u", gid, 0),
    OPT("gid=", gid_set, 1),
    OPT("umask=%o", umask, 0),
    OPT("umask=", umask_set, 1),
    OPT("cache_ttl=%s", cache_ttl_arg, 0),
    OPT("timeout=%s", timeout_arg, 0),
    OPT("log_level=%s", log_level_name, 0),
    OPT("cache_dir=%s", cache_dir, 0),
    OPT("spool_max=%s", spool_max_arg, 0),
    OPT("kernel_readahead=%s", kernel_readahead_arg, 0),
    OPT("allow_other", allow_other, 1),
    OPT("default_permissions", default_permissions, 1),
    FUSE_OPT_KEY("allow_other", KEY_PASS),
    FUSE_OPT_KEY("default_permissions", KEY_PASS),
    FUSE_OPT_KEY("ro", KEY_RO),
    FUSE_OPT_KEY("-h", KEY_HELP),
    FUSE_OPT_KEY("--help", KEY_HELP),
    FUSE_OPT_KEY("-V", KEY_VERSION),
    FUSE_OPT_KEY("--version", KEY_VERSION),
    FUSE_OPT_KEY("-f", KEY_FOREGROUND),
    FUSE_OPT_KEY("-d", KEY_DEBUG),
    FUSE_OPT_KEY("debug", KEY_DEBUG),
    /* Words only fstab and mount(8) use. */
    FUSE_OPT_KEY("_netdev", KEY_IGNORE),
    FUSE_OPT_KEY("auto", KEY_IGNORE),
    FUSE_OPT_KEY("noauto", KEY_IGNORE),
    FUSE_OPT_KEY("nofail", KEY_IGNORE),
    FUSE_OPT_KEY("user", KEY_IGNORE),
    FUSE_OPT_KEY("users", KEY_IGNORE),
    FUSE_OPT_KEY("nouser", KEY_IGNORE),
    FUSE_OPT_KEY("defaults", KEY_IGNORE),
    FUSE_OPT_KEY("x-systemd.", KEY_IGNORE),
    FUSE_OPT_KEY("comment=", KEY_IGNORE),
    FUSE_OPT_END,
};

/* Mount options libfuse or the kernel understand; everything else given
 * with -o is refused rather than silently passed on. */
static const char *const opts_fuse_words[] = {
    "rw",
    "dev",
    "nodev",
    "suid",
    "nosuid",
    "exec",
    "noexec",
    "atime",
    "noatime",
    "relatime",
    "norelatime",
    "strictatime",
    "nodiratime",
    "async",
    "sync",
    "dirsync",
    "max_read=",
    "blksize=",
    "fsname=",
    "subtype=",
    "max_idle_threads=",
    "max_threads=",
    "clone_fd",
    "kernel_cache",
    "auto_unmount",
    "noforget",
    "attr_timeout=",
    "entry_timeout=",
    "negative_timeout=",
    NULL,
};

void opts_usage(const char *progname, const struct opts_layer *layers, size_t n_layers)
{
	printf("usage: %s SOURCE MOUNTPOINT [options]\n"
	       "\n"
	       "Sources:\n"
	       "    s3://                      every bucket the credentials can list\n"
	       "    s3://BUCKET[/PREFIX/]      a bucket or a prefix of it\n"
	       "    s3://BUCKET/DIR/PRE*SUF    only keys matching the glob (read-only)\n"
	       "    redshift://USER@HOST[:PORT]/DB[::TABLE]   tables as CSV files (5439)\n"
	       "    postgresql://USER@HOST[:PORT]/DB[::TABLE] the same for PostgreSQL (5432)\n"
	       "\n"
	       "General options:\n"
	       "    -h, --help                 print this help and exit\n"
	       "    -V, --version              print the version and exit\n"
	       "    -f                         stay in the foreground, log to stderr\n"
	       "    -d, -o debug               foreground, log every request\n"
	       "    -s                         single-threaded\n"
	       "\n"
	       "odofs options (-o opt[,opt...]):\n"
	       "    ro                         read-only mount\n"
	       "    uid=N, gid=N               owner of every entry (else stored, else yours)\n"
	       "    umask=OCT                  permissions not stored with an object (022)\n"
	       "    allow_other                let other users see the mount (read-write: implies\n"
	       "                               default_permissions)\n"
	       "    default_permissions        the kernel checks modes and owners\n"
	       "    cache_ttl=SECONDS          metadata cache lifetime (60; 0 disables)\n"
	       "    timeout=SECONDS            bound on one operation, retries included (30)\n"
	       "    cache_dir=DIR              spool folder for in-place changes (/var/tmp/odofs)\n"
	       "    spool_max=SIZE             disk the spool may use (8G)\n"
	       "    kernel_readahead=SIZE      the kernel's read-ahead on the mount, as root (4M;\n"
	       "                               0 leaves the kernel's 128K)\n"
	       "    log_level=LEVEL            error, warning, notice, info, debug (notice)\n",
	       progname);
	for (size_t i = 0; i < n_layers; i++)
		printf("\n%s", layers[i].usage);
	printf("\nSee odofs(8) for credentials, caching and error codes.\n");
}

static int opts_is_fuse_word(const char *arg)
{
	for (const char *const *w = opts_fuse_words; *w; w++) {
		size_t n = strlen(*w);

		if ((*w)[n - 1] == '=' ? strncmp(arg, *w, n) == 0 : strcmp(arg, *w) == 0)
			return 1;
	}
	return 0;
}

static int opts_proc(void *data, const char *arg, int key, struct fuse_args *outargs)
{
	struct opts *o = data;

	switch (key) {
	case FUSE_OPT_KEY_NONOPT:
		if (!o->source_arg) {
			o->source_arg = strdup(arg);
			return 0;
		}
		if (!o->mountpoint) {
			o->mountpoint = strdup(arg);
			return 0;
		}
		fprintf(stderr, "odofs: unexpected argument '%s' (see odofs --help)\n", arg);
		return -1;
	case FUSE_OPT_KEY_OPT:
		if (opts_is_fuse_word(arg))
			return 1;
		/* A layer's word stays for that layer's pass. */
		for (size_t i = 0; i < o->n_layers; i++)
			if (fuse_opt_match(o->layers[i].table, arg))
				return 1;
		if (arg[0] == '-' && arg[1] == 's' && arg[2] == '\0')
			return 1;
		fprintf(stderr, "odofs: unknown option '%s' (see odofs --help)\n", arg);
		return -1;
	case KEY_HELP:
		o->show_help = 1;
		return 0;
	case KEY_VERSION:
		o->show_version = 1;
		return 0;
	case KEY_FOREGROUND:
		o->foreground = 1;
		return 1;
	case KEY_DEBUG:
		o->foreground = 1;
		o->debug = 1;
		return 0;
	case KEY_RO:
		o->read_only = 1;
		return 1;
	case KEY_PASS:
		return 1;
	case KEY_IGNORE:
	default:
		return 0;
	}
}

int opts_parse(struct fuse_args *args, struct opts *o, const struct opts_layer *layers,
	       size_t n_layers)
{
	memset(o, 0, sizeof(*o));
	o->layers = layers;
	o->n_layers = n_layers;
	/* The core's pass sees the command line as the user wrote it, so the
	 * first fault in it is the one reported: it takes SOURCE and
	 * MOUNTPOINT, keeps libfuse's words and the layers' and refuses the
	 * rest.  Then each layer takes its words; with no proc, fuse_opt keeps
	 * every other argument, in order, for the next pass and for libfuse. */
	if (fuse_opt_parse(args, o, opts_table, opts_proc) == -1)
		return -EINVAL;
	for (size_t i = 0; i < n_layers; i++)
		if (fuse_opt_parse(args, layers[i].data, layers[i].table, NULL) == -1)
			return -EINVAL;
	return 0;
}

long long opts_parse_size(const char *s)
{
	static const char *const units[] = {"", "b", "ib"};
	char *end;
	unsigned long long v;
	int shift = 0, unit_ok = 0;

	if (!s || !isdigit((unsigned char)*s))
		return -1;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno)
		return -1;
	switch (tolower((unsigned char)*end)) {
	case '\0':
		/* The same bound as with a unit: a plain count of bytes past it
		 * (up to 2^64 - 1) would come back negative or absurd. */
		return v > 1ULL << 40 ? -1 : (long long)v;
	case 'k':
		shift = 10;
		break;
	case 'm':
		shift = 20;
		break;
	case 'g':
		shift = 30;
		break;
	default:
		return -1;
	}
	/* "64M", "64MB", "64MiB", in any case. */
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++)
		if (!strcasecmp(end + 1, units[i]))
			unit_ok = 1;
	if (!unit_ok || v > (1ULL << 40) >> shift)
		return -1;
	return (long long)(v << shift);
}

/* A whole number of seconds (fractions allowed) within [lo, hi] -> ms. */
int opts_seconds(const char *name, const char *arg, unsigned dflt_ms, double lo, double hi,
		 unsigned *out_ms, char **err)
{
	char *end;
	double v;

	if (!arg) {
		*out_ms = dflt_ms;
		return 0;
	}
	errno = 0;
	v = strtod(arg, &end);
	/* Written so that NaN, which compares false with everything, fails. */
	if (errno || end == arg || *end || !(v >= lo && v <= hi))
		return log_einval(err, "%s=%s: expected a number of seconds from %g to %g", name,
				  arg, lo, hi);
	*out_ms = (unsigned)(v * 1000.0 + 0.5);
	return 0;
}

int opts_count(const char *name, const char *arg, unsigned dflt, unsigned lo, unsigned hi,
	       unsigned *out, char **err)
{
	char *end;
	unsigned long v;

	if (!arg) {
		*out = dflt;
		return 0;
	}
	errno = 0;
	v = strtoul(arg, &end, 10);
	if (errno || end == arg || *end || v < lo || v > hi)
		return log_einval(err, "%s=%s: expected a whole number from %u to %u", name, arg,
				  lo, hi);
	*out = (unsigned)v;
	return 0;
}

int opts_size(const char *name, const char *arg, size_t dflt, size_t lo, size_t *out, char **err)
{
	long long v;

	if (!arg) {
		*out = dflt;
		return 0;
	}
	v = opts_parse_size(arg);
	if (v < 0 || (size_t)v < lo)
		return log_einval(err, "%s=%s: expected a size such as 64M (at least %zuK)", name,
				  arg, lo >> 10);
	*out = (size_t)v;
	return 0;
}

static const struct {
	const char *name;
	int level;
} opts_levels[] = {
    {"error", LOG_ERR}, {"warning", LOG_WARNING}, {"notice", LOG_NOTICE},
    {"info", LOG_INFO}, {"debug", LOG_DEBUG},
};

int opts_resolve(struct opts *o, char **err)
{
	const char *lvl = o->log_level_name;
	int r;

	*err = NULL;
	if (!o->source_arg)
		return log_einval(err, "no source given (e.g. odofs s3://bucket/prefix /mnt/data)");
	if (!o->mountpoint)
		return log_einval(err, "no mount point given (e.g. odofs %s /mnt/data)",
				  o->source_arg);
	r = source_parse(o->source_arg, &o->source, err);
	if (r < 0)
		return r;

	o->log_level = o->debug ? LOG_DEBUG : LOG_NOTICE;
	if (lvl) {
		size_t i;

		for (i = 0; i < sizeof(opts_levels) / sizeof(opts_levels[0]); i++)
			if (!strcmp(lvl, opts_levels[i].name))
				break;
		if (i == sizeof(opts_levels) / sizeof(opts_levels[0]))
			return log_einval(
			    err, "log_level=%s: expected error, warning, notice, info or debug",
			    lvl);
		o->log_level = opts_levels[i].level;
	}

	if ((r = opts_seconds("cache_ttl", o->cache_ttl_arg, 60000, 0, 86400, &o->cache_ttl_ms,
			      err)) ||
	    (r = opts_seconds("timeout", o->timeout_arg, 30000, 1, 3600, &o->timeout_ms, err)) ||
	    (r = opts_size("spool_max", o->spool_max_arg, (size_t)8 << 30, 0, &o->spool_max_bytes,
			   err)) ||
	    (r = opts_size("kernel_readahead", o->kernel_readahead_arg, (size_t)4 << 20, 0,
			   &o->kernel_readahead_bytes, err)))
		return r;
	if (o->cache_dir && o->cache_dir[0] != '/')
		return log_einval(err, "cache_dir=%s: expected an absolute path", o->cache_dir);
	if (!o->cache_dir && !(o->cache_dir = strdup("/var/tmp/odofs")))
		return -ENOMEM;
	if (o->umask_set && o->umask > 0777)
		return log_einval(err, "umask=%o: expected an octal mode up to 0777", o->umask);
	/* fuse_opt's %u takes "-5" as 4294967291; (uid_t)-1 means "no change"
	 * to chown(2), and no real id is that large. */
	if (o->uid_set && o->uid > INT32_MAX)
		return log_einval(err, "uid=%d: expected a user id from 0 to %d", (int)o->uid,
				  INT32_MAX);
	if (o->gid_set && o->gid > INT32_MAX)
		return log_einval(err, "gid=%d: expected a group id from 0 to %d", (int)o->gid,
				  INT32_MAX);
	if (o->source.kind == SOURCE_S3_GLOB)
		o->read_only = 1;
	for (size_t i = 0; i < o->n_layers; i++)
		if ((r = o->layers[i].resolve(o->layers[i].data, o, err)))
			return r;
	return 0;
}

void opts_free(struct opts *o)
{
	for (size_t i = 0; i < o->n_layers; i++)
		o->layers[i].free(o->layers[i].data);
	free(o->source_arg);
	free(o->mountpoint);
	free(o->log_level_name);
	free(o->cache_ttl_arg);
	free(o->timeout_arg);
	free(o->cache_dir);
	free(o->spool_max_arg);
	free(o->kernel_readahead_arg);
	source_free(&o->source);
}
