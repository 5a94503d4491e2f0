/* http.h - libcurl easy handles, pooled, each keeping its own connection.
 *
 * One easy handle per thread at a time (libcurl's thread rule); handles go
 * back to a free list after use, and a handle keeps its connection across
 * uses, so a request pays no new TCP+TLS handshake it need not.  A share
 * handle gives them one DNS cache and one TLS session cache; not one
 * connection cache, which libcurl does not support across concurrent
 * threads (CURLSHOPT_SHARE(3)): sharing it corrupted memory under load.
 */
#ifndef ODOFS_HTTP_H
#define ODOFS_HTTP_H

#include <curl/curl.h>

/* TLS: the peer's certificate and host name are always verified, unless
 * no_verify_ssl (-o no_verify_ssl, an explicit and logged opt-in) says not
 * to.  Nothing else may turn CURLOPT_SSL_VERIFYPEER/VERIFYHOST off. */
struct http_config {
	unsigned connect_timeout_ms;
	const char *ca_bundle; /* NULL: AWS_CA_BUNDLE, else the system store */
	int no_verify_ssl;     /* 1: accept any certificate (insecure) */
};

struct http;

struct http *http_new(const struct http_config *cfg);
/* A handle reset to odofs's defaults (timeouts, share, CA).  NULL on ENOMEM.
 * Give it back with http_handle_put(). */
CURL *http_handle_get(struct http *h);
void http_handle_put(struct http *h, CURL *c);
void http_free(struct http *h);

/* After a request to url failed: was it the TLS certificate?  Opens one
 * connection with cfg's TLS settings; when the handshake fails on the
 * certificate (untrusted issuer, wrong host name, expired, unreadable CA
 * file) returns 1 with curl's reason in msg, else 0 (msg untouched). */
int http_tls_refused(const struct http_config *cfg, const char *url, char *msg, size_t size);

#endif
