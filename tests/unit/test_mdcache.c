/* test_mdcache.c - the metadata cache over a small in-memory tree: fresh
 * listings answer lookups without asking the tree, and every change makes
 * the next lookup or listing ask it again and see the change. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>

#include "mdcache.h"
#include "unit.h"

/* ---- the tree behind the cache: paths with attributes, calls counted ---- */

#define FAKE_MAX 32

struct fake_entry {
	int used;
	char path[128];
	struct stat st;
};

struct fake {
	struct fake_entry e[FAKE_MAX];
	int n_getattr, n_readdir;
	int n_page, n_listed; /* list_page and getattr_listed calls */
	int page_big;	      /* list_page says the folder goes on */
	int n_opendir;	      /* streams opened, and still open */
	int n_open_dirs;
	/* readdir and list_page show folders partial for good
	 * (BACKEND_PAGE_KEEP), as the S3 tree does; else whole from readdir
	 * and lacking what readdir shows from list_page. */
	int dirs_keep;
	/* Run once inside the next getattr or readdir, after it has read
	 * the tree: a change racing with that call. */
	void (*hook)(void);
};

static struct fake fake;
static struct backend cache; /* the layer under test, over fake */

static struct fake_entry *fake_find(const char *path)
{
	for (int i = 0; i < FAKE_MAX; i++)
		if (fake.e[i].used && strcmp(fake.e[i].path, path) == 0)
			return &fake.e[i];
	return NULL;
}

static struct fake_entry *fake_add(const char *path, mode_t mode, off_t size)
{
	for (int i = 0; i < FAKE_MAX; i++) {
		struct fake_entry *e = &fake.e[i];

		if (e->used)
			continue;
		memset(e, 0, sizeof(*e));
		e->used = 1;
		snprintf(e->path, sizeof(e->path), "%s", path);
		e->st.st_mode = mode;
		e->st.st_size = size;
		e->st.st_nlink = 1;
		return e;
	}
	return NULL;
}

/* The folder holding path is parent ("/" for "/a"). */
static int fake_is_child(const char *path, const char *parent)
{
	const char *slash = strrchr(path, '/');
	size_t n = slash == path ? 1 : (size_t)(slash - path);

	return strcmp(path, "/") != 0 && strlen(parent) == n && strncmp(path, parent, n) == 0;
}

static void fake_run_hook(void)
{
	void (*hook)(void) = fake.hook;

	fake.hook = NULL;
	if (hook)
		hook();
}

static int fake_getattr(void *ctx, const char *path, struct stat *st)
{
	struct fake_entry *e = fake_find(path);

	(void)ctx;
	fake.n_getattr++;
	if (e)
		*st = e->st;
	fake_run_hook();
	return e ? 0 : -ENOENT;
}

static unsigned fake_readdir_partial(const struct fake_entry *e)
{
	return fake.dirs_keep && S_ISDIR(e->st.st_mode) ? BACKEND_PAGE_LOOKUP | BACKEND_PAGE_KEEP
							: 0;
}

static int fake_readdir(void *ctx, const char *path, backend_fill_fn fill, void *arg)
{
	struct fake_entry *dir = fake_find(path);

	(void)ctx;
	fake.n_readdir++;
	if (!dir)
		return -ENOENT;
	for (int i = 0; i < FAKE_MAX; i++)
		if (fake.e[i].used && fake_is_child(fake.e[i].path, path))
			fill(arg, strrchr(fake.e[i].path, '/') + 1, &fake.e[i].st,
			     fake_readdir_partial(&fake.e[i]));
	fake_run_hook();
	return 0;
}

/* Streams: "/big" holds FAKE_BIG entries made up on the fly, past what the
 * cache keeps of one folder; other folders stream what the tree holds. */
#define FAKE_BIG 100001

struct fake_dir {
	char path[128];
};

static int fake_opendir(void *ctx, const char *path, void **dh)
{
	struct fake_dir *d;

	(void)ctx;
	if (strcmp(path, "/big") != 0 && !fake_find(path))
		return -ENOENT;
	d = calloc(1, sizeof(*d));
	if (!d)
		return -ENOMEM;
	snprintf(d->path, sizeof(d->path), "%s", path);
	fake.n_opendir++;
	fake.n_open_dirs++;
	*dh = d;
	return 0;
}

