/* test_creds.c - the credential chain: which source wins, the messages for
 * misconfigurations, and, against a local stand-in server
 * (tests/integration/imds_server.py on 127.0.0.1), container and instance
 * metadata credentials with their refresh.
 *
 * HOME points at a temporary directory so the developer's own files never
 * count; instance metadata is disabled except where a case points it at the
 * local server.  Nothing here contacts anything but 127.0.0.1. */
#include "config.h"

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#include "buf.h"
#include "s3/creds.h"
#include "log.h"
#include "unit.h"

#define PYTHON "/usr/bin/python3"

static char tmp[256];
static char *logtext; /* what the last captured call logged */
static int saved_stderr = -1;

/* ---------------------------------------------------------------------- */
/* fixtures */

static void path_in_tmp(char *out, size_t size, const char *rel)
{
	snprintf(out, size, "%s/%s", tmp, rel);
}

static void write_file(const char *rel, const char *text, mode_t mode)
{
	char path[512];
	int fd;

	path_in_tmp(path, sizeof(path), rel);
	unlink(path);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);
	CHECK(fd >= 0);
	if (fd < 0)
		return;
	CHECK(write(fd, text, strlen(text)) == (ssize_t)strlen(text));
	fchmod(fd, mode); /* past the umask */
	close(fd);
}

static void remove_file(const char *rel)
{
	char path[512];

	path_in_tmp(path, sizeof(path), rel);
	unlink(path);
}

/* A clean slate: no AWS variable set but HOME, and no instance metadata. */
static void env_reset(void)
{
	static const char *const vars[] = {
	    "AWS_ACCESS_KEY_ID",
	    "AWS_SECRET_ACCESS_KEY",
	    "AWS_SESSION_TOKEN",
	    "AWS_SECURITY_TOKEN",
	    "AWS_PROFILE",
	    "AWS_SHARED_CREDENTIALS_FILE",
	    "AWS_CONFIG_FILE",
	    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
	    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
	    "AWS_CONTAINER_AUTHORIZATION_TOKEN",
	    "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",
	    "AWS_EC2_METADATA_SERVICE_ENDPOINT",
	    "AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE",
	};
	char path[512];

	for (size_t i = 0; i < sizeof(vars) / sizeof(vars[0]); i++)
		unsetenv(vars[i]);
	setenv("HOME", tmp, 1);
	setenv("AWS_EC2_METADATA_DISABLED", "true", 1);
	/* Only this file, which does not exist: /etc/boto.cfg stays out. */
	path_in_tmp(path, sizeof(path), "no-boto.cfg");
	setenv("BOTO_CONFIG", path, 1);
	remove_file(".aws/credentials");
	remove_file(".aws/config");
	remove_file("boto.cfg");
	remove_file("other-credentials");
	remove_file("token");
}

static void capture_start(void)
{
	char path[512];
	int fd;

	path_in_tmp(path, sizeof(path), "log");
	fflush(stderr);
	saved_stderr = dup(2);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	dup2(fd, 2);
	close(fd);
}

static void capture_end(void)
{
	char path[512], chunk[4096];
	struct buf b;
	ssize_t n;
	int fd;

	fflush(stderr);
	dup2(saved_stderr, 2);
	close(saved_stderr);
	path_in_tmp(path, sizeof(path), "log");
	buf_init(&b, 1 << 20);
	buf_append(&b, "", 0);
	fd = open(path, O_RDONLY);
	while (fd >= 0 && (n = read(fd, chunk, sizeof(chunk))) > 0)
		buf_append(&b, chunk, (size_t)n);
	if (fd >= 0)
		close(fd);
	free(logtext);
	logtext = buf_steal(&b);
}

static int count_in(const char *hay, const char *needle)
{
	int n = 0;

	for (const char *p = hay; (p = strstr(p, needle)); p += strlen(needle))
		n++;
	return n;
}

/* Whatever happens, no secret reaches the log.  The test secrets all
 * contain "secret" or "token-"; the messages never do. */
static void check_log_clean(void)
{
	CHECK(!strstr(logtext, "SECRET"));
	CHECK(!strstr(logtext, "secret-"));
	CHECK(!strstr(logtext, "token-"));
	CHECK(!strstr(logtext, "TOKEN-"));
	CHECK(!strstr(logtext, "Bearer"));
}

/* creds_new then creds_get, logging captured.  NULL when creds_new fails. */
static struct creds_provider *load(const char *profile, int anonymous, struct creds *c, char **err)
{
	struct creds_provider *p;

	*err = NULL;
	memset(c, 0, sizeof(*c));
	capture_start();
	p = creds_new(profile, anonymous, err);
	if (p)
		CHECK(creds_get(p, c) == 0);
	capture_end();
	check_log_clean();
	return p;
}

/* creds_new alone, logging captured: a provider whose first creds_get is
 * still to come. */
