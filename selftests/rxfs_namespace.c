// SPDX-License-Identifier: GPL-2.0
/*
 * Namespace test: a big tree built by a seeded random mix of every namespace
 * operation, checked against an in-memory model before unmount, after a
 * read-only fsck, and after a fresh mount; plus readdir while entries are
 * deleted, and readdir cookies that survive deletions.
 *
 * big_tree: 10 top directories x 100 subdirectories x 10 files (10,000
 * files, 1,010 directories) with deterministic contents of 0 bytes to 48 KiB,
 * then (seeded, interleaved) hard links in and across directories, relative,
 * absolute, dangling and long symlinks, fifos, sockets, character and block
 * devices, renames (in a directory, across directories, over an existing
 * file, directory moves, RENAME_EXCHANGE of file/file, file/directory and
 * directory/directory, RENAME_NOREPLACE onto an existing name (EEXIST) and a
 * new one, rename onto another link of the same inode (no-op), directory
 * over an empty directory, and the errors ENOTEMPTY, EINVAL, EISDIR,
 * ENOTDIR, EPERM, EEXIST, ENAMETOOLONG), unlinks of files and of hard-link
 * peers, rmdir of empty directories and of whole subtrees (ENOTEMPTY for a
 * non-empty one), rewrites, truncates up and down, appends, chown, chmod
 * (set-id and sticky bits included) and utimensat with nanoseconds.
 *
 * The model records every inode (type, permissions, owner, link count, size,
 * content seed, symlink target, device number, times set) and every name.
 * Verification walks the real tree from the root: readdir must list exactly
 * the model's names (no extras, no duplicates, right d_type, d_ino equal to
 * st_ino), every name's lstat must match its inode, all names of an inode
 * must give one st_ino and different inodes different ones, directory link
 * counts must be 2 + subdirectories, and every file's bytes must match.
 *
 * Environment (see rxfs_test.h for RXFS_TEST_FSTYPE, _BS, _MKFS, _FSCK):
 *   RXFS_TEST_DEV  scratch device, default /dev/vda; at least 512 MiB
 *                  (the test is sized for 1 GiB: truncate -s 1G IMG)
 *   SEED           the random seed (default 1; printed)
 *   RXFS_NS_SUBDIRS, RXFS_NS_OPS  scale (defaults 100 and 4000)
 *
 * Run on the host, e.g.:
 *   truncate -s 1G /tmp/ns.img
 *   scripts/vm-run --disk /tmp/ns.img -- build/selftests/rxfs_namespace
 *   RXFS_TEST_FSTYPE=ext4 scripts/vm-run --no-module --disk /tmp/ns.img -- build/selftests/rxfs_namespace
 */
#include <sys/resource.h>
#include <dirent.h>
#include <limits.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include "rxfs_test.h"
#include "kselftest_harness.h"

#ifndef RENAME_NOREPLACE
#define RENAME_NOREPLACE (1 << 0)
#endif
#ifndef RENAME_EXCHANGE
#define RENAME_EXCHANGE (1 << 1)
#endif

#define NTOP 10
#define NFILE 10
#define MIN_DEV_BYTES (512ull << 20)

enum { T_REG, T_DIR, T_LNK, T_FIFO, T_SOCK, T_CHR, T_BLK, T_NR };
#define M(t) (1u << (t))
#define M_NONDIR (M(T_REG) | M(T_LNK) | M(T_FIFO) | M(T_SOCK) | M(T_CHR) | M(T_BLK))
#define M_ANY (M_NONDIR | M(T_DIR))

static const mode_t type_fmt[T_NR] = {
	S_IFREG, S_IFDIR, S_IFLNK, S_IFIFO, S_IFSOCK, S_IFCHR, S_IFBLK,
};
static const unsigned char type_dt[T_NR] = {
	DT_REG, DT_DIR, DT_LNK, DT_FIFO, DT_SOCK, DT_CHR, DT_BLK,
};
static const char *const type_name[T_NR] = {
	"file", "dir", "symlink", "fifo", "socket", "chardev", "blockdev",
};

struct mino {
	int type, live;
	mode_t perm;
	uid_t uid;
	gid_t gid;
	int nlink;			/* names, for non-directories */
	uint64_t seed, size, dlen;	/* regular files: bytes [0, dlen) are
					 * rxfs_fill(seed), [dlen, size) zero */
	char *target;			/* symlinks */
	dev_t rdev;
	int times_set;
	struct timespec atime, mtime;
	int dent;			/* directories: their one name (-1: root) */
	int *kids, nkids, capkids;	/* directories: names in it */
	/* verification scratch */
	int seen_pass;
	ino_t seen_ino;
};

struct mdent {
	int parent, ino, live;
	char *name;
};

static struct mino *I;
static struct mdent *D;
static int nI, capI, nD, capD;
static int *dirs, ndirs, capdirs;	/* every directory ever made */
static int root;
static uint64_t rng;
static unsigned long name_ctr;
static char root_extra[16][NAME_MAX + 1];	/* lost+found and the like */
static int n_root_extra, root_extra_dirs;
static int nerr;
static const char *phase = "";

static uint64_t rnd(uint64_t n)
{
	rng = rxfs_mix64(rng);
	return n ? rng % n : 0;
}

/* A mismatch or unexpected result: counted, the first 40 printed. */
static void bad(const char *fmt, ...)
{
	va_list ap;

	if (nerr++ >= 40)
		return;
	printf("# MISMATCH [%s] ", phase);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
}

static void *grow(void *p, int *cap, int need, size_t sz)
{
	if (need <= *cap)
		return p;
	*cap = *cap ? *cap * 2 : 64;
	if (*cap < need)
		*cap = need;
	p = realloc(p, *cap * sz);
	if (!p)
		abort();
	return p;
}

static int m_new(int type, mode_t perm)
{
	struct mino *m;

	I = grow(I, &capI, nI + 1, sizeof(*I));
	m = &I[nI];
	memset(m, 0, sizeof(*m));
	m->type = type;
	m->live = 1;
	m->perm = perm;
	m->dent = -1;
	if (type == T_DIR) {
		dirs = grow(dirs, &capdirs, ndirs + 1, sizeof(*dirs));
		dirs[ndirs++] = nI;
	}
	return nI++;
}

static int m_add(int dir, const char *name, int ino)
{
	struct mino *d = &I[dir];

	D = grow(D, &capD, nD + 1, sizeof(*D));
	D[nD] = (struct mdent){ .parent = dir, .ino = ino, .live = 1, .name = strdup(name) };
	d->kids = grow(d->kids, &d->capkids, d->nkids + 1, sizeof(int));
	d->kids[d->nkids++] = nD;
	if (I[ino].type == T_DIR)
		I[ino].dent = nD;
	else
		I[ino].nlink++;
	return nD++;
}

static void m_detach(int dent)
{
	struct mino *p = &I[D[dent].parent];

	for (int i = 0; i < p->nkids; i++)
		if (p->kids[i] == dent) {
			p->kids[i] = p->kids[--p->nkids];
			return;
		}
	abort();
}

static void m_unlink(int dent)
{
	struct mino *m = &I[D[dent].ino];

	m_detach(dent);
	D[dent].live = 0;
	if (m->type == T_DIR)
		m->live = 0;
	else if (--m->nlink == 0)
		m->live = 0;
}

static void m_move(int dent, int dir, const char *name)
{
	struct mino *d = &I[dir];

	m_detach(dent);
	free(D[dent].name);
	D[dent].name = strdup(name);
	D[dent].parent = dir;
	d->kids = grow(d->kids, &d->capkids, d->nkids + 1, sizeof(int));
	d->kids[d->nkids++] = dent;
}

/* A rename of @src over @dst: @dst's name goes, @src takes its place. */
static void m_replace(int src, int dst)
{
	int dir = D[dst].parent;
	char name[NAME_MAX + 1];

	snprintf(name, sizeof(name), "%s", D[dst].name);
	m_unlink(dst);
	m_move(src, dir, name);
}

static void m_exchange(int a, int b)
{
	int ia = D[a].ino, ib = D[b].ino;

	D[a].ino = ib;
	D[b].ino = ia;
	if (I[ia].type == T_DIR)
		I[ia].dent = b;
	if (I[ib].type == T_DIR)
		I[ib].dent = a;
}