static int fake_readdir_at(void *ctx, void *dh, off_t off, backend_fill_at_fn fill, void *arg)
{
	struct fake_dir *d = dh;
	struct stat st = {.st_mode = S_IFREG | 0644, .st_nlink = 1};
	char name[32];
	off_t pos = 0;

	(void)ctx;
	if (!strcmp(d->path, "/big")) {
		for (off_t i = off; i < FAKE_BIG; i++) {
			snprintf(name, sizeof(name), "e%06lld", (long long)i);
			if (fill(arg, name, &st, 0, i + 1))
				return 0;
		}
		return 0;
	}
	for (int i = 0; i < FAKE_MAX; i++) {
		if (!fake.e[i].used || !fake_is_child(fake.e[i].path, d->path))
			continue;
		if (pos++ < off)
			continue;
		if (fill(arg, strrchr(fake.e[i].path, '/') + 1, &fake.e[i].st,
			 fake_readdir_partial(&fake.e[i]), pos))
			return 0;
	}
	fake_run_hook();
	return 0;
}

static void fake_releasedir(void *ctx, void *dh)
{
	(void)ctx;
	fake.n_open_dirs--;
	free(dh);
}

static int fake_open(void *ctx, const char *path, int flags, void **fh, struct stat *st)
{
	struct fake_entry *e = fake_find(path);

	(void)ctx;
	if (!e)
		return -ENOENT;
	if (flags & O_TRUNC)
		e->st.st_size = 0;
	*fh = e;
	*st = e->st;
	return 0;
}

static ssize_t fake_read(void *ctx, void *fh, char *buf, size_t size, off_t off)
{
	(void)ctx;
	(void)fh;
	(void)buf;
	(void)size;
	(void)off;
	return 0;
}

static int fake_fgetattr(void *ctx, void *fh, struct stat *st)
{
	(void)ctx;
	*st = ((struct fake_entry *)fh)->st;
	return 0;
}

static int fake_release(void *ctx, const char *path, void *fh)
{
	(void)ctx;
	(void)path;
	(void)fh;
	return 0;
}

static int fake_statfs(void *ctx, struct statvfs *st)
{
	(void)ctx;
	memset(st, 0, sizeof(*st));
	return 0;
}

static int fake_create(void *ctx, const char *path, mode_t mode, int flags, void **fh,
		       struct stat *st)
{
	struct fake_entry *e = fake_add(path, S_IFREG | (mode & 07777), 0);

	(void)ctx;
	(void)flags;
	if (!e)
		return -ENOSPC;
	*fh = e;
	*st = e->st;
	return 0;
}

static ssize_t fake_write(void *ctx, const char *path, void *fh, const char *buf, size_t size,
			  off_t off)
{
	struct fake_entry *e = fh;

	(void)ctx;
	(void)path;
	(void)buf;
	if (off + (off_t)size > e->st.st_size)
		e->st.st_size = off + (off_t)size;
	return (ssize_t)size;
}

static int fake_flush(void *ctx, const char *path, void *fh)
{
	(void)ctx;
	(void)path;
	(void)fh;
	return 0;
}

static int fake_truncate(void *ctx, const char *path, void *fh, off_t size)
{
	struct fake_entry *e = fh ? fh : fake_find(path);

	(void)ctx;
	if (!e)
		return -ENOENT;
	e->st.st_size = size;
	return 0;
}

static int fake_setattr(void *ctx, const char *path, void *fh, const struct backend_setattr *a)
{
	struct fake_entry *e = fh ? fh : fake_find(path);

	(void)ctx;
	if (!e)
		return -ENOENT;
	if (a->set & BACKEND_SET_MODE)
		e->st.st_mode = (e->st.st_mode & S_IFMT) | a->mode;
	return 0;
}

static int fake_unlink(void *ctx, const char *path)
{
	struct fake_entry *e = fake_find(path);

	(void)ctx;
	if (!e)
		return -ENOENT;
	e->used = 0;
	return 0;
}

static int fake_mkdir(void *ctx, const char *path, mode_t mode)
{
	(void)ctx;
	if (fake_find(path))
		return -EEXIST;
	return fake_add(path, S_IFDIR | (mode & 07777), 0) ? 0 : -ENOSPC;
}

