// SPDX-License-Identifier: GPL-2.0
/*
 * Running out of space must fail an operation whole or not at all.
 *
 * generic/083 (ten fsstress processes into ENOSPC) once left rxfs with
 * directory entries pointing at freed inode blocks, link counts lower than
 * the names of a file, and data blocks owned twice: a B+tree insert that ran
 * out of space half-way through its splits had already changed the tree.
 * Every metadata change now checks for room for its worst case first.
 *
 *  1. link_to_enospc (deterministic): fill the filesystem, then hard-link
 *     one device node until ENOSPC; then, 300 times, free exactly one block
 *     (truncate the ballast by a block) and link until ENOSPC again, so
 *     that a link whose insert must split two levels finds one block. Every
 *     link() that succeeded is a name, every one that failed is not, the
 *     link count is the number of names, and after removing them fsck is
 *     clean and every block is back. Control: no_meta_reserve (no room
 *     check before a change) must show damage: a name too many or too few,
 *     a wrong link count, or fsck errors.
 *  2. concurrent_to_enospc: four processes create, write (buffered and
 *     O_DIRECT), mknod, link, unlink, rename (with whiteouts), truncate and
 *     fallocate, clone and dedupe (so writes copy on write and unmaps drop
 *     references) on a nearly full filesystem for RXFS_ENOSPC_SECS (default
 *     20) seconds; then every link count matches the names found, fsck is
 *     clean, and removing everything gives every block back.
 */
#include <dirent.h>
#include <ftw.h>
#include <sys/sysmacros.h>
#include <sys/syscall.h>
#include <linux/fs.h>
#include "rxfs_test.h"
#include "kselftest_harness.h"

#define MiB (1024 * 1024)

static int fsck_now(void)
{
	if (umount(RXFS_MNT))
		return -errno;
	return rxfs_run_logged(30, "fsck.rxfs -n %s", rxfs_dev());
}

static long long bfree(void)
{
	struct statfs sf;

	return statfs(RXFS_MNT, &sf) ? -1 : (long long)sf.f_bfree;
}

/* Writes @path until ENOSPC (buffered, then synced, twice); bytes written. */
static long long fill(const char *path)
{
	char *buf = malloc(MiB);
	long long total = 0;
	int round, fd = open(path, O_WRONLY | O_CREAT | O_APPEND, 0644);
	size_t chunk;

	if (fd < 0 || !buf)
		return -1;
	memset(buf, 'f', MiB);
	for (round = 0; round < 2; round++) {
		for (chunk = MiB; chunk >= 4096; chunk /= 4) {
			ssize_t r;

			while ((r = write(fd, buf, chunk)) > 0)
				total += r;
		}
		fsync(fd);
	}
	close(fd);
	free(buf);
	return total;
}

FIXTURE(links) {
	int unused;
};

FIXTURE_VARIANT(links) {
	int bs;
	int control;
};

FIXTURE_VARIANT_ADD(links, bs1k_control) { .bs = 1024, .control = 1 };
FIXTURE_VARIANT_ADD(links, bs1k) { .bs = 1024 };
FIXTURE_VARIANT_ADD(links, bs4k) { .bs = 4096 };

FIXTURE_SETUP(links)
{
	knob_init();
	umount(RXFS_MNT);
	ASSERT_EQ(0, rxfs_mkfs(rxfs_dev(), variant->bs));
	ASSERT_EQ(0, rxfs_mount(rxfs_dev()));
	ASSERT_EQ(0, dangerous(variant->control));
	ASSERT_EQ(0, knob("no_meta_reserve", variant->control));
}

FIXTURE_TEARDOWN(links)
{
	knob("no_meta_reserve", 0);
	dangerous(0);
	umount(RXFS_MNT);
}

#define MAXLINKS 60000

static void link_name(char *buf, size_t len, int i)
{
	snprintf(buf, len, RXFS_MNT "/d/link-%06d-padding-to-fill-leaves-sooner", i);
}