static int m_lookup(int dir, const char *name)
{
	for (int i = 0; i < I[dir].nkids; i++)
		if (!strcmp(D[I[dir].kids[i]].name, name))
			return I[dir].kids[i];
	return -1;
}

static int m_subdirs(int dir)
{
	int n = 0;

	for (int i = 0; i < I[dir].nkids; i++)
		n += I[D[I[dir].kids[i]].ino].type == T_DIR;
	return n;
}

/* Is directory @a equal to or below directory @b? */
static int m_within(int a, int b)
{
	for (int guard = 0; guard < 10000; guard++) {
		if (a == b)
			return 1;
		if (a == root)
			return 0;
		a = D[I[a].dent].parent;
	}
	abort();
}

static int m_depth(int dir)
{
	int n = 0;

	while (dir != root) {
		dir = D[I[dir].dent].parent;
		n++;
	}
	return n;
}

/* Path of directory @dir relative to the root ("" for the root). */
static void rel_dir(int dir, char *buf, size_t len)
{
	char tmp[PATH_MAX];

	if (dir == root) {
		buf[0] = 0;
		return;
	}
	rel_dir(D[I[dir].dent].parent, tmp, sizeof(tmp));
	snprintf(buf, len, "%s%s%s", tmp, *tmp ? "/" : "", D[I[dir].dent].name);
}

static void rel_dent(int dent, char *buf, size_t len)
{
	char tmp[PATH_MAX];

	rel_dir(D[dent].parent, tmp, sizeof(tmp));
	snprintf(buf, len, "%s%s%s", tmp, *tmp ? "/" : "", D[dent].name);
}

/* Absolute paths of a name, of a directory, of a new name in a directory. */
static const char *P(int dent, char *buf)
{
	char tmp[PATH_MAX];

	rel_dent(dent, tmp, sizeof(tmp));
	snprintf(buf, PATH_MAX, "%s/%s", RXFS_MNT, tmp);
	return buf;
}

static const char *PD(int dir, char *buf)
{
	char tmp[PATH_MAX];

	rel_dir(dir, tmp, sizeof(tmp));
	snprintf(buf, PATH_MAX, "%s%s%s", RXFS_MNT, *tmp ? "/" : "", tmp);
	return buf;
}

static const char *PN(int dir, const char *name, char *buf)
{
	char tmp[PATH_MAX];

	PD(dir, tmp);
	snprintf(buf, PATH_MAX, "%s/%s", tmp, name);
	return buf;
}

static const char *fresh(const char *prefix, char *buf)
{
	snprintf(buf, NAME_MAX, "%s%lu", prefix, name_ctr++);
	return buf;
}

/* Checks a syscall's result against the expected errno (0: success). */
static int expect(int ret, int want, const char *what, const char *path)
{
	int got = ret < 0 ? errno : 0;

	if (got == want)
		return 0;
	bad("%s %s: got %s, expected %s", what, path, got ? strerror(got) : "success",
	    want ? strerror(want) : "success");
	return -1;
}

/* ---- picking ---- */

static int rand_dir(void)
{
	for (int t = 0; t < 1000; t++) {
		int d = dirs[rnd(ndirs)];

		if (I[d].live)
			return d;
	}
	return root;
}

static int rand_dent(unsigned int mask)
{
	for (int t = 0; t < 200; t++) {
		int d = rand_dir(), k;

		if (!I[d].nkids)
			continue;
		k = I[d].kids[rnd(I[d].nkids)];
		if (mask & M(I[D[k].ino].type))
			return k;
	}
	return -1;
}

/* A name of an inode with more than one name, and (in @other) another one. */
static int rand_linked(int *other)
{
	for (int t = 0; t < 200; t++) {
		int a = rand_dent(M_NONDIR);

		if (a < 0 || I[D[a].ino].nlink < 2)
			continue;
		for (int j = 0; j < nD; j++)
			if (j != a && D[j].live && D[j].ino == D[a].ino) {
				if (other)
					*other = j;
				return a;
			}
	}
	return -1;
}

static uint64_t rand_size(void)
{
	uint64_t r = rnd(100);

	if (r < 10)
		return 0;
	if (r < 50)
		return 1 + rnd(512);
	if (r < 80)
		return 1 + rnd(4096);
	if (r < 95)
		return 4096 + rnd(12288);
	return 16384 + rnd(32768);
}

/* ---- real operations, each followed by its model update ---- */

static int write_stream(int fd, uint64_t seed, uint64_t off, uint64_t len)
{
	static unsigned char buf[65536];

	while (len) {
		size_t n = len < sizeof(buf) ? len : sizeof(buf);
		ssize_t w;

		rxfs_fill(buf, seed, off, n);
		w = write(fd, buf, n);
		if (w <= 0)
			return -1;
		off += w;
		len -= w;
	}
	return 0;
}

static int do_create(int dir, const char *name, mode_t perm)
{
	char p[PATH_MAX];
	uint64_t seed = rng ^ name_ctr * 0x9e3779b97f4a7c15ull, size = rand_size();
	int fd, ino;

	PN(dir, name, p);
	fd = open(p, O_CREAT | O_EXCL | O_WRONLY, perm);
	if (expect(fd, 0, "create", p))
		return -1;
	if (write_stream(fd, seed, 0, size) || close(fd)) {
		bad("write %s: %s", p, strerror(errno));
		return -1;
	}
	ino = m_new(T_REG, perm);
	I[ino].seed = seed;
	I[ino].size = I[ino].dlen = size;
	m_add(dir, name, ino);
	return 0;
}

static int do_mkdir(int dir, const char *name, int *out)
{
	char p[PATH_MAX];
	int ino;

	PN(dir, name, p);
	if (expect(mkdir(p, 0755), 0, "mkdir", p))
		return -1;
	ino = m_new(T_DIR, 0755);
	m_add(dir, name, ino);
	if (out)
		*out = ino;
	return 0;
}

static int op_create(void)
{
	char n[NAME_MAX];
	static const mode_t perms[] = { 0644, 0600, 0755, 0444 };

	return do_create(rand_dir(), fresh("c", n), perms[rnd(4)]);
}

static int op_link(int cross)
{
	char a[PATH_MAX], b[PATH_MAX], n[NAME_MAX];
	int src = rand_dent(rnd(4) ? M(T_REG) : M_NONDIR), dir;

	if (src < 0)
		return 1;
	dir = cross ? rand_dir() : D[src].parent;
	fresh("h", n);
	if (expect(link(P(src, a), PN(dir, n, b)), 0, "link", b))
		return -1;
	m_add(dir, n, D[src].ino);
	return 0;
}

static int op_symlink(int kind)
{
	char p[PATH_MAX], n[NAME_MAX], t[PATH_MAX], rel[PATH_MAX];
	int dir = rand_dir(), ino, tgt;

	t[0] = 0;
	switch (kind) {
	case 0:		/* relative, through the root */
		tgt = rand_dent(M_ANY);
		if (tgt < 0)
			return 1;
		rel_dent(tgt, rel, sizeof(rel));
		for (int i = m_depth(dir); i > 0; i--)
			strcat(t, "../");
		strncat(t, rel, sizeof(t) - strlen(t) - 1);
		break;
	case 1:		/* relative, a sibling */
		tgt = rand_dent(M_ANY);
		if (tgt < 0)
			return 1;
		dir = D[tgt].parent;
		snprintf(t, sizeof(t), "./%s", D[tgt].name);
		break;
	case 2:		/* absolute */
		tgt = rand_dent(M_ANY);
		if (tgt < 0)
			return 1;
		P(tgt, t);
		break;
	case 3:		/* dangling */
		snprintf(t, sizeof(t), "no/such/target/%lu", name_ctr);
		break;
	default:	/* long: 700 bytes */
		for (int i = 0; i < 350; i++)
			strcat(t, i % 7 ? "x/" : "y/");
		t[699] = 'z';
		t[700] = 0;
		break;
	}
	PN(dir, fresh("l", n), p);
	if (expect(symlink(t, p), 0, "symlink", p))
		return -1;
	ino = m_new(T_LNK, 0777);
	I[ino].target = strdup(t);
	I[ino].size = strlen(t);
	m_add(dir, n, ino);
	return 0;
}

