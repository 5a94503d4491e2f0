/* s3xml.c - see s3xml.h
 *
 * The parser keeps a stack of the elements it recognised, each recognised
 * only under the parent it belongs to (so the request's own <Prefix> under
 * ListBucketResult is not taken for a <CommonPrefixes><Prefix>, and a <Key>
 * under an unknown element is ignored).  Text is collected only inside the
 * leaf elements odofs reads, each into a buffer with its own cap.
 *
 * Element names are matched on their local part: S3 puts everything in the
 * default namespace, other servers may use a prefix, and nothing here needs
 * the URI.  A DOCTYPE is refused outright: S3 never sends one, and it is
 * the door to entity expansion.
 */
#include "config.h"

#include <errno.h>
#include <expat.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "s3xml.h"

/* S3 keys are at most 1024 bytes of UTF-8; 4096 leaves room for servers
 * that allow more without letting a hostile page grow a field unbounded. */
#define S3XML_NAME_MAX	  4096
#define S3XML_TOKEN_MAX	  4096
#define S3XML_ETAG_MAX	  256
#define S3XML_SCALAR_MAX  64 /* sizes, dates, booleans, counts */
#define S3XML_CODE_MAX	  256
#define S3XML_MESSAGE_MAX 2048
/* Deeper elements are counted, not stored: nothing odofs reads is deeper. */
#define S3XML_DEPTH_MAX 8

enum s3xml_elem {
	S3XML_E_OTHER,
	S3XML_E_LIST_RESULT,
	S3XML_E_BUCKETS_RESULT,
	S3XML_E_ERROR,
	S3XML_E_CONTENTS,
	S3XML_E_KEY,
	S3XML_E_SIZE,
	S3XML_E_LAST_MODIFIED,
	S3XML_E_ETAG,
	S3XML_E_COMMON_PREFIXES,
	S3XML_E_PREFIX,
	S3XML_E_IS_TRUNCATED,
	S3XML_E_NEXT_TOKEN,
	S3XML_E_KEY_COUNT,
	S3XML_E_ENCODING_TYPE,
	S3XML_E_BUCKETS,
	S3XML_E_BUCKET,
	S3XML_E_NAME,
	S3XML_E_CREATION_DATE,
	S3XML_E_CODE,
	S3XML_E_MESSAGE,
	S3XML_E_RESULT, /* the root of a write's answer (s3xml_parse_result) */
	S3XML_E_UPLOAD_ID,
	S3XML_E_RESULT_ETAG,
	S3XML_E_UPLOADS_RESULT, /* ListMultipartUploadsResult */
	S3XML_E_UPLOAD,
	S3XML_E_UPLOAD_UPLOAD_ID,
	S3XML_E_INITIATED,
};

/* Where an element's text goes. */
enum s3xml_field {
	S3XML_F_NONE,
	S3XML_F_NAME,
	S3XML_F_ETAG,
	S3XML_F_TOKEN,
	S3XML_F_SCALAR,
	S3XML_F_CODE,
	S3XML_F_MESSAGE,
	S3XML_F_UPLOAD_ID,
};

struct s3xml_rule {
	enum s3xml_elem parent;
	const char *name;
	enum s3xml_elem elem;
	enum s3xml_field field;
};

/* The elements read, each under the one parent where it means something.
 * Roots have parent S3XML_E_OTHER and are checked against the parser's
 * mode separately. */
