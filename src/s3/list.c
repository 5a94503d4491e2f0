/* list.c - listings of s3.h: ListObjectsV2 and ListBuckets, a page at a time
 *
 * A listing page is parsed as its bytes arrive (the curl write callback
 * feeds expat), never held whole.  What a page lists is staged and handed
 * to the caller only once the page is complete, so an attempt that fails
 * midway and is retried never delivers an entry twice; that bounds memory
 * to one page's entries.  S3 sends at most max-keys entries a page: more,
 * or a page over S3_LIST_PAGE_MAX bytes, is a protocol error, as is a
 * listing that goes round in circles (a continuation token seen before).
 * Pages come in key order: an entry at or below the last key of an
 * earlier page was listed already and is left out, and pages that bring
 * nothing new for longer than the operation timeout end the listing.
 */
#include "config.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "log.h"
#include "pct.h"
#include "s3.h"
#include "s3_i.h"
#include "s3xml.h"

/* A page of 1,000 keys of 1,024 bytes, each byte percent-encoded, is
 * about 3.4 MiB: twice that is plenty for any honest server. */
#define S3_LIST_PAGE_MAX      (8 * 1024 * 1024)
#define S3_LIST_PAGE_MAX_TEXT "8 MiB"
/* max-keys odofs asks for, and what a page may hold (S3's maximum). */
#define S3_LIST_KEYS_MAX      1000
#define S3_LIST_KEYS_MAX_TEXT "1000 keys"
/* ListBuckets answers every bucket of the account in one page: 10,000 is
 * AWS's quota. */
#define S3_LIST_BUCKETS_MAX 10000
/* Continuation tokens remembered to catch a listing going in circles. */
#define S3_LIST_TOKENS_KEPT 16

struct s3_staged {
	enum s3xml_kind kind;
	off_t size;
	time_t mtime;
	size_t name, etag; /* offsets into s3_page.strings */
};

/* One page being received. */
struct s3_page {
	struct s3xml_parser *p;
	size_t bytes;
	struct s3_staged *entries; /* max_entries of them */
	size_t n, max_entries;
	struct buf strings;
};

struct s3_lister {
	struct s3 *s;
	char *bucket;
	char *prefix;
	char *delimiter;
	int max_keys;
	int one_page; /* the caller asked for max_keys: stop after one page */
	int buckets;  /* ListBuckets: one page, no ordering */
	struct s3_page page;
	struct buf query, token;
	char *seen[S3_LIST_TOKENS_KEPT]; /* the last continuation tokens */
	unsigned n_seen;
	struct buf last; /* the greatest name of the pages delivered */
	struct buf prev; /* ... and of the pages before the current one */
	unsigned pages;
	unsigned told_old;    /* keys listed again were reported */
	uint64_t progress_ms; /* when a page last brought something new */
	int done;
};

static int s3_page_stage(void *arg, const struct s3xml_entry *e)
{
	struct s3_page *pg = arg;
	struct s3_staged *st;
	int r;

	if (pg->n >= pg->max_entries)
		return -EOVERFLOW;
	st = &pg->entries[pg->n];
	st->kind = e->kind;
	st->size = e->size;
	st->mtime = e->mtime;
	st->name = pg->strings.len;
	r = buf_append(&pg->strings, e->name, strlen(e->name) + 1);
	st->etag = pg->strings.len;
	if (r == 0)
		r = buf_append(&pg->strings, e->etag ? e->etag : "",
			       e->etag ? strlen(e->etag) + 1 : 1);
	if (r < 0)
		return r == -E2BIG ? -EOVERFLOW : r;
	pg->n++;
	return 0;
}

static void s3_page_reset(void *arg)
{
	struct s3_page *pg = arg;

	s3xml_parser_free(pg->p);
	pg->p = s3xml_parser_new(s3_page_stage, pg);
	pg->bytes = 0;
	pg->n = 0;
	buf_reset(&pg->strings);
}

static int s3_page_sink(void *arg, const char *data, size_t n)
{
	struct s3_page *pg = arg;

	if (!pg->p)
		return -ENOMEM;
	if (n > S3_LIST_PAGE_MAX - pg->bytes)
		return -EFBIG;
	pg->bytes += n;
	return s3xml_parser_feed(pg->p, data, n, 0);
}

void s3_key_printable(const char *key, char *out, size_t size)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *s = (const unsigned char *)key;
	size_t o = 0;

	if (!size)
		return;
	for (; *s && o + 5 < size; s++) {
		int cont = 0; /* how many continuation bytes a lead byte wants */

		if (*s >= 0xc2 && *s <= 0xdf)
			cont = 1;
		else if (*s >= 0xe0 && *s <= 0xef)
			cont = 2;
		else if (*s >= 0xf0 && *s <= 0xf4)
			cont = 3;
		if (cont) {
			int ok = 1;

			for (int i = 1; i <= cont && ok; i++)
				ok = (s[i] & 0xc0) == 0x80;
			if (ok && o + (size_t)cont + 1 < size) {
				memcpy(out + o, s, (size_t)cont + 1);
				o += (size_t)cont + 1;
				s += cont;
				continue;
			}
		}
		if (*s >= 0x20 && *s < 0x7f) {
			out[o++] = (char)*s;
		} else {
			out[o++] = '\\';
			out[o++] = 'x';
			out[o++] = hex[*s >> 4];
			out[o++] = hex[*s & 15];
		}
	}
	out[o] = '\0';
}