static int op_mknod(int kind)
{
	static const int types[] = { T_FIFO, T_SOCK, T_CHR, T_BLK };
	static const mode_t perms[] = { 0640, 0755, 0600, 0660 };
	char p[PATH_MAX], n[NAME_MAX];
	int type = types[kind & 3], dir = rand_dir(), ino;
	dev_t dev = 0;

	if (type == T_CHR)
		dev = makedev(1, 3 + rnd(6));
	else if (type == T_BLK)
		dev = makedev(7 + rnd(2), rnd(256));
	PN(dir, fresh("n", n), p);
	if (expect(mknod(p, type_fmt[type] | perms[kind & 3], dev), 0, "mknod", p))
		return -1;
	ino = m_new(type, perms[kind & 3]);
	I[ino].rdev = dev;
	m_add(dir, n, ino);
	return 0;
}

static int op_rename_new(int cross, unsigned int flags)
{
	char a[PATH_MAX], b[PATH_MAX], n[NAME_MAX];
	int src = rand_dent(M_NONDIR), dir;

	if (src < 0)
		return 1;
	dir = cross ? rand_dir() : D[src].parent;
	PN(dir, fresh("r", n), b);
	if (expect(renameat2(AT_FDCWD, P(src, a), AT_FDCWD, b, flags), 0,
		   flags ? "rename(NOREPLACE)" : "rename", b))
		return -1;
	m_move(src, dir, n);
	return 0;
}

static int op_rename_over(void)
{
	char a[PATH_MAX], b[PATH_MAX];
	int src = rand_dent(M_NONDIR), dst = rand_dent(M_NONDIR);

	if (src < 0 || dst < 0 || src == dst || D[src].ino == D[dst].ino)
		return 1;
	P(src, a);
	P(dst, b);
	if (expect(rename(a, b), 0, "rename over", b))
		return -1;
	m_replace(src, dst);
	return 0;
}

/* Two names of one inode: rename is a successful no-op. */
static int op_rename_own_link(void)
{
	char a[PATH_MAX], b[PATH_MAX];
	int other, src = rand_linked(&other);

	if (src < 0)
		return 1;
	return expect(rename(P(src, a), P(other, b)), 0, "rename onto own link", b);
}

static int op_noreplace_exists(void)
{
	char a[PATH_MAX], b[PATH_MAX];
	int src = rand_dent(M_ANY), dst = rand_dent(M_ANY);

	if (src < 0 || dst < 0 || src == dst)
		return 1;
	return expect(renameat2(AT_FDCWD, P(src, a), AT_FDCWD, P(dst, b), RENAME_NOREPLACE),
		      EEXIST, "rename(NOREPLACE) onto existing", b);
}

static int op_rename_dir(void)
{
	char a[PATH_MAX], b[PATH_MAX], n[NAME_MAX];
	int src = rand_dent(M(T_DIR)), dir = rand_dir();

	if (src < 0 || m_within(dir, D[src].ino))
		return 1;
	PN(dir, fresh("m", n), b);
	if (expect(rename(P(src, a), b), 0, "rename dir", b))
		return -1;
	m_move(src, dir, n);
	return 0;
}

/* RENAME_EXCHANGE; @kind 0: file/file, 1: file/dir, 2: dir/dir. */
static int op_exchange(int kind)
{
	char a[PATH_MAX], b[PATH_MAX];
	int x = rand_dent(kind == 2 ? M(T_DIR) : M_NONDIR);
	int y = rand_dent(kind == 0 ? M_NONDIR : M(T_DIR));

	if (x < 0 || y < 0 || x == y)
		return 1;
	/* Neither may end up inside itself. */
	if (I[D[x].ino].type == T_DIR && m_within(D[y].parent, D[x].ino))
		return 1;
	if (I[D[y].ino].type == T_DIR && m_within(D[x].parent, D[y].ino))
		return 1;
	P(x, a);
	P(y, b);
	if (expect(renameat2(AT_FDCWD, a, AT_FDCWD, b, RENAME_EXCHANGE), 0, "exchange", b))
		return -1;
	m_exchange(x, y);
	return 0;
}

/* A directory over another: fine onto an empty one, ENOTEMPTY otherwise. */
static int op_dir_over_dir(int nonempty)
{
	char a[PATH_MAX], b[PATH_MAX];
	int src = rand_dent(M(T_DIR)), dst = -1;

	if (src < 0)
		return 1;
	for (int t = 0; t < 200 && dst < 0; t++) {
		int c = rand_dent(M(T_DIR));

		if (c < 0 || c == src || !I[D[c].ino].nkids != !nonempty)
			continue;
		if (m_within(D[c].ino, D[src].ino) || m_within(D[src].ino, D[c].ino))
			continue;
		if (m_within(D[c].parent, D[src].ino))
			continue;
		dst = c;
	}
	if (dst < 0)
		return 1;
	P(src, a);
	P(dst, b);
	if (nonempty) {
		/* POSIX allows either; XFS says EEXIST, ext4 ENOTEMPTY. */
		int r = rename(a, b);

		if (r && errno == EEXIST)
			return 0;
		return expect(r, ENOTEMPTY, "rename dir over non-empty dir", b);
	}
	if (expect(rename(a, b), 0, "rename dir over empty dir", b))
		return -1;
	m_replace(src, dst);
	return 0;
}

static int op_into_own_subtree(void)
{
	char a[PATH_MAX], b[PATH_MAX], n[NAME_MAX];
	int src = -1, sub = -1;

	for (int t = 0; t < 300 && sub < 0; t++) {
		int d = rand_dir();

		if (d == root)
			continue;
		for (int i = 0; i < I[d].nkids; i++)
			if (I[D[I[d].kids[i]].ino].type == T_DIR)
				sub = I[d].kids[i];
		src = I[d].dent;
	}
	if (sub < 0)
		return 1;
	PN(D[sub].ino, fresh("z", n), b);
	return expect(rename(P(src, a), b), EINVAL, "rename dir into its own subtree", b);
}

static int op_unlink(int peer)
{
	char p[PATH_MAX];
	int d = peer ? rand_linked(NULL) : rand_dent(M_NONDIR);

	if (d < 0)
		return 1;
	if (expect(unlink(P(d, p)), 0, peer ? "unlink hard-link peer" : "unlink", p))
		return -1;
	m_unlink(d);
	return 0;
}

static int op_mkdir_empty(void)
{
	char n[NAME_MAX];

	return do_mkdir(rand_dir(), fresh("e", n), NULL);
}

static int op_rmdir(int nonempty)
{
	char p[PATH_MAX];

	for (int t = 0; t < 300; t++) {
		int d = rand_dir();

		if (d == root || !I[d].nkids != !nonempty)
			continue;
		PD(d, p);
		if (nonempty)
			return expect(rmdir(p), ENOTEMPTY, "rmdir of a non-empty dir", p);
		if (expect(rmdir(p), 0, "rmdir", p))
			return -1;
		m_unlink(I[d].dent);
		return 0;
	}
	return 1;
}

static int op_rewrite(void)
{
	char p[PATH_MAX];
	int d = rand_dent(M(T_REG)), fd;
	struct mino *m;

	if (d < 0)
		return 1;
	m = &I[D[d].ino];
	fd = open(P(d, p), O_WRONLY | O_TRUNC);
	if (expect(fd, 0, "open(O_TRUNC)", p))
		return -1;
	m->seed = rnd(~0ull);
	m->size = m->dlen = rand_size();
	if (write_stream(fd, m->seed, 0, m->size) || close(fd)) {
		bad("rewrite %s: %s", p, strerror(errno));
		return -1;
	}
	return 0;
}

static int op_truncate(void)
{
	char p[PATH_MAX];
	int d = rand_dent(M(T_REG));
	struct mino *m;
	uint64_t ns;

	if (d < 0)
		return 1;
	m = &I[D[d].ino];
	ns = rnd(2 * m->size + 8192);
	if (expect(truncate(P(d, p), ns), 0, "truncate", p))
		return -1;
	if (m->dlen > ns)
		m->dlen = ns;
	m->size = ns;
	return 0;
}

