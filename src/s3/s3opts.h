/* s3opts.h - the S3 client's options: where S3 is (endpoint, region,
 * addressing), whose credentials sign, how its TLS is checked, and how
 * many requests and upload bytes may be in flight.  Both backends' S3
 * traffic (a bucket's objects, Redshift's staging) takes them. */
#ifndef ODOFS_S3OPTS_H
#define ODOFS_S3OPTS_H

#include <stddef.h>

#include "opts.h"

struct s3opts {
	/* from the command line */
	char *endpoint; /* NULL: AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL, or AWS */
	char *region;	/* NULL: AWS_REGION, AWS_DEFAULT_REGION, profile, us-east-1 */
	char *profile;
	char *connect_timeout_arg;
	char *retries_arg;
	char *connections_arg;
	char *write_buffer_arg;
	char *ca_bundle;
	int path_style; /* -1: decide from the endpoint */
	int anonymous;
	int no_verify_ssl; /* S3 TLS certificates not checked (warned at every mount) */

	/* resolved by the layer's resolve */
	unsigned connect_timeout_ms;
	unsigned retries;
	unsigned connections; /* worker threads for S3 requests */
	size_t write_buffer_bytes;
	char *endpoint_url; /* scheme://host[:port], no trailing '/' */
	char *region_name;
};

/* Sets s to its defaults and *layer to its table for opts_parse(); the
 * layer's free releases what s holds, not s itself. */
void s3opts_init(struct s3opts *s, struct opts_layer *layer);

#endif
