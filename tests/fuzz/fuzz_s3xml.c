/* fuzz-sources: src/s3/s3xml.c src/buf.c */
/* fuzz-max-len: 16384 */
/* fuzz_s3xml.c - the S3 XML parsers: listings (fed whole and in chunks,
 * which must agree), multipart upload listings, error bodies, write
 * results, timestamps. */
#include "config.h"

#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "fuzz.h"
#include "s3/s3xml.h"

struct seen {
	uint64_t digest;
	unsigned n;
	unsigned stop_after; /* the callback's error after this many: the stop path */
};

static int on_entry(void *arg, const struct s3xml_entry *e)
{
	struct seen *s = arg;
	size_t n;

	FUZZ_CHECK(e->name != NULL);
	n = strlen(e->name);
	FUZZ_CHECK(n > 0 && n <= 4096);
	FUZZ_CHECK(e->kind == S3XML_OBJECT || e->kind == S3XML_PREFIX ||
		   e->kind == S3XML_BUCKET || e->kind == S3XML_UPLOAD);
	FUZZ_CHECK(e->size >= 0);
	if (e->kind == S3XML_OBJECT) {
		FUZZ_CHECK(e->etag != NULL);
		FUZZ_CHECK(strlen(e->etag) <= 256);
		s->digest = fuzz_hash_str(s->digest, e->etag);
	} else if (e->kind == S3XML_UPLOAD) {
		FUZZ_CHECK(e->upload_id != NULL);
		FUZZ_CHECK(strlen(e->upload_id) <= 4096);
		FUZZ_CHECK(e->size == 0);
		s->digest = fuzz_hash_str(s->digest, e->upload_id);
	} else {
		FUZZ_CHECK(e->size == 0);
	}
	if (e->kind == S3XML_PREFIX)
		FUZZ_CHECK(e->mtime == 0);
	s->digest = fuzz_hash_u64(s->digest, (uint64_t)e->kind);
	s->digest = fuzz_hash_str(s->digest, e->name);
	s->digest = fuzz_hash_u64(s->digest, (uint64_t)e->size);
	s->digest = fuzz_hash_u64(s->digest, (uint64_t)e->mtime);
	if (++s->n == s->stop_after)
		return -ECANCELED;
	return 0;
}

/* One listing parse (of objects and buckets, or of uploads); returns a
 * digest of everything it gave. */
static uint64_t parse_listing(const uint8_t *data, size_t size, struct fuzz_rng *rng,
			      unsigned stop_after, int uploads, int *rc)
{
	struct seen s = {.stop_after = stop_after};
	struct s3xml_parser *p = uploads ? s3xml_uploads_parser_new(on_entry, &s)
					 : s3xml_parser_new(on_entry, &s);
	const char *token;
	int r = 0;

	FUZZ_CHECK(p != NULL);
	if (!rng) {
		r = s3xml_parser_feed(p, (const char *)data, size, 1);
	} else {
		size_t off = 0;

		while (off < size && r == 0) {
			size_t n = fuzz_chunk(rng, size - off);

			r = s3xml_parser_feed(p, (const char *)data + off, n, 0);
			off += n;
		}
		if (r == 0)
			r = s3xml_parser_feed(p, "", 0, 1);
		/* An error is sticky. */
		if (r != 0)
			FUZZ_CHECK(s3xml_parser_feed(p, "<x/>", 4, 1) == r);
	}
	FUZZ_CHECK(r == 0 || r == -EBADMSG || r == -EPROTO || r == -ECANCELED || r == -ENOMEM);
	if (r == -ECANCELED)
		FUZZ_CHECK(s.n == stop_after);
	s.digest = fuzz_hash_u64(s.digest, (uint64_t)r);
	if (r == 0) {
		token = s3xml_parser_next_token(p);
		if (token)
			FUZZ_CHECK(strlen(token) > 0 && strlen(token) <= 4096);
		s.digest = fuzz_hash_str(s.digest, token);
		s.digest = fuzz_hash_u64(s.digest, (uint64_t)s3xml_parser_truncated(p));
		s.digest = fuzz_hash_u64(s.digest, (uint64_t)s3xml_parser_key_count(p));
		FUZZ_CHECK(s3xml_parser_key_count(p) >= -1);
	}
	s3xml_parser_free(p);
	*rc = r;
	return s.digest;
}

/* What s3xml copied into a caller's buffer of size bytes ends there. */
static void check_copied(const char *s, size_t size)
{
	FUZZ_CHECK(memchr(s, '\0', size) != NULL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_rng rng;
	uint64_t whole, chunked;
	int r1, r2, r;
	unsigned stop_after;
	char code[64], message[256];
	size_t code_size, message_size;
	struct s3xml_result res;
	char *str;

	fuzz_rng_init(&rng, data, size);
	stop_after = (unsigned)(fuzz_next(&rng) % 16); /* 0: never stop */
	for (int uploads = 0; uploads <= 1; uploads++) {
		whole = parse_listing(data, size, NULL, stop_after, uploads, &r1);
		chunked = parse_listing(data, size, &rng, stop_after, uploads, &r2);
		if (r1 != r2 || whole != chunked) {
			fprintf(stderr, "whole: %d %016llx, chunked: %d %016llx\n", r1,
				(unsigned long long)whole, r2, (unsigned long long)chunked);
			FUZZ_CHECK(!"a listing parsed whole and in chunks differs");
		}
	}

	/* Error bodies, into buffers of any size (0 included). */
	code_size = (size_t)(fuzz_next(&rng) % (sizeof(code) + 1));
	message_size = (size_t)(fuzz_next(&rng) % (sizeof(message) + 1));
	memset(code, 'X', sizeof(code));
	memset(message, 'X', sizeof(message));
	r = s3xml_parse_error((const char *)data, size, code_size ? code : NULL, code_size,
			      message_size ? message : NULL, message_size);
	FUZZ_CHECK(r == 0 || r == -EBADMSG || r == -ENOMEM);
	if (r == 0) {
		if (code_size)
			check_copied(code, code_size);
		if (message_size)
			check_copied(message, message_size);
	}

	r = s3xml_parse_result((const char *)data, size, &res);
	FUZZ_CHECK(r == 0 || r == -EBADMSG || r == -ENOMEM);
	if (r == 0) {
		check_copied(res.code, sizeof(res.code));
		check_copied(res.message, sizeof(res.message));
		check_copied(res.upload_id, sizeof(res.upload_id));
		check_copied(res.etag, sizeof(res.etag));
		if (res.is_error)
			FUZZ_CHECK(res.code[0] != '\0');
	}

	/* Timestamps: the input as a string, and every suffix of its first
	 * bytes, which reaches the field-by-field checks. */
	str = fuzz_strdup(data, size);
	(void)s3xml_parse_time(str);
	if (size > 0 && size < 64)
		for (size_t i = 1; i < size; i++)
			(void)s3xml_parse_time(str + i);
	free(str);
	return 0;
}
