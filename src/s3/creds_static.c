/* creds_static.c - the long-lived keys of the credential chain (creds.h),
 * never refreshed: the environment, the shared credentials and config files,
 * boto config files; and the region a profile sets in the config file.
 */
#include "config.h"

#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* asprintf, strndup; config.h defines it in the real build */
#endif

#include <ctype.h>
#include <errno.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "creds.h"
#include "creds_i.h"
#include "log.h"

/* ---------------------------------------------------------------------- */
/* paths */

static const char *creds_home(void)
{
	const char *home = creds_getenv("HOME");
	struct passwd *pw;

	if (home)
		return home;
	pw = getpwuid(getuid());
	return pw && pw->pw_dir && *pw->pw_dir ? pw->pw_dir : NULL;
}

/* The path named by the environment variable env (a leading "~/" expanded),
 * else $HOME/rel.  *out is NULL when there is no home directory to use. */
static int creds_path(const char *env, const char *rel, char **out)
{
	const char *v = env ? creds_getenv(env) : NULL;
	const char *home = creds_home();
	size_t n;
	char *p;

	*out = NULL;
	if (v && strncmp(v, "~/", 2) != 0) {
		p = strdup(v);
		goto done;
	}
	if (v)
		rel = v + 2;
	if (!home)
		return 0;
	n = strlen(home);
	while (n > 1 && home[n - 1] == '/')
		n--;
	if (asprintf(&p, "%.*s/%s", (int)n, home, rel) < 0)
		p = NULL;
done:
	if (!p)
		return -ENOMEM;
	*out = p;
	return 0;
}

/* A path for messages, with the home directory shown as "~". */
static void creds_show_path(const char *path, char *out, size_t size)
{
	const char *home = creds_home();
	size_t n = home ? strlen(home) : 0;

	while (n > 1 && home[n - 1] == '/')
		n--;
	if (n > 1 && strncmp(path, home, n) == 0 && path[n] == '/')
		snprintf(out, size, "~%s", path + n);
	else
		snprintf(out, size, "%s", path);
}

/* ---------------------------------------------------------------------- */
/* INI files: ~/.aws/credentials, ~/.aws/config, boto */

struct creds_kv {
	const char *key;
	char *value; /* malloc'd; the last one in the file wins */
};

enum creds_ini_style {
	CREDS_INI_PLAIN,  /* [NAME]: credentials file, boto */
	CREDS_INI_CONFIG, /* [profile NAME], and [default] */
};

static void creds_kv_clear(struct creds_kv *kv, size_t n_kv)
{
	for (size_t i = 0; i < n_kv; i++) {
		creds_str_free(kv[i].value);
		kv[i].value = NULL;
	}
}

static const char *creds_kv_get(const struct creds_kv *kv, size_t n_kv, const char *key)
{
	for (size_t i = 0; i < n_kv; i++)
		if (strcmp(kv[i].key, key) == 0)
			return kv[i].value && *kv[i].value ? kv[i].value : NULL;
	return NULL;
}

static int creds_section_match(const char *name, const char *want, enum creds_ini_style style)
{
	if (style == CREDS_INI_PLAIN)
		return strcmp(name, want) == 0;
	if (strcmp(want, "default") == 0 && strcmp(name, "default") == 0)
		return 1;
	if (strncmp(name, "profile", 7) != 0 || !isspace((unsigned char)name[7]))
		return 0;
	name += 7;
	while (isspace((unsigned char)*name))
		name++;
	return strcmp(name, want) == 0;
}

/* Parse text in place, keeping the values of the keys in kv (case
 * insensitive) from the sections that match section. */
static int creds_ini_parse(char *text, const char *section, enum creds_ini_style style,
			   struct creds_kv *kv, size_t n_kv, int *found)
{
	char *line, *next, *s, *end, *eq, *key, *val;
	int in_section = 0, nested = 0, indented;

