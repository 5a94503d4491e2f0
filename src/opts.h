/* opts.h - the mount's options: one table, parsed with fuse_opt, then
 * resolved against the environment (endpoint, region) and checked, so a
 * mount never comes up half-configured. */
#ifndef ODOFS_OPTS_H
#define ODOFS_OPTS_H

#include <stddef.h>
#include <sys/types.h>

#include "source.h"

struct fuse_args;

struct opts {
	/* from the command line */
	char *source_arg;
	char *mountpoint;
	char *endpoint; /* NULL: AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL, or AWS */
	char *region;	/* NULL: AWS_REGION, AWS_DEFAULT_REGION, profile, us-east-1 */
	char *profile;
	char *log_level_name;
	char *cache_ttl_arg;
	char *timeout_arg;
	char *connect_timeout_arg;
	char *retries_arg;
	char *readahead_arg;
	char *readahead_total_arg;
	char *connections_arg;
	char *ca_bundle;
	char *cache_dir; /* resolved: /var/tmp/odofs by default */
	char *spool_max_arg;
	char *write_buffer_arg;
	char *staging_arg; /* redshift: s3://BUCKET/PREFIX/ for loads */
	char *iam_role;	   /* redshift: COPY with IAM_ROLE instead of our keys */
	char *passfile;	   /* database: libpq's passfile */
	char *load_timeout_arg;
	int unload;	/* redshift: read tables through UNLOAD */
	int allow_drop; /* database: unlink/rmdir of a table drops it */
	int path_style; /* -1: decide from the endpoint */
	int anonymous;
	int read_only;
	int foreground;
	int debug;
	int show_help;
	int show_version;
	int no_verify_ssl; /* S3 TLS certificates not checked (warned at every mount) */
	int allow_other;
	int default_permissions;
	unsigned uid, gid, umask;
	int uid_set, gid_set, umask_set;

	/* resolved by opts_resolve() */
	struct source source;
	struct source staging; /* kind SOURCE_S3_PREFIX when staging= is set */
	unsigned load_timeout_ms;
	int log_level;
	unsigned cache_ttl_ms;
	unsigned timeout_ms;
	unsigned connect_timeout_ms;
	unsigned retries;
	size_t readahead_bytes;
	size_t readahead_total_bytes;
	unsigned connections;
	size_t write_buffer_bytes;
	size_t spool_max_bytes;
	char *endpoint_url; /* scheme://host[:port], no trailing '/' */
	char *region_name;
};

/* Parse argv into o, leaving in args only what libfuse itself should see.
 * 0, or -EINVAL after printing a one-line message to stderr. */
int opts_parse(struct fuse_args *args, struct opts *o);

/* Resolve defaults and the environment; check every value.
 * 0, or -EINVAL with *err set to a malloc'd one-line message. */
int opts_resolve(struct opts *o, char **err);

/* "64M", "1g", "4096" -> bytes; -1 if malformed. */
long long opts_parse_size(const char *s);

void opts_usage(const char *progname);
void opts_free(struct opts *o);

#endif