static struct creds_provider *create(void)
{
	struct creds_provider *p;
	char *err = NULL;

	capture_start();
	p = creds_new(NULL, 0, &err);
	capture_end();
	check_log_clean();
	if (!p)
		fprintf(stderr, "  creds_new: %s\n", err ? err : "(no message)");
	free(err);
	CHECK(p != NULL);
	return p;
}

/* The key id of the server's latest response: each one is numbered. */
static int server_count(const char *name);
static void latest_key(const char *prefix, char *key, size_t size)
{
	snprintf(key, size, "%s%04d", prefix, server_count("creds") + server_count("container"));
}

/* The keys a source gives, or a failure with its message. */
static void expect_keys(const char *profile, const char *id, const char *secret, const char *token,
			const char *source)
{
	struct creds c;
	char *err;
	struct creds_provider *p = load(profile, 0, &c, &err);

	CHECK(p != NULL);
	if (!p) {
		fprintf(stderr, "  creds_new: %s\n", err ? err : "(no message)");
		free(err);
		return;
	}
	CHECK_STR(c.access_key_id, id);
	CHECK_STR(c.secret_access_key, secret);
	if (token)
		CHECK_STR(c.session_token, token);
	else
		CHECK(c.session_token == NULL);
	CHECK(c.expiration == 0);
	CHECK_STR(c.source, source);
	creds_clear(&c);
	creds_free(p);
}

static void expect_error(const char *profile, const char *in_message)
{
	struct creds c;
	char *err;
	struct creds_provider *p = load(profile, 0, &c, &err);

	CHECK(p == NULL);
	CHECK(err != NULL);
	if (err && !strstr(err, in_message)) {
		fprintf(stderr, "  message '%s' lacks '%s'\n", err, in_message);
		CHECK(strstr(err, in_message) != NULL);
	}
	CHECK(!err || !strchr(err, '\n'));
	free(err);
	creds_clear(&c);
	creds_free(p);
}

static void expect_anonymous(const char *profile, int anonymous)
{
	struct creds c;
	char *err;
	struct creds_provider *p = load(profile, anonymous, &c, &err);

	CHECK(p != NULL);
	if (!p) {
		fprintf(stderr, "  creds_new: %s\n", err ? err : "(no message)");
		free(err);
		return;
	}
	CHECK(c.access_key_id == NULL);
	CHECK(c.secret_access_key == NULL);
	CHECK(c.session_token == NULL);
	creds_clear(&c);
	creds_free(p);
}

/* ---------------------------------------------------------------------- */
/* files and environment */

static void test_env(void)
{
	env_reset();
	write_file(".aws/credentials",
		   "[default]\naws_access_key_id = AKIAFILE\naws_secret_access_key = SECRETFILE\n",
		   0600);
	setenv("AWS_ACCESS_KEY_ID", "AKIAENV", 1);
	setenv("AWS_SECRET_ACCESS_KEY", "SECRETENV", 1);
	expect_keys(NULL, "AKIAENV", "SECRETENV", NULL, "environment");
	setenv("AWS_SESSION_TOKEN", "TOKEN-ENV", 1);
	expect_keys(NULL, "AKIAENV", "SECRETENV", "TOKEN-ENV", "environment");
	/* AWS_PROFILE names a profile, but keys in the environment still win. */
	setenv("AWS_PROFILE", "default", 1);
	expect_keys(NULL, "AKIAENV", "SECRETENV", "TOKEN-ENV", "environment");

	/* Half set: an error naming the missing one. */
	env_reset();
	setenv("AWS_ACCESS_KEY_ID", "AKIAENV", 1);
	expect_error(NULL, "AWS_SECRET_ACCESS_KEY");
	env_reset();
	setenv("AWS_SECRET_ACCESS_KEY", "SECRETENV", 1);
	expect_error(NULL, "AWS_ACCESS_KEY_ID");
	/* Empty counts as unset. */
	env_reset();
	setenv("AWS_ACCESS_KEY_ID", "", 1);
	setenv("AWS_SECRET_ACCESS_KEY", "", 1);
	expect_anonymous(NULL, 0);
}

