/* s3.c - see s3.h
 *
 * The S3 operations on objects (HEAD, GET, PUT, multipart uploads, copies,
 * deletes).  Each builds a struct s3_call and runs it through the request
 * engine (request.c, s3_i.h); listings are in list.c.
 */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <openssl/evp.h>

#include "buf.h"
#include "http.h"
#include "log.h"
#include "s3.h"
#include "s3_i.h"
#include "s3xml.h"

/* ListMultipartUploads of one key, after a CreateMultipartUpload was sent
 * twice: the uploads looked at, and the page read (1,000 at ~600 bytes). */
#define S3_SWEEP_MAX   64
#define S3_UPLOADS_MAX (1024 * 1024)

/* A decimal header value, or -1. */
static long long s3_header_num(CURL *c, const char *name)
{
	char value[64], *end;
	long long v;

	if (s3_header(c, name, value, sizeof(value)) < 0)
		return -1;
	errno = 0;
	v = strtoll(value, &end, 10);
	/* s3fs may write mtime with a fraction: "1700000000.5". */
	if (errno || end == value || (*end && *end != '.') || v < 0)
		return -1;
	return v;
}

static void s3_meta_read(CURL *c, struct s3_meta *m)
{
	long long v;

	memset(m, 0, sizeof(*m));
	if ((v = s3_header_num(c, "x-amz-meta-mode")) >= 0 && v <= 0177777) {
		m->mode = (mode_t)v;
		m->flags |= S3_META_MODE;
	}
	if ((v = s3_header_num(c, "x-amz-meta-uid")) >= 0 && v <= 0xfffffffeLL) {
		m->uid = (uid_t)v;
		m->flags |= S3_META_UID;
	}
	if ((v = s3_header_num(c, "x-amz-meta-gid")) >= 0 && v <= 0xfffffffeLL) {
		m->gid = (gid_t)v;
		m->flags |= S3_META_GID;
	}
	if ((v = s3_header_num(c, "x-amz-meta-mtime")) >= 0) {
		m->mtime = (time_t)v;
		m->flags |= S3_META_MTIME;
	}
	if ((v = s3_header_num(c, "x-amz-meta-ctime")) >= 0) {
		m->ctime = (time_t)v;
		m->flags |= S3_META_CTIME;
	}
	if ((v = s3_header_num(c, "x-amz-meta-rdev")) >= 0) {
		m->rdev = (dev_t)v;
		m->flags |= S3_META_RDEV;
	}
}

int s3_head(struct s3 *s, const char *bucket, const char *key, struct s3_object *out)
{
	struct s3_call call = {
	    .method = "HEAD", .bucket = bucket, .key = key, .no_body = 1, .keep_handle = 1};
	struct s3_object obj = {0};
	char value[128];
	curl_off_t length = -1;
	int r;

	r = s3_perform(s, &call);
	if (r < 0)
		return r;
	curl_easy_getinfo(call.curl, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &length);
	obj.size = length > 0 ? (off_t)length : 0;
	if (s3_header(call.curl, "Last-Modified", value, sizeof(value)) == 0)
		obj.mtime = curl_getdate(value, NULL);
	s3_header(call.curl, "ETag", obj.etag, sizeof(obj.etag));
	s3_meta_read(call.curl, &obj.meta);
	if (s3_header(call.curl, "Content-Type", obj.content_type, sizeof(obj.content_type)) == 0)
		obj.dir_type = !strncasecmp(obj.content_type, "application/x-directory", 23);
	else
		obj.content_type[0] = '\0';
	http_handle_put(s->http, call.curl);
	*out = obj;
	return 0;
}

int s3_get_first(struct s3 *s, const char *bucket, const char *key, char *buf, size_t cap,
		 size_t *got, struct s3_object *out)
{
	char range[64], value[128];
	struct s3_call call = {
	    .method = "GET",
	    .bucket = bucket,
	    .key = key,
	    .range = range,
	    .out_buf = buf,
	    .out_cap = cap,
	    .keep_handle = 1,
	};
	struct s3_object obj = {0};
	const char *slash;
	int r;

	*got = 0;
	snprintf(range, sizeof(range), "bytes=0-%llu", (unsigned long long)cap - 1);
	r = s3_perform(s, &call);
	if (r == -ERANGE) /* an empty object: no byte 0 to send */
		return s3_head(s, bucket, key, out);
	if (r < 0)
		return r;
	/* 206: "bytes 0-N/TOTAL"; a 200 (the range ignored) held it all. */
	if (s3_header(call.curl, "Content-Range", value, sizeof(value)) == 0 &&
	    (slash = strrchr(value, '/')) && slash[1] >= '0' && slash[1] <= '9')
		obj.size = (off_t)strtoll(slash + 1, NULL, 10);
	else
		obj.size = (off_t)call.out_len;
	if (s3_header(call.curl, "Last-Modified", value, sizeof(value)) == 0)
		obj.mtime = curl_getdate(value, NULL);
	s3_header(call.curl, "ETag", obj.etag, sizeof(obj.etag));
	s3_meta_read(call.curl, &obj.meta);
	http_handle_put(s->http, call.curl);
	if ((off_t)call.out_len > obj.size)
		return -EIO;
	*got = call.out_len;
	*out = obj;
	return 0;
}