static int fake_rmdir(void *ctx, const char *path)
{
	struct fake_entry *e = fake_find(path);

	(void)ctx;
	if (!e)
		return -ENOENT;
	for (int i = 0; i < FAKE_MAX; i++)
		if (fake.e[i].used && fake_is_child(fake.e[i].path, path))
			return -ENOTEMPTY;
	e->used = 0;
	return 0;
}

/* Moves from and everything below it. */
static int fake_rename(void *ctx, const char *from, const char *to, unsigned flags)
{
	size_t n = strlen(from);

	(void)ctx;
	(void)flags;
	if (!fake_find(from))
		return -ENOENT;
	for (int i = 0; i < FAKE_MAX; i++) {
		struct fake_entry *e = &fake.e[i];
		char moved[sizeof(e->path)];

		if (!e->used || strncmp(e->path, from, n) != 0 ||
		    (e->path[n] != '\0' && e->path[n] != '/'))
			continue;
		snprintf(moved, sizeof(moved), "%s%s", to, e->path + n);
		memcpy(e->path, moved, sizeof(moved));
	}
	return 0;
}

static void fake_destroy(void *ctx)
{
	(void)ctx;
}

/* fsync, symlink and readlink are left out: absent in the tree, absent in
 * the layer. */
static const struct backend_ops fake_ops = {
    .getattr = fake_getattr,
    .readdir = fake_readdir,
    .opendir = fake_opendir,
    .readdir_at = fake_readdir_at,
    .releasedir = fake_releasedir,
    .open = fake_open,
    .read = fake_read,
    .fgetattr = fake_fgetattr,
    .release = fake_release,
    .statfs = fake_statfs,
    .create = fake_create,
    .write = fake_write,
    .flush = fake_flush,
    .truncate = fake_truncate,
    .setattr = fake_setattr,
    .unlink = fake_unlink,
    .mkdir = fake_mkdir,
    .rmdir = fake_rmdir,
    .rename = fake_rename,
    .destroy = fake_destroy,
};

/* A fresh tree ("/a" of 5 bytes, an empty folder "/sub") under a fresh
 * cache whose entries outlive the test. */
static void setup(void)
{
	memset(&fake, 0, sizeof(fake));
	fake_add("/", S_IFDIR | 0755, 0);
	fake_add("/a", S_IFREG | 0644, 5);
	fake_add("/sub", S_IFDIR | 0755, 0);
	cache.ops = &fake_ops;
	cache.ctx = NULL;
	CHECK(mdcache_wrap(&cache, 60000) == 0);
	CHECK(cache.ops != &fake_ops);
}

static void teardown(void)
{
	cache.ops->destroy(cache.ctx);
}

/* ---- calls through the cache ---- */

static int getattr(const char *path, struct stat *st)
{
	return cache.ops->getattr(cache.ctx, path, st);
}

static off_t size_of(const char *path)
{
	struct stat st;

	return getattr(path, &st) == 0 ? st.st_size : -1;
}

struct names {
	char buf[256];
};

static int names_add(void *arg, const char *name, const struct stat *st, unsigned partial)
{
	struct names *n = arg;
	size_t len = strlen(n->buf);

	(void)st;
	(void)partial;
	snprintf(n->buf + len, sizeof(n->buf) - len, "%s%s", len ? "," : "", name);
	return 0;
}

/* The names in folder path, sorted and comma-separated, or "!errno". */
static const char *list(const char *path)
{
	static struct names n;
	int r;

	memset(&n, 0, sizeof(n));
	r = cache.ops->readdir(cache.ctx, path, names_add, &n);
	if (r < 0)
		snprintf(n.buf, sizeof(n.buf), "!%d", -r);
	return n.buf;
}

static void *create(const char *path)
{
	struct stat st;
	void *fh = NULL;

	CHECK(cache.ops->create(cache.ctx, path, 0644, O_WRONLY, &fh, &st) == 0);
	return fh;
}

/* ---- tests ---- */