static const struct s3xml_rule s3xml_rules[] = {
    {S3XML_E_LIST_RESULT, "Contents", S3XML_E_CONTENTS, S3XML_F_NONE},
    {S3XML_E_CONTENTS, "Key", S3XML_E_KEY, S3XML_F_NAME},
    {S3XML_E_CONTENTS, "Size", S3XML_E_SIZE, S3XML_F_SCALAR},
    {S3XML_E_CONTENTS, "LastModified", S3XML_E_LAST_MODIFIED, S3XML_F_SCALAR},
    {S3XML_E_CONTENTS, "ETag", S3XML_E_ETAG, S3XML_F_ETAG},
    {S3XML_E_LIST_RESULT, "CommonPrefixes", S3XML_E_COMMON_PREFIXES, S3XML_F_NONE},
    {S3XML_E_COMMON_PREFIXES, "Prefix", S3XML_E_PREFIX, S3XML_F_NAME},
    {S3XML_E_LIST_RESULT, "IsTruncated", S3XML_E_IS_TRUNCATED, S3XML_F_SCALAR},
    {S3XML_E_LIST_RESULT, "NextContinuationToken", S3XML_E_NEXT_TOKEN, S3XML_F_TOKEN},
    {S3XML_E_LIST_RESULT, "KeyCount", S3XML_E_KEY_COUNT, S3XML_F_SCALAR},
    {S3XML_E_LIST_RESULT, "EncodingType", S3XML_E_ENCODING_TYPE, S3XML_F_SCALAR},
    {S3XML_E_BUCKETS_RESULT, "Buckets", S3XML_E_BUCKETS, S3XML_F_NONE},
    {S3XML_E_BUCKETS, "Bucket", S3XML_E_BUCKET, S3XML_F_NONE},
    {S3XML_E_BUCKET, "Name", S3XML_E_NAME, S3XML_F_NAME},
    {S3XML_E_BUCKET, "CreationDate", S3XML_E_CREATION_DATE, S3XML_F_SCALAR},
    /* ListBuckets pages too since 2024, with a plain ContinuationToken. */
    {S3XML_E_BUCKETS_RESULT, "ContinuationToken", S3XML_E_NEXT_TOKEN, S3XML_F_TOKEN},
    {S3XML_E_ERROR, "Code", S3XML_E_CODE, S3XML_F_CODE},
    {S3XML_E_ERROR, "Message", S3XML_E_MESSAGE, S3XML_F_MESSAGE},
    {S3XML_E_RESULT, "UploadId", S3XML_E_UPLOAD_ID, S3XML_F_TOKEN},
    {S3XML_E_UPLOADS_RESULT, "Upload", S3XML_E_UPLOAD, S3XML_F_NONE},
    {S3XML_E_UPLOADS_RESULT, "IsTruncated", S3XML_E_IS_TRUNCATED, S3XML_F_SCALAR},
    {S3XML_E_UPLOAD, "Key", S3XML_E_KEY, S3XML_F_NAME},
    {S3XML_E_UPLOAD, "UploadId", S3XML_E_UPLOAD_UPLOAD_ID, S3XML_F_UPLOAD_ID},
    {S3XML_E_UPLOAD, "Initiated", S3XML_E_INITIATED, S3XML_F_SCALAR},
    {S3XML_E_RESULT, "ETag", S3XML_E_RESULT_ETAG, S3XML_F_ETAG},
};

enum s3xml_mode {
	S3XML_MODE_LIST,    /* ListBucketResult or ListAllMyBucketsResult */
	S3XML_MODE_UPLOADS, /* ListMultipartUploadsResult */
	S3XML_MODE_ERROR,   /* Error */
	S3XML_MODE_RESULT,  /* a write's *Result, or Error */
};

struct s3xml_parser {
	XML_Parser xp;
	enum s3xml_mode mode;
	s3xml_entry_fn fn;
	void *arg;
	int err; /* first error; sticky */

	unsigned depth;
	enum s3xml_elem stack[S3XML_DEPTH_MAX];
	struct buf *field;   /* collecting text into this, or NULL */
	int field_truncates; /* drop text past the cap instead of failing */

	/* The entry being read. */
	struct buf name, etag, scalar, upload_id;
	int have_name;
	off_t size;
	time_t mtime;

	/* Page-level results. */
	int truncated;
	int have_token;
	struct buf token;
	long key_count;
	int url_encoded; /* <EncodingType>url: keys and prefixes are percent-encoded */

	/* Error documents. */
	struct buf code, message;
	int have_code;
	int is_error; /* the root was <Error> */
};

