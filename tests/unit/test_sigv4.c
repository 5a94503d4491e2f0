/* test_sigv4.c - the signer against the public AWS SigV4 test vectors.
 *
 * The vectors are read at run time from $ODOFS_TESTDATA/sigv4 (or
 * ../shared/testdata/sigv4), never copied into the project; the S3 worked
 * examples and the edge cases below are hard-coded and always run.  When
 * the folder is absent the test skips (77) after the hard-coded part.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <json-c/json.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "s3/sigv4.h"
#include "unit.h"

#define MAX_HEADERS 64

/* 2015-08-30T12:36:00Z, the time of the botocore and aws-c-auth suites. */
static const time_t SUITE_TIME = 1440938160;
/* 2013-05-24T00:00:00Z, the time of the S3 reference examples. */
static const time_t S3_DOCS_TIME = 1369353600;

static const struct sigv4_key suite_key = {
	.access_key_id = "AKIDEXAMPLE",
	.secret_access_key = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
	.region = "us-east-1",
	.service = "service",
};

static const struct sigv4_key s3_docs_key = {
	.access_key_id = "AKIAIOSFODNN7EXAMPLE",
	.secret_access_key = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
	.region = "us-east-1",
	.service = "s3",
};

static const char EMPTY_SHA256[] =
	"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

/* ---- small helpers -------------------------------------------------- */

static void *xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);

	if (!p) {
		fprintf(stderr, "test_sigv4: out of memory\n");
		exit(99);
	}
	return p;
}

static char *xstrndup(const char *s, size_t n)
{
	char *p = xmalloc(n + 1);

	memcpy(p, s, n);
	p[n] = '\0';
	return p;
}

static char *xstrdup(const char *s)
{
	return xstrndup(s, strlen(s));
}

/* snprintf for file names: one too long for the buffer is a broken test
 * setup, not something to go on with truncated. */