static void test_listing_answers_lookups(void)
{
	struct stat st;

	setup();
	CHECK_STR(list("/"), "a,sub");
	CHECK(fake.n_readdir == 1);
	CHECK(getattr("/a", &st) == 0 && st.st_size == 5);
	CHECK(getattr("/sub", &st) == 0 && S_ISDIR(st.st_mode));
	CHECK(getattr("/missing", &st) == -ENOENT);
	CHECK(fake.n_getattr == 0);
	CHECK_STR(list("/"), "a,sub");
	CHECK(fake.n_readdir == 1);
	/* A lookup the listing cannot answer asks, once. */
	CHECK(getattr("/sub/x", &st) == -ENOENT);
	CHECK(getattr("/sub/x", &st) == -ENOENT);
	CHECK(fake.n_getattr == 1);
	teardown();
}

static void test_create_and_unlink(void)
{
	struct stat st;
	void *fh;

	setup();
	CHECK_STR(list("/"), "a,sub");
	CHECK(getattr("/new", &st) == -ENOENT);
	fh = create("/new");
	CHECK(getattr("/new", &st) == 0 && S_ISREG(st.st_mode));
	CHECK(fake.n_getattr == 1);
	CHECK_STR(list("/"), "a,new,sub");
	CHECK(fake.n_readdir == 2);
	CHECK(cache.ops->release(cache.ctx, "/new", fh) == 0);

	CHECK_STR(list("/"), "a,new,sub");
	CHECK(cache.ops->unlink(cache.ctx, "/a") == 0);
	CHECK(getattr("/a", &st) == -ENOENT);
	CHECK(fake.n_getattr == 2);
	CHECK_STR(list("/"), "new,sub");
	teardown();
}

static void test_mkdir_and_rmdir(void)
{
	struct stat st;

	setup();
	CHECK_STR(list("/"), "a,sub");
	CHECK(getattr("/d", &st) == -ENOENT); /* from the listing */
	CHECK(cache.ops->mkdir(cache.ctx, "/d", 0755) == 0);
	CHECK(getattr("/d", &st) == 0 && S_ISDIR(st.st_mode));
	CHECK(fake.n_getattr == 1);
	CHECK_STR(list("/"), "a,d,sub");
	/* A folder just made is known empty: listed and looked in for free. */
	CHECK_STR(list("/d"), "");
	CHECK(fake.n_readdir == 2);
	CHECK(getattr("/d/x", &st) == -ENOENT);
	CHECK(getattr("/d/y", &st) == -ENOENT);
	CHECK(fake.n_getattr == 1);
	CHECK(cache.ops->release(cache.ctx, "/d/x", create("/d/x")) == 0);
	/* After a change, the listing still answers for the other names... */
	CHECK(getattr("/d/y", &st) == -ENOENT);
	CHECK(fake.n_getattr == 1);
	/* ... not for the changed one, and readdir lists afresh. */
	CHECK(getattr("/d/x", &st) == 0);
	CHECK(fake.n_getattr == 2);
	CHECK_STR(list("/d"), "x");
	CHECK(cache.ops->unlink(cache.ctx, "/d/x") == 0);
	CHECK(getattr("/d/x", &st) == -ENOENT);
	CHECK_STR(list("/d"), "");
	CHECK(fake.n_readdir == 4);

	/* rmdir drops the folder's own listing too. */
	CHECK(cache.ops->rmdir(cache.ctx, "/d") == 0);
	CHECK_STR(list("/d"), "!2");
	CHECK(getattr("/d", &st) == -ENOENT);
	CHECK_STR(list("/"), "a,sub");
	teardown();
}

static void test_rename(void)
{
	struct stat st;

	setup();
	CHECK_STR(list("/"), "a,sub");
	CHECK_STR(list("/sub"), "");
	CHECK(cache.ops->rename(cache.ctx, "/a", "/sub/b", 0) == 0);
	CHECK(getattr("/a", &st) == -ENOENT);
	CHECK(fake.n_getattr == 1);
	CHECK_STR(list("/sub"), "b");
	CHECK(size_of("/sub/b") == 5);

	/* A folder moves with what is below it. */
	CHECK_STR(list("/"), "sub");
	CHECK(cache.ops->rename(cache.ctx, "/sub", "/dir", 0) == 0);
	CHECK(getattr("/sub/b", &st) == -ENOENT);
	CHECK_STR(list("/sub"), "!2");
	CHECK_STR(list("/"), "dir");
	CHECK_STR(list("/dir"), "b");
	CHECK(size_of("/dir/b") == 5);
	teardown();
}