static int op_append(void)
{
	char p[PATH_MAX];
	int d = rand_dent(M(T_REG)), fd;
	struct mino *m;
	uint64_t n = 1 + rnd(6000);

	if (d < 0 || I[D[d].ino].dlen != I[D[d].ino].size)
		return 1;
	m = &I[D[d].ino];
	fd = open(P(d, p), O_WRONLY | O_APPEND);
	if (expect(fd, 0, "open(O_APPEND)", p))
		return -1;
	if (write_stream(fd, m->seed, m->size, n) || close(fd)) {
		bad("append %s: %s", p, strerror(errno));
		return -1;
	}
	m->size = m->dlen = m->size + n;
	return 0;
}

/* Error paths that must change nothing. */
static int op_errors(void)
{
	static unsigned int which;
	char a[PATH_MAX], b[PATH_MAX], n[NAME_MAX + 2];
	int f = rand_dent(M_NONDIR), f2 = rand_dent(M_NONDIR), d = rand_dent(M(T_DIR)), r;

	if (f < 0 || f2 < 0 || d < 0 || f == f2)
		return 1;
	/* Not below the directory: those renames fail with EINVAL or ENOTEMPTY first. */
	if (m_within(D[f].parent, D[d].ino))
		return 1;
	P(f, a);
	switch (which++ % 12) {
	case 0:
		return expect(link(P(d, b), PN(D[f].parent, fresh("q", n), a)), EPERM, "link of a dir", b);
	case 1:
		return expect(mkdir(a, 0755), EEXIST, "mkdir over existing", a);
	case 2:
		return expect(unlink(P(d, b)), EISDIR, "unlink of a dir", b);
	case 3:
		return expect(rmdir(a), ENOTDIR, "rmdir of a non-dir", a);
	case 4:
		r = open(a, O_CREAT | O_EXCL | O_WRONLY, 0644);
		if (r >= 0)
			close(r);
		return expect(r, EEXIST, "open(O_CREAT|O_EXCL) of existing", a);
	case 5:
		return expect(rename(a, P(d, b)), EISDIR, "rename file over dir", b);
	case 6:
		return expect(rename(P(d, b), a), ENOTDIR, "rename dir over file", a);
	case 7:
		return expect(mknod(a, S_IFIFO | 0600, 0), EEXIST, "mknod over existing", a);
	case 8:
		return expect(symlink("x", a), EEXIST, "symlink over existing", a);
	case 9:
		return expect(link(P(f2, b), a), EEXIST, "link over existing", a);
	case 10:
		snprintf(b, sizeof(b), "%s/x", a);
		if (I[D[f].ino].type == T_LNK)
			return 1;	/* may resolve */
		return expect(mkdir(b, 0755), ENOTDIR, "mkdir below a non-dir", b);
	default:
		memset(n, 'n', NAME_MAX + 1);
		n[NAME_MAX + 1] = 0;
		return expect(mkdir(PN(D[d].ino, n, b), 0755), ENAMETOOLONG, "mkdir of a 256-byte name", "(long)");
	}
}

struct op {
	int weight;
	int (*fn)(int);
	int arg;
	const char *name;
};

static int w_create(int a) { return op_create(); }
static int w_over(int a) { return op_rename_over(); }
static int w_own(int a) { return op_rename_own_link(); }
static int w_noreplace(int a) { return op_noreplace_exists(); }
static int w_rdir(int a) { return op_rename_dir(); }
static int w_subtree(int a) { return op_into_own_subtree(); }
static int w_mkdir(int a) { return op_mkdir_empty(); }
static int w_rewrite(int a) { return op_rewrite(); }
static int w_truncate(int a) { return op_truncate(); }
static int w_append(int a) { return op_append(); }
static int w_errors(int a) { return op_errors(); }
static int w_rename(int a) { return op_rename_new(a & 1, a & 2 ? RENAME_NOREPLACE : 0); }

static const struct op ops[] = {
	{ 50, w_create, 0, "create" },
	{ 80, op_link, 0, "link in dir" },
	{ 80, op_link, 1, "link across dirs" },
	{ 25, op_symlink, 0, "symlink relative" },
	{ 10, op_symlink, 1, "symlink sibling" },
	{ 25, op_symlink, 2, "symlink absolute" },
	{ 8, op_symlink, 3, "symlink dangling" },
	{ 2, op_symlink, 4, "symlink long" },
	{ 5, op_mknod, 0, "mkfifo" },
	{ 5, op_mknod, 1, "mknod socket" },
	{ 3, op_mknod, 2, "mknod chr" },
	{ 2, op_mknod, 3, "mknod blk" },
	{ 70, w_rename, 0, "rename in dir" },
	{ 70, w_rename, 1, "rename across dirs" },
	{ 20, w_rename, 3, "rename NOREPLACE new" },
	{ 60, w_over, 0, "rename over file" },
	{ 5, w_own, 0, "rename onto own link" },
	{ 20, w_noreplace, 0, "rename NOREPLACE existing" },
	{ 15, w_rdir, 0, "rename dir" },
	{ 30, op_exchange, 0, "exchange file/file" },
	{ 6, op_exchange, 1, "exchange file/dir" },
	{ 4, op_exchange, 2, "exchange dir/dir" },
	{ 3, op_dir_over_dir, 0, "dir over empty dir" },
	{ 3, op_dir_over_dir, 1, "dir over non-empty dir" },
	{ 2, w_subtree, 0, "dir into own subtree" },
	{ 150, op_unlink, 0, "unlink" },
	{ 50, op_unlink, 1, "unlink peer" },
	{ 30, w_mkdir, 0, "mkdir" },
	{ 20, op_rmdir, 0, "rmdir" },
	{ 10, op_rmdir, 1, "rmdir non-empty" },
	{ 30, w_rewrite, 0, "rewrite" },
	{ 20, w_truncate, 0, "truncate" },
	{ 20, w_append, 0, "append" },
	{ 24, w_errors, 0, "errors" },
};

/* Removes a directory and everything below it, as rm -r does. */
static int rm_tree(int dir)
{
	char p[PATH_MAX];

	while (I[dir].nkids) {
		int k = I[dir].kids[I[dir].nkids - 1];

		if (I[D[k].ino].type == T_DIR) {
			if (rm_tree(D[k].ino))
				return -1;
			continue;
		}
		if (expect(unlink(P(k, p)), 0, "unlink (rm -r)", p))
			return -1;
		m_unlink(k);
	}
	if (expect(rmdir(PD(dir, p)), 0, "rmdir (rm -r)", p))
		return -1;
	m_unlink(I[dir].dent);
	return 0;
}

static void rand_time(struct timespec *ts)
{
	/* 2001 .. 2035, any nanosecond */
	ts->tv_sec = 1000000000 + rnd(1100000000);
	ts->tv_nsec = rnd(1000000000);
}

/* The metadata pass, after every namespace and data change. */
static int set_metadata(void)
{
	static const mode_t fmodes[] = { 0, 0600, 0644, 0755, 0777, 04755, 02755, 06711, 01644, 0400 };
	static const mode_t dmodes[] = { 0700, 0755, 01777, 0555, 0711 };
	char p[PATH_MAX];
	struct timespec ts[2];

	/* chown first: it clears set-id bits that chmod then sets. */
	for (int i = 0; i < 600; i++) {
		int d = rand_dent(i < 500 ? M_NONDIR & ~M(T_LNK) : i < 550 ? M(T_LNK) : M(T_DIR));
		struct mino *m;
		uid_t u = rnd(3) ? 1000 + rnd(60000) : 0;
		gid_t g = rnd(3) ? 100 + rnd(60000) : 0;

		if (d < 0)
			continue;
		m = &I[D[d].ino];
		if (expect(fchownat(AT_FDCWD, P(d, p), u, g, AT_SYMLINK_NOFOLLOW), 0, "lchown", p))
			return -1;
		m->uid = u;
		m->gid = g;
		/* chown kills set-uid, and set-gid with group execute */
		if (m->type != T_DIR) {
			if (m->perm & S_IXGRP)
				m->perm &= ~S_ISGID;
			m->perm &= ~S_ISUID;
		}
	}
	for (int i = 0; i < 1100; i++) {
		int d = rand_dent(i < 1000 ? M_NONDIR & ~M(T_LNK) : M(T_DIR));
		struct mino *m;

		if (d < 0)
			continue;
		m = &I[D[d].ino];
		m->perm = m->type == T_DIR ? dmodes[rnd(5)] : fmodes[rnd(10)];
		if (expect(chmod(P(d, p), m->perm), 0, "chmod", p))
			return -1;
	}
	for (int i = 0; i < 650; i++) {
		int d = rand_dent(i < 500 ? M_NONDIR & ~M(T_LNK) : i < 550 ? M(T_LNK) : M(T_DIR));
		struct mino *m;

		if (d < 0)
			continue;
		m = &I[D[d].ino];
		rand_time(&ts[0]);
		rand_time(&ts[1]);
		if (expect(utimensat(AT_FDCWD, P(d, p), ts, AT_SYMLINK_NOFOLLOW), 0, "utimensat", p))
			return -1;
		m->times_set = 1;
		m->atime = ts[0];
		m->mtime = ts[1];
	}
	return 0;
}