static void test_profiles(void)
{
	static const char credentials[] =
	    "# comment\n"
	    "; another\n"
	    "[default]\n"
	    "aws_access_key_id=AKIADEFAULT\n"
	    "aws_secret_access_key=SECRETDEFAULT\n"
	    "\n"
	    "  [ prod ]  \n"
	    "  AWS_Access_Key_Id   =   AKIAPROD  \r\n"
	    "\taws_secret_access_key\t=\tSECRETPROD # inline comment\r\n"
	    "aws_session_token = TOKEN-PROD\n"
	    "region = eu-west-3\n"
	    "[prod-other]\n"
	    "aws_access_key_id = AKIAWRONG\n";

	env_reset();
	write_file(".aws/credentials", credentials, 0600);
	expect_keys(NULL, "AKIADEFAULT", "SECRETDEFAULT", NULL,
		    "profile 'default' in ~/.aws/credentials");
	expect_keys("prod", "AKIAPROD", "SECRETPROD", "TOKEN-PROD",
		    "profile 'prod' in ~/.aws/credentials");
	setenv("AWS_PROFILE", "prod", 1);
	expect_keys(NULL, "AKIAPROD", "SECRETPROD", "TOKEN-PROD",
		    "profile 'prod' in ~/.aws/credentials");
	/* The argument beats AWS_PROFILE. */
	expect_keys("default", "AKIADEFAULT", "SECRETDEFAULT", NULL,
		    "profile 'default' in ~/.aws/credentials");
	/* A profile given as argument beats keys in the environment (botocore). */
	setenv("AWS_ACCESS_KEY_ID", "AKIAENV", 1);
	setenv("AWS_SECRET_ACCESS_KEY", "SECRETENV", 1);
	expect_keys("prod", "AKIAPROD", "SECRETPROD", "TOKEN-PROD",
		    "profile 'prod' in ~/.aws/credentials");

	/* A named profile that exists nowhere is an error naming it, from the
	 * argument and from AWS_PROFILE; a missing default is not. */
	env_reset();
	write_file(".aws/credentials", credentials, 0600);
	expect_error("nope", "profile 'nope' not found in ~/.aws/credentials or ~/.aws/config");
	setenv("AWS_PROFILE", "nope2", 1);
	expect_error(NULL, "'nope2'");
	env_reset();
	expect_error("nope", "'nope'");
	expect_anonymous(NULL, 0);

	/* Half a key pair in a profile. */
	env_reset();
	write_file(".aws/credentials", "[half]\naws_access_key_id = AKIAHALF\n", 0600);
	expect_error("half", "has aws_access_key_id but no aws_secret_access_key");

	/* Ways of getting credentials odofs does not implement are refused
	 * rather than silently replaced by another identity. */
	env_reset();
	write_file(".aws/config",
		   "[profile role]\nrole_arn = arn:aws:iam::1:role/x\nsource_profile = default\n",
		   0600);
	expect_error("role", "uses role_arn");
}

static void test_config_file(void)
{
	env_reset();
	write_file(".aws/config",
		   "[default]\n"
		   "region = us-west-2\n"
		   "s3 =\n"
		   "    region = nested-not-this\n"
		   "    addressing_style = path\n"
		   "\n"
		   "[profile   cfg]\n"
		   "region=eu-west-1\n"
		   "aws_access_key_id = AKIACFG\n"
		   "aws_secret_access_key = SECRETCFG\n"
		   "[cfg]\n"
		   "aws_access_key_id = AKIANOTAPROFILE\n",
		   0600);
	expect_keys("cfg", "AKIACFG", "SECRETCFG", NULL, "profile 'cfg' in ~/.aws/config");
	/* [default] with a region only: found, no keys, on to the rest of the chain. */
	expect_anonymous(NULL, 0);

	/* Regions. */
	char *region = creds_profile_region("cfg");
	CHECK_STR(region, "eu-west-1");
	free(region);
	region = creds_profile_region(NULL);
	CHECK_STR(region, "us-west-2");
	free(region);
	setenv("AWS_PROFILE", "cfg", 1);
	region = creds_profile_region(NULL);
	CHECK_STR(region, "eu-west-1");
	free(region);
	CHECK(creds_profile_region("missing") == NULL);
	unsetenv("AWS_PROFILE");

	/* The credentials file beats the config file. */
	write_file(".aws/credentials",
		   "[cfg]\naws_access_key_id = AKIACRED\naws_secret_access_key = SECRETCRED\n",
		   0600);
	expect_keys("cfg", "AKIACRED", "SECRETCRED", NULL, "profile 'cfg' in ~/.aws/credentials");

	/* [profile default] counts as the default in the config file. */
	env_reset();
	write_file(
	    ".aws/config",
	    "[profile default]\naws_access_key_id = AKIAPD\naws_secret_access_key = SECRETPD\n",
	    0600);
	expect_keys(NULL, "AKIAPD", "SECRETPD", NULL, "profile 'default' in ~/.aws/config");

	/* The files the environment names instead; a region from there too. */
	env_reset();
	char path[512];
	write_file("other-credentials",
		   "[x]\naws_access_key_id = AKIAOTHER\naws_secret_access_key = SECRETOTHER\n",
		   0600);
	write_file("boto.cfg", "[profile x]\nregion = ap-south-1\n", 0600);
	path_in_tmp(path, sizeof(path), "other-credentials");
	setenv("AWS_SHARED_CREDENTIALS_FILE", path, 1);
	path_in_tmp(path, sizeof(path), "boto.cfg");
	setenv("AWS_CONFIG_FILE", path, 1);
	expect_keys("x", "AKIAOTHER", "SECRETOTHER", NULL, "profile 'x' in ~/other-credentials");
	region = creds_profile_region("x");
	CHECK_STR(region, "ap-south-1");
	free(region);
	setenv("AWS_SHARED_CREDENTIALS_FILE", "~/other-credentials", 1);
	expect_keys("x", "AKIAOTHER", "SECRETOTHER", NULL, "profile 'x' in ~/other-credentials");
}