static void test_write_drops_attributes(void)
{
	struct stat st;
	void *fh = NULL;
	int n;

	setup();
	CHECK(size_of("/a") == 5);
	CHECK(size_of("/a") == 5);
	CHECK(fake.n_getattr == 1);
	CHECK(cache.ops->open(cache.ctx, "/a", O_WRONLY, &fh, &st) == 0);
	CHECK(cache.ops->write(cache.ctx, "/a", fh, "0123456789", 10, 100) == 10);
	CHECK(size_of("/a") == 110);
	CHECK(fake.n_getattr == 2);

	/* A listing taken before a write is not used for the file written:
	 * its entry holds the old size. */
	CHECK_STR(list("/"), "a,sub");
	CHECK(cache.ops->write(cache.ctx, "/a", fh, "0123456789", 10, 200) == 10);
	CHECK(size_of("/a") == 210);
	CHECK(fake.n_getattr == 3);
	CHECK(size_of("/a") == 210); /* and kept until the next write */
	CHECK(fake.n_getattr == 3);
	CHECK(size_of("/sub") == 0); /* the others still come from the listing */
	CHECK(fake.n_getattr == 3);

	/* Release publishes: the listing goes too. */
	n = fake.n_readdir;
	CHECK(cache.ops->release(cache.ctx, "/a", fh) == 0);
	CHECK_STR(list("/"), "a,sub");
	CHECK(fake.n_readdir == n + 1);
	CHECK(size_of("/a") == 210);
	CHECK(fake.n_getattr == 3);
	teardown();
}

static void test_truncate_setattr_open_trunc(void)
{
	struct backend_setattr a = {.set = BACKEND_SET_MODE, .mode = 0600};
	struct stat st;
	void *fh = NULL;

	setup();
	CHECK_STR(list("/"), "a,sub");
	CHECK(cache.ops->truncate(cache.ctx, "/a", NULL, 3) == 0);
	CHECK(size_of("/a") == 3);
	CHECK(fake.n_getattr == 1);

	CHECK(cache.ops->setattr(cache.ctx, "/a", NULL, &a) == 0);
	CHECK(getattr("/a", &st) == 0 && (st.st_mode & 07777) == 0600);
	CHECK(fake.n_getattr == 2);

	CHECK(cache.ops->open(cache.ctx, "/a", O_WRONLY | O_TRUNC, &fh, &st) == 0);
	CHECK(size_of("/a") == 0);
	CHECK(fake.n_getattr == 3);
	/* A file unlinked while open has no path any more. */
	CHECK(cache.ops->write(cache.ctx, NULL, fh, "x", 1, 0) == 1);
	CHECK(cache.ops->flush(cache.ctx, NULL, fh) == 0);
	CHECK(cache.ops->release(cache.ctx, NULL, fh) == 0);
	teardown();
}

static void test_close_of_reader_keeps_listing(void)
{
	struct stat st;
	void *fh = NULL;

	setup();
	CHECK_STR(list("/"), "a,sub");
	CHECK(cache.ops->open(cache.ctx, "/a", O_RDONLY, &fh, &st) == 0);
	CHECK(cache.ops->flush(cache.ctx, "/a", fh) == 0);
	CHECK(cache.ops->release(cache.ctx, "/a", fh) == 0);
	CHECK_STR(list("/"), "a,sub");
	CHECK(size_of("/sub") == 0);
	CHECK(fake.n_readdir == 1 && fake.n_getattr == 0);

	/* Opened to write: close publishes, even with nothing written. */
	CHECK(cache.ops->open(cache.ctx, "/a", O_RDWR, &fh, &st) == 0);
	CHECK(cache.ops->flush(cache.ctx, "/a", fh) == 0);
	CHECK_STR(list("/"), "a,sub");
	CHECK(fake.n_readdir == 2);
	CHECK(cache.ops->release(cache.ctx, "/a", fh) == 0);
	CHECK_STR(list("/"), "a,sub");
	CHECK(fake.n_readdir == 3);
	teardown();
}

/* Inside the tree's getattr of "/a", after it has read "/a": a racing
 * unlink. */
static void unlink_a(void)
{
	CHECK(cache.ops->unlink(cache.ctx, "/a") == 0);
}

static void create_late(void)
{
	CHECK(cache.ops->release(cache.ctx, "/late", create("/late")) == 0);
}