static int build(struct __test_metadata *_metadata, int nsub, int nops)
{
	static int count[sizeof(ops) / sizeof(ops[0])], done[sizeof(ops) / sizeof(ops[0])];
	char n[NAME_MAX];
	int total = 0;
	double t0 = rxfs_now();

	phase = "build";
	for (int t = 0; t < NTOP; t++) {
		int top;

		snprintf(n, sizeof(n), "d%d", t);
		if (do_mkdir(root, n, &top))
			return -1;
		for (int s = 0; s < nsub; s++) {
			int sub;

			snprintf(n, sizeof(n), "s%02d", s);
			if (do_mkdir(top, n, &sub))
				return -1;
			for (int f = 0; f < NFILE; f++) {
				snprintf(n, sizeof(n), "f%d", f);
				if (do_create(sub, n, 0644))
					return -1;
			}
		}
	}
	printf("# created %d dirs, %d files in %.1f s\n", ndirs - 1, NTOP * nsub * NFILE, rxfs_now() - t0);
	t0 = rxfs_now();
	for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++)
		total += ops[i].weight;
	for (int i = 0; i < nops; i++) {
		int w = rnd(total), k = 0, r;

		while (w >= ops[k].weight)
			w -= ops[k++].weight;
		count[k]++;
		r = ops[k].fn(ops[k].arg);
		if (r < 0)
			return -1;
		done[k] += r == 0;
	}
	printf("# %d random operations in %.1f s:", nops, rxfs_now() - t0);
	for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++)
		printf("%s %s %d/%d", i % 6 ? "," : "\n#  ", ops[i].name, done[i], count[i]);
	printf("\n");
	t0 = rxfs_now();
	/* Whole subtrees go, as rm -r: a few of the original subdirectories. */
	for (int i = 0, gone = 0; i < 200 && gone < 10; i++) {
		int d = rand_dent(M(T_DIR));

		if (d < 0 || D[d].parent == root || m_subdirs(D[d].ino) > 3)
			continue;
		if (rm_tree(D[d].ino))
			return -1;
		gone++;
	}
	if (set_metadata())
		return -1;
	printf("# rm -r, chown, chmod, utimensat in %.1f s\n", rxfs_now() - t0);
	fflush(stdout);
	return 0;
}

/* ---- verification ---- */

struct seen {
	ino_t ino;
	int mino;
};
static struct seen *seen;
static int nseen, capseen, pass;
static unsigned char rbuf[1 << 17], ebuf[1 << 17];

static int ts_eq(struct timespec a, struct timespec b)
{
	return a.tv_sec == b.tv_sec && a.tv_nsec == b.tv_nsec;
}

static void check_content(int dirfd, const char *name, const char *path, struct mino *m)
{
	int fd = openat(dirfd, name, O_RDONLY | O_NOATIME | O_NOFOLLOW);
	uint64_t off = 0;
	int failed = 1;

	if (fd < 0) {
		bad("open %s: %s", path, strerror(errno));
		return;
	}
	for (;;) {
		ssize_t r = read(fd, rbuf, sizeof(rbuf));

		if (r < 0) {
			bad("read %s at %llu: %s", path, (unsigned long long)off, strerror(errno));
			break;
		}
		if (r == 0) {
			failed = 0;
			break;
		}
		if (off + r > m->size) {
			bad("read %s: %llu bytes past the size %llu", path,
			    (unsigned long long)(off + r - m->size), (unsigned long long)m->size);
			break;
		}
		memset(ebuf, 0, r);
		if (off < m->dlen)
			rxfs_fill(ebuf, m->seed, off, m->dlen - off < (uint64_t)r ? m->dlen - off : (uint64_t)r);
		if (memcmp(rbuf, ebuf, r)) {
			ssize_t i = 0;

			while (rbuf[i] == ebuf[i])
				i++;
			bad("content of %s differs at byte %llu (size %llu, data %llu)", path,
			    (unsigned long long)(off + i), (unsigned long long)m->size,
			    (unsigned long long)m->dlen);
			break;
		}
		off += r;
	}
	if (!failed && off != m->size)
		bad("read %s: %llu bytes, size %llu", path, (unsigned long long)off,
		    (unsigned long long)m->size);
	close(fd);
}

static void check_name(int dirfd, const char *name, const char *path, int dent,
		       const struct dirent64 *de, int *nfiles)
{
	struct mino *m = &I[D[dent].ino];
	int mi = D[dent].ino;
	char tgt[PATH_MAX];
	struct stat st;
	ssize_t tl;
	int want_nlink;

	if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW)) {
		bad("lstat %s: %s", path, strerror(errno));
		return;
	}
	if ((st.st_mode & S_IFMT) != type_fmt[m->type]) {
		bad("%s: mode %o, expected a %s", path, st.st_mode, type_name[m->type]);
		return;
	}
	if (de->d_type != type_dt[m->type])
		bad("%s: d_type %d, expected %d", path, de->d_type, type_dt[m->type]);
	if (de->d_ino != st.st_ino)
		bad("%s: d_ino %llu, st_ino %llu", path, (unsigned long long)de->d_ino,
		    (unsigned long long)st.st_ino);
	if ((st.st_mode & 07777) != m->perm)
		bad("%s: permissions %04o, expected %04o", path, st.st_mode & 07777, m->perm);
	if (st.st_uid != m->uid || st.st_gid != m->gid)
		bad("%s: owner %u:%u, expected %u:%u", path, st.st_uid, st.st_gid, m->uid, m->gid);
	want_nlink = m->type == T_DIR ? 2 + m_subdirs(mi) : m->nlink;
	if (st.st_nlink != (nlink_t)want_nlink)
		bad("%s: nlink %lu, expected %d", path, (unsigned long)st.st_nlink, want_nlink);
	if (m->times_set) {
		if (!ts_eq(st.st_mtim, m->mtime))
			bad("%s: mtime %ld.%09ld, expected %ld.%09ld", path, st.st_mtim.tv_sec,
			    st.st_mtim.tv_nsec, m->mtime.tv_sec, m->mtime.tv_nsec);
		if (m->type == T_REG && !ts_eq(st.st_atim, m->atime))
			bad("%s: atime %ld.%09ld, expected %ld.%09ld", path, st.st_atim.tv_sec,
			    st.st_atim.tv_nsec, m->atime.tv_sec, m->atime.tv_nsec);
	}
	if ((m->type == T_CHR || m->type == T_BLK) && st.st_rdev != m->rdev)
		bad("%s: rdev %u:%u, expected %u:%u", path, major(st.st_rdev), minor(st.st_rdev),
		    major(m->rdev), minor(m->rdev));
	if ((m->type == T_REG || m->type == T_LNK) && (uint64_t)st.st_size != m->size)
		bad("%s: size %lld, expected %llu", path, (long long)st.st_size,
		    (unsigned long long)m->size);
	if (m->type == T_LNK) {
		tl = readlinkat(dirfd, name, tgt, sizeof(tgt) - 1);
		if (tl < 0 || (tgt[tl] = 0, strcmp(tgt, m->target)))
			bad("%s: symlink target \"%.60s\", expected \"%.60s\"", path,
			    tl < 0 ? strerror(errno) : tgt, m->target);
	}
	/* One st_ino per inode, checked here for the names of one inode. */
	if (m->seen_pass == pass) {
		if (m->seen_ino != st.st_ino)
			bad("%s: st_ino %llu, another name of the inode has %llu", path,
			    (unsigned long long)st.st_ino, (unsigned long long)m->seen_ino);
		return;
	}
	m->seen_pass = pass;
	m->seen_ino = st.st_ino;
	seen = grow(seen, &capseen, nseen + 1, sizeof(*seen));
	seen[nseen++] = (struct seen){ st.st_ino, mi };
	if (m->type == T_REG) {
		check_content(dirfd, name, path, m);
		(*nfiles)++;
	}
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int cmp_seen(const void *a, const void *b)
{
	const struct seen *x = a, *y = b;

	return x->ino < y->ino ? -1 : x->ino > y->ino;
}