static void s3xml_fail(struct s3xml_parser *p, int err)
{
	if (!p->err)
		p->err = err;
	XML_StopParser(p->xp, XML_FALSE);
}

static const char *s3xml_local_name(const char *name)
{
	const char *colon = strrchr(name, ':');

	return colon ? colon + 1 : name;
}

/* The text of a scalar field without surrounding whitespace, in place. */
static const char *s3xml_scalar(struct s3xml_parser *p)
{
	char *s = p->scalar.data ? p->scalar.data : "";
	size_t n;

	while (*s == ' ' || *s == '\t' || *s == '\r' || *s == '\n')
		s++;
	n = strlen(s);
	while (n && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r' || s[n - 1] == '\n'))
		s[--n] = '\0';
	return s;
}

/* A non-negative decimal that fits; -1 otherwise. */
static long long s3xml_parse_count(const char *s)
{
	long long v = 0;

	if (!*s)
		return -1;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return -1;
		if (v > (0x7fffffffffffffffLL - (*s - '0')) / 10)
			return -1;
		v = v * 10 + (*s - '0');
	}
	return v;
}

/* n decimal digits at s; -1 if any is not a digit. */
static int s3xml_digits(const char *s, int n)
{
	int v = 0;

	for (; n > 0; n--, s++) {
		if (*s < '0' || *s > '9')
			return -1;
		v = v * 10 + (*s - '0');
	}
	return v;
}

/* RFC 3339 as S3 writes it: "YYYY-MM-DDTHH:MM:SS", optional fraction, then
 * "Z" or an offset.  Separate from s3xml_parse_time() so that the instant
 * whose time_t is -1 is not mistaken for an error. */
static int s3xml_time(const char *s, time_t *out)
{
	static const int mdays[12] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	struct tm tm = {0};
	int year, mon, day, hour, min, sec, off_s = 0;

	/* Every byte read below lies within these 19, or after a check that
	 * the previous one was not the NUL. */
	if (!s || strnlen(s, 19) < 19)
		return -EINVAL;
	year = s3xml_digits(s, 4);
	mon = s3xml_digits(s + 5, 2);
	day = s3xml_digits(s + 8, 2);
	hour = s3xml_digits(s + 11, 2);
	min = s3xml_digits(s + 14, 2);
	sec = s3xml_digits(s + 17, 2);
	if (year < 0 || s[4] != '-' || mon < 1 || mon > 12 || s[7] != '-' || day < 1 ||
	    day > mdays[mon - 1] || (s[10] != 'T' && s[10] != 't') || hour < 0 || hour > 23 ||
	    s[13] != ':' || min < 0 || min > 59 || s[16] != ':' || sec < 0 || sec > 60)
		return -EINVAL;
	if (mon == 2 && day == 29 && !(year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)))
		return -EINVAL;
	s += 19;
	if (*s == '.') {
		if (s[1] < '0' || s[1] > '9')
			return -EINVAL;
		for (s++; *s >= '0' && *s <= '9'; s++)
			;
	}
	if (*s == 'Z' || *s == 'z') {
		s++;
	} else if (*s == '+' || *s == '-') {
		int oh = s3xml_digits(s + 1, 2), om = -1;

		if (oh >= 0 && s[3] == ':')
			om = s3xml_digits(s + 4, 2);
		if (oh < 0 || oh > 23 || om < 0 || om > 59)
			return -EINVAL;
		off_s = (oh * 60 + om) * 60 * (*s == '-' ? -1 : 1);
		s += 6;
	} else {
		return -EINVAL;
	}
	if (*s)
		return -EINVAL;
	tm.tm_year = year - 1900;
	tm.tm_mon = mon - 1;
	tm.tm_mday = day;
	tm.tm_hour = hour;
	tm.tm_min = min;
	tm.tm_sec = sec;
	*out = timegm(&tm) - off_s;
	return 0;
}