static void test_permissions(void)
{
	env_reset();
	write_file(".aws/credentials",
		   "[default]\naws_access_key_id = AKIAOPEN\naws_secret_access_key = SECRETOPEN\n",
		   0644);
	expect_keys(NULL, "AKIAOPEN", "SECRETOPEN", NULL,
		    "profile 'default' in ~/.aws/credentials");
	CHECK(count_in(logtext, "warning:") == 1);
	CHECK(count_in(logtext, "~/.aws/credentials") >= 1);
	CHECK(count_in(logtext, "0644") == 1);

	write_file(".aws/credentials",
		   "[default]\naws_access_key_id = AKIAOPEN\naws_secret_access_key = SECRETOPEN\n",
		   0600);
	expect_keys(NULL, "AKIAOPEN", "SECRETOPEN", NULL,
		    "profile 'default' in ~/.aws/credentials");
	CHECK(count_in(logtext, "warning:") == 0);

	/* Group-readable only counts too; the fix is named. */
	write_file(".aws/credentials",
		   "[default]\naws_access_key_id = AKIAOPEN\naws_secret_access_key = SECRETOPEN\n",
		   0640);
	expect_keys(NULL, "AKIAOPEN", "SECRETOPEN", NULL,
		    "profile 'default' in ~/.aws/credentials");
	CHECK(count_in(logtext, "warning:") == 1);
	CHECK(count_in(logtext, "chmod 600 ~/.aws/credentials") == 1);
	CHECK(count_in(logtext, "SECRETOPEN") == 0);

	/* The config file when it holds the keys... */
	env_reset();
	write_file(".aws/config",
		   "[default]\nregion = eu-west-1\naws_access_key_id = AKIACFG\n"
		   "aws_secret_access_key = SECRETCFG\n",
		   0604);
	expect_keys(NULL, "AKIACFG", "SECRETCFG", NULL, "profile 'default' in ~/.aws/config");
	CHECK(count_in(logtext, "warning:") == 1);
	CHECK(count_in(logtext, "~/.aws/config holds AWS keys") == 1);
	CHECK(count_in(logtext, "0604") == 1);

	/* ...even when the credentials file's keys win: it still holds them. */
	write_file(".aws/credentials",
		   "[default]\naws_access_key_id = AKIAOPEN\naws_secret_access_key = SECRETOPEN\n",
		   0600);
	expect_keys(NULL, "AKIAOPEN", "SECRETOPEN", NULL,
		    "profile 'default' in ~/.aws/credentials");
	CHECK(count_in(logtext, "warning:") == 1);
	CHECK(count_in(logtext, "~/.aws/config holds AWS keys") == 1);

	/* A config file with no keys is nobody's secret. */
	write_file(".aws/config", "[default]\nregion = eu-west-1\n", 0644);
	expect_keys(NULL, "AKIAOPEN", "SECRETOPEN", NULL,
		    "profile 'default' in ~/.aws/credentials");
	CHECK(count_in(logtext, "warning:") == 0);

	/* The boto config. */
	env_reset();
	char path[512];
	write_file(
	    "boto.cfg",
	    "[Credentials]\naws_access_key_id = AKIABOTO\naws_secret_access_key = SECRETBOTO\n",
	    0644);
	path_in_tmp(path, sizeof(path), "boto.cfg");
	setenv("BOTO_CONFIG", path, 1);
	expect_keys(NULL, "AKIABOTO", "SECRETBOTO", NULL, "boto config ~/boto.cfg");
	CHECK(count_in(logtext, "warning:") == 1);
	CHECK(count_in(logtext, "chmod 600 ~/boto.cfg") == 1);
	write_file(
	    "boto.cfg",
	    "[Credentials]\naws_access_key_id = AKIABOTO\naws_secret_access_key = SECRETBOTO\n",
	    0600);
	expect_keys(NULL, "AKIABOTO", "SECRETBOTO", NULL, "boto config ~/boto.cfg");
	CHECK(count_in(logtext, "warning:") == 0);
}