static void test_racing_change_not_cached(void)
{
	struct stat st;

	setup();
	fake.hook = unlink_a;
	CHECK(getattr("/a", &st) == 0); /* as the tree saw it then */
	CHECK(getattr("/a", &st) == -ENOENT);
	CHECK(fake.n_getattr == 2);

	fake.hook = create_late;
	CHECK_STR(list("/"), "sub");
	CHECK(size_of("/late") == 0);
	CHECK_STR(list("/"), "late,sub");
	CHECK(fake.n_readdir == 2);
	teardown();
}

static void test_absent_stays_absent(void)
{
	struct backend_ops ro = fake_ops;

	setup();
	CHECK(cache.ops->create && cache.ops->write && cache.ops->rename);
	CHECK(!cache.ops->symlink && !cache.ops->readlink && !cache.ops->fsync);
	teardown();

	/* A read-only tree: every change absent, so the adapter answers
	 * EROFS. */
	ro.create = NULL;
	ro.write = NULL;
	ro.flush = NULL;
	ro.truncate = NULL;
	ro.setattr = NULL;
	ro.unlink = NULL;
	ro.mkdir = NULL;
	ro.rmdir = NULL;
	ro.rename = NULL;
	cache.ops = &ro;
	cache.ctx = NULL;
	CHECK(mdcache_wrap(&cache, 60000) == 0);
	CHECK(!cache.ops->create && !cache.ops->write && !cache.ops->flush && !cache.ops->fsync &&
	      !cache.ops->truncate && !cache.ops->setattr && !cache.ops->unlink &&
	      !cache.ops->mkdir && !cache.ops->rmdir && !cache.ops->rename && !cache.ops->symlink &&
	      !cache.ops->readlink);
	CHECK(cache.ops->getattr && cache.ops->readdir && cache.ops->open && cache.ops->release &&
	      cache.ops->start);
	teardown();
}

/* A stream read `per_call` entries at a time (a small kernel buffer),
 * from the start to its end: the names, comma-separated ("!errno"), and
 * the count in *n. */
struct stream_fill {
	struct names names;
	int left; /* entries this call may still take */
	off_t next;
	long n;
};

static int stream_add(void *arg, const char *name, const struct stat *st, unsigned partial,
		      off_t next)
{
	struct stream_fill *f = arg;

	if (f->left == 0)
		return 1;
	f->left--;
	f->next = next;
	f->n++;
	if (f->n <= 10)
		names_add(&f->names, name, st, partial);
	return 0;
}

static const char *stream(const char *path, int per_call, long *n)
{
	static struct stream_fill f;
	void *dh = NULL;
	int r;

	memset(&f, 0, sizeof(f));
	r = cache.ops->opendir(cache.ctx, path, &dh);
	while (r == 0) {
		long before = f.n;

		f.left = per_call;
		r = cache.ops->readdir_at(cache.ctx, dh, f.next, stream_add, &f);
		if (f.n == before)
			break; /* the end */
	}
	if (dh)
		cache.ops->releasedir(cache.ctx, dh);
	if (r < 0)
		snprintf(f.names.buf, sizeof(f.names.buf), "!%d", -r);
	if (n)
		*n = f.n;
	return f.names.buf;
}

/* A folder streamed to its end is kept, even when the reader's buffer
 * took it a few entries at a time, and answers lookups and the next
 * listing; one past the cache's limit streams through every time, in
 * bounded memory, and is not kept. */
static void test_stream_kept_unless_huge(void)
{
	struct stat st;
	long n;

	setup();
	fake_add("/b", S_IFREG | 0644, 7);
	CHECK_STR(stream("/", 1, &n), "a,sub,b");
	CHECK(n == 3 && fake.n_opendir == 1);
	CHECK(getattr("/b", &st) == 0 && st.st_size == 7);
	CHECK(getattr("/nope", &st) == -ENOENT);
	CHECK(fake.n_getattr == 0);
	/* From the cache now: sorted, no stream below. */
	CHECK_STR(stream("/", 2, &n), "a,b,sub");
	CHECK(fake.n_opendir == 1);
	CHECK_STR(list("/"), "a,b,sub");
	CHECK(fake.n_readdir == 0);

	CHECK_STR(stream("/big", 500, &n), "e000000,e000001,e000002,e000003,e000004,e000005,"
					   "e000006,e000007,e000008,e000009");
	CHECK(n == FAKE_BIG && fake.n_opendir == 2);
	stream("/big", 500, &n);
	CHECK(n == FAKE_BIG && fake.n_opendir == 3);
	CHECK(getattr("/big/e000001", &st) == -ENOENT && fake.n_getattr == 1);
	CHECK(fake.n_open_dirs == 0);
	teardown();
}