/* encoding-type=url: '%XX' is a byte, '+' a space (as AWS writes it).
 * In place; -EINVAL for a broken escape or a NUL, which no path can hold. */
static int s3_url_decode(char *s)
{
	return pct_decode(s, strlen(s), s, 1) < 0 ? -EINVAL : 0;
}

static const char *s3_list_what(const struct s3_lister *l)
{
	return l->buckets ? "bucket list" : "listing";
}

/* Hand the staged entries of a complete page to fn. */
static int s3_page_deliver(struct s3_lister *l, s3xml_entry_fn fn, void *arg)
{
	struct s3_page *pg = &l->page;
	int url = s3xml_parser_url_encoded(pg->p), fresh = 0, r = 0;
	unsigned old = 0;

	buf_reset(&l->prev);
	if (l->last.len && (r = buf_append(&l->prev, l->last.data, l->last.len)) < 0)
		return r;
	for (size_t i = 0; i < pg->n && r == 0; i++) {
		struct s3_staged *st = &pg->entries[i];
		struct s3xml_entry e = {
		    .kind = st->kind,
		    .name = pg->strings.data + st->name,
		    .size = st->size,
		    .mtime = st->mtime,
		    .etag = pg->strings.data + st->etag,
		};

		if (url && !l->buckets && s3_url_decode(pg->strings.data + st->name) < 0) {
			char shown[1200];

			s3_key_printable(e.name, shown, sizeof(shown));
			log_warn("s3://%s/%s: the server sent a key with a NUL byte or a broken "
				 "escape; left out",
				 l->bucket, shown);
			continue;
		}
		if (!l->buckets && l->prev.len && strcmp(e.name, l->prev.data) <= 0) {
			old++; /* listed on an earlier page */
			continue;
		}
		if (!l->buckets && (!l->last.len || strcmp(e.name, l->last.data) > 0)) {
			buf_reset(&l->last);
			r = buf_append(&l->last, e.name, strlen(e.name));
			if (r < 0)
				break;
		}
		fresh = 1;
		r = fn(arg, &e);
	}
	if (old && !l->told_old++) /* once a listing: a looping server sends many */
		log_notice("s3://%s/%s: the server listed %u key%s again; left out", l->bucket,
			   l->prefix ? l->prefix : "", old, old == 1 ? "" : "s");
	if (fresh)
		l->progress_ms = s3_now_ms();
	return r;
}

/* 1 if the token was seen in this listing already; else remember it. */
static int s3_list_token_seen(struct s3_lister *l, const char *token)
{
	unsigned n = l->n_seen < S3_LIST_TOKENS_KEPT ? l->n_seen : S3_LIST_TOKENS_KEPT;

	for (unsigned i = 0; i < n; i++)
		if (!strcmp(l->seen[i], token))
			return 1;
	free(l->seen[l->n_seen % S3_LIST_TOKENS_KEPT]);
	l->seen[l->n_seen % S3_LIST_TOKENS_KEPT] = strdup(token);
	if (!l->seen[l->n_seen % S3_LIST_TOKENS_KEPT])
		return -ENOMEM;
	l->n_seen++;
	return 0;
}

struct s3_lister *s3_lister_new(struct s3 *s, const char *bucket, const char *prefix,
				const char *delimiter, int max_keys)
{
	struct s3_lister *l = calloc(1, sizeof(*l));

	if (!l)
		return NULL;
	l->s = s;
	l->buckets = bucket == NULL;
	l->bucket = strdup(bucket ? bucket : "");
	l->prefix = prefix ? strdup(prefix) : NULL;
	l->delimiter = delimiter ? strdup(delimiter) : NULL;
	l->max_keys = max_keys > 0 && max_keys < S3_LIST_KEYS_MAX ? max_keys : S3_LIST_KEYS_MAX;
	l->one_page = max_keys > 0;
	l->page.max_entries = l->buckets ? S3_LIST_BUCKETS_MAX : S3_LIST_KEYS_MAX;
	l->page.entries = calloc(l->page.max_entries, sizeof(*l->page.entries));
	/* What a page's bytes can hold, so only those bound the page. */
	buf_init(&l->page.strings, S3_LIST_PAGE_MAX);
	buf_init(&l->query, 16384);
	buf_init(&l->token, 4096);
	/* Names are at most S3XML_NAME_MAX (4096) bytes. */
	buf_init(&l->last, 8192);
	buf_init(&l->prev, 8192);
	l->progress_ms = s3_now_ms();
	if (!l->bucket || (prefix && !l->prefix) || (delimiter && !l->delimiter) ||
	    !l->page.entries) {
		s3_lister_free(l);
		return NULL;
	}
	return l;
}