static void test_boto(void)
{
	char path[512];

	env_reset();
	write_file("boto.cfg",
		   "[Boto]\ndebug = 0\n[Credentials]\naws_access_key_id = AKIABOTO\n"
		   "aws_secret_access_key = SECRETBOTO\n",
		   0600);
	path_in_tmp(path, sizeof(path), "boto.cfg");
	setenv("BOTO_CONFIG", path, 1);
	expect_keys(NULL, "AKIABOTO", "SECRETBOTO", NULL, "boto config ~/boto.cfg");
	/* Shared files come first. */
	write_file(".aws/credentials",
		   "[default]\naws_access_key_id = AKIAFILE\naws_secret_access_key = SECRETFILE\n",
		   0600);
	expect_keys(NULL, "AKIAFILE", "SECRETFILE", NULL,
		    "profile 'default' in ~/.aws/credentials");

	env_reset();
	write_file("boto.cfg", "[Credentials]\naws_secret_access_key = SECRETBOTO\n", 0600);
	path_in_tmp(path, sizeof(path), "boto.cfg");
	setenv("BOTO_CONFIG", path, 1);
	expect_error(NULL, "no aws_access_key_id");
}

static void test_anonymous(void)
{
	env_reset();
	expect_anonymous(NULL, 0);
	CHECK(count_in(logtext, "notice: no AWS credentials found; requests will be unsigned "
				"(anonymous)") == 1);

	/* The flag skips the chain: keys in the environment are not used,
	 * and there is no "no credentials found" notice. */
	setenv("AWS_ACCESS_KEY_ID", "AKIAENV", 1);
	setenv("AWS_SECRET_ACCESS_KEY", "SECRETENV", 1);
	expect_anonymous(NULL, 1);
	CHECK(count_in(logtext, "no AWS credentials found") == 0);
	/* ... nor a misconfiguration reported. */
	expect_anonymous("missing-profile", 1);

	/* No provider at all: unsigned. */
	struct creds c;
	memset(&c, 0xff, sizeof(c));
	CHECK(creds_get(NULL, &c) == 0);
	CHECK(c.access_key_id == NULL && c.secret_access_key == NULL && c.session_token == NULL);
	creds_free(NULL);
}

static void test_clear(void)
{
	struct creds c = {0};
	struct creds_provider *p;
	char *err;

	creds_clear(&c); /* a zeroed struct */
	env_reset();
	setenv("AWS_ACCESS_KEY_ID", "AKIAENV", 1);
	setenv("AWS_SECRET_ACCESS_KEY", "SECRETENV", 1);
	setenv("AWS_SESSION_TOKEN", "TOKEN-ENV", 1);
	p = load(NULL, 0, &c, &err);
	CHECK(p && c.access_key_id && c.secret_access_key && c.session_token);
	creds_clear(&c);
	CHECK(c.access_key_id == NULL);
	CHECK(c.secret_access_key == NULL);
	CHECK(c.session_token == NULL);
	CHECK(c.expiration == 0);
	CHECK(c.source[0] == '\0');
	creds_clear(&c); /* twice */
	/* The copies are the caller's: clearing one leaves the provider's. */
	CHECK(creds_get(p, &c) == 0);
	CHECK_STR(c.access_key_id, "AKIAENV");
	creds_clear(&c);
	creds_free(p);
}

/* ---------------------------------------------------------------------- */
/* the local metadata server */

static pid_t server_pid = -1;
static int server_stdin = -1;
static int server_port;

static int script_path(char *out, size_t size)
{
	const char *srcdir = getenv("srcdir"); /* set by automake's test driver */
	const char *file = __FILE__;
	const char *slash = strrchr(file, '/');

	if (srcdir && *srcdir) {
		snprintf(out, size, "%s/tests/integration/imds_server.py", srcdir);
		if (access(out, R_OK) == 0)
			return 0;
	}
	if (slash)
		snprintf(out, size, "%.*s/../integration/imds_server.py", (int)(slash - file),
			 file);
	else
		snprintf(out, size, "../integration/imds_server.py");
	if (access(out, R_OK) == 0)
		return 0;
	snprintf(out, size, "tests/integration/imds_server.py");
	return access(out, R_OK);
}

static int server_start(void)
{
	char script[1024], line[32];
	int to_child[2], from_child[2];
	struct pollfd pfd;
	size_t len = 0;
	ssize_t n;

	if (access(PYTHON, X_OK) != 0 || script_path(script, sizeof(script)) != 0)
		return -1;
	if (pipe2(to_child, O_CLOEXEC) < 0 || pipe2(from_child, O_CLOEXEC) < 0)
		return -1;
	fflush(NULL);
	server_pid = fork();
	if (server_pid < 0)
		return -1;
	if (server_pid == 0) {
		dup2(to_child[0], 0);
		dup2(from_child[1], 1);
		execl(PYTHON, PYTHON, script, (char *)NULL);
		_exit(127);
	}
	close(to_child[0]);
	close(from_child[1]);
	server_stdin = to_child[1];
	pfd.fd = from_child[0];
	pfd.events = POLLIN;
	while (len < sizeof(line) - 1 && !memchr(line, '\n', len)) {
		if (poll(&pfd, 1, 10000) <= 0)
			break;
		n = read(from_child[0], line + len, sizeof(line) - 1 - len);
		if (n <= 0)
			break;
		len += (size_t)n;
	}
	close(from_child[0]);
	line[len] = '\0';
	server_port = atoi(line);
	return server_port > 0 ? 0 : -1;
}

