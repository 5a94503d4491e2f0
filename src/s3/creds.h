/* creds.h - the AWS credential chain, in the order the AWS SDKs use.
 *
 *  1. environment: AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN
 *  2. shared files: AWS_SHARED_CREDENTIALS_FILE or ~/.aws/credentials, then
 *     AWS_CONFIG_FILE or ~/.aws/config ([profile NAME] sections); the profile
 *     is the one given, else AWS_PROFILE, else "default"
 *  3. boto config: BOTO_CONFIG, /etc/boto.cfg, ~/.boto, section [Credentials]
 *  4. container: AWS_CONTAINER_CREDENTIALS_RELATIVE_URI / _FULL_URI
 *     (with AWS_CONTAINER_AUTHORIZATION_TOKEN[_FILE])
 *  5. EC2 instance metadata, IMDSv2 token first; short timeouts so that off
 *     EC2 it costs at most about a second; AWS_EC2_METADATA_DISABLED=true
 *     skips it and AWS_EC2_METADATA_SERVICE_ENDPOINT moves it
 *  6. none: requests go unsigned, with one log line saying so
 *
 * Temporary credentials (container, instance metadata) are refreshed some
 * minutes before they expire.  Secrets are wiped (explicit_bzero) when freed
 * and never logged.
 */
#ifndef ODOFS_CREDS_H
#define ODOFS_CREDS_H

#include <time.h>

struct creds {
	char *access_key_id;	 /* NULL: unsigned (anonymous) requests */
	char *secret_access_key;
	char *session_token;	 /* NULL when none */
	time_t expiration;	 /* 0: does not expire */
	char source[64];	 /* "environment", "profile 'prod' in ~/.aws/credentials", ... */
};

struct creds_provider;

/* profile: NULL for AWS_PROFILE or "default".  anonymous: never sign.
 * On error returns NULL and sets *err to a malloc'd one-line message
 * (e.g. "profile 'prod' not found in ~/.aws/credentials or ~/.aws/config"). */
struct creds_provider *creds_new(const char *profile, int anonymous, char **err);

/* A copy of the current credentials, refreshed first when they expire
 * within 5 minutes.  The caller releases it with creds_clear().
 * 0, or a negative errno when a refresh failed and nothing valid is held. */
int creds_get(struct creds_provider *p, struct creds *out);

/* Wipe and free the fields; safe on a zeroed struct. */
void creds_clear(struct creds *c);

void creds_free(struct creds_provider *p);

/* The region set for a profile in the config file (AWS_CONFIG_FILE or
 * ~/.aws/config), malloc'd, or NULL. */
char *creds_profile_region(const char *profile);

#endif