static void pathf(char *out, size_t size, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void pathf(char *out, size_t size, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(out, size, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= size) {
		fprintf(stderr, "test_sigv4: path too long: %s\n", out);
		exit(99);
	}
}

/* The whole file, NUL-terminated; NULL if it cannot be read. */
static char *read_file(const char *path, size_t *len_out)
{
	FILE *f = fopen(path, "rb");
	char *data = NULL;
	size_t len = 0, cap = 0, n;

	if (!f)
		return NULL;
	do {
		if (cap - len < 4096) {
			cap = cap ? cap * 2 : 8192;
			data = realloc(data, cap + 1);
			if (!data) {
				fclose(f);
				return NULL;
			}
		}
		n = fread(data + len, 1, cap - len, f);
		len += n;
	} while (n > 0);
	fclose(f);
	data[len] = '\0';
	if (len_out)
		*len_out = len;
	return data;
}

/* An expected-value file, without the trailing newline some of them have
 * (no canonical request, string to sign or signature ends in one). */
static char *read_expected(const char *dir, const char *name)
{
	char path[4096];
	char *s;
	size_t len;

	pathf(path, sizeof(path), "%s/%s", dir, name);
	s = read_file(path, &len);
	while (s && len && (s[len - 1] == '\n' || s[len - 1] == '\r'))
		s[--len] = '\0';
	return s;
}

static int is_dir(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

static int is_file(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

/* ---- raw HTTP requests of the suites -------------------------------- */

struct http_req {
	char *method;
	char *path; /* raw, as the vector writes it: may hold spaces and UTF-8 */
	char *query;
	struct sigv4_header headers[MAX_HEADERS];
	size_t n_headers;
	const char *body;
	size_t body_len;
	char *text;
};

static void http_req_free(struct http_req *h)
{
	free(h->method);
	free(h->path);
	free(h->query);
	for (size_t i = 0; i < h->n_headers; i++) {
		free((char *)h->headers[i].name);
		free((char *)h->headers[i].value);
	}
	free(h->text);
	memset(h, 0, sizeof(*h));
}

static int http_add_header(struct http_req *h, const char *name, const char *value)
{
	if (h->n_headers == MAX_HEADERS)
		return -1;
	h->headers[h->n_headers].name = xstrdup(name);
	h->headers[h->n_headers].value = xstrdup(value);
	h->n_headers++;
	return 0;
}

static const char *http_header(const struct http_req *h, const char *name)
{
	for (size_t i = 0; i < h->n_headers; i++)
		if (strcasecmp(h->headers[i].name, name) == 0)
			return h->headers[i].value;
	return NULL;
}

/* Request line ("GET /example space/ HTTP/1.1": the target is everything
 * between the first and the last space), headers with obs-fold
 * continuation lines joined by a space, then the body after the blank
 * line.  0, or -1 if the text is not a request. */
static int http_parse(struct http_req *h, const char *path)
{
	const char *p, *eol, *sp1, *sp2, *q;
	size_t len;

	memset(h, 0, sizeof(*h));
	h->text = read_file(path, &len);
	if (!h->text)
		return -1;
	p = h->text;
	eol = strchr(p, '\n');
	if (!eol)
		eol = p + strlen(p);
	sp1 = memchr(p, ' ', (size_t)(eol - p));
	sp2 = eol;
	while (sp2 > p && sp2[-1] != ' ')
		sp2--;
	if (!sp1 || sp2 <= sp1 + 1 || strncmp(sp2, "HTTP/", 5) != 0)
		return -1;
	sp2--; /* the last space */
	h->method = xstrndup(p, (size_t)(sp1 - p));
	q = memchr(sp1 + 1, '?', (size_t)(sp2 - sp1 - 1));
	h->path = xstrndup(sp1 + 1, (size_t)((q ? q : sp2) - sp1 - 1));
	h->query = q ? xstrndup(q + 1, (size_t)(sp2 - q - 1)) : xstrdup("");

	p = *eol ? eol + 1 : eol;
	while (*p) {
		const char *colon;
		size_t line_len;

		eol = strchr(p, '\n');
		if (!eol)
			eol = p + strlen(p);
		line_len = (size_t)(eol - p);
		if (line_len && p[line_len - 1] == '\r')
			line_len--;
		if (line_len == 0) { /* end of headers */
			p = *eol ? eol + 1 : eol;
			break;
		}
		if ((p[0] == ' ' || p[0] == '\t') && h->n_headers) {
			struct sigv4_header *last = &h->headers[h->n_headers - 1];
			size_t old = strlen(last->value);
			char *v = xmalloc(old + 1 + line_len + 1);

			memcpy(v, last->value, old);
			v[old] = ' ';
			memcpy(v + old + 1, p, line_len);
			v[old + 1 + line_len] = '\0';
			free((char *)last->value);
			last->value = v;
		} else {
			char *name, *value;

			colon = memchr(p, ':', line_len);
			if (!colon || h->n_headers == MAX_HEADERS)
				return -1;
			name = xstrndup(p, (size_t)(colon - p));
			value = xstrndup(colon + 1, line_len - (size_t)(colon - p) - 1);
			h->headers[h->n_headers].name = name;
			h->headers[h->n_headers].value = value;
			h->n_headers++;
		}
		p = *eol ? eol + 1 : eol;
	}
	h->body = p;
	h->body_len = strlen(p);
	return 0;
}

/* The path as an S3 client puts it on the wire: every byte but the
 * unreserved ones and '/' percent-encoded, once. */
static char *wire_path(const char *raw)
{
	static const char hex[] = "0123456789ABCDEF";
	char *out = xmalloc(3 * strlen(raw) + 1), *o = out;

	for (const unsigned char *p = (const unsigned char *)raw; *p; p++) {
		if ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
		    (*p >= '0' && *p <= '9') || strchr("-_.~/", *p)) {
			*o++ = (char)*p;
		} else {
			*o++ = '%';
			*o++ = hex[*p >> 4];
			*o++ = hex[*p & 15];
		}
	}
	*o = '\0';
	return out;
}

/* The signature from a string to sign, computed here independently of
 * sigv4.c, so the string-to-sign check does not lean on sigv4_sign(). */
static void reference_signature(const struct sigv4_key *key, const char *amz_date,
				const char *sts, char out[65])
{
	unsigned char k[EVP_MAX_MD_SIZE];
	unsigned int k_len = 0;
	char seed[256], date8[9];

	snprintf(seed, sizeof(seed), "AWS4%s", key->secret_access_key);
	snprintf(date8, sizeof(date8), "%.8s", amz_date);
	HMAC(EVP_sha256(), seed, (int)strlen(seed), (const unsigned char *)date8, 8, k, &k_len);
	HMAC(EVP_sha256(), k, 32, (const unsigned char *)key->region, strlen(key->region), k,
	     &k_len);
	HMAC(EVP_sha256(), k, 32, (const unsigned char *)key->service, strlen(key->service), k,
	     &k_len);
	HMAC(EVP_sha256(), k, 32, (const unsigned char *)"aws4_request", 12, k, &k_len);
	HMAC(EVP_sha256(), k, 32, (const unsigned char *)sts, strlen(sts), k, &k_len);
	for (int i = 0; i < 32; i++)
		sprintf(out + 2 * i, "%02x", k[i]);
}

/* ---- botocore: NAME/NAME.{req,creq,sts,authz} ------------------------ */

static int botocore_case(const char *dir, const char *name)
{
	char path[4096], payload[65];
	struct http_req h;
	struct sigv4_request req;
	struct sigv4_result res;
	char *creq = NULL, *sts = NULL, *want_creq, *want_sts, *want_authz;
	int before = unit_failures;

	pathf(path, sizeof(path), "%s/%s.req", dir, name);
	if (http_parse(&h, path) < 0) {
		fprintf(stderr, "botocore/%s: cannot parse %s\n", name, path);
		unit_failures++;
		http_req_free(&h);
		return 0;
	}
	pathf(path, sizeof(path), "%s.creq", name);
	want_creq = read_expected(dir, path);
	pathf(path, sizeof(path), "%s.sts", name);
	want_sts = read_expected(dir, path);
	pathf(path, sizeof(path), "%s.authz", name);
	want_authz = read_expected(dir, path);

	/* get-vanilla-with-session-token signs a token the SDK adds from its
	 * credentials; the .req leaves it out and the .sreq shows it.  Add
	 * it as the caller of sigv4_sign() would, as one more header. */
	if (!http_header(&h, "X-Amz-Security-Token") && want_creq &&
	    strstr(want_creq, "\nx-amz-security-token:")) {
		struct http_req sreq;

		pathf(path, sizeof(path), "%s/%s.sreq", dir, name);
		if (http_parse(&sreq, path) == 0 && http_header(&sreq, "X-Amz-Security-Token"))
			http_add_header(&h, "X-Amz-Security-Token",
					http_header(&sreq, "X-Amz-Security-Token"));
		http_req_free(&sreq);
	}

	sigv4_sha256_hex(h.body, h.body_len, payload);
	req = (struct sigv4_request){
		.method = h.method,
		.path = h.path,
		.query = h.query,
		.headers = h.headers,
		.n_headers = h.n_headers,
		.payload_hash = payload,
	};
	/* The generic-service rules: the .req paths are raw, and the one
	 * encoding of the normalising signer is the one the .creq shows. */
	creq = sigv4_canonical_request(&req, SIGV4_NORMALIZE_PATH);
	CHECK_STR(creq, want_creq);
	if (creq) {
		sts = sigv4_string_to_sign(creq, &suite_key, SUITE_TIME);
		CHECK_STR(sts, want_sts);
	}
	CHECK(sigv4_sign(&req, &suite_key, SUITE_TIME, SIGV4_NORMALIZE_PATH, &res) == 0);
	CHECK_STR(res.authorization, want_authz);
	CHECK_STR(res.amz_date, http_header(&h, "X-Amz-Date"));
	if (unit_failures != before)
		fprintf(stderr, "  in botocore case %s\n", name);

	free(creq);
	free(sts);
	free(want_creq);
	free(want_sts);
	free(want_authz);
	http_req_free(&h);
	return 1;
}

static int scan_names(const char *dir, struct dirent ***names)
{
	return scandir(dir, names, NULL, alphasort);
}

/* Every NAME/NAME.req below dir, subfolders (normalize-path/,
 * post-sts-token/) included; returns the number of cases run. */
static int botocore_dir(const char *dir)
{
	struct dirent **names;
	int n = scan_names(dir, &names), ran = 0;

	for (int i = 0; i < n; i++) {
		const char *name = names[i]->d_name;
		char sub[4096], req[4096 + 300];

		if (name[0] != '.') {
			pathf(sub, sizeof(sub), "%s/%s", dir, name);
			pathf(req, sizeof(req), "%s/%s.req", sub, name);
			if (is_file(req))
				ran += botocore_case(sub, name);
			else if (is_dir(sub))
				ran += botocore_dir(sub);
		}
		free(names[i]);
	}
	if (n >= 0)
		free(names);
	return ran;
}

/* ---- aws-c-auth: request.txt + context.json ------------------------- */


static const char *ctx_str(struct json_object *o, const char *key)
{
	struct json_object *v;

	if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_string))
		return NULL;
	return json_object_get_string(v);
}