static void server_stop(void)
{
	if (server_stdin >= 0)
		close(server_stdin);
	if (server_pid > 0) {
		kill(server_pid, SIGTERM);
		waitpid(server_pid, NULL, 0);
	}
	server_pid = -1;
	server_stdin = -1;
}

static size_t server_write_cb(char *data, size_t size, size_t n, void *arg)
{
	return buf_append(arg, data, size * n) < 0 ? 0 : size * n;
}

/* GET a control path (/set?..., /count); the body, malloc'd. */
static char *server_get(const char *path)
{
	char url[512];
	struct buf b;
	CURL *h = curl_easy_init();
	CURLcode rc;

	buf_init(&b, 65536);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", server_port, path);
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_NOPROXY, "*");
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, server_write_cb);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, &b);
	curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, 5000L);
	rc = curl_easy_perform(h);
	curl_easy_cleanup(h);
	CHECK(rc == CURLE_OK);
	return buf_steal(&b);
}

static void server_set(const char *query)
{
	char path[512];

	snprintf(path, sizeof(path), "/set?%s", query);
	free(server_get(path));
}

static int server_count(const char *name)
{
	char *body = server_get("/count"), key[64];
	const char *p;
	int n = -1;

	snprintf(key, sizeof(key), "\"%s\": ", name);
	p = strstr(body, key);
	if (p)
		n = atoi(p + strlen(key));
	free(body);
	return n;
}

static void server_defaults(void)
{
	server_set("expires_in=3600&expiration=&token_status=200&fail=0&auth=");
}

