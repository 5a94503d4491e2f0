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
#include <sys/stat.h>
#include <fcntl.h>
#include <unistd.h>

#include "s3/creds.h"
#include "log.h"
#include "opts.h"

#define OPT(t, p, v)                                                                               \
	{                                                                                          \
		t, offsetof(struct opts, p), v                                                     \
	}

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
    OPT("endpoint=%s", endpoint, 0),
    OPT("region=%s", region, 0),
    OPT("path_style", path_style, 1),
    OPT("virtual_style", path_style, 0),
    OPT("profile=%s", profile, 0),
    OPT("anonymous", anonymous, 1),
    OPT("uid=%u", uid, 0),
    OPT("uid=", uid_set, 1),
    OPT("gid=%u", gid, 0),
    OPT("gid=", gid_set, 1),
    OPT("umask=%o", umask, 0),
    OPT("umask=", umask_set, 1),
    OPT("cache_ttl=%s", cache_ttl_arg, 0),
    OPT("timeout=%s", timeout_arg, 0),
    OPT("connect_timeout=%s", connect_timeout_arg, 0),
    OPT("retries=%s", retries_arg, 0),
    OPT("readahead=%s", readahead_arg, 0),
    OPT("readahead_total=%s", readahead_total_arg, 0),
    OPT("connections=%s", connections_arg, 0),
    OPT("log_level=%s", log_level_name, 0),
    OPT("ca_bundle=%s", ca_bundle, 0),
    OPT("no_verify_ssl", no_verify_ssl, 1),
    OPT("cache_dir=%s", cache_dir, 0),
    OPT("spool_max=%s", spool_max_arg, 0),
    OPT("write_buffer=%s", write_buffer_arg, 0),
    OPT("staging=%s", staging_arg, 0),
    OPT("iam_role=%s", iam_role, 0),
    OPT("passfile=%s", passfile, 0),
    OPT("load_timeout=%s", load_timeout_arg, 0),
    OPT("unload", unload, 1),
    OPT("allow_drop", allow_drop, 1),
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