static int ctx_bool(struct json_object *o, const char *key)
{
	struct json_object *v;

	return json_object_object_get_ex(o, key, &v) && json_object_get_boolean(v);
}

/* A key this test does not know means a feature it cannot vouch for. */
static const char *json_unknown_key(struct json_object *o, const char *const *known)
{
	json_object_object_foreach(o, key, val)
	{
		size_t i;

		(void)val;
		for (i = 0; known[i]; i++)
			if (strcmp(key, known[i]) == 0)
				break;
		if (!known[i])
			return key;
	}
	return NULL;
}

/* "2015-08-30T12:36:00Z" to time_t; (time_t)-1 if malformed. */
static time_t parse_iso8601(const char *s)
{
	struct tm tm = { 0 };
	char z = 0;

	if (!s || sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d%c", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
			 &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &z) != 7 ||
	    z != 'Z')
		return (time_t)-1;
	tm.tm_year -= 1900;
	tm.tm_mon -= 1;
	return timegm(&tm);
}

/* 1 ran, 0 skipped (with a note on stdout). */
static int aws_c_auth_case(const char *dir, const char *name)
{
	static const char *const known_top[] = { "credentials", "expiration_in_seconds",
						 "normalize", "region", "service", "sign_body",
						 "timestamp", "omit_session_token", NULL };
	static const char *const known_creds[] = { "access_key_id", "secret_access_key", "token",
						   NULL };
	char path[4096], payload[65], amz_date[17];
	struct json_object *ctx = NULL, *creds = NULL;
	struct http_req h = { 0 };
	struct sigv4_key key;
	struct sigv4_request req;
	struct sigv4_result res;
	char *creq = NULL, *sts = NULL, *want_creq = NULL, *want_sts = NULL, *want_sig = NULL;
	char *signed_req = NULL, *wire = NULL;
	const char *unknown, *token, *want_authz;
	unsigned flags;
	time_t now;
	int before = unit_failures, ran = 0;

	pathf(path, sizeof(path), "%s/context.json", dir);
	ctx = json_object_from_file(path);
	if (!ctx || !json_object_object_get_ex(ctx, "credentials", &creds)) {
		printf("aws-c-auth/%s: skipped, no readable context.json\n", name);
		goto out;
	}
	unknown = json_unknown_key(ctx, known_top);
	if (!unknown)
		unknown = json_unknown_key(creds, known_creds);
	if (unknown) {
		printf("aws-c-auth/%s: skipped, context key \"%s\" is outside sigv4.h\n", name,
		       unknown);
		goto out;
	}
	want_creq = read_expected(dir, "header-canonical-request.txt");
	want_sts = read_expected(dir, "header-string-to-sign.txt");
	want_sig = read_expected(dir, "header-signature.txt");
	if (!want_creq || !want_sts || !want_sig) {
		printf("aws-c-auth/%s: skipped, no header-* expectations\n", name);
		goto out;
	}
	key = (struct sigv4_key){
		.access_key_id = ctx_str(creds, "access_key_id"),
		.secret_access_key = ctx_str(creds, "secret_access_key"),
		.region = ctx_str(ctx, "region"),
		.service = ctx_str(ctx, "service"),
	};
	now = parse_iso8601(ctx_str(ctx, "timestamp"));
	pathf(path, sizeof(path), "%s/request.txt", dir);
	if (!key.access_key_id || !key.secret_access_key || !key.region || !key.service ||
	    now == (time_t)-1 || http_parse(&h, path) < 0) {
		fprintf(stderr, "aws-c-auth/%s: malformed case\n", name);
		unit_failures++;
		goto out;
	}
	ran = 1;

	/* What the aws-c-auth signer adds to the request before signing, the
	 * caller of sigv4_sign() adds here: the date, the body hash when the
	 * body is signed, the session token unless told to leave it out (it
	 * then goes on the request after signing). */
	sigv4_amz_date(now, amz_date);
	sigv4_sha256_hex(h.body, h.body_len, payload);
	http_add_header(&h, "X-Amz-Date", amz_date);
	if (ctx_bool(ctx, "sign_body"))
		http_add_header(&h, "x-amz-content-sha256", payload);
	token = ctx_str(creds, "token");
	if (token && !ctx_bool(ctx, "omit_session_token"))
		http_add_header(&h, "X-Amz-Security-Token", token);

	/* "normalize": false is the S3 rule: the path goes to the signer as
	 * it goes on the wire, encoded once, and is signed as is. */
	if (ctx_bool(ctx, "normalize")) {
		flags = SIGV4_NORMALIZE_PATH;
	} else {
		flags = 0;
		wire = wire_path(h.path);
	}
	req = (struct sigv4_request){
		.method = h.method,
		.path = wire ? wire : h.path,
		.query = h.query,
		.headers = h.headers,
		.n_headers = h.n_headers,
		.payload_hash = payload,
	};
	creq = sigv4_canonical_request(&req, flags);
	CHECK_STR(creq, want_creq);
	if (creq) {
		sts = sigv4_string_to_sign(creq, &key, now);
		CHECK_STR(sts, want_sts);
	}
	CHECK(sigv4_sign(&req, &key, now, flags, &res) == 0);
	CHECK_STR(res.signature, want_sig);
	signed_req = read_expected(dir, "header-signed-request.txt");
	want_authz = signed_req ? strstr(signed_req, "\nAuthorization:") : NULL;
	if (want_authz) {
		char *end;

		want_authz += strlen("\nAuthorization:");
		want_authz += strspn(want_authz, " ");
		end = strchr(want_authz, '\n');
		if (end)
			*end = '\0';
		CHECK_STR(res.authorization, want_authz);
	}
	if (unit_failures != before)
		fprintf(stderr, "  in aws-c-auth case %s\n", name);
out:
	json_object_put(ctx);
	http_req_free(&h);
	free(wire);
	free(creq);
	free(sts);
	free(want_creq);
	free(want_sts);
	free(want_sig);
	free(signed_req);
	return ran;
}