static void imds_env(const char *path)
{
	char url[256];

	env_reset();
	unsetenv("AWS_EC2_METADATA_DISABLED");
	snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", server_port, path);
	setenv("AWS_EC2_METADATA_SERVICE_ENDPOINT", url, 1);
	server_defaults();
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static time_t utc(int y, int mo, int d, int h, int mi, int s)
{
	struct tm tm = {.tm_year = y - 1900,
			.tm_mon = mo - 1,
			.tm_mday = d,
			.tm_hour = h,
			.tm_min = mi,
			.tm_sec = s};

	return timegm(&tm);
}

static void test_imds(void)
{
	struct creds_provider *p;
	struct creds c, c2;
	char *err, key[32];
	int tokens, v1, creds_n;

	/* IMDSv2: token, role, credentials. */
	imds_env("/");
	server_set("expiration=2031-05-06T07:08:09Z");
	tokens = server_count("token");
	creds_n = server_count("creds");
	p = load(NULL, 0, &c, &err);
	CHECK(p != NULL);
	CHECK(c.access_key_id && strncmp(c.access_key_id, "ASIAIMDS", 8) == 0);
	CHECK(c.secret_access_key && strncmp(c.secret_access_key, "secret-ASIAIMDS-", 16) == 0);
	CHECK(c.session_token && strncmp(c.session_token, "token-ASIAIMDS-", 15) == 0);
	CHECK(c.expiration == utc(2031, 5, 6, 7, 8, 9));
	CHECK_STR(c.source, "instance metadata role 'test-role'");
	CHECK(server_count("token") == tokens + 1);
	CHECK(server_count("creds") == creds_n + 1);
	/* Far from expiry: no refresh. */
	creds_clear(&c);
	CHECK(creds_get(p, &c) == 0);
	CHECK(server_count("creds") == creds_n + 1);
	creds_clear(&c);
	creds_free(p);

	/* IMDSv1 only when the token PUT is refused with 403/404/405. */
	for (int status = 403; status <= 405; status++) {
		char q[64];

		imds_env("");
		snprintf(q, sizeof(q), "token_status=%d", status);
		server_set(q);
		v1 = server_count("v1");
		p = load(NULL, 0, &c, &err);
		CHECK(p != NULL);
		CHECK(c.access_key_id && strncmp(c.access_key_id, "ASIAIMDS", 8) == 0);
		CHECK(server_count("v1") == v1 + 2); /* role and credentials */
		creds_clear(&c);
		creds_free(p);
	}
	/* ... and not on another status. */
	imds_env("");
	server_set("token_status=500");
	v1 = server_count("v1");
	expect_anonymous(NULL, 0);
	CHECK(server_count("v1") == v1);
	CHECK(count_in(logtext, "no AWS credentials found") == 1);

	/* Refresh: credentials that expire within 5 minutes are fetched again
	 * by creds_get, once; later calls do not hammer the endpoint. */
	imds_env("");
	server_set("expires_in=60");
	p = create();
	creds_n = server_count("creds");
	capture_start();
	CHECK(creds_get(p, &c) == 0);
	capture_end();
	check_log_clean();
	CHECK(count_in(logtext, "refreshed AWS credentials from instance metadata") == 1);
	CHECK(server_count("creds") == creds_n + 1);
	latest_key("ASIAIMDS", key, sizeof(key));
	CHECK_STR(c.access_key_id, key);
	CHECK(c.expiration > time(NULL) && c.expiration <= time(NULL) + 61);
	CHECK(creds_get(p, &c2) == 0);
	CHECK(server_count("creds") == creds_n + 1);
	CHECK_STR(c2.access_key_id, key);
	creds_clear(&c2);
	creds_clear(&c);
	creds_free(p);

	/* A failed refresh keeps credentials that have not expired, with a
	 * warning. */
	imds_env("");
	server_set("expires_in=60");
	p = create();
	latest_key("ASIAIMDS", key, sizeof(key));
	server_set("fail=1");
	capture_start();
	CHECK(creds_get(p, &c) == 0);
	capture_end();
	check_log_clean();
	CHECK_STR(c.access_key_id, key);
	CHECK(count_in(logtext, "warning: cannot refresh") == 1);
	creds_clear(&c);
	creds_free(p);

	/* ... but once they have expired creds_get fails. */
	imds_env("");
	server_set("expires_in=-60");
	p = create();
	server_set("fail=1");
	capture_start();
	CHECK(creds_get(p, &c) < 0);
	capture_end();
	check_log_clean();
	CHECK(c.access_key_id == NULL);
	CHECK(count_in(logtext, "error:") == 1);
	creds_free(p);
	server_defaults();
}

struct racer {
	struct creds_provider *p;
	pthread_barrier_t *start;
	char key[32];
	int r;
};

static void *race(void *arg)
{
	struct racer *t = arg;
	struct creds c;

	pthread_barrier_wait(t->start);
	t->r = creds_get(t->p, &c);
	if (t->r == 0)
		snprintf(t->key, sizeof(t->key), "%s", c.access_key_id ? c.access_key_id : "");
	creds_clear(&c);
	return NULL;
}

/* Many threads find the credentials due for refresh at once: one fetches,
 * the others wait for it and get its result. */
static void test_refresh_threads(void)
{
	enum { N = 8 };
	struct racer t[N];
	pthread_t th[N];
	pthread_barrier_t start;
	struct creds_provider *p;
	int creds_n;

	imds_env("");
	server_set("expires_in=60");
	p = create();
	creds_n = server_count("creds");
	pthread_barrier_init(&start, NULL, N);
	capture_start();
	for (int i = 0; i < N; i++) {
		t[i] = (struct racer){.p = p, .start = &start};
		pthread_create(&th[i], NULL, race, &t[i]);
	}
	for (int i = 0; i < N; i++)
		pthread_join(th[i], NULL);
	capture_end();
	check_log_clean();
	pthread_barrier_destroy(&start);
	CHECK(server_count("creds") == creds_n + 1);
	for (int i = 0; i < N; i++) {
		CHECK(t[i].r == 0);
		CHECK_STR(t[i].key, t[0].key);
	}
	creds_free(p);
	server_defaults();
}

/* Off EC2 the metadata endpoint does not answer: about a second, no more. */
static void test_imds_timeouts(void)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(sa);
	char url[128];
	double t0;
	int fd, hangs;

	/* A server that accepts and never answers: one PUT, no IMDSv1 after it. */
	imds_env("/hang");
	hangs = server_count("hang");
	t0 = now_s();
	expect_anonymous(NULL, 0);
	CHECK(now_s() - t0 < 2.0);
	CHECK(server_count("hang") == hangs + 1);

	/* A closed port. */
	fd = socket(AF_INET, SOCK_STREAM, 0);
	CHECK(bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0);
	CHECK(getsockname(fd, (struct sockaddr *)&sa, &len) == 0);
	close(fd);
	env_reset();
	unsetenv("AWS_EC2_METADATA_DISABLED");
	snprintf(url, sizeof(url), "http://127.0.0.1:%d", ntohs(sa.sin_port));
	setenv("AWS_EC2_METADATA_SERVICE_ENDPOINT", url, 1);
	t0 = now_s();
	expect_anonymous(NULL, 0);
	CHECK(now_s() - t0 < 2.0);
	CHECK(count_in(logtext, "no AWS credentials found") == 1);

	/* AWS_EC2_METADATA_DISABLED, in any case, skips it. */
	imds_env("");
	setenv("AWS_EC2_METADATA_DISABLED", "TRUE", 1);
	hangs = server_count("token");
	expect_anonymous(NULL, 0);
	CHECK(server_count("token") == hangs);
}

static void container_env(const char *auth)
{
	char url[256];

	imds_env("");
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/container/creds", server_port);
	setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", url, 1);
	if (auth) {
		char q[128];

		snprintf(q, sizeof(q), "auth=%s", auth);
		server_set(q);
	}
}

