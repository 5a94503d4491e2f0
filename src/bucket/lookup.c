/* lookup.c - lookups from one page of a folder's listing (see s3tree_i.h)
 *
 * A lookup in a folder whose listing the cache does not hold would cost a
 * request per name (a list of the name as a prefix, and a HEAD of a file
 * for its metadata).  Instead the cache asks for one page of the folder's
 * listing (ListObjectsV2, delimiter '/', up to 1,000 keys): a folder that
 * fits in it is known whole, so every name missing from it is missing
 * without a request, for cache_ttl.  A name the page shows still needs
 * what the page does not hold: a file's metadata (x-amz-meta-mode, owner,
 * times: a link, a chmod'ed file) and a folder's marker, so such entries
 * are partial, and getattr_listed sends one HEAD for each, unless known.c
 * remembers the file's metadata for its ETag.  The page of a folder also
 * tells the folder's own attributes when it has no "name/" marker (the
 * marker is the first key under its prefix), so that looking up a folder
 * and then names in it costs one listing.
 *
 * Readdir does not read subfolders' markers either (s3tree.c): it shows
 * them partial, and the cache looks one up by listing the subfolder's own
 * page here.  That page says whether the subfolder has a marker (only then
 * a HEAD of it) and, when whole, serves as the subfolder's listing: `find`
 * costs one list per folder.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "s3tree_i.h"
#include "source.h"

/* What one page showed besides its entries. */
struct lookup_page {
	struct s3tree_listing l;
	int n_keys;	 /* entries under the prefix, the marker included */
	int marker_seen; /* the folder's own "name/" key */
	time_t marker_mtime;
};

static int lookup_page_entry(void *arg, const struct s3xml_entry *e)
{
	struct lookup_page *p = arg;

	if (e->kind != S3XML_BUCKET && !strncmp(e->name, p->l.prefix, strlen(p->l.prefix))) {
		p->n_keys++;
		if (e->kind == S3XML_OBJECT && *p->l.prefix && !strcmp(e->name, p->l.prefix)) {
			p->marker_seen = 1;
			p->marker_mtime = e->mtime;
		}
	}
	return s3tree_list_entry(&p->l, e);
}

int s3tree_list_page(void *ctx, const char *path, backend_fill_page_fn fill, void *arg)
{
	struct s3tree *t = ctx;
	struct lookup_page p;
	struct s3_lister *lister = NULL;
	char *bucket = NULL, *key = NULL, *prefix = NULL;
	struct stat st;
	int r, more;

	/* Glob mounts list without a delimiter, and an all-buckets root is a
	 * list of buckets: their lookups go the usual way. */
	if (t->cfg.src->kind == SOURCE_S3_GLOB)
		return -EOPNOTSUPP;
	memset(&p, 0, sizeof(p));
	r = s3tree_locate(t, path, &bucket, &key);
	if (r < 0)
		return r;
	if (!bucket) {
		r = -EOPNOTSUPP;
		goto out;
	}
	prefix = s3tree_dir_prefix(key);
	lister = prefix ? s3_lister_new(t->cfg.s3, bucket, prefix, "/", 0) : NULL;
	if (!lister) {
		r = -ENOMEM;
		goto out;
	}
	p.l.t = t;
	p.l.bucket = bucket;
	p.l.prefix = prefix;
	r = s3_lister_next(lister, lookup_page_entry, &p);
	if (r < 0)
		goto out;
	more = r > 0;
	/* Files open for writing are part of a whole folder (not yet in S3,
	 * or newer there): their entries are pending, so partial. */
	if (!more && (r = openfiles_add_writers(t, &p.l)) < 0)
		goto out;
	s3tree_dedupe(&p.l);
	for (size_t i = 0; i < p.l.n; i++) {
		struct s3tree_entry *e = &p.l.entries[i];

		s3tree_entry_stat(t, e, &st);
		/* readdir HEADs empty objects (special files), shows other
		 * files as listed and subfolders partial, as here. */
		if (fill(arg, e->name, &st,
			 (e->pending || !e->known ? BACKEND_PAGE_LOOKUP : 0) |
			     s3tree_entry_partial(&p.l, e) |
			     (!e->is_dir && !e->pending && e->size == 0 && !e->known
				  ? BACKEND_PAGE_READDIR
				  : 0)))
			break;
	}
	/* The folder itself: its marker's metadata needs a HEAD; without a
	 * marker, keys under it make it a folder with the defaults. */
	if (*prefix && (p.marker_seen || p.n_keys > 0)) {
		s3tree_dir_stat(t, &st, p.marker_seen ? p.marker_mtime : 0, &(struct s3_meta){0});
		fill(arg, ".", &st, p.marker_seen ? BACKEND_PAGE_LOOKUP : 0);
	}
	r = !more;
out:
	s3_lister_free(lister);
	s3tree_listing_free(&p.l);
	free(bucket);
	free(key);
	free(prefix);
	return r;
}

int s3tree_getattr_listed(void *ctx, const char *path, const struct stat *listed, struct stat *st)
{
	struct s3tree *t = ctx;
	struct s3_object obj;
	char *bucket = NULL, *key = NULL, *marker = NULL;
	int r;

	if (t->cfg.src->kind == SOURCE_S3_GLOB)
		return s3tree_getattr(ctx, path, st);
	r = s3tree_locate(t, path, &bucket, &key);
	if (r < 0)
		return r;
	if (!bucket || !*key) {
		r = s3tree_getattr(ctx, path, st);
		goto out;
	}
	if (openfiles_writer_stat(t, bucket, key, st) == 0) {
		r = 0;
		goto out;
	}
	if (S_ISDIR(listed->st_mode)) {
		/* Its marker, which keeps its mode, owner and times. */
		marker = s3tree_dir_prefix(key);
		r = marker ? s3_head(t->cfg.s3, bucket, marker, &obj) : -ENOMEM;
		if (r == 0)
			s3tree_dir_stat(t, st, obj.mtime, &obj.meta);
	} else {
		r = s3tree_head_stat(t, bucket, key, st);
	}
	/* No marker ("name_$folder$", or keys only), or gone since the page:
	 * the lookup that tells every case apart. */
	if (r == -ENOENT)
		r = s3tree_getattr(ctx, path, st);
out:
	free(bucket);
	free(key);
	free(marker);
	return r;
}