static int aws_c_auth_dir(const char *dir, int *skipped)
{
	struct dirent **names;
	int n = scan_names(dir, &names), ran = 0;

	for (int i = 0; i < n; i++) {
		char sub[4096];

		pathf(sub, sizeof(sub), "%s/%s", dir, names[i]->d_name);
		if (names[i]->d_name[0] != '.' && is_dir(sub)) {
			if (aws_c_auth_case(sub, names[i]->d_name))
				ran++;
			else
				(*skipped)++;
		}
		free(names[i]);
	}
	if (n >= 0)
		free(names);
	return ran;
}

/* ---- s3-docs: NAME/creq + NAME/sig ---------------------------------- */

/* Turn a canonical request back into a request: for S3 it is a fixed
 * point of canonicalisation, so sigv4_sign() must reproduce it.  The
 * strings point into creq, which this modifies. */
static int request_from_creq(char *creq, struct sigv4_request *req, struct sigv4_header *hdrs,
			     size_t max_headers)
{
	char *line[3], *p = creq, *nl;
	size_t n = 0;

	for (int i = 0; i < 3; i++) {
		nl = strchr(p, '\n');
		if (!nl)
			return -1;
		*nl = '\0';
		line[i] = p;
		p = nl + 1;
	}
	while (*p != '\n') {
		char *colon;

		nl = strchr(p, '\n');
		colon = strchr(p, ':');
		if (!nl || !colon || colon > nl || n == max_headers)
			return -1;
		*nl = *colon = '\0';
		hdrs[n].name = p;
		hdrs[n].value = colon + 1;
		n++;
		p = nl + 1;
	}
	p++;
	nl = strchr(p, '\n'); /* skip the signed-headers line */
	if (!nl)
		return -1;
	*req = (struct sigv4_request){
		.method = line[0],
		.path = line[1],
		.query = line[2],
		.headers = hdrs,
		.n_headers = n,
		.payload_hash = nl + 1,
	};
	return 0;
}

