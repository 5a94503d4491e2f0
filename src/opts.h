/* opts.h - the mount's options, parsed with fuse_opt, then resolved
 * against the environment and checked, so a mount never comes up
 * half-configured.
 *
 * The core owns the words every mount takes (ownership, caching, the spool,
 * logging, fstab's words); each layer above it (the S3 client, the bucket
 * tree, the warehouse) owns a table of its own and hands it over as a
 * struct opts_layer.  opts_parse() runs the core's table first, refusing
 * what neither it nor a layer's table takes, then each layer's in turn. */
#ifndef ODOFS_OPTS_H
#define ODOFS_OPTS_H

#include <stddef.h>
#include <sys/types.h>

#include "source.h"

struct fuse_args;
struct fuse_opt;

struct opts {
	/* from the command line */
	char *source_arg;
	char *mountpoint;
	char *log_level_name;
	char *cache_ttl_arg;
	char *timeout_arg;
	char *cache_dir; /* resolved: /var/tmp/odofs by default */
	char *spool_max_arg;
	char *kernel_readahead_arg;
	int read_only;
	int foreground;
	int debug;
	int show_help;
	int show_version;
	int allow_other;
	int default_permissions;
	unsigned uid, gid, umask;
	int uid_set, gid_set, umask_set;

	/* resolved by opts_resolve() */
	struct source source;
	int log_level;
	unsigned cache_ttl_ms;
	unsigned timeout_ms; /* S3 calls and catalog statements alike */
	size_t spool_max_bytes;
	size_t kernel_readahead_bytes;

	/* the layers given to opts_parse(), resolved and freed with o */
	const struct opts_layer *layers;
	size_t n_layers;
};

/* An entry of an options table: template t sets field f of struct type s
 * to v, or to what the template's format reads ("uid=%u"). */
#define OPTS_ENTRY(s, t, f, v)                                                                     \
	{                                                                                          \
		t, offsetof(s, f), v                                                               \
	}

/* A layer's options: fuse_opt's table with offsets into data, its lines
 * for --help, and how to check and free what was parsed.  Its module fills
 * one with its *_init() function. */
struct opts_layer {
	const struct fuse_opt *table;
	void *data;
	const char *usage; /* a "Title:\n" line, then "    word  text\n" lines */
	/* Called after the core's values are resolved (o->source, o->read_only):
	 * 0, or -EINVAL with *err set to a malloc'd one-line message. */
	int (*resolve)(void *data, const struct opts *o, char **err);
	void (*free)(void *data);
};

/* Parse argv into o and the layers' data (set up by their *_init()),
 * leaving in args only what libfuse itself should see.  The layers array
 * must outlive o.  0, or -EINVAL after printing a one-line message to
 * stderr; opts_free() is due either way. */
int opts_parse(struct fuse_args *args, struct opts *o, const struct opts_layer *layers,
	       size_t n_layers);

/* Resolve defaults and the environment; check every value, the core's
 * first, then each layer's in turn.
 * 0, or -EINVAL with *err set to a malloc'd one-line message. */
int opts_resolve(struct opts *o, char **err);

/* "64M", "1g", "4096" -> bytes; -1 if malformed. */
long long opts_parse_size(const char *s);

/* Checks of one value for the resolve functions of every layer: NULL arg
 * gives the default; out of range is -EINVAL with *err saying the range. */
int opts_seconds(const char *name, const char *arg, unsigned dflt_ms, double lo, double hi,
		 unsigned *out_ms, char **err);
int opts_count(const char *name, const char *arg, unsigned dflt, unsigned lo, unsigned hi,
	       unsigned *out, char **err);
int opts_size(const char *name, const char *arg, size_t dflt, size_t lo, size_t *out, char **err);

void opts_usage(const char *progname, const struct opts_layer *layers, size_t n_layers);
/* Frees what o and its layers' data hold, not the structs themselves. */
void opts_free(struct opts *o);

#endif