struct rd {
	char **names;
	struct dirent64 *ents;
	int n, cap;
};

/* All entries but . and .., read with getdents64. */
static int read_dir(int fd, struct rd *r, const char *path)
{
	static char buf[32768];

	r->n = 0;
	for (;;) {
		long n = syscall(SYS_getdents64, fd, buf, sizeof(buf));

		if (n < 0) {
			bad("getdents64 %s: %s", path, strerror(errno));
			return -1;
		}
		if (n == 0)
			return 0;
		for (long off = 0; off < n;) {
			struct dirent64 *de = (void *)(buf + off);

			off += de->d_reclen;
			if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
				continue;
			if (r->n == r->cap) {
				r->cap = r->cap ? 2 * r->cap : 256;
				r->ents = realloc(r->ents, r->cap * sizeof(*r->ents));
			}
			memcpy(&r->ents[r->n], de, sizeof(*de) < de->d_reclen ? sizeof(*de) : de->d_reclen);
			r->n++;
		}
	}
}

static int cmp_ent(const void *a, const void *b)
{
	return strcmp(((const struct dirent64 *)a)->d_name, ((const struct dirent64 *)b)->d_name);
}

static void walk(int dir, int fd, const char *path, int *nnames, int *nfiles)
{
	struct rd r = { 0 };
	int nk = I[dir].nkids, i, j;
	char **want = malloc((nk + 1) * sizeof(char *));
	char cp[PATH_MAX];

	if (read_dir(fd, &r, path)) {
		free(want);
		return;
	}
	qsort(r.ents, r.n, sizeof(*r.ents), cmp_ent);
	for (i = 0; i < nk; i++)
		want[i] = D[I[dir].kids[i]].name;
	qsort(want, nk, sizeof(char *), cmp_str);
	for (i = 1; i < r.n; i++)
		if (!strcmp(r.ents[i].d_name, r.ents[i - 1].d_name))
			bad("%s: readdir returned \"%s\" twice", path, r.ents[i].d_name);
	/* Merge the two sorted lists. */
	for (i = 0, j = 0; i < r.n || j < nk;) {
		int c = i == r.n ? 1 : j == nk ? -1 : strcmp(r.ents[i].d_name, want[j]);

		if (c < 0) {
			int extra = dir == root;

			if (extra) {
				extra = 0;
				for (int k = 0; k < n_root_extra; k++)
					extra |= !strcmp(root_extra[k], r.ents[i].d_name);
			}
			if (!extra)
				bad("%s: readdir lists \"%s\", which should not exist", path, r.ents[i].d_name);
			i++;
		} else if (c > 0) {
			bad("%s: readdir does not list \"%s\"", path, want[j]);
			j++;
		} else {
			int dent = m_lookup(dir, want[j]);

			snprintf(cp, sizeof(cp), "%s/%s", path, want[j]);
			(*nnames)++;
			check_name(fd, want[j], cp, dent, &r.ents[i], nfiles);
			if (I[D[dent].ino].type == T_DIR) {
				int cfd = openat(fd, want[j], O_RDONLY | O_DIRECTORY | O_NOFOLLOW);

				if (cfd < 0)
					bad("open dir %s: %s", cp, strerror(errno));
				else {
					walk(D[dent].ino, cfd, cp, nnames, nfiles);
					close(cfd);
				}
			}
			i++;
			j++;
		}
	}
	free(r.ents);
	free(want);
}

/* Compares the mounted tree with the model; returns the mismatch count. */
static int verify(const char *what)
{
	int fd, nnames = 0, nfiles = 0, before = nerr;
	double t0 = rxfs_now();
	struct stat st;

	phase = what;
	pass++;
	nseen = 0;
	fd = open(RXFS_MNT, O_RDONLY | O_DIRECTORY);
	if (fd < 0) {
		bad("open %s: %s", RXFS_MNT, strerror(errno));
		return nerr - before;
	}
	if (fstat(fd, &st) == 0 && st.st_nlink != (nlink_t)(2 + root_extra_dirs + m_subdirs(root)))
		bad("root: nlink %lu, expected %d", (unsigned long)st.st_nlink,
		    2 + root_extra_dirs + m_subdirs(root));
	walk(root, fd, RXFS_MNT, &nnames, &nfiles);
	close(fd);
	qsort(seen, nseen, sizeof(*seen), cmp_seen);
	for (int i = 1; i < nseen; i++)
		if (seen[i].ino == seen[i - 1].ino)
			bad("two different inodes share st_ino %llu", (unsigned long long)seen[i].ino);
	printf("# verify (%s): %d names, %d inodes, %d files read, %d mismatches, %.1f s\n",
	       what, nnames, nseen, nfiles, nerr - before, rxfs_now() - t0);
	fflush(stdout);
	return nerr - before;
}

static int env_int(const char *name, int def)
{
	const char *v = getenv(name);

	return v && *v ? atoi(v) : def;
}

FIXTURE(ns) {
	const char *dev;
};

FIXTURE_SETUP(ns)
{
	uint64_t bytes;

	self->dev = rxfs_dev();
	umask(0);
	umount(RXFS_MNT);
	bytes = rxfs_dev_bytes(self->dev);
	ASSERT_LE(MIN_DEV_BYTES, bytes)
		TH_LOG("%s has %llu MiB; this test needs at least %llu MiB (truncate -s 1G IMG)",
		       self->dev, (unsigned long long)(bytes >> 20),
		       (unsigned long long)(MIN_DEV_BYTES >> 20));
	printf("# fstype %s, device %s (%llu MiB)\n", rxfs_fstype(), self->dev,
	       (unsigned long long)(bytes >> 20));
	ASSERT_EQ(0, rxfs_test_mkfs(self->dev));
	ASSERT_EQ(0, rxfs_test_mount(self->dev));
}

FIXTURE_TEARDOWN(ns)
{
	umount(RXFS_MNT);
}