static int s3_docs_dir(const char *dir)
{
	struct dirent **names;
	int n = scan_names(dir, &names), ran = 0;

	for (int i = 0; i < n; i++) {
		char sub[4096], amz_date[17], sig[65];
		char *creq = NULL, *want_sig = NULL, *sts = NULL, *copy = NULL, *again = NULL;
		struct sigv4_header hdrs[MAX_HEADERS];
		struct sigv4_request req;
		struct sigv4_result res;
		int before = unit_failures;

		pathf(sub, sizeof(sub), "%s/%s", dir, names[i]->d_name);
		if (names[i]->d_name[0] == '.' || !is_dir(sub))
			goto next;
		creq = read_expected(sub, "creq");
		want_sig = read_expected(sub, "sig");
		if (!creq || !want_sig) {
			printf("s3-docs/%s: skipped, no creq or sig\n", names[i]->d_name);
			goto next;
		}
		ran++;
		sigv4_amz_date(S3_DOCS_TIME, amz_date);
		sts = sigv4_string_to_sign(creq, &s3_docs_key, S3_DOCS_TIME);
		CHECK(sts != NULL);
		if (sts) {
			reference_signature(&s3_docs_key, amz_date, sts, sig);
			CHECK_STR(sig, want_sig);
		}
		copy = xstrdup(creq);
		CHECK(request_from_creq(copy, &req, hdrs, MAX_HEADERS) == 0);
		if (unit_failures == before) {
			again = sigv4_canonical_request(&req, 0);
			CHECK_STR(again, creq);
			CHECK(sigv4_sign(&req, &s3_docs_key, S3_DOCS_TIME, 0, &res) == 0);
			CHECK_STR(res.signature, want_sig);
		}
		if (unit_failures != before)
			fprintf(stderr, "  in s3-docs case %s\n", names[i]->d_name);
next:
		free(creq);
		free(want_sig);
		free(sts);
		free(copy);
		free(again);
		free(names[i]);
	}
	if (n >= 0)
		free(names);
	return ran;
}