ssize_t s3_get_range(struct s3 *s, const char *bucket, const char *key, off_t off, size_t len,
		     const char *if_match, char *buf)
{
	char range[64], etag[sizeof(((struct s3_object *)0)->etag)];
	struct s3_call call = {
	    .method = "GET",
	    .bucket = bucket,
	    .key = key,
	    .range = range,
	    .if_match = if_match,
	    .out_buf = buf,
	    .out_cap = len,
	    .keep_handle = 1,
	};
	int r;

	if (len == 0)
		return 0;
	snprintf(range, sizeof(range), "bytes=%lld-%lld", (long long)off,
		 (long long)off + (long long)len - 1);
	r = s3_perform(s, &call);
	if (r == -ERANGE)
		return 0; /* at or past the end of the object */
	if (r < 0)
		return r;
	/* If-Match is the contract, but not every server honours it: check
	 * the ETag of what came back too, so an open file never mixes two
	 * versions of an object. */
	if (if_match && s3_header(call.curl, "ETag", etag, sizeof(etag)) == 0 &&
	    strcmp(etag, if_match) != 0)
		r = -ESTALE;
	http_handle_put(s->http, call.curl);
	return r < 0 ? r : (ssize_t)call.out_len;
}

/* ---- writes ---- */

/* Header lines built for one write: values live in the struct. */
struct s3_hdrs {
	struct sigv4_header h[S3_EXTRA_MAX];
	char values[S3_EXTRA_MAX][1200];
	size_t n;
};