	for (line = text; line; line = next) {
		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		indented = line[0] == ' ' || line[0] == '\t';
		s = creds_trim(line);
		if (!*s || *s == '#' || *s == ';')
			continue;
		if (*s == '[') {
			end = strrchr(s, ']');
			nested = 0;
			in_section = 0;
			if (!end)
				continue;
			*end = '\0';
			in_section = creds_section_match(creds_trim(s + 1), section, style);
			if (in_section)
				*found = 1;
			continue;
		}
		/* "s3 =" followed by indented lines is a nested block (botocore);
		 * its keys are not the profile's. */
		if (indented && nested)
			continue;
		nested = 0;
		eq = strchr(s, '=');
		if (!eq)
			continue;
		*eq = '\0';
		key = creds_trim(s);
		val = eq + 1;
		for (char *c = val; *c; c++) {
			if ((*c == '#' || *c == ';') && c > val && isspace((unsigned char)c[-1])) {
				*c = '\0';
				break;
			}
		}
		val = creds_trim(val);
		if (!*val)
			nested = 1;
		if (!in_section)
			continue;
		for (size_t i = 0; i < n_kv; i++) {
			if (strcasecmp(key, kv[i].key) != 0)
				continue;
			creds_str_free(kv[i].value);
			kv[i].value = strdup(val);
			if (!kv[i].value)
				return -ENOMEM;
		}
	}
	return 0;
}

/* Read the keys in kv from the sections of file path that match section.
 * 0 (*found set when such a section exists), -ENOENT when there is no
 * such file, another negative errno when it cannot be read. */
static int creds_ini_read(const char *path, const char *section, enum creds_ini_style style,
			  struct creds_kv *kv, size_t n_kv, int *found, mode_t *mode)
{
	char *text = NULL;
	size_t alloc = 0;
	int r;

	*found = 0;
	r = creds_slurp(path, &text, &alloc, mode);
	if (r < 0)
		return r;
	r = creds_ini_parse(text, section, style, kv, n_kv, found);
	explicit_bzero(text, alloc);
	free(text);
	return r;
}

/* Read a file that may hold keys; a missing file is no error, an
 * unreadable one a warning. */
static int creds_ini_try(const char *path, const char *section, enum creds_ini_style style,
			 struct creds_kv *kv, size_t n_kv, int *found, mode_t *mode)
{
	char shown[256];
	int r;

	*found = 0;
	if (!path)
		return 0;
	r = creds_ini_read(path, section, style, kv, n_kv, found, mode);
	if (r == -ENOENT || r == -ENOTDIR)
		return 0;
	if (r == -ENOMEM)
		return r;
	if (r < 0) {
		creds_show_path(path, shown, sizeof(shown));
		log_warn("cannot read %s: %s", shown, strerror(-r));
	}
	return 0;
}

/* As ssh does for private keys and s3fs for its passwd file: say so when
 * others can reach the keys, and keep working (the keys are used). */
static void creds_check_mode(const char *shown, mode_t mode)
{
	if (mode & 077)
		log_warn("%s holds AWS keys and is accessible by group or others (mode %04o); "
			 "run 'chmod 600 %s'",
			 shown, (unsigned)(mode & 07777), shown);
}

/* 1 when a file's section held a key id or a secret. */
static int creds_kv_has_keys(const struct creds_kv *kv, size_t n_kv)
{
	return creds_kv_get(kv, n_kv, "aws_access_key_id") ||
	       creds_kv_get(kv, n_kv, "aws_secret_access_key") ||
	       creds_kv_get(kv, n_kv, "aws_session_token");
}

/* Copies of id, secret and token (or NULL) into out; on ENOMEM out is
 * cleared. */
static int creds_dup_keys(struct creds *out, const char *id, const char *secret, const char *token)
{
	out->access_key_id = strdup(id);
	out->secret_access_key = strdup(secret);
	out->session_token = token ? strdup(token) : NULL;
	if (!out->access_key_id || !out->secret_access_key || (token && !out->session_token)) {
		creds_clear(out);
		return -ENOMEM;
	}
	return 0;
}

/* Move the keys found in kv into out. */
static int creds_take_keys(struct creds_kv *kv, size_t n_kv, struct creds *out)
{
	const char *id = creds_kv_get(kv, n_kv, "aws_access_key_id");
	const char *secret = creds_kv_get(kv, n_kv, "aws_secret_access_key");
	const char *token = creds_kv_get(kv, n_kv, "aws_session_token");
	int r = creds_dup_keys(out, id, secret, token);

	if (r < 0)
		return r;
	out->expiration = 0;
	return 0;
}

/* ---------------------------------------------------------------------- */
/* 1. environment */