/* ---- hard-coded: S3 reference worked examples ----------------------- */

static void sign_s3(const char *method, const char *path, const char *query,
		    const struct sigv4_header *hdrs, size_t n_headers, const char *payload_hash,
		    const char *want_signature)
{
	struct sigv4_request req = {
		.method = method,
		.path = path,
		.query = query,
		.headers = hdrs,
		.n_headers = n_headers,
		.payload_hash = payload_hash,
	};
	struct sigv4_result res;

	CHECK(sigv4_sign(&req, &s3_docs_key, S3_DOCS_TIME, 0, &res) == 0);
	CHECK_STR(res.signature, want_signature);
	CHECK_STR(res.amz_date, "20130524T000000Z");
}

static void test_s3_examples(void)
{
	/* GET Object with Range, verbatim from the S3 API reference. */
	static const struct sigv4_header get_range[] = {
		{ "Host", "examplebucket.s3.amazonaws.com" },
		{ "Range", "bytes=0-9" },
		{ "x-amz-content-sha256", EMPTY_SHA256 },
		{ "x-amz-date", "20130524T000000Z" },
	};
	struct sigv4_request req = {
		.method = "GET",
		.path = "/test.txt",
		.headers = get_range,
		.n_headers = 4,
		.payload_hash = EMPTY_SHA256,
	};
	struct sigv4_result res;

	CHECK(sigv4_sign(&req, &s3_docs_key, S3_DOCS_TIME, 0, &res) == 0);
	CHECK_STR(res.signature, "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41");
	CHECK_STR(res.authorization,
		  "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/"
		  "aws4_request, SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, "
		  "Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41");

	/* PUT Object "test$file.text": '$' goes on the wire as %24, and the
	 * S3 signer leaves that alone.  Headers out of order, mixed case. */
	static const struct sigv4_header put[] = {
		{ "x-amz-storage-class", "REDUCED_REDUNDANCY" },
		{ "Host", "examplebucket.s3.amazonaws.com" },
		{ "Date", "Fri, 24 May 2013 00:00:00 GMT" },
		{ "X-Amz-Date", "20130524T000000Z" },
		{ "x-amz-content-sha256",
		  "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072" },
	};
	sign_s3("PUT", "/test%24file.text", NULL, put, 5,
		"44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072",
		"98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd");

	/* GET Bucket lifecycle: "?lifecycle" signs as "lifecycle=". */
	static const struct sigv4_header bucket[] = {
		{ "Host", "examplebucket.s3.amazonaws.com" },
		{ "x-amz-date", "20130524T000000Z" },
		{ "x-amz-content-sha256", EMPTY_SHA256 },
	};
	sign_s3("GET", "/", "lifecycle", bucket, 3, EMPTY_SHA256,
		"fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543");

	/* ListObjects: the query given out of order is sorted. */
	sign_s3("GET", "/", "prefix=J&max-keys=2", bucket, 3, EMPTY_SHA256,
		"34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7");
	/* ... and an empty path is "/". */
	sign_s3("GET", "", "max-keys=2&prefix=J", bucket, 3, EMPTY_SHA256,
		"34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7");
}

