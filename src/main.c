/* main.c - odofs: mount S3 as a folder tree.
 *
 * Parse and check every option, reach the source once to prove the
 * credentials work, and only then mount: a mount never comes up
 * half-configured.
 */
#include "config.h"

#include <curl/curl.h>
#include <errno.h>
#include <limits.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <pwd.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "s3/creds.h"
#include "fuseops.h"
#include <fuse_lowlevel.h>
#include "s3/http.h"
#include "log.h"
#include "mdcache.h"
#include "opts.h"
#include "s3/s3.h"
#include "s3/s3opts.h"
#include "s3/s3err.h"
#include "bucket/bucketopts.h"
#include "bucket/datacache.h"
#include "bucket/s3tree.h"
#include "spool.h"
#include "wh/whdb.h"
#include "wh/whopts.h"
#include "wh/whtree.h"

#define MAIN_MAX_THREADS 64

/* A password in the source URL must not stay visible in ps: rewrite our
 * argv in place (the parsed options hold their own copies). */
static void main_hide_password(int argc, char *argv[])
{
	for (int i = 1; i < argc; i++) {
		char *shown;
		size_t n = strlen(argv[i]);

		if (!strstr(argv[i], "://") || !strncmp(argv[i], "s3://", 5))
			continue;
		shown = source_redact(argv[i]);
		if (shown && strlen(shown) < n) {
			memset(argv[i], 0, n);
			memcpy(argv[i], shown, strlen(shown));
		}
		free(shown);
	}
}

/* libpq's keywords for a database source; vals may hold the password,
 * so both arrays are freed with main_db_keys_free(). */
static int main_db_keys(const struct opts *o, const struct whopts *w, const char ***keys,
			const char ***vals)
{
	const struct source_db *d = &o->source.db;
	size_t n = 0, max = 8 + d->nparams;
	const char **k = calloc(max, sizeof(*k)), **v = calloc(max, sizeof(*v));

	if (!k || !v) {
		free(k);
		free(v);
		return -ENOMEM;
	}
#define MAIN_KEY(name, val)                                                                        \
	do {                                                                                       \
		if (val) {                                                                         \
			k[n] = name;                                                               \
			v[n++] = val;                                                              \
		}                                                                                  \
	} while (0)
	MAIN_KEY("host", d->host);
	MAIN_KEY("port", d->port);
	MAIN_KEY("dbname", d->dbname);
	MAIN_KEY("user", d->user);
	MAIN_KEY("password", d->password);
	MAIN_KEY("passfile", w->passfile);
#undef MAIN_KEY
	for (size_t i = 0; i < d->nparams; i++) {
		k[n] = d->param_keys[i];
		v[n++] = d->param_vals[i];
	}
	*keys = k;
	*vals = v;
	return 0;
}

/* libpq reads ~/.pgpass (or PGPASSFILE, or passfile=) only when no
 * password was given, and ignores it, with a warning on a stderr that a
 * daemon's user never sees, when group or others can read it.  Say so in
 * our log, with the fix, so a refused password has an explanation. */
static void main_check_passfile(const struct opts *o, const struct whopts *w)
{
	const struct source_db *d = &o->source.db;
	const char *file = w->passfile, *env = getenv("PGPASSFILE");
	const char *pw = getenv("PGPASSWORD");
	char *path = NULL;
	struct stat st;

	if (d->password && *d->password)
		return;
	for (size_t i = 0; i < d->nparams; i++) {
		if (!strcmp(d->param_keys[i], "password") && *d->param_vals[i])
			return;
		if (!strcmp(d->param_keys[i], "passfile"))
			file = d->param_vals[i]; /* libpq takes the last value */
	}
	if (pw && *pw)
		return;
	if (!file && env && *env)
		file = env;
	if (!file) {
		const char *home = getenv("HOME");
		struct passwd *pwd;

		if (!home || !*home) {
			pwd = getpwuid(geteuid());
			home = pwd ? pwd->pw_dir : NULL;
		}
		if (!home || asprintf(&path, "%s/.pgpass", home) < 0)
			return;
		file = path;
	}
	if (stat(file, &st) == 0 && S_ISREG(st.st_mode) && (st.st_mode & (S_IRWXG | S_IRWXO)))
		log_warn("password file %s is accessible by group or others (mode %04o), so libpq "
			 "ignores it and its passwords are not used; run 'chmod 600 %s'",
			 file, (unsigned)(st.st_mode & 07777), file);
	free(path);
}

/* Warnings about how the mount was asked for, logged before it comes up
 * and, once daemonised, again to syslog where an administrator looks. */