/* A stream that a change overlapped is not kept; one whose reader stopped
 * early is, since the first read drains a folder this small whole. */
static void test_stream_racing_change_not_kept(void)
{
	struct stat st;
	void *dh = NULL;
	struct stream_fill f = {.left = 1};

	setup();
	fake.hook = unlink_a;
	CHECK_STR(stream("/", 1, NULL), "a,sub");
	CHECK(getattr("/a", &st) == -ENOENT);
	CHECK(fake.n_getattr == 1);
	fake_add("/c", S_IFREG | 0644, 1);
	CHECK(cache.ops->opendir(cache.ctx, "/", &dh) == 0);
	CHECK(cache.ops->readdir_at(cache.ctx, dh, 0, stream_add, &f) == 0);
	cache.ops->releasedir(cache.ctx, dh);
	CHECK_STR(f.names.buf, "c");
	CHECK(fake.n_opendir == 2 && fake.n_open_dirs == 0);
	CHECK_STR(stream("/", 4, NULL), "c,sub");
	CHECK(fake.n_opendir == 2);
	teardown();
}

/* ---- lookups from one page of a listing (list_page) ---- */

/* Every child of path: files lack what a lookup shows, folders also what
 * readdir shows; "." never told. */
static int fake_list_page(void *ctx, const char *path, backend_fill_page_fn fill, void *arg)
{
	(void)ctx;
	fake.n_page++;
	for (int i = 0; i < FAKE_MAX; i++) {
		struct fake_entry *e = &fake.e[i];

		if (e->used && fake_is_child(e->path, path))
			fill(arg, strrchr(e->path, '/') + 1, &e->st,
			     !S_ISDIR(e->st.st_mode) ? BACKEND_PAGE_LOOKUP
			     : fake.dirs_keep	     ? BACKEND_PAGE_LOOKUP | BACKEND_PAGE_KEEP
						     : BACKEND_PAGE_LOOKUP | BACKEND_PAGE_READDIR);
	}
	fake_run_hook();
	return !fake.page_big;
}

static int fake_getattr_listed(void *ctx, const char *path, const struct stat *listed,
			       struct stat *st)
{
	struct fake_entry *e = fake_find(path);

	(void)ctx;
	(void)listed;
	fake.n_listed++;
	if (e)
		*st = e->st;
	return e ? 0 : -ENOENT;
}

static struct backend_ops paged_ops;

static void setup_paged(void)
{
	setup();
	teardown();
	paged_ops = fake_ops;
	paged_ops.list_page = fake_list_page;
	paged_ops.getattr_listed = fake_getattr_listed;
	cache.ops = &paged_ops;
	cache.ctx = NULL;
	CHECK(mdcache_wrap(&cache, 60000) == 0);
}

static void test_page_answers_lookups(void)
{
	struct stat st;

	setup_paged();
	/* One page of "/": names missing from it cost nothing more. */
	CHECK(getattr("/missing", &st) == -ENOENT);
	CHECK(getattr("/other", &st) == -ENOENT);
	CHECK(fake.n_page == 1 && fake.n_getattr == 0);
	/* A name it shows: the rest of its attributes, once. */
	CHECK(getattr("/a", &st) == 0 && st.st_size == 5);
	CHECK(getattr("/a", &st) == 0);
	CHECK(fake.n_listed == 1);
	/* A folder: a page of its own first, then the rest. */
	CHECK(getattr("/sub", &st) == 0 && S_ISDIR(st.st_mode));
	CHECK(fake.n_page == 2 && fake.n_listed == 2);
	CHECK(getattr("/sub/x", &st) == -ENOENT);
	CHECK(fake.n_page == 2 && fake.n_getattr == 0);
	/* readdir does not show a page holding a folder (readdir shows
	 * more of it): it lists afresh. */
	CHECK_STR(list("/"), "a,sub");
	CHECK(fake.n_readdir == 1);
	/* Something made here is seen at once. */
	CHECK(cache.ops->release(cache.ctx, "/sub/x", create("/sub/x")) == 0);
	CHECK(size_of("/sub/x") == 0);
	teardown();
}