TEST_F(links, link_to_enospc)
{
	char name[256];
	struct stat st;
	long long free0, damage = 0, names = 0;
	int i, ok = 0, err = 0, fsck, round;
	struct dirent *de;
	DIR *d;

	ASSERT_EQ(0, mkdir(RXFS_MNT "/d", 0755));
	ASSERT_EQ(0, mknod(RXFS_MNT "/d/c0", S_IFCHR | 0644, makedev(1, 3)));
	free0 = bfree();
	ASSERT_LT(0, fill(RXFS_MNT "/ballast"));
	for (round = 0; round <= 300; round++) {
		if (round) {
			/* Exactly one block more: the ballast's last. */
			struct stat bs;

			ASSERT_EQ(0, stat(RXFS_MNT "/ballast", &bs));
			ASSERT_EQ(0, truncate(RXFS_MNT "/ballast", bs.st_size - variant->bs));
		}
		for (; ok < MAXLINKS; ok++) {
			link_name(name, sizeof(name), ok);
			if (link(RXFS_MNT "/d/c0", name)) {
				err = errno;
				break;
			}
		}
		if (err != ENOSPC)
			break;
		if (!round)
			printf("# %d links before %s\n", ok, strerror(err));
	}
	printf("# %d links after %d rounds of one more block\n", ok, round);
	if (err == EEXIST) {
		/* The name a failed link() was refused is there after all. */
		printf("# link %d: EEXIST, an earlier ENOSPC left its name\n", ok);
		damage++;
	} else {
		ASSERT_EQ(ENOSPC, err);
	}
	ASSERT_EQ(0, stat(RXFS_MNT "/d/c0", &st));
	/* Every name that link() made is there; none of the failed one. */
	for (i = 0; i <= ok; i++) {
		struct stat ls;

		link_name(name, sizeof(name), i);
		if (i < ok)
			damage += stat(name, &ls) || ls.st_ino != st.st_ino;
		else
			damage += !stat(name, &ls);
	}
	d = opendir(RXFS_MNT "/d");
	ASSERT_NE(NULL, d);
	while ((de = readdir(d)))
		names += de->d_ino == st.st_ino;
	closedir(d);
	printf("# link count %lu, names %lld, links made %d\n", (unsigned long)st.st_nlink,
	       names, ok);
	damage += st.st_nlink != (nlink_t)(ok + 1);
	damage += names != ok + 1;
	/* Take it all away again: every block must come back. */
	for (i = 0; i < ok; i++) {
		link_name(name, sizeof(name), i);
		unlink(name);
	}
	unlink(RXFS_MNT "/d/c0");
	unlink(RXFS_MNT "/ballast");
	rmdir(RXFS_MNT "/d");
	sync();
	if (!variant->control)
		EXPECT_EQ(free0 + 2, bfree()) TH_LOG("blocks lost");	/* + c0 and d */
	fsck = fsck_now();
	damage += fsck != 0;
	if (variant->control) {
		printf("# control: damage %lld (fsck exit %d)\n", damage, fsck);
		EXPECT_LT(0, damage);
		/* Leave a clean filesystem for the next test. */
		rxfs_mkfs(rxfs_dev(), variant->bs);
	} else {
		EXPECT_EQ(0, damage);
		EXPECT_EQ(0, fsck);
	}
	rxfs_mount(rxfs_dev());
}

/* ---- 2. concurrent operations into ENOSPC ------------------------------- */

FIXTURE(stress) {
	int unused;
};

FIXTURE_VARIANT(stress) {
	int bs;
};

FIXTURE_VARIANT_ADD(stress, bs1k) { .bs = 1024 };
FIXTURE_VARIANT_ADD(stress, bs4k) { .bs = 4096 };

FIXTURE_SETUP(stress)
{
	umount(RXFS_MNT);
	ASSERT_EQ(0, rxfs_mkfs(rxfs_dev(), variant->bs));
	ASSERT_EQ(0, rxfs_mount(rxfs_dev()));
}

FIXTURE_TEARDOWN(stress)
{
	umount(RXFS_MNT);
}

#define NDIRS 4
#define NNAMES 64
#define WORKERS 4

static unsigned int rnd(unsigned int *s)
{
	*s = *s * 1103515245 + 12345;
	return *s >> 8;
}

static void rpath(char *buf, size_t len, unsigned int *s)
{
	snprintf(buf, len, RXFS_MNT "/d%u/%c%u", rnd(s) % NDIRS, "fcdl"[rnd(s) % 4],
		 rnd(s) % NNAMES);
}