static enum s3xml_elem s3xml_root(const struct s3xml_parser *p, const char *name)
{
	static const char *const results[] = {
	    "InitiateMultipartUploadResult",
	    "CompleteMultipartUploadResult",
	    "CopyObjectResult",
	    "CopyPartResult",
	};

	if (p->mode == S3XML_MODE_ERROR)
		return strcmp(name, "Error") ? S3XML_E_OTHER : S3XML_E_ERROR;
	if (p->mode == S3XML_MODE_RESULT) {
		if (!strcmp(name, "Error"))
			return S3XML_E_ERROR;
		for (size_t i = 0; i < sizeof(results) / sizeof(results[0]); i++)
			if (!strcmp(name, results[i]))
				return S3XML_E_RESULT;
		return S3XML_E_OTHER;
	}
	if (p->mode == S3XML_MODE_UPLOADS)
		return strcmp(name, "ListMultipartUploadsResult") ? S3XML_E_OTHER
								  : S3XML_E_UPLOADS_RESULT;
	if (!strcmp(name, "ListBucketResult"))
		return S3XML_E_LIST_RESULT;
	if (!strcmp(name, "ListAllMyBucketsResult"))
		return S3XML_E_BUCKETS_RESULT;
	return S3XML_E_OTHER;
}

static const struct s3xml_rule *s3xml_rule_find(enum s3xml_elem parent, const char *name)
{
	size_t i;

	if (parent == S3XML_E_OTHER)
		return NULL;
	for (i = 0; i < sizeof(s3xml_rules) / sizeof(s3xml_rules[0]); i++)
		if (s3xml_rules[i].parent == parent && !strcmp(s3xml_rules[i].name, name))
			return &s3xml_rules[i];
	return NULL;
}

static struct buf *s3xml_field_buf(struct s3xml_parser *p, enum s3xml_field f)
{
	switch (f) {
	case S3XML_F_NAME:
		return &p->name;
	case S3XML_F_ETAG:
		return &p->etag;
	case S3XML_F_TOKEN:
		return &p->token;
	case S3XML_F_SCALAR:
		return &p->scalar;
	case S3XML_F_CODE:
		return &p->code;
	case S3XML_F_MESSAGE:
		return &p->message;
	case S3XML_F_UPLOAD_ID:
		return &p->upload_id;
	case S3XML_F_NONE:
		break;
	}
	return NULL;
}

static void s3xml_entry_begin(struct s3xml_parser *p)
{
	buf_reset(&p->name);
	buf_reset(&p->etag);
	buf_reset(&p->upload_id);
	p->have_name = 0;
	p->size = 0;
	p->mtime = 0;
}

static void s3xml_on_start(void *data, const XML_Char *qname, const XML_Char **attrs)
{
	struct s3xml_parser *p = data;
	const char *name = s3xml_local_name(qname);
	enum s3xml_elem elem = S3XML_E_OTHER, parent = S3XML_E_OTHER;
	const struct s3xml_rule *rule = NULL;

	(void)attrs;
	if (p->err)
		return;
	if (p->field) {
		/* Markup inside a text field: not something S3 sends. */
		s3xml_fail(p, -EBADMSG);
		return;
	}
	if (p->depth == 0) {
		elem = s3xml_root(p, name);
		if (elem == S3XML_E_OTHER) {
			s3xml_fail(p, p->mode == S3XML_MODE_LIST || p->mode == S3XML_MODE_UPLOADS
					  ? -EPROTO
					  : -EBADMSG);
			return;
		}
		if (elem == S3XML_E_ERROR)
			p->is_error = 1;
	} else {
		if (p->depth <= S3XML_DEPTH_MAX)
			parent = p->stack[p->depth - 1];
		rule = s3xml_rule_find(parent, name);
		if (rule)
			elem = rule->elem;
	}
	if (p->depth < S3XML_DEPTH_MAX)
		p->stack[p->depth] = elem;
	p->depth++;

	if (elem == S3XML_E_CONTENTS || elem == S3XML_E_BUCKET || elem == S3XML_E_PREFIX ||
	    elem == S3XML_E_UPLOAD)
		s3xml_entry_begin(p);
	if (rule && rule->field != S3XML_F_NONE) {
		p->field = s3xml_field_buf(p, rule->field);
		p->field_truncates = rule->field == S3XML_F_CODE || rule->field == S3XML_F_MESSAGE;
		buf_reset(p->field);
	}
}