/* ---- hard-coded: the rules, one at a time --------------------------- */

static char *creq_of(const char *path, const char *query, unsigned flags)
{
	static const struct sigv4_header host[] = { { "Host", "h" } };
	struct sigv4_request req = {
		.method = "GET",
		.path = path,
		.query = query,
		.headers = host,
		.n_headers = 1,
		.payload_hash = "UNSIGNED-PAYLOAD",
	};

	return sigv4_canonical_request(&req, flags);
}

/* The URI or query line (1 or 2) of the canonical request. */
static void check_line(const char *path, const char *query, unsigned flags, int line,
		       const char *want)
{
	char *creq = creq_of(path, query, flags), *p = creq, *end;

	CHECK(creq != NULL);
	if (!creq)
		return;
	for (int i = 0; i < line && p; i++) {
		p = strchr(p, '\n');
		if (p)
			p++;
	}
	end = p ? strchr(p, '\n') : NULL;
	if (end)
		*end = '\0';
	CHECK_STR(p, want);
	free(creq);
}

static void test_rules(void)
{
	char date[17], hash[65];
	struct sigv4_result res, untouched;

	sigv4_amz_date(1440938160, date);
	CHECK_STR(date, "20150830T123600Z");
	sigv4_amz_date(0, date);
	CHECK_STR(date, "19700101T000000Z");
	sigv4_sha256_hex("", 0, hash);
	CHECK_STR(hash, EMPTY_SHA256);
	sigv4_sha256_hex("Param1=value1", 13, hash);
	CHECK_STR(hash, "9095672bbd1f56dfc5b65f3e153adc8731a4a654192329106275f4c7b24d0b6e");

	/* S3: the path as given, never normalised nor re-encoded. */
	check_line("/my-object//example//photo.user", NULL, 0, 1,
		   "/my-object//example//photo.user");
	check_line("/b/./a/../c%20d", NULL, 0, 1, "/b/./a/../c%20d");
	check_line("", NULL, 0, 1, "/");
	check_line(NULL, NULL, 0, 1, "/");
	/* Generic: dot segments and "//" go, each segment encoded again. */
	check_line("/b/./a/../c%20d", NULL, SIGV4_NORMALIZE_PATH, 1, "/b/c%2520d");
	check_line("//a//b//", NULL, SIGV4_NORMALIZE_PATH, 1, "/a/b/");
	check_line("/a/b/..", NULL, SIGV4_NORMALIZE_PATH, 1, "/a/");
	check_line("/../..", NULL, SIGV4_NORMALIZE_PATH, 1, "/");
	check_line("", NULL, SIGV4_NORMALIZE_PATH, 1, "/");
	check_line("a/b", NULL, SIGV4_NORMALIZE_PATH, 1, "/a/b");

	/* Query: decoded, re-encoded, sorted by name then value. */
	check_line("/", "", 0, 2, "");
	check_line("/", "b=2&a=1&a=0", 0, 2, "a=0&a=1&b=2");
	check_line("/", "a+b=c d", 0, 2, "a%2Bb=c%20d");
	check_line("/", "x=%2f%7E%zz%4", 0, 2, "x=%2F~%25zz%254");
	check_line("/", "acl&&uploads=&", 0, 2, "acl=&uploads=");
	check_line("/", "k=a=b", 0, 2, "k=a%3Db");
	check_line("/", "Param-3=1&Param=2", 0, 2, "Param=2&Param-3=1");
	check_line("/", "continuation-token=1%2Fab%2B%3D", 0, 2,
		   "continuation-token=1%2Fab%2B%3D");

	/* Headers: folded, joined, sorted; signed list ';'-joined. */
	{
		static const struct sigv4_header hdrs[] = {
			{ "X-B", "  two   words\t here  " },
			{ "host", "h" },
			{ "x-a", "1" },
			{ "X-A", "" },
			{ "x-a", "3" },
		};
		struct sigv4_request req = { .method = "GET",
					     .path = "/",
					     .headers = hdrs,
					     .n_headers = 5,
					     .payload_hash = "UNSIGNED-PAYLOAD" };
		char *creq = sigv4_canonical_request(&req, 0);

		CHECK_STR(creq, "GET\n/\n\nhost:h\nx-a:1,,3\nx-b:two words here\n\n"
				"host;x-a;x-b\nUNSIGNED-PAYLOAD");
		free(creq);
	}

	/* Errors leave the result untouched. */
	{
		static const struct sigv4_header host[] = { { "Host", "h" } };
		static const struct sigv4_header bad[] = { { "Bad Name", "v" } };
		struct sigv4_header many[64];
		char names[64][40];
		struct sigv4_request req = { .method = "GET",
					     .path = "/",
					     .headers = host,
					     .n_headers = 1,
					     .payload_hash = "UNSIGNED-PAYLOAD" };
		struct sigv4_key key = s3_docs_key;

		memset(&untouched, 'x', sizeof(untouched));
		res = untouched;
		req.method = NULL;
		CHECK(sigv4_sign(&req, &s3_docs_key, 0, 0, &res) == -EINVAL);
		req.method = "GET";
		req.payload_hash = NULL;
		CHECK(sigv4_sign(&req, &s3_docs_key, 0, 0, &res) == -EINVAL);
		req.payload_hash = "UNSIGNED-PAYLOAD";
		key.region = NULL;
		CHECK(sigv4_sign(&req, &key, 0, 0, &res) == -EINVAL);
		req.headers = bad;
		CHECK(sigv4_sign(&req, &s3_docs_key, 0, 0, &res) == -EINVAL);
		errno = 0;
		CHECK(sigv4_canonical_request(&req, 0) == NULL && errno == EINVAL);
		/* A signed-header list that cannot fit the Authorization. */
		for (int i = 0; i < 64; i++) {
			snprintf(names[i], sizeof(names[i]), "x-amz-meta-a-rather-long-name-%02d", i);
			many[i] = (struct sigv4_header){ names[i], "v" };
		}
		req.headers = many;
		req.n_headers = 64;
		CHECK(sigv4_sign(&req, &s3_docs_key, 0, 0, &res) == -EINVAL);
		CHECK(memcmp(&res, &untouched, sizeof(res)) == 0);
		req.n_headers = 16;
		CHECK(sigv4_sign(&req, &s3_docs_key, 0, 0, &res) == 0);
		CHECK(strlen(res.signature) == 64);
	}
}

int main(void)
{
	const char *base = getenv("ODOFS_TESTDATA");
	char dir[4096], sub[4200];
	int ran, skipped = 0;

	test_rules();
	test_s3_examples();

	if (!base || !*base)
		base = "../shared/testdata";
	pathf(dir, sizeof(dir), "%s/sigv4", base);
	if (!is_dir(dir)) {
		printf("test_sigv4: no test vectors at %s; vector tests skipped\n", dir);
		if (unit_failures)
			return unit_done("sigv4");
		unit_done("sigv4");
		return 77;
	}

	pathf(sub, sizeof(sub), "%s/botocore", dir);
	ran = botocore_dir(sub);
	printf("botocore: %d cases\n", ran);
	CHECK(ran >= 30);

	pathf(sub, sizeof(sub), "%s/aws-c-auth/v4", dir);
	ran = aws_c_auth_dir(sub, &skipped);
	printf("aws-c-auth/v4: %d cases, %d skipped\n", ran, skipped);
	CHECK(ran >= 30);

	pathf(sub, sizeof(sub), "%s/s3-docs", dir);
	ran = s3_docs_dir(sub);
	printf("s3-docs: %d cases\n", ran);
	CHECK(ran >= 5);

	return unit_done("sigv4");
}
