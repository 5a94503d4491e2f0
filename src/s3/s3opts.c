/* s3opts.c - see s3opts.h */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <fuse.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "creds.h"
#include "log.h"
#include "s3opts.h"

#define S3OPTS_OPT(t, f, v) OPTS_ENTRY(struct s3opts, t, f, v)

static const struct fuse_opt s3opts_table[] = {
    S3OPTS_OPT("endpoint=%s", endpoint, 0),
    S3OPTS_OPT("region=%s", region, 0),
    S3OPTS_OPT("path_style", path_style, 1),
    S3OPTS_OPT("virtual_style", path_style, 0),
    S3OPTS_OPT("profile=%s", profile, 0),
    S3OPTS_OPT("anonymous", anonymous, 1),
    S3OPTS_OPT("connect_timeout=%s", connect_timeout_arg, 0),
    S3OPTS_OPT("retries=%s", retries_arg, 0),
    S3OPTS_OPT("connections=%s", connections_arg, 0),
    S3OPTS_OPT("write_buffer=%s", write_buffer_arg, 0),
    S3OPTS_OPT("ca_bundle=%s", ca_bundle, 0),
    S3OPTS_OPT("no_verify_ssl", no_verify_ssl, 1),
    FUSE_OPT_END,
};

static const char s3opts_usage[] =
    "S3 options:\n"
    "    endpoint=URL               S3 endpoint (AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL)\n"
    "    region=NAME                signing region (AWS_REGION, profile, us-east-1)\n"
    "    path_style                 path-style addressing (auto for IP/localhost)\n"
    "    virtual_style              virtual-hosted addressing, even for IP/localhost\n"
    "    profile=NAME               credentials profile (AWS_PROFILE, default)\n"
    "    anonymous                  send unsigned requests (public buckets)\n"
    "    connect_timeout=SECONDS    TCP+TLS connect timeout (5)\n"
    "    retries=N                  retries of a failed request (4)\n"
    "    connections=N              parallel connections to S3 (16)\n"
    "    write_buffer=SIZE          memory for uploads in flight, all files (192M)\n"
    "    ca_bundle=FILE             CA certificates (AWS_CA_BUNDLE)\n"
    "    no_verify_ssl              do not verify S3 TLS certificates (insecure)\n";

/* The endpoint as scheme://host[:port]; path-style by default when the host
 * is an IP address or localhost, since those cannot carry a bucket name. */
static int s3opts_resolve_endpoint(struct s3opts *s, char **err)
{
	const char *e = s->endpoint;
	const char *host, *host_end;
	size_t n;

	if (!e || !*e)
		e = getenv("AWS_ENDPOINT_URL_S3");
	if (!e || !*e)
		e = getenv("AWS_ENDPOINT_URL");
	if (!e || !*e) {
		if (asprintf(&s->endpoint_url, "https://s3.%s.amazonaws.com", s->region_name) < 0)
			return -ENOMEM;
		if (s->path_style < 0)
			s->path_style = 0;
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
	s->endpoint_url = strndup(e, n);
	if (!s->endpoint_url)
		return -ENOMEM;
	if (s->path_style < 0) {
		char hostname[256];
		size_t hn = strcspn(host, ":/");

		if (*host == '[') {
			s->path_style = 1;
		} else {
			snprintf(hostname, sizeof(hostname), "%.*s", (int)hn, host);
			s->path_style = !strcmp(hostname, "localhost") ||
					strspn(hostname, "0123456789.") == strlen(hostname);
		}
	}
	return 0;
}

/* A CA file that cannot be read would fail every request with curl's
 * "problem with the SSL CA cert": say which file, and why, at start. */
static int s3opts_resolve_ca(const struct s3opts *s, const struct opts *o, char **err)
{
	const char *env = getenv("AWS_CA_BUNDLE");
	const char *file = s->ca_bundle ? s->ca_bundle : env && *env ? env : NULL;
	const char *name = s->ca_bundle ? "ca_bundle" : "AWS_CA_BUNDLE";
	struct stat st;
	int fd;

	/* A PostgreSQL mount never talks to S3; libpq has sslrootcert=. */
	if (o->source.kind == SOURCE_POSTGRES) {
		if (s->ca_bundle || s->no_verify_ssl)
			return log_einval(err,
					  "-o %s is about S3's TLS; for PostgreSQL give "
					  "?sslmode=verify-full&sslrootcert=FILE in the source URL",
					  s->ca_bundle ? "ca_bundle" : "no_verify_ssl");
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

static int s3opts_resolve(void *data, const struct opts *o, char **err)
{
	struct s3opts *s = data;
	int r;

	if ((r = opts_seconds("connect_timeout", s->connect_timeout_arg, 5000, 0.1, 300,
			      &s->connect_timeout_ms, err)) ||
	    (r = opts_count("retries", s->retries_arg, 4, 0, 20, &s->retries, err)) ||
	    (r = opts_count("connections", s->connections_arg, 16, 1, 256, &s->connections, err)) ||
	    (r = opts_size("write_buffer", s->write_buffer_arg, 192 << 20, 1 << 20,
			   &s->write_buffer_bytes, err)))
		return r;
	if ((r = s3opts_resolve_ca(s, o, err)))
		return r;
	if (s->anonymous && s->profile)
		return log_einval(err,
				  "anonymous and profile=%s conflict: anonymous sends unsigned "
				  "requests and reads no credentials",
				  s->profile);

	if (s->region && *s->region) {
		s->region_name = strdup(s->region);
	} else {
		const char *env = getenv("AWS_REGION");

		if (!env || !*env)
			env = getenv("AWS_DEFAULT_REGION");
		if (env && *env)
			s->region_name = strdup(env);
		else
			s->region_name = creds_profile_region(s->profile);
		if (!s->region_name)
			s->region_name = strdup("us-east-1");
	}
	if (!s->region_name)
		return -ENOMEM;
	return s3opts_resolve_endpoint(s, err);
}

static void s3opts_free(void *data)
{
	struct s3opts *s = data;

	free(s->endpoint);
	free(s->region);
	free(s->profile);
	free(s->connect_timeout_arg);
	free(s->retries_arg);
	free(s->connections_arg);
	free(s->write_buffer_arg);
	free(s->ca_bundle);
	free(s->endpoint_url);
	free(s->region_name);
}

void s3opts_init(struct s3opts *s, struct opts_layer *layer)
{
	memset(s, 0, sizeof(*s));
	s->path_style = -1;
	*layer = (struct opts_layer){
	    .table = s3opts_table,
	    .data = s,
	    .usage = s3opts_usage,
	    .resolve = s3opts_resolve,
	    .free = s3opts_free,
	};
}