void opts_usage(const char *progname)
{
	printf(
	    "usage: %s SOURCE MOUNTPOINT [options]\n"
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
	    "    endpoint=URL               S3 endpoint (AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL)\n"
	    "    region=NAME                signing region (AWS_REGION, profile, us-east-1)\n"
	    "    path_style                 path-style addressing (auto for IP/localhost)\n"
	    "    profile=NAME               credentials profile (AWS_PROFILE, default)\n"
	    "    anonymous                  send unsigned requests (public buckets)\n"
	    "    ro                         read-only mount\n"
	    "    uid=N, gid=N               owner of every entry (else stored, else yours)\n"
	    "    umask=OCT                  permissions not stored with an object (022)\n"
	    "    allow_other                let other users see the mount (read-write: implies\n"
	    "                               default_permissions)\n"
	    "    default_permissions        the kernel checks modes and owners\n"
	    "    cache_ttl=SECONDS          metadata cache lifetime (60; 0 disables)\n"
	    "    timeout=SECONDS            bound on one operation, retries included (30)\n"
	    "    connect_timeout=SECONDS    TCP+TLS connect timeout (5)\n"
	    "    retries=N                  retries of a failed request (4)\n"
	    "    readahead=SIZE             prefetch window per open file (64M)\n"
	    "    readahead_total=SIZE       prefetch memory for all files (96M)\n"
	    "    connections=N              parallel connections to S3 (16)\n"
	    "    write_buffer=SIZE          memory for uploads in flight, all files (128M)\n"
	    "    cache_dir=DIR              spool folder for in-place changes (/var/tmp/odofs)\n"
	    "    spool_max=SIZE             disk the spool may use (8G)\n"
	    "    ca_bundle=FILE             CA certificates (AWS_CA_BUNDLE)\n"
	    "    no_verify_ssl              do not verify S3 TLS certificates (insecure)\n"
	    "\n"
	    "Database options:\n"
	    "    staging=s3://BUCKET/PREFIX/  where Redshift loads are staged (required)\n"
	    "    iam_role=ARN               Redshift COPY/UNLOAD use IAM_ROLE, not our keys\n"
	    "    unload                     read Redshift tables through UNLOAD to staging\n"
	    "    passfile=FILE              libpq password file (~/.pgpass)\n"
	    "    allow_drop                 rm of a table file or folder drops the table\n"
	    "    load_timeout=SECONDS       bound on one load or export statement (3600)\n"
	    "    log_level=LEVEL            error, warning, notice, info, debug (notice)\n"
	    "\n"
	    "See odofs(8) for credentials, caching and error codes.\n",
	    progname);
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

int opts_parse(struct fuse_args *args, struct opts *o)
{
	memset(o, 0, sizeof(*o));
	o->path_style = -1;
	if (fuse_opt_parse(args, o, opts_table, opts_proc) == -1)
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
static int opts_seconds(const char *name, const char *arg, unsigned dflt_ms, double lo, double hi,
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

static int opts_count(const char *name, const char *arg, unsigned dflt, unsigned lo, unsigned hi,
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

static int opts_size(const char *name, const char *arg, size_t dflt, size_t lo, size_t *out,
		     char **err)
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

/* The endpoint as scheme://host[:port]; path-style by default when the host
 * is an IP address or localhost, since those cannot carry a bucket name. */
static int opts_resolve_endpoint(struct opts *o, char **err)
{
	const char *e = o->endpoint;
	const char *host, *host_end;
	size_t n;

	if (!e || !*e)
		e = getenv("AWS_ENDPOINT_URL_S3");
	if (!e || !*e)
		e = getenv("AWS_ENDPOINT_URL");
	if (!e || !*e) {
		if (asprintf(&o->endpoint_url, "https://s3.%s.amazonaws.com", o->region_name) < 0)
			return -ENOMEM;
		if (o->path_style < 0)
			o->path_style = 0;
		return 0;
	}
	if (strncmp(e, "http://", 7) && strncmp(e, "https://", 8))
		return log_einval(
		    err, "endpoint=%s: expected http://HOST[:PORT] or https://HOST[:PORT]", e);
	host = strstr(e, "://") + 3;
	host_end = host + strcspn(host, "/?#");
	if (host_end == host || (*host_end && strcmp(host_end, "/") != 0))
		return log_einval(err, "endpoint=%s: expected a URL with a host and no path", e);
	n = (size_t)(host_end - e);
	o->endpoint_url = strndup(e, n);
	if (!o->endpoint_url)
		return -ENOMEM;
	if (o->path_style < 0) {
		char hostname[256];
		size_t hn = strcspn(host, ":/");

		if (*host == '[') {
			o->path_style = 1;
		} else {
			snprintf(hostname, sizeof(hostname), "%.*s", (int)hn, host);
			o->path_style = !strcmp(hostname, "localhost") ||
					strspn(hostname, "0123456789.") == strlen(hostname);
		}
	}
	return 0;
}

/* A CA file that cannot be read would fail every request with curl's
 * "problem with the SSL CA cert": say which file, and why, at start. */
static int opts_resolve_ca(struct opts *o, char **err)
{
	const char *env = getenv("AWS_CA_BUNDLE");
	const char *file = o->ca_bundle ? o->ca_bundle : env && *env ? env : NULL;
	const char *name = o->ca_bundle ? "ca_bundle" : "AWS_CA_BUNDLE";
	struct stat st;
	int fd;

	/* A PostgreSQL mount never talks to S3; libpq has sslrootcert=. */
	if (o->source.kind == SOURCE_POSTGRES) {
		if (o->ca_bundle || o->no_verify_ssl)
			return log_einval(err,
					  "-o %s is about S3's TLS; for PostgreSQL give "
					  "?sslmode=verify-full&sslrootcert=FILE in the source URL",
					  o->ca_bundle ? "ca_bundle" : "no_verify_ssl");
		return 0;
	}
	if (!file)
		return 0;
	if (!*file)
		return log_einval(err, "ca_bundle=: expected a file of PEM certificates");
	fd = open(file, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return log_einval(err, "%s=%s: %s", name, file, strerror(errno));
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return log_einval(err, "%s=%s: not a file of PEM certificates", name, file);
	}
	close(fd);
	return 0;
}

/* The options that only database sources take, and the staging prefix. */
static int opts_resolve_db(struct opts *o, char **err)
{
	int redshift = o->source.kind == SOURCE_REDSHIFT;
	const char *only_db = o->passfile ? "passfile" : o->allow_drop ? "allow_drop" : NULL;
	const char *only_rs = o->staging_arg ? "staging"
			      : o->iam_role  ? "iam_role"
			      : o->unload    ? "unload"
					     : NULL;
	int r;

	if (!source_is_db(&o->source) && (only_db || only_rs))
		return log_einval(err,
				  "-o %s is an option of redshift:// and postgresql:// sources",
				  only_db ? only_db : only_rs);
	if (!redshift && only_rs)
		return log_einval(err, "-o %s is an option of redshift:// sources", only_rs);
	if ((r = opts_seconds("load_timeout", o->load_timeout_arg, 3600000, 1, 86400 * 7,
			      &o->load_timeout_ms, err)))
		return r;
	if (o->staging_arg) {
		char *serr = NULL;

		r = source_parse(o->staging_arg, &o->staging, &serr);
		if (r == 0 && o->staging.kind != SOURCE_S3_PREFIX) {
			source_free(&o->staging);
			r = -EINVAL;
		}
		if (r < 0) {
			r = log_einval(err, "staging=%s: expected s3://BUCKET/PREFIX/ (%s)",
				       o->staging_arg, serr ? serr : "not a bucket prefix");
			free(serr);
			return r;
		}
	}
	if (redshift && !o->staging_arg && !o->read_only)
		return log_einval(err, "a redshift:// mount loads through S3: give -o "
				       "staging=s3://BUCKET/PREFIX/ (or mount with -o ro)");
	if (o->iam_role && strncmp(o->iam_role, "arn:", 4))
		return log_einval(err, "iam_role=%s: expected an ARN (arn:aws:iam::...:role/...)",
				  o->iam_role);
	if (o->unload && !o->staging_arg)
		return log_einval(err, "unload needs -o staging=s3://BUCKET/PREFIX/");
	return 0;
}

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
	    (r = opts_seconds("connect_timeout", o->connect_timeout_arg, 5000, 0.1, 300,
			      &o->connect_timeout_ms, err)) ||
	    (r = opts_count("retries", o->retries_arg, 4, 0, 20, &o->retries, err)) ||
	    (r = opts_count("connections", o->connections_arg, 16, 1, 256, &o->connections, err)) ||
	    (r = opts_size("readahead", o->readahead_arg, 64 << 20, 256 << 10, &o->readahead_bytes,
			   err)) ||
	    (r = opts_size("readahead_total", o->readahead_total_arg, 96 << 20, 1 << 20,
			   &o->readahead_total_bytes, err)) ||
	    (r = opts_size("write_buffer", o->write_buffer_arg, 128 << 20, 1 << 20,
			   &o->write_buffer_bytes, err)) ||
	    (r = opts_size("spool_max", o->spool_max_arg, (size_t)8 << 30, 0, &o->spool_max_bytes,
			   err)))
		return r;
	if ((r = opts_resolve_ca(o, err)))
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
	if (o->anonymous && o->profile)
		return log_einval(err,
				  "anonymous and profile=%s conflict: anonymous sends unsigned "
				  "requests and reads no credentials",
				  o->profile);
	if (o->source.kind == SOURCE_S3_GLOB)
		o->read_only = 1;
	if ((r = opts_resolve_db(o, err)))
		return r;

	if (o->region && *o->region) {
		o->region_name = strdup(o->region);
	} else {
		const char *env = getenv("AWS_REGION");

		if (!env || !*env)
			env = getenv("AWS_DEFAULT_REGION");
		if (env && *env)
			o->region_name = strdup(env);
		else
			o->region_name = creds_profile_region(o->profile);
		if (!o->region_name)
			o->region_name = strdup("us-east-1");
	}
	if (!o->region_name)
		return -ENOMEM;
	return opts_resolve_endpoint(o, err);
}

void opts_free(struct opts *o)
{
	free(o->source_arg);
	free(o->mountpoint);
	free(o->endpoint);
	free(o->region);
	free(o->profile);
	free(o->log_level_name);
	free(o->cache_ttl_arg);
	free(o->timeout_arg);
	free(o->connect_timeout_arg);
	free(o->retries_arg);
	free(o->readahead_arg);
	free(o->readahead_total_arg);
	free(o->connections_arg);
	free(o->ca_bundle);
	free(o->cache_dir);
	free(o->spool_max_arg);
	free(o->write_buffer_arg);
	free(o->staging_arg);
	free(o->iam_role);
	free(o->passfile);
	free(o->load_timeout_arg);
	source_free(&o->staging);
	free(o->endpoint_url);
	free(o->region_name);
	source_free(&o->source);
}