/* Records what mkfs put in the root (ext4's lost+found) and starts the model. */
static void model_init(struct __test_metadata *_metadata)
{
	struct stat st;
	struct dirent *de;
	DIR *d;

	nI = nD = ndirs = 0;
	root = m_new(T_DIR, 0);
	ASSERT_EQ(0, stat(RXFS_MNT, &st));
	I[root].perm = st.st_mode & 07777;
	I[root].uid = st.st_uid;
	I[root].gid = st.st_gid;
	root_extra_dirs = st.st_nlink - 2;
	n_root_extra = 0;
	d = opendir(RXFS_MNT);
	ASSERT_NE(NULL, d);
	while ((de = readdir(d)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..") && n_root_extra < 16)
			snprintf(root_extra[n_root_extra++], NAME_MAX + 1, "%s", de->d_name);
	closedir(d);
}

TEST_F_TIMEOUT(ns, big_tree, 1800)
{
	uint64_t seed = rxfs_seed(1);
	int nsub = env_int("RXFS_NS_SUBDIRS", 100), nops = env_int("RXFS_NS_OPS", 4000);
	double t0 = rxfs_now(), t;
	int st;

	printf("# seed %llu (SEED=N to change), %d x %d dirs, %d operations\n",
	       (unsigned long long)seed, NTOP, nsub, nops);
	rng = seed;
	model_init(_metadata);
	ASSERT_EQ(0, build(_metadata, nsub, nops)) TH_LOG("building the tree went wrong; see above");
	ASSERT_EQ(0, nerr);

	EXPECT_EQ(0, verify("before unmount"));
	t = rxfs_now();
	sync();
	ASSERT_EQ(0, umount(RXFS_MNT));
	printf("# sync and umount in %.1f s\n", rxfs_now() - t);

	t = rxfs_now();
	st = rxfs_test_fsck(self->dev);
	if (st == RXFS_FSCK_SKIPPED) {
		printf("# fsck skipped (RXFS_TEST_FSCK is empty)\n");
	} else {
		EXPECT_EQ(0, st) TH_LOG("read-only fsck of the unmounted tree: exit %d", st);
	}
	printf("# fsck in %.1f s\n", rxfs_now() - t);

	ASSERT_EQ(0, rxfs_test_mount(self->dev));
	EXPECT_EQ(0, verify("after remount"));
	ASSERT_EQ(0, umount(RXFS_MNT));
	printf("# total %.1f s\n", rxfs_now() - t0);
}

/*
 * Negative control: the verifier must notice each kind of change the model
 * was not told about (then undone, and the tree verifies clean again).
 */
static int sabotage_op(int kind, int undo);
static struct stat sab_st, sab_pst;
static char sab_file[PATH_MAX], sab_parent[PATH_MAX];

static void sabotage_saved(const char *file, const char *parent)
{
	snprintf(sab_file, sizeof(sab_file), "%s", file);
	snprintf(sab_parent, sizeof(sab_parent), "%s", parent);
	lstat(sab_file, &sab_st);
	lstat(sab_parent, &sab_pst);
}

static int sabotage(int kind, int undo)
{
	int r;

	if (undo) {
		struct timespec ts[2] = { sab_st.st_atim, sab_st.st_mtim };
		struct timespec pts[2] = { sab_pst.st_atim, sab_pst.st_mtim };

		r = sabotage_op(kind, 1);
		/*
		 * The change and its undoing touched times the model may
		 * check, and chown or a write may have cleared set-id bits.
		 */
		if (!r && !S_ISLNK(sab_st.st_mode))
			r = chmod(sab_file, sab_st.st_mode & 07777);
		if (!r)
			r = utimensat(AT_FDCWD, sab_file, ts, AT_SYMLINK_NOFOLLOW);
		if (!r)
			r = utimensat(AT_FDCWD, sab_parent, pts, 0);
		return r;
	}
	r = sabotage_op(kind, 0);
	return r;
}

static int sabotage_op(int kind, int undo)
{
	static char saved[PATH_MAX], saved2[PATH_MAX];
	static int dent;
	static struct stat st;
	char p[PATH_MAX], q[PATH_MAX];
	unsigned char c;
	int fd, r = 0;

	if (!undo) {
		unsigned int mask = kind == 8 ? M(T_LNK) : kind == 9 ? M(T_DIR) : M(T_REG);

		do
			dent = rand_dent(mask);
		while (dent < 0 || (mask == M(T_REG) && !I[D[dent].ino].size) ||
		       (kind == 5 && !I[D[dent].ino].times_set) ||
		       (kind == 8 && I[D[dent].ino].nlink != 1));
		P(dent, saved);
		lstat(saved, &st);
		sabotage_saved(saved, PD(D[dent].parent, q));
	}
	snprintf(q, sizeof(q), "%s.moved", saved);
	switch (kind) {
	case 0:		/* an extra name */
		snprintf(p, sizeof(p), "%s/intruder", PD(D[dent].parent, q));
		if (!undo)
			return mknod(p, S_IFIFO | 0600, 0);
		return unlink(p);
	case 1:		/* a rename behind the model's back */
		return undo ? rename(q, saved) : rename(saved, q);
	case 2:
		return chmod(saved, undo ? st.st_mode & 07777 : (st.st_mode & 07777) ^ 0100);
	case 3:
		return chown(saved, undo ? st.st_uid : st.st_uid + 1, st.st_gid);
	case 4:		/* one byte of data */
		fd = open(saved, O_RDWR);
		if (fd < 0 || pread(fd, &c, 1, 0) != 1)
			return -1;
		c ^= 0x20;
		r = pwrite(fd, &c, 1, 0) == 1 ? 0 : -1;
		close(fd);
		return r;
	case 5: {	/* mtime, one nanosecond */
		struct timespec ts[2] = { st.st_atim, st.st_mtim };

		if (!undo)
			ts[1].tv_nsec ^= 1;
		return utimensat(AT_FDCWD, saved, ts, AT_SYMLINK_NOFOLLOW);
	}
	case 6:
		return truncate(saved, undo ? st.st_size : st.st_size + 1);
	case 7:		/* an extra hard link: nlink and a name */
		return undo ? unlink(q) : link(saved, q);
	case 8:		/* a symlink pointing elsewhere */
		if (readlink(saved, saved2, sizeof(saved2) - 1) < 0 && !undo)
			return -1;
		if (unlink(saved))
			return -1;
		if (undo) {
			r = symlink(I[D[dent].ino].target, saved);
			if (!r)
				r = fchownat(AT_FDCWD, saved, I[D[dent].ino].uid, I[D[dent].ino].gid,
					     AT_SYMLINK_NOFOLLOW);
			return r;
		}
		return symlink("elsewhere", saved);
	default:	/* a subdirectory: a name and the parent's nlink */
		snprintf(p, sizeof(p), "%s/subdir", saved);
		return undo ? rmdir(p) : mkdir(p, 0755);
	}
}

TEST_F_TIMEOUT(ns, verifier_negative_control, 300)
{
	static const char *const what[] = {
		"extra name", "rename", "chmod", "chown", "data byte", "mtime",
		"size", "hard link", "symlink target", "subdirectory",
	};

	rng = rxfs_seed(1) + 7;
	model_init(_metadata);
	ASSERT_EQ(0, build(_metadata, 5, 300));
	ASSERT_EQ(0, verify("control: clean"));
	for (int k = 0; k < 10; k++) {
		int found;

		ASSERT_EQ(0, sabotage(k, 0)) TH_LOG("%s: %s", what[k], strerror(errno));
		found = verify(what[k]);
		EXPECT_LT(0, found) TH_LOG("the verifier missed: %s", what[k]);
		ASSERT_EQ(0, sabotage(k, 1)) TH_LOG("undo %s: %s", what[k], strerror(errno));
		/* Directories touched by the control change their own mtime;
		 * the model does not care unless utimensat set it. */
		EXPECT_EQ(0, verify("control: undone"));
	}
	nerr = 0;
}

/* Entry names of the 5000-entry directory: "entry-NNNNN". */
static int entry_num(const char *name)
{
	char *end;
	long n;

	if (strncmp(name, "entry-", 6))
		return -1;
	n = strtol(name + 6, &end, 10);
	return *end || n < 0 ? -1 : (int)n;
}

static void make_entries(struct __test_metadata *_metadata, const char *dir, int n)
{
	char p[PATH_MAX];

	ASSERT_EQ(0, mkdir(dir, 0755));
	for (int i = 0; i < n; i++) {
		int fd;

		snprintf(p, sizeof(p), "%s/entry-%05d", dir, i);
		fd = open(p, O_CREAT | O_EXCL | O_WRONLY, 0644);
		ASSERT_LE(0, fd) TH_LOG("create %s: %s", p, strerror(errno));
		close(fd);
	}
}

/*
 * 5,000 entries; while reading the directory with small getdents64 calls,
 * every even entry is deleted (as it is returned, or earlier, when its odd
 * partner is returned first). No name may come back twice, and every
 * surviving (odd) entry must be returned exactly once.
 */
TEST_F_TIMEOUT(ns, readdir_while_deleting, 600)
{
	const int n = 5000;
	const char *dir = RXFS_MNT "/big";
	unsigned char *count = calloc(n, 1), *gone = calloc(n, 1);
	char buf[1024], p[PATH_MAX];
	int fd, calls = 0, dups = 0, missing = 0, strange = 0, bad_names = 0;
	double t0 = rxfs_now();
	struct rd r = { 0 };

	ASSERT_NE(NULL, count);
	ASSERT_NE(NULL, gone);
	make_entries(_metadata, dir, n);
	fd = open(dir, O_RDONLY | O_DIRECTORY);
	ASSERT_LE(0, fd);
	for (;;) {
		long r = syscall(SYS_getdents64, fd, buf, sizeof(buf));

		ASSERT_LE(0, r) TH_LOG("getdents64: %s", strerror(errno));
		if (r == 0)
			break;
		calls++;
		for (long off = 0; off < r;) {
			struct dirent64 *de = (void *)(buf + off);
			int k = entry_num(de->d_name), victim;

			off += de->d_reclen;
			if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
				continue;
			if (k < 0 || k >= n) {
				if (strange++ < 10)
					TH_LOG("readdir returned \"%s\"", de->d_name);
				continue;
			}
			if (count[k]++ && dups++ < 10)
				TH_LOG("readdir returned %s a second time", de->d_name);
			victim = k & ~1;	/* itself if even, else its even partner */
			if (!gone[victim]) {
				snprintf(p, sizeof(p), "%s/entry-%05d", dir, victim);
				ASSERT_EQ(0, unlink(p)) TH_LOG("unlink %s: %s", p, strerror(errno));
				gone[victim] = 1;
			}
		}
	}
	close(fd);
	for (int k = 0; k < n; k++) {
		if (k & 1) {
			if (count[k] != 1 && missing++ < 10)
				TH_LOG("entry-%05d (never deleted) returned %d times", k, count[k]);
		} else if (!gone[k]) {
			/* Both partners unseen: the odd one was missed (counted above). */
			snprintf(p, sizeof(p), "%s/entry-%05d", dir, k);
			unlink(p);
		}
	}
	printf("# %d getdents64 calls of %zu bytes, %.1f s\n", calls, sizeof(buf), rxfs_now() - t0);
	EXPECT_EQ(0, dups);
	EXPECT_EQ(0, missing);
	EXPECT_EQ(0, strange);
	/* Afterwards the directory lists exactly the odd entries. */
	fd = open(dir, O_RDONLY | O_DIRECTORY);
	ASSERT_LE(0, fd);
	ASSERT_EQ(0, read_dir(fd, &r, dir));
	close(fd);
	EXPECT_EQ(n / 2, r.n);
	for (int i = 0; i < r.n; i++) {
		int k = entry_num(r.ents[i].d_name);

		bad_names += k < 0 || !(k & 1);
	}
	EXPECT_EQ(0, bad_names);
	free(r.ents);
	free(count);
	free(gone);
}

/*
 * Readdir cookies survive deletions: read 2,000 entries recording each
 * one's d_off, delete every other entry, then resume from saved cookies
 * with lseek: what follows must be exactly the surviving entries after that
 * point, in the original order. Then once more after a remount.
 */
static void check_resume(struct __test_metadata *_metadata, const char *dir,
			 char (*names)[16], off_t *cookies, int n, const char *when)
{
	char buf[2048];
	int fd = open(dir, O_RDONLY | O_DIRECTORY), errs = 0, checked = 0;

	ASSERT_LE(0, fd);
	for (int s = 0; s < n; s += 37) {
		int next = s + 1;

		ASSERT_EQ(cookies[s], lseek(fd, cookies[s], SEEK_SET));
		for (;;) {
			long r = syscall(SYS_getdents64, fd, buf, sizeof(buf));

			ASSERT_LE(0, r);
			if (r == 0)
				break;
			for (long off = 0; off < r;) {
				struct dirent64 *de = (void *)(buf + off);
				int k;

				off += de->d_reclen;
				if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
					continue;
				k = entry_num(de->d_name);
				/* The next surviving entry in the original order. */
				while (next < n && entry_num(names[next]) % 2 == 0)
					next++;
				if (next >= n || strcmp(de->d_name, names[next])) {
					if (errs++ < 10)
						TH_LOG("%s: resuming after %s (cookie %lld): got %s (%d), expected %s",
						       when, names[s], (long long)cookies[s], de->d_name, k,
						       next < n ? names[next] : "the end");
					goto next_cookie;
				}
				next++;
				checked++;
			}
		}
		while (next < n && entry_num(names[next]) % 2 == 0)
			next++;
		if (next < n && errs++ < 10)
			TH_LOG("%s: resuming after %s: ended before %s", when, names[s], names[next]);
next_cookie:;
	}
	close(fd);
	printf("# %s: %d entries checked after saved cookies\n", when, checked);
	EXPECT_EQ(0, errs);
}

TEST_F_TIMEOUT(ns, readdir_cookies_survive_deletes, 600)
{
	const int n = 2000;
	const char *dir = RXFS_MNT "/cookies";
	char (*names)[16] = calloc(n, 16), buf[2048], p[PATH_MAX];
	off_t *cookies = calloc(n, sizeof(off_t));
	int fd, got = 0;

	ASSERT_NE(NULL, names);
	ASSERT_NE(NULL, cookies);
	make_entries(_metadata, dir, n);
	fd = open(dir, O_RDONLY | O_DIRECTORY);
	ASSERT_LE(0, fd);
	for (;;) {
		long r = syscall(SYS_getdents64, fd, buf, sizeof(buf));

		ASSERT_LE(0, r);
		if (r == 0)
			break;
		for (long off = 0; off < r;) {
			struct dirent64 *de = (void *)(buf + off);

			off += de->d_reclen;
			if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
				continue;
			ASSERT_GT(n, got);
			snprintf(names[got], 16, "%s", de->d_name);
			cookies[got++] = de->d_off;
		}
	}
	close(fd);
	ASSERT_EQ(n, got);
	for (int k = 0; k < n; k += 2) {
		snprintf(p, sizeof(p), "%s/entry-%05d", dir, k);
		ASSERT_EQ(0, unlink(p));
	}
	check_resume(_metadata, dir, names, cookies, n, "after deletes");
	ASSERT_EQ(0, umount(RXFS_MNT));
	ASSERT_EQ(0, rxfs_test_mount(self->dev));
	check_resume(_metadata, dir, names, cookies, n, "after remount");
	free(names);
	free(cookies);
}

/*
 * Many tmpfiles (each an orphan from its creation) leaving the orphan list
 * in every way and order: closed oldest first (the order of process exit,
 * which found the far end of the list each time before rxfs kept each
 * orphan's predecessor in memory: fstests generic/531), some linked in
 * from the middle of the list, the rest closed newest first and at random.
 * Every inode and block comes back, and fsck is clean.
 */
TEST_F_TIMEOUT(ns, tmpfiles_leave_the_orphan_list, 900)
{
	enum { N = 3000 };
	static int fds[N];
	struct statvfs before, after;
	struct rlimit rl = { N + 64, N + 64 };
	char name[64];
	int i, linked = 0;

	ASSERT_EQ(0, setrlimit(RLIMIT_NOFILE, &rl));
	ASSERT_EQ(0, statvfs(RXFS_MNT, &before));
	for (i = 0; i < N; i++) {
		fds[i] = open(RXFS_MNT, O_TMPFILE | O_RDWR, 0600);
		ASSERT_LE(0, fds[i]) TH_LOG("tmpfile %d: %s", i, strerror(errno));
		if (i % 7 == 0)
			ASSERT_EQ(1, pwrite(fds[i], "x", 1, i * 4096));
	}
	/* From the middle: every 10th becomes a named file. */
	for (i = 5; i < N; i += 10) {
		char proc[64];

		snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fds[i]);
		snprintf(name, sizeof(name), "%s/linked%d", RXFS_MNT, i);
		ASSERT_EQ(0, linkat(AT_FDCWD, proc, AT_FDCWD, name, AT_SYMLINK_FOLLOW));
		linked++;
	}
	for (i = 0; i < N / 3; i++)
		close(fds[i]);
	for (i = N - 1; i >= 2 * N / 3; i--)
		close(fds[i]);
	srandom(531);
	for (i = N / 3; i < 2 * N / 3; i++) {
		int j = N / 3 + random() % (N / 3), t = fds[i];

		fds[i] = fds[j];
		fds[j] = t;
	}
	for (i = N / 3; i < 2 * N / 3; i++)
		close(fds[i]);
	for (i = 5; i < N; i += 10) {
		snprintf(name, sizeof(name), "%s/linked%d", RXFS_MNT, i);
		ASSERT_EQ(0, unlink(name));
	}
	i = open(RXFS_MNT, O_RDONLY);
	ASSERT_EQ(0, syncfs(i));
	close(i);
	ASSERT_EQ(0, statvfs(RXFS_MNT, &after));
	EXPECT_EQ(before.f_ffree, after.f_ffree);
	EXPECT_EQ(before.f_bfree, after.f_bfree);
	EXPECT_EQ(N / 10, linked);
	ASSERT_EQ(0, umount(RXFS_MNT));
	EXPECT_EQ(0, rxfs_test_fsck(self->dev));
}

TEST_HARNESS_MAIN