int creds_from_env(struct creds *out, char *msg, size_t msg_size)
{
	const char *id = creds_getenv("AWS_ACCESS_KEY_ID");
	const char *secret = creds_getenv("AWS_SECRET_ACCESS_KEY");
	const char *token = creds_getenv("AWS_SESSION_TOKEN");
	int r;

	if (!id && !secret)
		return 0;
	if (!id || !secret) {
		snprintf(msg, msg_size, "%s is set but %s is not; set both or neither",
			 id ? "AWS_ACCESS_KEY_ID" : "AWS_SECRET_ACCESS_KEY",
			 id ? "AWS_SECRET_ACCESS_KEY" : "AWS_ACCESS_KEY_ID");
		return -EINVAL;
	}
	if (!token)
		token = creds_getenv("AWS_SECURITY_TOKEN"); /* the older name */
	r = creds_dup_keys(out, id, secret, token);
	if (r < 0)
		return r;
	creds_set_source(out, "environment");
	return 0;
}

/* ---------------------------------------------------------------------- */
/* 2. shared files */

/* Keys a profile may hold that mean another way of getting credentials,
 * one botocore would try before the profile's static keys. */
static const char *const creds_unsupported_keys[] = {
    "role_arn", "credential_process", "sso_start_url", "sso_session", "web_identity_token_file",
};

enum {
	CREDS_KV_ID,
	CREDS_KV_SECRET,
	CREDS_KV_TOKEN,
	CREDS_KV_FIRST_UNSUPPORTED,
	CREDS_KV_N = CREDS_KV_FIRST_UNSUPPORTED + 5,
};

static void creds_profile_kv(struct creds_kv *kv)
{
	kv[CREDS_KV_ID].key = "aws_access_key_id";
	kv[CREDS_KV_SECRET].key = "aws_secret_access_key";
	kv[CREDS_KV_TOKEN].key = "aws_session_token";
	for (size_t i = 0; i < CREDS_KV_N - CREDS_KV_FIRST_UNSUPPORTED; i++)
		kv[CREDS_KV_FIRST_UNSUPPORTED + i].key = creds_unsupported_keys[i];
	for (size_t i = 0; i < CREDS_KV_N; i++)
		kv[i].value = NULL;
}

/* Check one file's section for profile name; take its keys when it has
 * both.  0 with out->access_key_id still NULL when it has none. */
static int creds_profile_keys(const char *name, const char *shown, struct creds_kv *kv,
			      struct creds *out, char *msg, size_t msg_size)
{
	const char *id = kv[CREDS_KV_ID].value, *secret = kv[CREDS_KV_SECRET].value;
	int r;

	if (!(id && *id) && !(secret && *secret))
		return 0;
	if (!(id && *id) || !(secret && *secret)) {
		snprintf(msg, msg_size, "profile '%s' in %s has %s but no %s", name, shown,
			 id && *id ? "aws_access_key_id" : "aws_secret_access_key",
			 id && *id ? "aws_secret_access_key" : "aws_access_key_id");
		return -EINVAL;
	}
	r = creds_take_keys(kv, CREDS_KV_N, out);
	if (r < 0)
		return r;
	creds_set_source(out, "profile '%s' in %s", name, shown);
	return 0;
}

/* named: the profile was asked for (argument or AWS_PROFILE), so it must
 * exist in one of the files. */