static void worker(int id, double until)
{
	unsigned int s = 1000 + id * 7919 + rxfs_seed(0);
	char a[128], b[128];
	char *buf = NULL;

	if (posix_memalign((void **)&buf, 4096, 256 * 1024))
		_exit(1);
	memset(buf, 'a' + id, 256 * 1024);
	while (rxfs_now() < until) {
		int fd;

		rpath(a, sizeof(a), &s);
		rpath(b, sizeof(b), &s);
		switch (rnd(&s) % 14) {
		case 0:
		case 1:
			fd = open(a, O_WRONLY | O_CREAT, 0644);
			if (fd >= 0) {
				/* ENOSPC and friends are expected: only the state after counts. */
				(void)!pwrite(fd, buf, rnd(&s) % (256 * 1024), rnd(&s) % (1 * MiB));
				close(fd);
			}
			break;
		case 2:
			fd = open(a, O_WRONLY | O_CREAT | O_DIRECT, 0644);
			if (fd >= 0) {
				(void)!pwrite(fd, buf, 4096 * (1 + rnd(&s) % 16), 4096 * (rnd(&s) % 256));
				close(fd);
			}
			break;
		case 3:
			mknod(a, S_IFCHR | 0644, makedev(1, 3));
			break;
		case 4:
			mkdir(a, 0755);
			break;
		case 5:
			link(a, b);
			break;
		case 6:
			unlink(a);
			break;
		case 7:
			rename(a, b);
			break;
		case 8:
			syscall(SYS_renameat2, AT_FDCWD, a, AT_FDCWD, b, RENAME_WHITEOUT);
			break;
		case 9:
			(void)!truncate(a, rnd(&s) % (2 * MiB));
			break;
		case 10:
			fd = open(a, O_WRONLY);
			if (fd >= 0) {
				fallocate(fd, rnd(&s) % 2 ? FALLOC_FL_KEEP_SIZE : 0,
					  rnd(&s) % MiB, rnd(&s) % MiB + 1);
				close(fd);
			}
			break;
		case 11:
			if (rnd(&s) % 4 == 0)
				(void)!symlink("target-of-a-symlink", a);
			else
				rmdir(a);
			break;
		case 12:
		case 13: {
			/*
			 * Share blocks (clone, or dedupe), so that the writes,
			 * truncates and unlinks above copy on write and drop
			 * references near ENOSPC too.
			 */
			int src = open(a, O_RDONLY), dst = open(b, O_RDWR);

			if (src >= 0 && dst >= 0) {
				long long off = 4096LL * (rnd(&s) % 256), doff = 4096LL * (rnd(&s) % 256);
				long long len = 4096LL * (1 + rnd(&s) % 64);

				if (rnd(&s) % 4) {
					struct file_clone_range r = { .src_fd = src, .src_offset = off, .src_length = len, .dest_offset = doff };

					(void)!ioctl(dst, FICLONERANGE, &r);
				} else {
					struct {
						struct file_dedupe_range r;
						struct file_dedupe_range_info i;
					} d = { .r = { .src_offset = off, .src_length = len, .dest_count = 1 },
						.i = { .dest_fd = dst, .dest_offset = doff } };

					(void)!ioctl(src, FIDEDUPERANGE, &d);
				}
			}
			if (src >= 0)
				close(src);
			if (dst >= 0)
				close(dst);
			break;
		}
		}
	}
	free(buf);
	_exit(0);
}

/* Link counts against names: a tree walk counts each inode's names. */
#define MAXINO 4096
static struct {
	ino_t ino;
	nlink_t nlink;
	long names;
} seen[MAXINO];
static int nseen;

static int count_name(const char *path, const struct stat *st, int flag, struct FTW *f)
{
	int i;

	if (flag != FTW_F && flag != FTW_SL)
		return 0;
	for (i = 0; i < nseen; i++)
		if (seen[i].ino == st->st_ino)
			break;
	if (i == nseen) {
		if (nseen == MAXINO)
			return 0;
		seen[nseen].ino = st->st_ino;
		seen[nseen].nlink = st->st_nlink;
		seen[nseen++].names = 0;
	}
	seen[i].names++;
	return 0;
}

static int remove_one(const char *path, const struct stat *st, int flag, struct FTW *f)
{
	if (f->level > 0)
		remove(path);
	return 0;
}

TEST_F(stress, concurrent_to_enospc)
{
	const char *e = getenv("RXFS_ENOSPC_SECS");
	double secs = e ? atof(e) : 20, until;
	char path[128];
	long long free0, bad = 0;
	pid_t pids[WORKERS];
	int i, fd;

	free0 = bfree();
	for (i = 0; i < NDIRS; i++) {
		snprintf(path, sizeof(path), RXFS_MNT "/d%d", i);
		ASSERT_EQ(0, mkdir(path, 0755));
	}
	sync();
	/* Leave the workers a few MiB, so they spend the run near ENOSPC. */
	fd = open(RXFS_MNT "/ballast", O_WRONLY | O_CREAT, 0644);
	ASSERT_LE(0, fd);
	ASSERT_EQ(0, fallocate(fd, 0, 0, (bfree() * variant->bs) - 6LL * MiB));
	close(fd);
	until = rxfs_now() + secs;
	for (i = 0; i < WORKERS; i++) {
		pids[i] = fork();
		if (pids[i] == 0)
			worker(i, until);
	}
	for (i = 0; i < WORKERS; i++) {
		int st;

		waitpid(pids[i], &st, 0);
		EXPECT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	}
	sync();
	nseen = 0;
	ASSERT_EQ(0, nftw(RXFS_MNT, count_name, 16, FTW_PHYS));
	for (i = 0; i < nseen; i++)
		if (seen[i].names != (long)seen[i].nlink) {
			printf("# inode %lu: link count %lu, %ld names\n", (unsigned long)seen[i].ino,
			       (unsigned long)seen[i].nlink, seen[i].names);
			bad++;
		}
	printf("# %d inodes checked, %lld with a wrong link count\n", nseen, bad);
	EXPECT_EQ(0, bad);
	EXPECT_EQ(0, fsck_now());
	ASSERT_EQ(0, rxfs_mount(rxfs_dev()));
	/* Everything removed, every block is free again. */
	for (i = 0; i < 3; i++)
		nftw(RXFS_MNT, remove_one, 16, FTW_DEPTH | FTW_PHYS);
	sync();
	EXPECT_EQ(free0, bfree()) TH_LOG("blocks lost");
	EXPECT_EQ(0, fsck_now());
	ASSERT_EQ(0, rxfs_mount(rxfs_dev()));
}

TEST_HARNESS_MAIN