static void test_page_shown_by_readdir(void)
{
	struct fake_entry *sub;
	struct stat st;

	setup_paged();
	sub = fake_find("/sub");
	CHECK(sub != NULL);
	if (sub)
		sub->used = 0;
	fake_add("/b", S_IFREG | 0644, 7);
	CHECK(getattr("/missing", &st) == -ENOENT);
	/* Only files: readdir shows the page, and lookups then answer from
	 * it as from any listing. */
	CHECK_STR(list("/"), "a,b");
	CHECK(fake.n_readdir == 0 && fake.n_page == 1);
	CHECK(size_of("/b") == 7);
	CHECK(fake.n_listed == 0 && fake.n_getattr == 0);
	teardown();
}

/* Folders that readdir shows partial (the S3 tree's subfolders, whose
 * markers no listing reads): a lookup of one lists its own page, which
 * then serves its readdir, whatever readdir showed of the folder. */
static void test_subfolder_stays_partial(void)
{
	struct stat st;

	setup_paged();
	fake.dirs_keep = 1;
	fake_add("/sub/x", S_IFREG | 0644, 3);
	CHECK_STR(list("/"), "a,sub");
	CHECK(fake.n_readdir == 1);
	/* A file readdir showed is answered as shown. */
	CHECK(size_of("/a") == 5);
	CHECK(fake.n_listed == 0 && fake.n_page == 0);
	/* A folder is not: its own page, then the rest of it. */
	CHECK(getattr("/sub", &st) == 0 && S_ISDIR(st.st_mode));
	CHECK(fake.n_page == 1 && fake.n_listed == 1 && fake.n_getattr == 0);
	CHECK(getattr("/sub", &st) == 0);
	CHECK(fake.n_page == 1 && fake.n_listed == 1);
	/* That page is the folder's listing: reading it costs nothing. */
	CHECK_STR(list("/sub"), "x");
	CHECK(fake.n_readdir == 1 && fake.n_page == 1);
	teardown();

	/* The same when the page of "/" came first: readdir shows it, and
	 * its folder still stays partial. */
	setup_paged();
	fake.dirs_keep = 1;
	CHECK(getattr("/missing", &st) == -ENOENT);
	CHECK_STR(list("/"), "a,sub");
	CHECK(fake.n_readdir == 0 && fake.n_page == 1);
	CHECK(size_of("/a") == 5);
	CHECK(fake.n_listed == 0);
	CHECK(getattr("/sub", &st) == 0 && S_ISDIR(st.st_mode));
	CHECK(fake.n_page == 2 && fake.n_listed == 1);
	teardown();
}

static void test_page_of_a_big_folder(void)
{
	struct stat st;

	setup_paged();
	fake.page_big = 1;
	CHECK(getattr("/missing", &st) == -ENOENT);
	CHECK(getattr("/a", &st) == 0 && st.st_size == 5);
	CHECK(getattr("/other", &st) == -ENOENT);
	/* Not asked for again: each name asks by itself. */
	CHECK(fake.n_page == 1 && fake.n_getattr == 3 && fake.n_listed == 0);
	teardown();
}

static void test_page_racing_change_not_kept(void)
{
	struct stat st;

	setup_paged();
	fake.hook = unlink_a;
	CHECK(getattr("/missing", &st) == -ENOENT);
	CHECK(getattr("/a", &st) == -ENOENT);
	CHECK(fake.n_page == 2);
	teardown();
}

int main(void)
{
	test_listing_answers_lookups();
	test_create_and_unlink();
	test_mkdir_and_rmdir();
	test_rename();
	test_write_drops_attributes();
	test_truncate_setattr_open_trunc();
	test_close_of_reader_keeps_listing();
	test_racing_change_not_cached();
	test_absent_stays_absent();
	test_stream_kept_unless_huge();
	test_stream_racing_change_not_kept();
	test_page_answers_lookups();
	test_page_shown_by_readdir();
	test_subfolder_stays_partial();
	test_page_of_a_big_folder();
	test_page_racing_change_not_kept();
	return unit_done("test_mdcache");
}