static void s3xml_on_text(void *data, const XML_Char *s, int len)
{
	struct s3xml_parser *p = data;
	struct buf *b = p->field;
	size_t n = (size_t)len;
	int r;

	if (p->err || !b || len <= 0)
		return;
	if (p->field_truncates && n > b->max - b->len)
		n = b->max - b->len;
	r = buf_append(b, s, n);
	if (r < 0)
		s3xml_fail(p, r == -E2BIG ? -EBADMSG : r);
}

static void s3xml_deliver(struct s3xml_parser *p, enum s3xml_kind kind)
{
	struct s3xml_entry e = {.kind = kind, .size = p->size, .mtime = p->mtime};
	int r;

	/* An entry without a name cannot be shown; S3 never sends one. */
	if (!p->have_name || p->name.len == 0) {
		s3xml_fail(p, -EBADMSG);
		return;
	}
	e.name = p->name.data;
	if (kind == S3XML_OBJECT)
		e.etag = p->etag.data ? p->etag.data : "";
	else if (kind == S3XML_UPLOAD)
		e.upload_id = p->upload_id.data ? p->upload_id.data : "";
	if (kind != S3XML_OBJECT)
		e.size = 0;
	if (kind == S3XML_PREFIX)
		e.mtime = 0;
	r = p->fn(p->arg, &e);
	if (r < 0)
		s3xml_fail(p, r);
}

static void s3xml_on_end(void *data, const XML_Char *qname)
{
	struct s3xml_parser *p = data;
	enum s3xml_elem elem = S3XML_E_OTHER;
	const char *s;
	long long v;

	(void)qname;
	if (p->err)
		return;
	p->depth--;
	if (p->depth < S3XML_DEPTH_MAX)
		elem = p->stack[p->depth];
	p->field = NULL;

	switch (elem) {
	case S3XML_E_KEY:
	case S3XML_E_NAME:
		p->have_name = 1;
		break;
	case S3XML_E_SIZE:
		v = s3xml_parse_count(s3xml_scalar(p));
		if (v < 0 || (off_t)v != v)
			s3xml_fail(p, -EBADMSG);
		else
			p->size = (off_t)v;
		break;
	case S3XML_E_LAST_MODIFIED:
	case S3XML_E_CREATION_DATE:
	case S3XML_E_INITIATED:
		if (s3xml_time(s3xml_scalar(p), &p->mtime) < 0)
			s3xml_fail(p, -EBADMSG);
		break;
	case S3XML_E_IS_TRUNCATED:
		s = s3xml_scalar(p);
		if (!strcmp(s, "true"))
			p->truncated = 1;
		else if (!strcmp(s, "false"))
			p->truncated = 0;
		else
			s3xml_fail(p, -EBADMSG);
		break;
	case S3XML_E_KEY_COUNT:
		v = s3xml_parse_count(s3xml_scalar(p));
		if (v < 0 || v > 0x7fffffffL)
			s3xml_fail(p, -EBADMSG);
		else
			p->key_count = (long)v;
		break;
	case S3XML_E_NEXT_TOKEN:
		p->have_token = 1;
		break;
	case S3XML_E_ENCODING_TYPE:
		p->url_encoded = !strcmp(s3xml_scalar(p), "url");
		break;
	case S3XML_E_CODE:
		p->have_code = 1;
		break;
	case S3XML_E_CONTENTS:
		s3xml_deliver(p, S3XML_OBJECT);
		break;
	case S3XML_E_PREFIX:
		p->have_name = 1;
		s3xml_deliver(p, S3XML_PREFIX);
		break;
	case S3XML_E_BUCKET:
		s3xml_deliver(p, S3XML_BUCKET);
		break;
	case S3XML_E_UPLOAD:
		s3xml_deliver(p, S3XML_UPLOAD);
		break;
	default:
		break;
	}
}