static void s3_hdrs_add(struct s3_hdrs *hs, const char *name, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void s3_hdrs_add(struct s3_hdrs *hs, const char *name, const char *fmt, ...)
{
	va_list ap;

	if (hs->n >= S3_EXTRA_MAX)
		return;
	va_start(ap, fmt);
	vsnprintf(hs->values[hs->n], sizeof(hs->values[hs->n]), fmt, ap);
	va_end(ap);
	hs->h[hs->n].name = name;
	hs->h[hs->n].value = hs->values[hs->n];
	hs->n++;
}

static void s3_hdrs_meta(struct s3_hdrs *hs, const struct s3_meta *m)
{
	if (!m)
		return;
	if (m->flags & S3_META_MODE)
		s3_hdrs_add(hs, "x-amz-meta-mode", "%u", (unsigned)m->mode);
	if (m->flags & S3_META_UID)
		s3_hdrs_add(hs, "x-amz-meta-uid", "%u", (unsigned)m->uid);
	if (m->flags & S3_META_GID)
		s3_hdrs_add(hs, "x-amz-meta-gid", "%u", (unsigned)m->gid);
	if (m->flags & S3_META_MTIME)
		s3_hdrs_add(hs, "x-amz-meta-mtime", "%lld", (long long)m->mtime);
	if (m->flags & S3_META_CTIME)
		s3_hdrs_add(hs, "x-amz-meta-ctime", "%lld", (long long)m->ctime);
	if (m->flags & S3_META_RDEV)
		s3_hdrs_add(hs, "x-amz-meta-rdev", "%llu", (unsigned long long)m->rdev);
}

/* MD5 of data: binary into raw[16], "\"hex\"" (as an ETag) into etag. */
static void s3_md5(const char *data, size_t len, unsigned char raw[16], s3_etag etag)
{
	unsigned int n = 16;

	EVP_Digest(data, len, raw, &n, EVP_md5(), NULL);
	etag[0] = '"';
	for (int i = 0; i < 16; i++)
		snprintf(etag + 1 + 2 * i, 3, "%02x", raw[i]);
	etag[33] = '"';
	etag[34] = '\0';
}

static void s3_hdrs_md5(struct s3_hdrs *hs, const unsigned char raw[16])
{
	char b64[32];

	EVP_EncodeBlock((unsigned char *)b64, raw, 16);
	s3_hdrs_add(hs, "Content-MD5", "%s", b64);
}

/* "x-amz-copy-source: /bucket/key", percent-encoded. */
static int s3_hdrs_copy_source(struct s3_hdrs *hs, const char *bucket, const char *key,
			       const char *etag)
{
	struct buf src;
	int r;

	buf_init(&src, sizeof(hs->values[0]) - 1);
	r = buf_append(&src, "/", 1);
	if (r == 0)
		r = s3_encode(&src, bucket, 0);
	if (r == 0)
		r = buf_append(&src, "/", 1);
	if (r == 0)
		r = s3_encode(&src, key, 1);
	if (r == 0)
		s3_hdrs_add(hs, "x-amz-copy-source", "%s", src.data);
	if (r == 0 && etag && *etag)
		s3_hdrs_add(hs, "x-amz-copy-source-if-match", "%s", etag);
	buf_free(&src);
	return r < 0 ? -ENAMETOOLONG : 0;
}

/* Compare the ETag S3 stored with the one computed here. */
static int s3_check_etag(const char *what, const char *bucket, const char *key, const char *got,
			 const char *want)
{
	if (!got[0] || !strcasecmp(got, want))
		return 0;
	log_err("%s s3://%s/%s: the server stored other bytes than were sent (ETag %s, expected "
		"%s)",
		what, bucket, key, got, want);
	return -EIO;
}
/* A *Result call whose answer that matters is the ETag (copies,
 * completions); etag_out may be NULL. */
static int s3_perform_etag(struct s3 *s, struct s3_call *call, s3_etag etag_out)
{
	struct s3xml_result res;
	int r = s3_perform_result(s, call, &res);

	if (r == 0 && etag_out)
		memcpy(etag_out, res.etag, sizeof(s3_etag));
	return r;
}

/* Send a body with its Content-MD5, and check the ETag S3 answers. */
static int s3_put_body(struct s3 *s, struct s3_call *call, struct s3_hdrs *hs, const char *what,
		       s3_etag etag_out)
{
	unsigned char raw[16];
	s3_etag want, got = "";
	int r;

	s3_md5(call->body, call->body_len, raw, want);
	s3_hdrs_md5(hs, raw);
	call->extra = hs->h;
	call->n_extra = hs->n;
	call->keep_handle = 1;
	r = s3_perform(s, call);
	if (r < 0)
		return r;
	s3_header(call->curl, "ETag", got, sizeof(s3_etag));
	http_handle_put(s->http, call->curl);
	r = s3_check_etag(what, call->bucket, call->key, got, want);
	if (r == 0 && etag_out)
		memcpy(etag_out, got[0] ? got : want, sizeof(s3_etag));
	return r;
}

int s3_put(struct s3 *s, const char *bucket, const char *key, const char *data, size_t len,
	   const struct s3_meta *meta, const char *content_type, s3_etag etag_out)
{
	struct s3_hdrs hs = {0};
	struct s3_call call = {.method = "PUT",
			       .bucket = bucket,
			       .key = key,
			       .body = data ? data : "",
			       .body_len = len};

	s3_hdrs_meta(&hs, meta);
	if (content_type)
		s3_hdrs_add(&hs, "Content-Type", "%s", content_type);
	return s3_put_body(s, &call, &hs, "PUT", etag_out);
}

/* The uploads of one key, as ListMultipartUploads gives them. */
struct s3_uploads {
	const char *key;
	struct {
		char *id;
		time_t initiated;
	} u[S3_SWEEP_MAX];
	unsigned n;
};

static int s3_uploads_add(void *arg, const struct s3xml_entry *e)
{
	struct s3_uploads *ups = arg;

	if (e->kind != S3XML_UPLOAD || strcmp(e->name, ups->key) || ups->n == S3_SWEEP_MAX)
		return 0;
	ups->u[ups->n].id = strdup(e->upload_id);
	if (!ups->u[ups->n].id)
		return -ENOMEM;
	ups->u[ups->n++].initiated = e->mtime;
	return 0;
}

static int s3_uploads_list(struct s3 *s, const char *bucket, struct s3_uploads *ups)
{
	struct s3_call call = {.method = "GET", .bucket = bucket};
	struct s3xml_parser *p = s3xml_uploads_parser_new(s3_uploads_add, ups);
	struct buf q, out;
	int r;

	if (!p)
		return -ENOMEM;
	buf_init(&q, 4096);
	buf_init(&out, S3_UPLOADS_MAX);
	r = buf_append(&q, "prefix=", 7);
	if (r == 0)
		r = s3_encode(&q, ups->key, 0);
	if (r == 0)
		r = buf_append(&q, "&uploads=", 9);
	if (r == 0) {
		call.query = q.data;
		call.out_dyn = &out;
		r = s3_perform(s, &call);
	}
	if (r == 0)
		r = s3xml_parser_feed(p, out.data ? out.data : "", out.len, 1);
	s3xml_parser_free(p);
	buf_free(&q);
	buf_free(&out);
	return r;
}

/* A CreateMultipartUpload sent more than once may have started an upload
 * whose answer was lost: nobody knows its UploadId, and its parts would be
 * billed until a lifecycle rule ends them.  Find those uploads of the key
 * that the server started while this call ran, judged by the server's own
 * clock against the Initiated time of the upload that `id` names, and
 * abort them.  Best effort: a failure here only logs. */
static void s3_mpu_sweep(struct s3 *s, const char *bucket, const char *key, const char *id,
			 uint64_t took_ms)
{
	struct s3_uploads ups = {.key = key};
	time_t ours = (time_t)-1, from;
	unsigned i, swept = 0;
	int r = s3_uploads_list(s, bucket, &ups);

	for (i = 0; r == 0 && i < ups.n; i++)
		if (!strcmp(ups.u[i].id, id))
			ours = ups.u[i].initiated;
	if (r < 0 || ours == (time_t)-1) {
		log_info("s3://%s/%s: could not look for an upload the server started twice",
			 bucket, key);
		goto out;
	}
	/* Initiated has a resolution of a second: allow one either side. */
	from = ours - (time_t)(took_ms / 1000) - 1;
	for (i = 0; i < ups.n; i++) {
		if (!strcmp(ups.u[i].id, id) || ups.u[i].initiated < from ||
		    ups.u[i].initiated > ours + 1)
			continue;
		if (s3_mpu_abort(s, bucket, key, ups.u[i].id) == 0)
			swept++;
	}
	if (swept)
		log_info("s3://%s/%s: aborted %u upload%s whose start was answered too late",
			 bucket, key, swept, swept == 1 ? "" : "s");
out:
	for (i = 0; i < ups.n; i++)
		free(ups.u[i].id);
}

int s3_mpu_create(struct s3 *s, const char *bucket, const char *key, const struct s3_meta *meta,
		  char **upload_id)
{
	struct s3_hdrs hs = {0};
	struct s3_call call = {.method = "POST", .bucket = bucket, .key = key, .query = "uploads="};
	struct s3xml_result res;
	uint64_t t0 = s3_now_ms();
	int r;

	s3_hdrs_meta(&hs, meta);
	s3_hdrs_add(&hs, "Content-Type", "application/octet-stream");
	call.extra = hs.h;
	call.n_extra = hs.n;
	call.body = "";
	r = s3_perform_result(s, &call, &res);
	if (r < 0)
		return r;
	if (!res.upload_id[0]) {
		log_err("POST s3://%s/%s: the server started an upload but gave no UploadId",
			bucket, key);
		return -EIO;
	}
	*upload_id = strdup(res.upload_id);
	if (!*upload_id)
		return -ENOMEM;
	if (call.attempts > 1)
		s3_mpu_sweep(s, bucket, key, *upload_id, s3_now_ms() - t0);
	return 0;
}

/* "partNumber=N&uploadId=ID" */
static int s3_part_query(struct buf *q, unsigned part, const char *upload_id)
{
	int r = buf_appendf(q, "partNumber=%u&uploadId=", part);

	return r < 0 ? r : s3_encode(q, upload_id, 0);
}

int s3_mpu_put_part(struct s3 *s, const char *bucket, const char *key, const char *upload_id,
		    unsigned part, const char *data, size_t len, s3_etag etag_out)
{
	struct s3_hdrs hs = {0};
	struct s3_call call = {
	    .method = "PUT", .bucket = bucket, .key = key, .body = data, .body_len = len};
	struct buf q;
	int r;

	buf_init(&q, 4096);
	r = s3_part_query(&q, part, upload_id);
	if (r == 0) {
		call.query = q.data;
		r = s3_put_body(s, &call, &hs, "UploadPart", etag_out);
	}
	buf_free(&q);
	return r;
}

/* The server's work allowance (s3_call.work_ms) for a call that makes it
 * assemble or copy `bytes` (0: not known) or `parts` parts: one timeout,
 * plus a second a part and a second per 16 MB, within an hour. */
static unsigned s3_work_ms(const struct s3 *s, off_t bytes, unsigned parts)
{
	uint64_t ms = s->cfg.timeout_ms + (uint64_t)parts * 1000 + (uint64_t)bytes / 16000;

	return ms > 3600000 ? 3600000 : (unsigned)ms;
}

int s3_mpu_copy_part(struct s3 *s, const char *bucket, const char *key, const char *upload_id,
		     unsigned part, const char *src_bucket, const char *src_key,
		     const char *src_etag, off_t off, off_t len, s3_etag etag_out)
{
	struct s3_hdrs hs = {0};
	struct s3_call call = {.method = "PUT", .bucket = bucket, .key = key};
	struct buf q;
	int r;

	buf_init(&q, 4096);
	r = s3_part_query(&q, part, upload_id);
	if (r == 0)
		r = s3_hdrs_copy_source(&hs, src_bucket, src_key, src_etag);
	if (r < 0)
		goto out;
	s3_hdrs_add(&hs, "x-amz-copy-source-range", "bytes=%lld-%lld", (long long)off,
		    (long long)(off + len - 1));
	call.extra = hs.h;
	call.n_extra = hs.n;
	call.query = q.data;
	call.work_ms = s3_work_ms(s, len, 0);
	r = s3_perform_etag(s, &call, etag_out);
out:
	buf_free(&q);
	return r;
}

int s3_mpu_complete(struct s3 *s, const char *bucket, const char *key, const char *upload_id,
		    const s3_etag *parts, unsigned n, s3_etag etag_out)
{
	struct s3_call call = {.method = "POST", .bucket = bucket, .key = key};
	struct buf q, body;
	int r;

	buf_init(&q, 4096);
	/* About 80 bytes a part: 10,000 parts fit. */
	buf_init(&body, 128 + (size_t)n * 128);
	r = buf_append(&q, "uploadId=", 9);
	if (r == 0)
		r = s3_encode(&q, upload_id, 0);
	if (r == 0)
		r = buf_appendf(&body, "<CompleteMultipartUpload>");
	for (unsigned i = 0; i < n && r == 0; i++)
		r = buf_appendf(&body, "<Part><PartNumber>%u</PartNumber><ETag>%s</ETag></Part>",
				i + 1, parts[i]);
	if (r == 0)
		r = buf_appendf(&body, "</CompleteMultipartUpload>");
	if (r < 0)
		goto out;
	call.query = q.data;
	call.body = body.data;
	call.body_len = body.len;
	call.work_ms = s3_work_ms(s, 0, n);
	r = s3_perform_etag(s, &call, etag_out);
out:
	buf_free(&q);
	buf_free(&body);
	return r;
}

int s3_mpu_abort(struct s3 *s, const char *bucket, const char *key, const char *upload_id)
{
	struct s3_call call = {.method = "DELETE", .bucket = bucket, .key = key};
	struct buf q;
	int r;

	buf_init(&q, 4096);
	r = buf_append(&q, "uploadId=", 9);
	if (r == 0)
		r = s3_encode(&q, upload_id, 0);
	if (r == 0) {
		call.query = q.data;
		r = s3_perform(s, &call);
	}
	buf_free(&q);
	return r == -ENOENT ? 0 : r;
}

int s3_copy(struct s3 *s, const char *src_bucket, const char *src_key, const char *src_etag,
	    const char *bucket, const char *key, const struct s3_meta *meta,
	    const char *content_type, s3_etag etag_out)
{
	struct s3_hdrs hs = {0};
	struct s3_call call = {.method = "PUT", .bucket = bucket, .key = key};
	int r;

	r = s3_hdrs_copy_source(&hs, src_bucket, src_key, src_etag);
	if (r < 0)
		return r;
	if (meta) {
		s3_hdrs_add(&hs, "x-amz-metadata-directive", "REPLACE");
		s3_hdrs_meta(&hs, meta);
		if (content_type)
			s3_hdrs_add(&hs, "Content-Type", "%s", content_type);
	}
	call.extra = hs.h;
	call.n_extra = hs.n;
	call.work_ms = s3_work_ms(s, 0, 0);
	r = s3_perform_etag(s, &call, etag_out);
	return r;
}

int s3_delete(struct s3 *s, const char *bucket, const char *key)
{
	struct s3_call call = {.method = "DELETE", .bucket = bucket, .key = key};
	int r = s3_perform(s, &call);

	return r == -ENOENT ? 0 : r;
}

ssize_t s3_get_small(struct s3 *s, const char *bucket, const char *key, char *buf, size_t cap)
{
	struct s3_object obj;
	int r = s3_head(s, bucket, key, &obj);

	if (r < 0)
		return r;
	if (obj.size > (off_t)cap)
		return -EFBIG;
	return s3_get_range(s, bucket, key, 0, (size_t)obj.size, obj.etag, buf);
}
