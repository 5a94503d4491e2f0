/* http.c - see http.h
 *
 * Lock order: http.lock (the free list) and the share locks are leaves and
 * never held together.
 */
#include "config.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "http.h"
#include "log.h"

struct http_free_handle {
	struct http_free_handle *next;
	CURL *curl;
};

struct http {
	struct http_config cfg;
	char *ca_bundle;
	CURLSH *share;
	pthread_mutex_t share_locks[CURL_LOCK_DATA_LAST];
	pthread_mutex_t lock;
	struct http_free_handle *free_list;
};

static void http_share_lock(CURL *c, curl_lock_data data, curl_lock_access access, void *arg)
{
	struct http *h = arg;

	(void)c;
	(void)access;
	pthread_mutex_lock(&h->share_locks[data]);
}

static void http_share_unlock(CURL *c, curl_lock_data data, void *arg)
{
	struct http *h = arg;

	(void)c;
	pthread_mutex_unlock(&h->share_locks[data]);
}

/* Verification is curl's default; it is set here anyway so that no reused
 * handle and no future default can leave it off by accident.  Only the
 * user's explicit no_verify_ssl turns it off (main.c warns at every mount). */
static void http_tls_setup(CURL *c, const struct http_config *cfg)
{
	curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, cfg->no_verify_ssl ? 0L : 1L);
	curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, cfg->no_verify_ssl ? 0L : 2L);
	if (cfg->ca_bundle)
		curl_easy_setopt(c, CURLOPT_CAINFO, cfg->ca_bundle);
}

struct http *http_new(const struct http_config *cfg)
{
	struct http *h = calloc(1, sizeof(*h));
	const char *ca;

	if (!h)
		return NULL;
	h->cfg = *cfg;
	ca = cfg->ca_bundle ? cfg->ca_bundle : getenv("AWS_CA_BUNDLE");
	if (ca && *ca) {
		h->ca_bundle = strdup(ca);
		if (!h->ca_bundle) {
			free(h);
			return NULL;
		}
	}
	h->cfg.ca_bundle = h->ca_bundle;
	pthread_mutex_init(&h->lock, NULL);
	for (int i = 0; i < CURL_LOCK_DATA_LAST; i++)
		pthread_mutex_init(&h->share_locks[i], NULL);
	h->share = curl_share_init();
	if (h->share) {
		curl_share_setopt(h->share, CURLSHOPT_LOCKFUNC, http_share_lock);
		curl_share_setopt(h->share, CURLSHOPT_UNLOCKFUNC, http_share_unlock);
		curl_share_setopt(h->share, CURLSHOPT_USERDATA, h);
		curl_share_setopt(h->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
		curl_share_setopt(h->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION);
	}
	return h;
}

CURL *http_handle_get(struct http *h)
{
	struct http_free_handle *fh;
	CURL *c = NULL;

	pthread_mutex_lock(&h->lock);
	fh = h->free_list;
	if (fh)
		h->free_list = fh->next;
	pthread_mutex_unlock(&h->lock);
	if (fh) {
		c = fh->curl;
		free(fh);
		curl_easy_reset(c);
	} else {
		c = curl_easy_init();
		if (!c)
			return NULL;
	}
	/* NOSIGNAL: we are multi-threaded, and a DNS timeout must not raise
	 * SIGALRM in some FUSE worker. */
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, (long)h->cfg.connect_timeout_ms);
	curl_easy_setopt(c, CURLOPT_TCP_KEEPALIVE, 1L);
	curl_easy_setopt(c, CURLOPT_TCP_NODELAY, 1L);
	curl_easy_setopt(c, CURLOPT_BUFFERSIZE, 512L * 1024);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	if (h->share)
		curl_easy_setopt(c, CURLOPT_SHARE, h->share);
	http_tls_setup(c, &h->cfg);
	return c;
}

void http_handle_put(struct http *h, CURL *c)
{
	struct http_free_handle *fh;

	if (!c)
		return;
	fh = malloc(sizeof(*fh));
	if (!fh) {
		curl_easy_cleanup(c);
		return;
	}
	fh->curl = c;
	pthread_mutex_lock(&h->lock);
	fh->next = h->free_list;
	h->free_list = fh;
	pthread_mutex_unlock(&h->lock);
}

void http_free(struct http *h)
{
	if (!h)
		return;
	while (h->free_list) {
		struct http_free_handle *fh = h->free_list;

		h->free_list = fh->next;
		curl_easy_cleanup(fh->curl);
		free(fh);
	}
	if (h->share)
		curl_share_cleanup(h->share);
	for (int i = 0; i < CURL_LOCK_DATA_LAST; i++)
		pthread_mutex_destroy(&h->share_locks[i]);
	pthread_mutex_destroy(&h->lock);
	free(h->ca_bundle);
	free(h);
}

int http_tls_refused(const struct http_config *cfg, const char *url, char *msg, size_t size)
{
	char reason[CURL_ERROR_SIZE] = "";
	struct http *h;
	CURL *c = NULL;
	CURLcode rc;
	int refused = 0;

	if (strncasecmp(url, "https://", 8) != 0)
		return 0;
	h = http_new(cfg);
	if (!h)
		return 0;
	c = http_handle_get(h);
	if (!c)
		goto out;
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_CONNECT_ONLY, 1L);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 2L * (long)cfg->connect_timeout_ms);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, reason);
	rc = curl_easy_perform(c);
	switch (rc) {
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CACERT_BADFILE:
	case CURLE_SSL_CERTPROBLEM:
	case CURLE_SSL_ISSUER_ERROR:
	case CURLE_SSL_INVALIDCERTSTATUS:
	case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
		refused = 1;
		snprintf(msg, size, "%s", reason[0] ? reason : curl_easy_strerror(rc));
		break;
	default:
		break;
	}
out:
	if (c)
		curl_easy_cleanup(c);
	http_free(h);
	return refused;
}