static void container_expect(const char *expiration, time_t want)
{
	struct creds_provider *p;
	struct creds c;
	char *err;
	char q[128];

	snprintf(q, sizeof(q), "expiration=%s", expiration);
	server_set(q);
	p = load(NULL, 0, &c, &err);
	CHECK(p != NULL);
	if (!p) {
		fprintf(stderr, "  creds_new: %s\n", err ? err : "(no message)");
		free(err);
		return;
	}
	CHECK(c.access_key_id && strncmp(c.access_key_id, "ASIACONT", 8) == 0);
	CHECK(c.secret_access_key && strncmp(c.secret_access_key, "secret-ASIACONT-", 16) == 0);
	CHECK(c.session_token && strncmp(c.session_token, "token-ASIACONT-", 15) == 0);
	CHECK(c.expiration == want);
	CHECK_STR(c.source, "container credentials");
	creds_clear(&c);
	creds_free(p);
}

static void test_container(void)
{
	struct creds_provider *p;
	struct creds c;
	char key[32];
	int tokens, n;

	/* With the token from the environment; container beats IMDS. */
	container_env("Bearer%20abc");
	setenv("AWS_CONTAINER_AUTHORIZATION_TOKEN", "Bearer abc", 1);
	tokens = server_count("token");
	container_expect("2031-05-06T07:08:09Z", utc(2031, 5, 6, 7, 8, 9));
	CHECK(server_count("token") == tokens);
	container_expect("2031-05-06T07:08:09.123Z", utc(2031, 5, 6, 7, 8, 9));
	container_expect("2031-05-06T09:08:09%2B02:00", utc(2031, 5, 6, 7, 8, 9));
	container_expect("2031-05-06T05:08:09-0200", utc(2031, 5, 6, 7, 8, 9));

	/* With the token from a file, which is read again on every fetch. */
	container_env("Bearer%20fromfile");
	write_file("token", "Bearer fromfile\n", 0600);
	{
		char path[512];

		path_in_tmp(path, sizeof(path), "token");
		setenv("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE", path, 1);
	}
	setenv("AWS_CONTAINER_AUTHORIZATION_TOKEN", "Bearer abc", 1); /* the file wins */
	container_expect("2031-05-06T07:08:09Z", utc(2031, 5, 6, 7, 8, 9));

	/* Refresh, with a rotated token. */
	server_set("expiration=&expires_in=60");
	p = create();
	n = server_count("container");
	write_file("token", "Bearer rotated", 0600);
	server_set("auth=Bearer%20rotated");
	capture_start();
	CHECK(creds_get(p, &c) == 0);
	capture_end();
	check_log_clean();
	CHECK(server_count("container") == n + 1);
	latest_key("ASIACONT", key, sizeof(key));
	CHECK_STR(c.access_key_id, key);
	creds_clear(&c);
	creds_free(p);

	/* A wrong token: the mount fails, saying why. */
	container_env("Bearer%20right");
	setenv("AWS_CONTAINER_AUTHORIZATION_TOKEN", "Bearer wrong", 1);
	expect_error(NULL, "HTTP 401");

	/* Plain http away from this host is refused before any request. */
	env_reset();
	setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", "http://192.0.2.1/creds", 1);
	expect_error(NULL, "AWS_CONTAINER_CREDENTIALS_FULL_URI");
	setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", "ftp://127.0.0.1/creds", 1);
	expect_error(NULL, "AWS_CONTAINER_CREDENTIALS_FULL_URI");
	setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", "not a url", 1);
	expect_error(NULL, "AWS_CONTAINER_CREDENTIALS_FULL_URI");
	server_defaults();
}

int main(void)
{
	char cmd[300];

	snprintf(tmp, sizeof(tmp), "/tmp/test_creds.XXXXXX");
	if (!mkdtemp(tmp)) {
		perror("mkdtemp");
		return 99;
	}
	snprintf(cmd, sizeof(cmd), "%s/.aws", tmp);
	mkdir(cmd, 0700);
	curl_global_init(CURL_GLOBAL_DEFAULT);
	log_init("test_creds", LOG_DEBUG); /* secrets must stay out at every level */

	test_env();
	test_profiles();
	test_config_file();
	test_permissions();
	test_boto();
	test_anonymous();
	test_clear();

	if (server_start() == 0) {
		test_imds();
		test_refresh_threads();
		test_imds_timeouts();
		test_container();
		server_stop();
	} else {
		server_stop();
		printf("creds: %s or tests/integration/imds_server.py missing; "
		       "container and instance metadata cases skipped\n",
		       PYTHON);
	}

	env_reset();
	remove_file("log");
	remove_file("no-boto.cfg");
	snprintf(cmd, sizeof(cmd), "%s/.aws", tmp);
	rmdir(cmd);
	rmdir(tmp);
	free(logtext);
	curl_global_cleanup();
	return unit_done("creds");
}