void s3_lister_free(struct s3_lister *l)
{
	if (!l)
		return;
	s3xml_parser_free(l->page.p);
	free(l->page.entries);
	buf_free(&l->page.strings);
	buf_free(&l->query);
	buf_free(&l->token);
	buf_free(&l->last);
	buf_free(&l->prev);
	for (unsigned i = 0; i < S3_LIST_TOKENS_KEPT; i++)
		free(l->seen[i]);
	free(l->bucket);
	free(l->prefix);
	free(l->delimiter);
	free(l);
}

/* The query of the next page, in SigV4's sorted order for easier reading
 * of traces (the signer sorts anyway). */
static int s3_list_query(struct s3_lister *l)
{
	struct buf *q = &l->query;
	int r = 0;

	buf_reset(q);
	if (l->token.len) {
		r |= buf_append(q, "continuation-token=", 19);
		r |= s3_encode(q, l->token.data, 0);
		r |= buf_append(q, "&", 1);
	}
	if (l->delimiter) {
		r |= buf_append(q, "delimiter=", 10);
		r |= s3_encode(q, l->delimiter, 0);
		r |= buf_append(q, "&", 1);
	}
	/* Keys with characters XML 1.0 cannot carry (control characters)
	 * would make a raw page unparsable: ask for them percent-encoded. */
	r |= buf_appendf(q, "encoding-type=url&list-type=2&max-keys=%d", l->max_keys);
	if (l->prefix && *l->prefix) {
		r |= buf_append(q, "&prefix=", 8);
		r |= s3_encode(q, l->prefix, 0);
	}
	return r ? -ENAMETOOLONG : 0;
}

int s3_lister_next(struct s3_lister *l, s3xml_entry_fn fn, void *arg)
{
	struct s3_call call = {
	    .method = "GET",
	    .bucket = l->buckets ? NULL : l->bucket,
	    .sink = s3_page_sink,
	    .sink_reset = s3_page_reset,
	    .sink_arg = &l->page,
	};
	const char *next;
	const char *what = s3_list_what(l);
	int r;

	if (l->done)
		return 0;
	if (!l->buckets) {
		r = s3_list_query(l);
		if (r < 0)
			return r;
		call.query = l->query.data;
	}
	r = s3_perform(l->s, &call);
	if (r == 0 && !l->page.p)
		r = -ENOMEM;
	if (r == 0)
		r = s3xml_parser_feed(l->page.p, NULL, 0, 1);
	if (r == -EFBIG || r == -EOVERFLOW) {
		log_err("s3://%s/%s: the server sent a %s page over %s; giving up", l->bucket,
			l->prefix ? l->prefix : "", what,
			r == -EFBIG  ? "the size limit (" S3_LIST_PAGE_MAX_TEXT ")"
			: l->buckets ? "the entry limit (10000 buckets)"
				     : "the entry limit (" S3_LIST_KEYS_MAX_TEXT ")");
		return -EIO;
	}
	if (r == -EBADMSG || r == -EPROTO) {
		log_err("s3://%s/%s: the server sent a malformed %s page", l->bucket,
			l->prefix ? l->prefix : "", what);
		return -EIO;
	}
	if (r < 0)
		return r;
	l->pages++;
	r = s3_page_deliver(l, fn, arg);
	if (r < 0)
		return r;
	next = s3xml_parser_next_token(l->page.p);
	if (l->buckets || l->one_page || !s3xml_parser_truncated(l->page.p)) {
		l->done = 1;
		return 0;
	}
	if (!next) {
		log_err("s3://%s/%s: %s is truncated but has no continuation token", l->bucket,
			l->prefix ? l->prefix : "", what);
		return -EIO;
	}
	r = s3_list_token_seen(l, next);
	if (r > 0) {
		log_err("s3://%s/%s: the server sent a continuation token it sent before (after "
			"%u pages): the listing would never end",
			l->bucket, l->prefix ? l->prefix : "", l->pages);
		return -EIO;
	}
	if (r < 0)
		return r;
	if (s3_now_ms() - l->progress_ms > l->s->cfg.timeout_ms) {
		log_err("s3://%s/%s: %u pages in %u s listed nothing new: the listing would never "
			"end",
			l->bucket, l->prefix ? l->prefix : "", l->pages,
			l->s->cfg.timeout_ms / 1000);
		return -EIO;
	}
	buf_reset(&l->token);
	r = buf_append(&l->token, next, strlen(next));
	return r < 0 ? -EIO : 1;
}

int s3_list(struct s3 *s, const char *bucket, const char *prefix, const char *delimiter,
	    int max_keys, s3xml_entry_fn fn, void *arg)
{
	struct s3_lister *l = s3_lister_new(s, bucket, prefix, delimiter, max_keys);
	int r;

	if (!l)
		return -ENOMEM;
	while ((r = s3_lister_next(l, fn, arg)) > 0)
		;
	log_debug("listed s3://%s/%s in %u page%s", bucket, prefix ? prefix : "", l->pages,
		  l->pages == 1 ? "" : "s");
	s3_lister_free(l);
	return r;
}

int s3_list_buckets(struct s3 *s, s3xml_entry_fn fn, void *arg)
{
	return s3_list(s, NULL, NULL, NULL, 0, fn, arg);
}