int creds_from_profile(const char *name, int named, struct creds *out, char *msg, size_t msg_size)
{
	struct creds_kv ckv[CREDS_KV_N], fkv[CREDS_KV_N];
	char *cpath = NULL, *fpath = NULL;
	char cshown[160] = "~/.aws/credentials", fshown[160] = "~/.aws/config";
	mode_t cmode = 0, fmode = 0;
	int cfound = 0, ffound = 0, r;

	creds_profile_kv(ckv);
	creds_profile_kv(fkv);
	r = creds_path("AWS_SHARED_CREDENTIALS_FILE", ".aws/credentials", &cpath);
	if (r < 0)
		goto out;
	r = creds_path("AWS_CONFIG_FILE", ".aws/config", &fpath);
	if (r < 0)
		goto out;
	if (cpath)
		creds_show_path(cpath, cshown, sizeof(cshown));
	if (fpath)
		creds_show_path(fpath, fshown, sizeof(fshown));

	r = creds_ini_try(cpath, name, CREDS_INI_PLAIN, ckv, CREDS_KV_N, &cfound, &cmode);
	if (r < 0)
		goto out;
	r = creds_ini_try(fpath, name, CREDS_INI_CONFIG, fkv, CREDS_KV_N, &ffound, &fmode);
	if (r < 0)
		goto out;

	/* A file holding this profile's keys is a secret whether or not its
	 * keys win: the config file's when the credentials file has some too. */
	if (creds_kv_has_keys(ckv, CREDS_KV_N))
		creds_check_mode(cshown, cmode);
	if (creds_kv_has_keys(fkv, CREDS_KV_N))
		creds_check_mode(fshown, fmode);

	if (named && !cfound && !ffound) {
		snprintf(msg, msg_size, "profile '%s' not found in %s or %s", name, cshown, fshown);
		r = -ENOENT;
		goto out;
	}
	for (int i = CREDS_KV_FIRST_UNSUPPORTED; i < CREDS_KV_N; i++) {
		int in_c = ckv[i].value && *ckv[i].value;

		if (!in_c && !(fkv[i].value && *fkv[i].value))
			continue;
		snprintf(msg, msg_size,
			 "profile '%s' in %s uses %s, which odofs does not support; give it "
			 "aws_access_key_id and aws_secret_access_key, or export credentials with "
			 "'aws configure export-credentials --profile %s --format env'",
			 name, in_c ? cshown : fshown, ckv[i].key, name);
		r = -ENOTSUP;
		goto out;
	}
	/* The credentials file wins over the config file, as in the CLI. */
	if (cfound) {
		r = creds_profile_keys(name, cshown, ckv, out, msg, msg_size);
		if (r < 0 || out->access_key_id)
			goto out;
	}
	if (ffound) {
		r = creds_profile_keys(name, fshown, fkv, out, msg, msg_size);
		if (r < 0)
			goto out;
	}
	r = 0;
out:
	creds_kv_clear(ckv, CREDS_KV_N);
	creds_kv_clear(fkv, CREDS_KV_N);
	free(cpath);
	free(fpath);
	return r;
}

/* ---------------------------------------------------------------------- */
/* 3. boto */

int creds_from_boto(struct creds *out, char *msg, size_t msg_size)
{
	struct creds_kv kv[2] = {{"aws_access_key_id", NULL}, {"aws_secret_access_key", NULL}};
	const char *env = creds_getenv("BOTO_CONFIG");
	char *paths[2] = {NULL, NULL};
	char shown[160];
	mode_t mode = 0;
	int found, r;

	if (env) {
		paths[0] = strdup(env);
		r = paths[0] ? 0 : -ENOMEM;
	} else {
		paths[0] = strdup("/etc/boto.cfg");
		r = paths[0] ? creds_path(NULL, ".boto", &paths[1]) : -ENOMEM;
	}
	if (r < 0)
		goto out;
	/* The first file with a [Credentials] section is used (botocore). */
	for (int i = 0; i < 2 && paths[i]; i++) {
		r = creds_ini_try(paths[i], "Credentials", CREDS_INI_PLAIN, kv, 2, &found, &mode);
		if (r < 0)
			goto out;
		if (!creds_kv_get(kv, 2, "aws_access_key_id") &&
		    !creds_kv_get(kv, 2, "aws_secret_access_key"))
			continue;
		creds_show_path(paths[i], shown, sizeof(shown));
		if (!creds_kv_get(kv, 2, "aws_access_key_id") ||
		    !creds_kv_get(kv, 2, "aws_secret_access_key")) {
			snprintf(msg, msg_size, "[Credentials] in %s has %s but no %s", shown,
				 kv[0].value && *kv[0].value ? "aws_access_key_id"
							     : "aws_secret_access_key",
				 kv[0].value && *kv[0].value ? "aws_secret_access_key"
							     : "aws_access_key_id");
			r = -EINVAL;
			goto out;
		}
		r = creds_take_keys(kv, 2, out);
		if (r < 0)
			goto out;
		creds_check_mode(shown, mode);
		creds_set_source(out, "boto config %s", shown);
		break;
	}
	r = 0;
out:
	creds_kv_clear(kv, 2);
	free(paths[0]);
	free(paths[1]);
	return r;
}

/* ---------------------------------------------------------------------- */
/* a profile's region */

char *creds_profile_region(const char *profile)
{
	struct creds_kv kv[1] = {{"region", NULL}};
	const char *name = profile && *profile ? profile : creds_getenv("AWS_PROFILE");
	char *path = NULL;
	int found;

	if (!name)
		name = "default";
	if (creds_path("AWS_CONFIG_FILE", ".aws/config", &path) < 0 || !path)
		return NULL;
	if (creds_ini_try(path, name, CREDS_INI_CONFIG, kv, 1, &found, NULL) < 0 || !kv[0].value ||
	    !*kv[0].value) {
		creds_kv_clear(kv, 1);
		free(path);
		return NULL;
	}
	free(path);
	return kv[0].value;
}