/* Any DTD could declare entities; S3 sends none, so refuse them all. */
static void s3xml_on_doctype(void *data, const XML_Char *name, const XML_Char *sysid,
			     const XML_Char *pubid, int has_internal_subset)
{
	(void)name;
	(void)sysid;
	(void)pubid;
	(void)has_internal_subset;
	s3xml_fail(data, -EBADMSG);
}

static void s3xml_on_entity_decl(void *data, const XML_Char *name, int is_parameter,
				 const XML_Char *value, int value_len, const XML_Char *base,
				 const XML_Char *sysid, const XML_Char *pubid,
				 const XML_Char *notation)
{
	(void)name;
	(void)is_parameter;
	(void)value;
	(void)value_len;
	(void)base;
	(void)sysid;
	(void)pubid;
	(void)notation;
	s3xml_fail(data, -EBADMSG);
}

static struct s3xml_parser *s3xml_parser_create(enum s3xml_mode mode, s3xml_entry_fn fn, void *arg)
{
	struct s3xml_parser *p = calloc(1, sizeof(*p));

	if (!p)
		return NULL;
	p->mode = mode;
	p->fn = fn;
	p->arg = arg;
	p->key_count = -1;
	buf_init(&p->name, S3XML_NAME_MAX);
	buf_init(&p->etag, S3XML_ETAG_MAX);
	buf_init(&p->upload_id, S3XML_TOKEN_MAX);
	buf_init(&p->scalar, S3XML_SCALAR_MAX);
	buf_init(&p->token, S3XML_TOKEN_MAX);
	buf_init(&p->code, S3XML_CODE_MAX);
	buf_init(&p->message, S3XML_MESSAGE_MAX);
	/* No namespace processing: names arrive as written, and
	 * s3xml_local_name() drops any prefix. */
	p->xp = XML_ParserCreate(NULL);
	if (!p->xp) {
		free(p);
		return NULL;
	}
	XML_SetUserData(p->xp, p);
	XML_SetElementHandler(p->xp, s3xml_on_start, s3xml_on_end);
	XML_SetCharacterDataHandler(p->xp, s3xml_on_text);
	XML_SetStartDoctypeDeclHandler(p->xp, s3xml_on_doctype);
	XML_SetEntityDeclHandler(p->xp, s3xml_on_entity_decl);
	XML_SetParamEntityParsing(p->xp, XML_PARAM_ENTITY_PARSING_NEVER);
	return p;
}

struct s3xml_parser *s3xml_parser_new(s3xml_entry_fn fn, void *arg)
{
	return s3xml_parser_create(S3XML_MODE_LIST, fn, arg);
}

struct s3xml_parser *s3xml_uploads_parser_new(s3xml_entry_fn fn, void *arg)
{
	return s3xml_parser_create(S3XML_MODE_UPLOADS, fn, arg);
}

int s3xml_parser_feed(struct s3xml_parser *p, const char *data, size_t len, int final)
{
	if (p->err)
		return p->err;
	while (len > 0 || final) {
		/* XML_Parse takes an int length. */
		int chunk = len > 1 << 30 ? 1 << 30 : (int)len;
		int last = final && (size_t)chunk == len;

		if (XML_Parse(p->xp, data, chunk, last) != XML_STATUS_OK) {
			if (!p->err)
				p->err = XML_GetErrorCode(p->xp) == XML_ERROR_NO_MEMORY ? -ENOMEM
											: -EBADMSG;
			return p->err;
		}
		if (p->err) /* stopped by a handler but reported OK: never trust it */
			return p->err;
		if (last)
			break;
		data += chunk;
		len -= (size_t)chunk;
	}
	return 0;
}

int s3xml_parser_truncated(const struct s3xml_parser *p)
{
	return p->truncated;
}