static void main_warn_setup(const struct opts *o, const struct s3opts *so,
			    int implied_default_permissions)
{
	if (so->no_verify_ssl && o->source.kind != SOURCE_POSTGRES)
		log_warn("no_verify_ssl: TLS certificates of %s are not verified; anyone on the "
			 "network path can pose as the server, read and change the data, and "
			 "capture session tokens",
			 so->endpoint_url);
	if (o->allow_other && !o->default_permissions && !implied_default_permissions)
		log_warn("allow_other without default_permissions: every local user can read "
			 "everything this mount's credentials can read; add -o "
			 "default_permissions (with uid=, gid=, umask=) to apply the files' modes");
	if (implied_default_permissions)
		log_notice("allow_other on a read-write mount: default_permissions turned on, so "
			   "other users get what the files' modes allow them (uid=, gid=, umask=)");
}

static int main_fail(const char *what, const char *msg)
{
	fprintf(stderr, "odofs: %s%s%s\n", what ? what : "", what ? ": " : "", msg);
	return 1;
}

int main(int argc, char *argv[])
{
	struct fuse_args args = FUSE_ARGS_INIT(argc, argv);
	struct fuse_cmdline_opts cmd = {0};
	struct fuse_loop_config *loop = NULL;
	struct opts o;
	struct s3opts so;
	struct bucketopts bo;
	struct whopts wo;
	struct opts_layer layers[3];
	const size_t n_layers = sizeof(layers) / sizeof(layers[0]);
	struct creds_provider *creds = NULL;
	struct s3 *s3 = NULL;
	struct spool *spool = NULL;
	struct datacache *datacache = NULL;
	struct whdb *db = NULL;
	const char **db_keys = NULL, **db_vals = NULL;
	struct fuseops_ctx ctx = {0};
	char *mount_path = NULL;
	struct fuse *fuse = NULL;
	char *err = NULL, *fsname_esc = NULL;
	int implied_default_permissions = 0;
	int status = 1, r;

	/* The S3 client's words, the bucket tree's, the warehouse's: each
	 * layer owns its table, and --help lists them in this order. */
	s3opts_init(&so, &layers[0]);
	bucketopts_init(&bo, &layers[1]);
	whopts_init(&wo, &layers[2]);
	if (opts_parse(&args, &o, layers, n_layers) < 0)
		goto out;
	main_hide_password(argc, argv);
	if (o.show_help) {
		opts_usage(argv[0], layers, n_layers);
		status = 0;
		goto out;
	}
	if (o.show_version) {
		printf("odofs %s (libfuse %d, %s)\n", PACKAGE_VERSION, fuse_version(),
		       curl_version());
		status = 0;
		goto out;
	}
	if (opts_resolve(&o, &err) < 0) {
		main_fail(NULL, err ? err : "out of memory");
		goto out;
	}
	log_init("odofs", o.log_level);
	/* Without default_permissions odofs checks no permission: with
	 * allow_other any local user could then change and remove what the
	 * mount's credentials can.  Read-only mounts are shared on purpose
	 * (the fstab example) and only get a warning. */
	if (o.allow_other && !o.default_permissions && !o.read_only)
		implied_default_permissions = 1;
	main_warn_setup(&o, &so, implied_default_permissions);
	if (source_is_db(&o.source))
		main_check_passfile(&o, &wo);
	{
		/* From here on the source is shown (mount table, log) without
		 * its password; the parsed source keeps it. */
		char *shown = source_redact(o.source_arg);

		if (!shown) {
			main_fail(NULL, "out of memory");
			goto out;
		}
		explicit_bzero(o.source_arg, strlen(o.source_arg));
		free(o.source_arg);
		o.source_arg = shown;
	}

	/* libfuse mallocs a buffer for every read (up to max_read, 1 MiB)
	 * and frees it after the reply: from mmap, each would cost a page
	 * fault and a zeroed page per 4 KiB, a sixth of the daemon's CPU
	 * time in a sequential read.  So blocks up to 2 MiB come from the heap
	 * and stay there (trimmed past 2 MiB), in two arenas rather than one a
	 * thread, which keeps what the heap holds to a few MiB.  The big
	 * buffers (prefetch chunks, upload parts) stay on mmap: their owners
	 * keep bounded free lists. */
	mallopt(M_MMAP_THRESHOLD, 2 * 1024 * 1024);
	mallopt(M_TRIM_THRESHOLD, 2 * 1024 * 1024);
	mallopt(M_ARENA_MAX, 2);

	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		main_fail(NULL, "cannot initialise libcurl");
		goto out;
	}
	/* A PostgreSQL mount never talks to S3. */
	if (o.source.kind != SOURCE_POSTGRES) {
		creds = creds_new(so.profile, so.anonymous, &err);
		if (!creds) {
			main_fail(NULL, err ? err : "cannot set up credentials");
			goto out;
		}
		{
			struct s3_config sc = {
			    .endpoint_url = so.endpoint_url,
			    .region = so.region_name,
			    .path_style = so.path_style,
			    .timeout_ms = o.timeout_ms,
			    .connect_timeout_ms = so.connect_timeout_ms,
			    .retries = so.retries,
			    .ca_bundle = so.ca_bundle,
			    .no_verify_ssl = so.no_verify_ssl,
			    .creds = creds,
			};

			s3 = s3_new(&sc);
		}
		if (!s3) {
			main_fail(NULL, "out of memory");
			goto out;
		}
	}
	r = s3 && !source_is_db(&o.source) ? s3tree_probe(s3, &o.source) : 0;
	if (r == 0 && s3 && wo.staging.kind == SOURCE_S3_PREFIX && !o.read_only) {
		r = s3tree_probe(s3, &wo.staging);
		if (r < 0)
			fprintf(stderr, "odofs: staging=%s: cannot list it\n", wo.staging_arg);
	}
	if (r < 0) {
		const char *hint = s3err_hint(r);
		struct http_config hc = {so.connect_timeout_ms, so.ca_bundle, so.no_verify_ssl};
		char msg[1024], why[512];

		if (r == -EIO && http_tls_refused(&hc, so.endpoint_url, why, sizeof(why)))
			snprintf(
			    msg, sizeof(msg),
			    "cannot mount: the TLS certificate of %s is not trusted (%s); give "
			    "the CA that signed it with -o ca_bundle=FILE or AWS_CA_BUNDLE=FILE",
			    so.endpoint_url, why);
		else
			snprintf(msg, sizeof(msg), "cannot mount: %s%s%s",
				 r == -EACCES ? "access denied" : strerror(-r), hint ? "; " : "",
				 hint ? hint : "");
		main_fail(o.source_arg, msg);
		goto out;
	}

	if (!o.read_only || source_is_db(&o.source)) {
		spool = spool_new(o.cache_dir, (off_t)o.spool_max_bytes, &err);
		if (!spool) {
			main_fail(NULL, err ? err : "out of memory");
			goto out;
		}
	}
	if (bo.data_cache_dir) {
		if (source_is_db(&o.source)) {
			main_fail(NULL, "data_cache is for s3:// sources; tables keep their "
					"snapshots in cache_dir");
			goto out;
		}
		datacache = datacache_new(bo.data_cache_dir, bo.data_cache_max_bytes, &err);
		if (!datacache) {
			main_fail(NULL, err ? err : "out of memory");
			goto out;
		}
	}
	if (source_is_db(&o.source)) {
		if (main_db_keys(&o, &wo, &db_keys, &db_vals) < 0) {
			main_fail(NULL, "out of memory");
			goto out;
		}
		struct whdb_config dc = {
		    .keys = db_keys,
		    .vals = db_vals,
		    .timeout_ms = o.timeout_ms,
		    .load_timeout_ms = wo.load_timeout_ms,
		};

		db = whdb_new(&dc);
		if (!db) {
			main_fail(NULL, "out of memory");
			goto out;
		}
		if (whtree_probe(db, o.source.db.schema, o.source.db.table, &err) < 0) {
			main_fail(o.source_arg, err ? err : "cannot reach the database");
			goto out;
		}
		struct whtree_config wc = {
		    .db = db,
		    .redshift = o.source.kind == SOURCE_REDSHIFT,
		    .schema = o.source.db.schema,
		    .table = o.source.db.table,
		    .uid = o.uid_set ? o.uid : getuid(),
		    .gid = o.gid_set ? o.gid : getgid(),
		    .umask = o.umask_set ? o.umask : 022,
		    .read_only = o.read_only,
		    .allow_drop = wo.allow_drop,
		    .ttl_ms = o.cache_ttl_ms,
		    .spool = spool,
		    .s3 = s3,
		    .creds = creds,
		    .staging_bucket = wo.staging.bucket,
		    .staging_prefix = wo.staging.prefix,
		    .region = so.region_name,
		    .iam_role = wo.iam_role,
		    .load_parts = wo.load_parts,
		    .unload = wo.unload,
		    .prefetch =
			{
			    .window_max_bytes = bo.readahead_bytes,
			    .total_max_bytes = bo.readahead_total_bytes,
			    .random_min_bytes = 128 * 1024,
			},
		    .workers = so.connections,
		    .write_buffer = so.write_buffer_bytes,
		};

		if (whtree_new(&wc, &ctx.backend) < 0) {
			main_fail(NULL, "out of memory");
			goto out;
		}
		ctx.live_attrs = 1;
	} else {
		struct s3tree_config tc = {
		    .s3 = s3,
		    .src = &o.source,
		    .uid = o.uid_set ? o.uid : getuid(),
		    .gid = o.gid_set ? o.gid : getgid(),
		    .uid_forced = o.uid_set,
		    .gid_forced = o.gid_set,
		    .umask = o.umask_set ? o.umask : 022,
		    .read_only = o.read_only,
		    .workers = so.connections,
		    .write_buffer = so.write_buffer_bytes,
		    .spool = spool,
		    .datacache = datacache,
		    .prefetch =
			{
			    .window_max_bytes = bo.readahead_bytes,
			    .total_max_bytes = bo.readahead_total_bytes,
			    .random_min_bytes = 128 * 1024,
			},
		};

		if (s3tree_new(&tc, &ctx.backend) < 0 ||
		    mdcache_wrap(&ctx.backend, o.cache_ttl_ms) < 0) {
			main_fail(NULL, "out of memory");
			goto out;
		}
		ctx.keep_unlinked = 1;
	}
	ctx.ttl_ms = o.cache_ttl_ms;
	/* mountinfo shows the mount under its canonical path. */
	if (o.kernel_readahead_bytes && (mount_path = realpath(o.mountpoint, NULL))) {
		ctx.mountpoint = mount_path;
		ctx.kernel_readahead = o.kernel_readahead_bytes;
	}

	/* What libfuse and the kernel see: the source as the device name,
	 * "fuse.odofs" as the type, and "ro" when nothing may change. */
	if (fuse_opt_add_arg(&args, "-o") < 0 ||
	    fuse_opt_add_arg(&args, o.read_only ? "subtype=odofs,ro" : "subtype=odofs") < 0 ||
	    fuse_opt_add_arg(&args, "-o") < 0 ||
	    fuse_opt_add_opt_escaped(&fsname_esc, o.source_arg) < 0) {
		main_fail(NULL, "out of memory");
		goto out;
	}
	{
		char *fsname;

		if (asprintf(&fsname, "fsname=%s", fsname_esc) < 0 ||
		    fuse_opt_add_arg(&args, fsname) < 0) {
			main_fail(NULL, "out of memory");
			goto out;
		}
		free(fsname);
	}
	if (implied_default_permissions && fuse_opt_add_arg(&args, "-odefault_permissions") < 0) {
		main_fail(NULL, "out of memory");
		goto out;
	}
	if (fuse_parse_cmdline(&args, &cmd) != 0)
		goto out;

	fuse = fuse_new(&args, fuseops_get(), sizeof(struct fuse_operations), &ctx);
	if (!fuse)
		goto out;
	if (fuse_mount(fuse, o.mountpoint) != 0) {
		fuse_destroy(fuse);
		fuse = NULL;
		goto out;
	}
	if (fuse_daemonize(o.foreground) != 0)
		goto unmount;
	if (!o.foreground) {
		log_use_syslog(1);
		main_warn_setup(&o, &so, implied_default_permissions);
	}
	if (ctx.backend.ops->start && ctx.backend.ops->start(ctx.backend.ctx) < 0) {
		log_err("cannot start worker threads");
		goto unmount;
	}
	if (fuse_set_signal_handlers(fuse_get_session(fuse)) != 0)
		goto unmount;
	log_info("mounted %s on %s (%s, region %s)", o.source_arg, o.mountpoint, so.endpoint_url,
		 so.region_name);

	if (cmd.singlethread) {
		r = fuse_loop(fuse);
	} else {
		loop = fuse_loop_cfg_create();
		if (!loop)
			goto unmount;
		fuse_loop_cfg_set_clone_fd(loop, 0);
		/* Keep idle threads: libfuse otherwise ends a thread as soon as
		 * a few are idle and starts a new one (with a fresh 1 MiB
		 * buffer) for the next request, thousands of times per GiB
		 * read while reads wait on S3. */
		fuse_loop_cfg_set_idle_threads(loop, cmd.max_idle_threads != UINT_MAX
							 ? cmd.max_idle_threads
							 : MAIN_MAX_THREADS);
		/* Each FUSE thread may wait on S3, so allow enough of them
		 * that lookups of many files proceed in parallel. */
		fuse_loop_cfg_set_max_threads(loop, cmd.max_threads > 0 && cmd.max_threads < 100000
							? (unsigned)cmd.max_threads
							: MAIN_MAX_THREADS);
		r = fuse_loop_mt(fuse, loop);
	}
	status = r == 0 ? 0 : 1;
	fuse_remove_signal_handlers(fuse_get_session(fuse));
unmount:
	fuse_unmount(fuse);
	fuse_destroy(fuse);
	fuse = NULL;
out:
	if (loop)
		fuse_loop_cfg_destroy(loop);
	if (ctx.backend.ops)
		ctx.backend.ops->destroy(ctx.backend.ctx);
	whdb_free(db);
	free(db_keys);
	free(db_vals);
	s3_free(s3);
	spool_free(spool);
	datacache_free(datacache);
	creds_free(creds);
	curl_global_cleanup();
	free(cmd.mountpoint);
	free(mount_path);
	free(err);
	free(fsname_esc);
	opts_free(&o);
	fuse_opt_free_args(&args);
	return status;
}