const char *s3xml_parser_next_token(const struct s3xml_parser *p)
{
	return p->have_token && p->token.len ? p->token.data : NULL;
}

long s3xml_parser_key_count(const struct s3xml_parser *p)
{
	return p->key_count;
}

int s3xml_parser_url_encoded(const struct s3xml_parser *p)
{
	return p->url_encoded;
}

void s3xml_parser_free(struct s3xml_parser *p)
{
	if (!p)
		return;
	XML_ParserFree(p->xp);
	buf_free(&p->name);
	buf_free(&p->etag);
	buf_free(&p->scalar);
	buf_free(&p->token);
	buf_free(&p->code);
	buf_free(&p->message);
	buf_free(&p->upload_id);
	free(p);
}

/* Copy with truncation, never cutting a UTF-8 sequence in two. */
static void s3xml_copy(char *dst, size_t size, const struct buf *src)
{
	size_t n = src->len;

	if (!dst || !size)
		return;
	if (n >= size) {
		n = size - 1;
		while (n > 0 && ((unsigned char)src->data[n] & 0xc0) == 0x80)
			n--;
	}
	if (n)
		memcpy(dst, src->data, n);
	dst[n] = '\0';
}

static int s3xml_no_entries(void *arg, const struct s3xml_entry *e)
{
	(void)arg;
	(void)e;
	return -EBADMSG;
}

int s3xml_parse_error(const char *body, size_t len, char *code, size_t code_size, char *message,
		      size_t message_size)
{
	struct s3xml_parser *p = s3xml_parser_create(S3XML_MODE_ERROR, s3xml_no_entries, NULL);
	int r;

	if (!p)
		return -ENOMEM;
	r = s3xml_parser_feed(p, body ? body : "", body ? len : 0, 1);
	if (r < 0)
		goto out;
	if (!p->have_code || p->code.len == 0) {
		r = -EBADMSG;
		goto out;
	}
	s3xml_copy(code, code_size, &p->code);
	s3xml_copy(message, message_size, &p->message);
	r = 0;
out:
	s3xml_parser_free(p);
	return r;
}

time_t s3xml_parse_time(const char *iso8601)
{
	time_t t;

	return s3xml_time(iso8601, &t) < 0 ? (time_t)-1 : t;
}

/* AWS quotes the ETag of a copy result ("..."); Ceph RGW does not.  One
 * form for every caller, the one listings and HEAD use: quoted.  An empty
 * ETag (RGW's CompleteMultipartUpload answer) stays empty. */
static void s3xml_quote_etag(char *etag, size_t size)
{
	size_t n = strlen(etag);

	if (n == 0 || etag[0] == '"' || n + 3 > size)
		return;
	memmove(etag + 1, etag, n);
	etag[0] = '"';
	etag[n + 1] = '"';
	etag[n + 2] = '\0';
}

int s3xml_parse_result(const char *body, size_t len, struct s3xml_result *out)
{
	struct s3xml_parser *p = s3xml_parser_create(S3XML_MODE_RESULT, s3xml_no_entries, NULL);
	int r;

	memset(out, 0, sizeof(*out));
	if (!p)
		return -ENOMEM;
	r = s3xml_parser_feed(p, body ? body : "", body ? len : 0, 1);
	if (r < 0)
		goto out;
	out->is_error = p->is_error;
	s3xml_copy(out->code, sizeof(out->code), &p->code);
	s3xml_copy(out->message, sizeof(out->message), &p->message);
	if (p->token.len >= sizeof(out->upload_id) || p->etag.len >= sizeof(out->etag)) {
		r = -EBADMSG;
		goto out;
	}
	s3xml_copy(out->upload_id, sizeof(out->upload_id), &p->token);
	s3xml_copy(out->etag, sizeof(out->etag), &p->etag);
	s3xml_quote_etag(out->etag, sizeof(out->etag));
	if (out->is_error && !out->code[0])
		r = -EBADMSG;
out:
	s3xml_parser_free(p);
	return r;
}
