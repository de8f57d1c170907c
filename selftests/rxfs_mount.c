// SPDX-License-Identifier: GPL-2.0
/*
 * Mount, statfs and bad-device tests for rxfs, and the inode flags
 * (chattr: immutable, append-only, sync, noatime, nodump) that live on
 * disk and that the VFS enforces once the filesystem sets them.
 *
 * Needs the rxfs module loaded, mkfs.rxfs on PATH and a scratch block device
 * (RXFS_TEST_DEV, default /dev/vda) of at least 16 MiB.
 */
#include <dirent.h>
#include <sys/wait.h>
#include <sys/ioctl.h>
#include <linux/fs.h>
#include "rxfs_test.h"
#include "kselftest_harness.h"

FIXTURE(blocksize) {
	const char *dev;
};

FIXTURE_VARIANT(blocksize) {
	int bs;
};

FIXTURE_VARIANT_ADD(blocksize, bs1k) { .bs = 1024 };
FIXTURE_VARIANT_ADD(blocksize, bs2k) { .bs = 2048 };
FIXTURE_VARIANT_ADD(blocksize, bs4k) { .bs = 4096 };

FIXTURE_SETUP(blocksize)
{
	self->dev = rxfs_dev();
	umount(RXFS_MNT);
	ASSERT_EQ(0, rxfs_mkfs(self->dev, variant->bs));
}

FIXTURE_TEARDOWN(blocksize)
{
	umount(RXFS_MNT);
}

/* A fresh filesystem mounts, reports its geometry and has an empty root. */
TEST_F(blocksize, mount_statfs_empty_root)
{
	uint64_t blocks = rxfs_dev_bytes(self->dev) / variant->bs;
	struct statfs st;
	struct dirent *de;
	struct stat sst;
	DIR *d;
	int n = 0;

	ASSERT_EQ(0, rxfs_mount(self->dev));
	ASSERT_EQ(0, statfs(RXFS_MNT, &st));
	EXPECT_EQ(RXFS_MAGIC, (unsigned int)st.f_type);
	EXPECT_EQ(variant->bs, st.f_bsize);
	EXPECT_EQ(blocks, st.f_blocks);
	/*
	 * mkfs uses the superblock, the free-space summary and bitmaps (one
	 * bitmap block per (bs - 32) * 8 blocks, one summary block per
	 * (bs - 32) / 4 groups), the root inode's block, which comes right
	 * after them, (reflink, mkfs's default) the refcount inode's block
	 * after that, and the journal; every other block is free.
	 */
	uint64_t bpg = (variant->bs - 32) * 8;
	uint64_t groups = (blocks + bpg - 1) / bpg;
	uint64_t spb = (variant->bs - 32) / 4;
	uint64_t meta = 1 + (groups + spb - 1) / spb + groups;

	/*
	 * And the journal, mkfs's default size: 1/64 of the filesystem, 1 MiB
	 * to 64 MiB, at most 1/8 of it, at least 64 blocks.
	 */
	uint64_t lbytes = blocks * variant->bs / 64;

	lbytes = lbytes < (1 << 20) ? (1 << 20) : lbytes > (64 << 20) ? (64 << 20) : lbytes;
	uint64_t log = lbytes / variant->bs < blocks / 8 ? lbytes / variant->bs : blocks / 8;

	log = log < 64 ? 64 : log;
	EXPECT_EQ(blocks - meta - 2 - log, st.f_bfree);
	/* Available leaves out the conversion pool: 1/32, at most 8192. */
	uint64_t pool = blocks / 32 < 8192 ? blocks / 32 : 8192;

	EXPECT_EQ(st.f_bfree - pool, st.f_bavail);
	EXPECT_EQ(255, st.f_namelen);

	ASSERT_EQ(0, stat(RXFS_MNT, &sst));
	EXPECT_TRUE(S_ISDIR(sst.st_mode));
	EXPECT_EQ(meta, sst.st_ino);
	d = opendir(RXFS_MNT);
	ASSERT_NE(NULL, d);
	while ((de = readdir(d)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			n++;
	closedir(d);
	EXPECT_EQ(0, n);
	EXPECT_EQ(0, umount(RXFS_MNT));
}

/* The filesystem survives umount and a second mount, read-only too. */
static int getflags(const char *path, unsigned int *fl)
{
	int fd = open(path, O_RDONLY), r;

	if (fd < 0)
		return -1;
	r = ioctl(fd, FS_IOC_GETFLAGS, fl);
	close(fd);
	return r;
}

static int setflags(const char *path, unsigned int fl)
{
	int fd = open(path, O_RDONLY), r;

	if (fd < 0)
		return -1;
	r = ioctl(fd, FS_IOC_SETFLAGS, &fl);
	close(fd);
	return r;
}

/*
 * chattr +i and +a on a file and a directory: every change they forbid
 * fails with EPERM, the flags survive a remount, FS_IOC_FSGETXATTR says
 * the same, flags rxfs does not have are EOPNOTSUPP, and fsck is clean.
 */
TEST_F(blocksize, chattr_flags)
{
	const char *f = RXFS_MNT "/f", *d = RXFS_MNT "/d", *g = RXFS_MNT "/d/g";
	unsigned int fl = 0;
	struct fsxattr fa;
	struct stat st;
	int fd;

	ASSERT_EQ(0, rxfs_mount(self->dev));
	fd = open(f, O_RDWR | O_CREAT, 0644);
	ASSERT_LE(0, fd);
	ASSERT_EQ(4, write(fd, "abcd", 4));
	close(fd);
	ASSERT_EQ(0, mkdir(d, 0755));
	ASSERT_EQ(0, mknod(g, S_IFREG | 0644, 0));

	ASSERT_EQ(0, setflags(f, FS_IMMUTABLE_FL | FS_NODUMP_FL | FS_NOATIME_FL));
	ASSERT_EQ(0, setflags(d, FS_APPEND_FL));
	ASSERT_EQ(0, umount(RXFS_MNT));
	ASSERT_EQ(0, rxfs_mount(self->dev));
	ASSERT_EQ(0, getflags(f, &fl));
	EXPECT_EQ(FS_IMMUTABLE_FL | FS_NODUMP_FL | FS_NOATIME_FL, fl);
	fd = open(f, O_RDONLY);
	ASSERT_LE(0, fd);
	ASSERT_EQ(0, ioctl(fd, FS_IOC_FSGETXATTR, &fa));
	EXPECT_EQ(FS_XFLAG_IMMUTABLE | FS_XFLAG_NODUMP | FS_XFLAG_NOATIME, fa.fsx_xflags);
	fl = FS_NOCOW_FL;
	EXPECT_EQ(-1, ioctl(fd, FS_IOC_SETFLAGS, &fl));
	EXPECT_EQ(EOPNOTSUPP, errno);
	close(fd);

	/* Immutable: no write, truncate, link, rename, unlink, chmod. */
	EXPECT_EQ(-1, open(f, O_WRONLY));
	EXPECT_EQ(EPERM, errno);
	EXPECT_EQ(-1, truncate(f, 0));
	EXPECT_EQ(EPERM, errno);
	EXPECT_EQ(-1, link(f, RXFS_MNT "/f2"));
	EXPECT_EQ(EPERM, errno);
	EXPECT_EQ(-1, rename(f, RXFS_MNT "/f3"));
	EXPECT_EQ(EPERM, errno);
	EXPECT_EQ(-1, unlink(f));
	EXPECT_EQ(EPERM, errno);
	EXPECT_EQ(-1, chmod(f, 0600));
	EXPECT_EQ(EPERM, errno);
	ASSERT_EQ(0, stat(f, &st));
	EXPECT_EQ(4, st.st_size);

	/* An append-only directory: new names yes, removals no. */
	EXPECT_EQ(0, mknod(RXFS_MNT "/d/h", S_IFREG | 0644, 0));
	EXPECT_EQ(-1, unlink(g));
	EXPECT_EQ(EPERM, errno);
	EXPECT_EQ(-1, rename(g, RXFS_MNT "/d/i"));
	EXPECT_EQ(EPERM, errno);

	/* An append-only file: O_APPEND writes only, no truncate. */
	ASSERT_EQ(0, setflags(g, FS_APPEND_FL));
	EXPECT_EQ(-1, open(g, O_WRONLY));
	EXPECT_EQ(EPERM, errno);
	fd = open(g, O_WRONLY | O_APPEND);
	ASSERT_LE(0, fd);
	EXPECT_EQ(3, write(fd, "xyz", 3));
	EXPECT_EQ(-1, ftruncate(fd, 0));
	EXPECT_EQ(EPERM, errno);
	EXPECT_EQ(-1, fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 0, 1));
	EXPECT_EQ(EPERM, errno);
	close(fd);

	/* Cleared, everything works again. */
	ASSERT_EQ(0, setflags(g, 0));
	ASSERT_EQ(0, setflags(d, 0));
	ASSERT_EQ(0, setflags(f, 0));
	ASSERT_EQ(0, getflags(f, &fl));
	EXPECT_EQ(0, fl);
	EXPECT_EQ(0, unlink(g));
	EXPECT_EQ(0, unlink(f));
	ASSERT_EQ(0, umount(RXFS_MNT));
	EXPECT_EQ(0, rxfs_test_fsck(self->dev));
}

/*
 * A new file or directory takes sync, noatime and nodump from its parent
 * directory (as XFS with its default fs.xfs.inherit_* sysctls), never
 * immutable or append-only, and keeps them across a remount.
 */
TEST_F(blocksize, chattr_inherit)
{
	const unsigned int inh = FS_SYNC_FL | FS_NOATIME_FL | FS_NODUMP_FL;
	const char *d = RXFS_MNT "/d", *f = RXFS_MNT "/d/f", *s = RXFS_MNT "/d/s";
	const char *g = RXFS_MNT "/d/s/g", *h = RXFS_MNT "/d/h";
	unsigned int fl = 0;
	int fd;

	ASSERT_EQ(0, rxfs_mount(self->dev));
	ASSERT_EQ(0, mkdir(d, 0755));
	ASSERT_EQ(0, setflags(d, inh | FS_APPEND_FL));
	fd = open(f, O_RDWR | O_CREAT, 0644);
	ASSERT_LE(0, fd);
	ASSERT_EQ(4, write(fd, "abcd", 4));
	close(fd);
	ASSERT_EQ(0, mkdir(s, 0755));
	ASSERT_EQ(0, mknod(g, S_IFREG | 0644, 0));
	ASSERT_EQ(0, symlink("f", RXFS_MNT "/d/l"));
	ASSERT_EQ(0, mknod(RXFS_MNT "/d/p", S_IFIFO | 0644, 0));
	ASSERT_EQ(0, umount(RXFS_MNT));
	ASSERT_EQ(0, rxfs_mount(self->dev));
	ASSERT_EQ(0, getflags(f, &fl));
	EXPECT_EQ(inh, fl);
	ASSERT_EQ(0, getflags(s, &fl));
	EXPECT_EQ(inh, fl);
	ASSERT_EQ(0, getflags(g, &fl));
	EXPECT_EQ(inh, fl);

	/* Cleared on the parent: nothing more is inherited. */
	ASSERT_EQ(0, setflags(d, 0));
	ASSERT_EQ(0, mknod(h, S_IFREG | 0644, 0));
	ASSERT_EQ(0, getflags(h, &fl));
	EXPECT_EQ(0, fl);
	ASSERT_EQ(0, umount(RXFS_MNT));
	EXPECT_EQ(0, rxfs_test_fsck(self->dev));
}

TEST_F(blocksize, remount_and_readonly)
{
	struct statfs st;

	ASSERT_EQ(0, rxfs_mount(self->dev));
	ASSERT_EQ(0, umount(RXFS_MNT));
	ASSERT_EQ(0, mount(self->dev, RXFS_MNT, "rxfs", MS_RDONLY, NULL));
	ASSERT_EQ(0, statfs(RXFS_MNT, &st));
	EXPECT_EQ(variant->bs, st.f_bsize);
	EXPECT_TRUE(st.f_flags & ST_RDONLY);
	EXPECT_EQ(0, mount(NULL, RXFS_MNT, NULL, MS_REMOUNT, NULL));
	EXPECT_EQ(0, umount(RXFS_MNT));
}

/*
 * Remounting read-only leaves a clean log, as unmount does (fsck -n on the
 * read-only mount says so: no "log: needs recovery" line), and the
 * mount is read-write again afterwards, committing as before.
 */
/*
 * The end of the remount and freeze tests: the filesystem writes again
 * (b, fsync'd), unmounts clean, and both a and b are there after a mount.
 */
static void write_b_and_remount(struct __test_metadata *_metadata, const char *dev)
{
	int fd = open(RXFS_MNT "/b", O_CREAT | O_WRONLY, 0644);

	ASSERT_LE(0, fd);
	ASSERT_EQ(5, write(fd, "world", 5));
	ASSERT_EQ(0, fsync(fd));
	close(fd);
	ASSERT_EQ(0, umount(RXFS_MNT));
	EXPECT_EQ(0, rxfs_test_fsck(dev));
	ASSERT_EQ(0, rxfs_mount(dev));
	EXPECT_EQ(0, access(RXFS_MNT "/a", F_OK));
	EXPECT_EQ(0, access(RXFS_MNT "/b", F_OK));
	EXPECT_EQ(0, umount(RXFS_MNT));
}

TEST_F(blocksize, remount_readonly_cleans_log)
{
	char path[64];
	int fd;

	ASSERT_EQ(0, rxfs_mount(self->dev));
	snprintf(path, sizeof(path), "%s/a", RXFS_MNT);
	fd = open(path, O_CREAT | O_WRONLY, 0644);
	ASSERT_LE(0, fd);
	ASSERT_EQ(5, write(fd, "hello", 5));
	ASSERT_EQ(0, fsync(fd));
	close(fd);
	ASSERT_EQ(0, mount(NULL, RXFS_MNT, NULL, MS_REMOUNT | MS_RDONLY, NULL));
	EXPECT_EQ(0, rxfs_run_logged(40, "fsck.rxfs -n %s", self->dev));
	EXPECT_EQ(0, rxfs_fsck_log_dirty(self->dev));
	ASSERT_EQ(0, mount(NULL, RXFS_MNT, NULL, MS_REMOUNT, NULL));
	write_b_and_remount(_metadata, self->dev);
}

/* FNV-1a of the whole device as it is on disk (O_DIRECT); 0 on error. */
static uint64_t dev_hash(const char *dev, const char *copy)
{
	static char b[1 << 20] __attribute__((aligned(4096)));
	uint64_t h = 0xcbf29ce484222325ULL;
	int fd = open(dev, O_RDONLY | O_DIRECT);
	int out = copy ? open(copy, O_CREAT | O_TRUNC | O_WRONLY, 0600) : -1;
	ssize_t n, i;

	if (fd < 0 || (copy && out < 0))
		return 0;
	while ((n = read(fd, b, sizeof(b))) > 0) {
		for (i = 0; i < n; i++)
			h = (h ^ (unsigned char)b[i]) * 0x100000001b3ULL;
		if (out >= 0 && write(out, b, n) != n)
			n = -1;
	}
	close(fd);
	if (out >= 0)
		close(out);
	return n < 0 ? 0 : h;
}

/*
 * A frozen filesystem is what a snapshot copies. A copy of the frozen
 * device (read with O_DIRECT, as the disk holds it) is a clean filesystem
 * with every fsync'd change and an unlinked open file on the orphan list.
 * Nothing changes the frozen device until the thaw, not even syncfs:
 * evicting a clone with preallocated CoW fork blocks (drop_caches, as
 * reclaim does: it must not wait) keeps its change in memory for the thaw
 * (without that, the syncfs writes it); the last close of an unlinked file
 * waits for the thaw (a child blocks in it), then frees the blocks. Thawed,
 * the filesystem commits as before.
 */
TEST_F(blocksize, freeze_leaves_clean_image)
{
	static char buf[256 << 10], dbuf[4096] __attribute__((aligned(4096)));
	char path[64], copy[] = "/tmp/rxfs-frozen.XXXXXX";
	struct statfs held, after;
	int fd, dfd, orphan, src, status, go[2];
	uint64_t frozen;
	pid_t pid;

	ASSERT_EQ(0, rxfs_mount(self->dev));
	memset(buf, 0x5a, sizeof(buf));
	snprintf(path, sizeof(path), "%s/orphan", RXFS_MNT);
	orphan = open(path, O_CREAT | O_RDWR, 0644);
	ASSERT_LE(0, orphan);
	ASSERT_EQ(sizeof(buf), write(orphan, buf, sizeof(buf)));
	ASSERT_EQ(0, fsync(orphan));
	ASSERT_EQ(0, unlink(path));
	snprintf(path, sizeof(path), "%s/a", RXFS_MNT);
	fd = open(path, O_CREAT | O_WRONLY, 0644);
	ASSERT_LE(0, fd);
	ASSERT_EQ(5, write(fd, "hello", 5));
	close(fd);
	dfd = open(RXFS_MNT, O_RDONLY | O_DIRECTORY);
	ASSERT_LE(0, dfd);

	/* The snapshot. */
	ASSERT_EQ(0, ioctl(dfd, FIFREEZE, 0));
	close(mkstemp(copy));
	ASSERT_NE(0, dev_hash(self->dev, copy));
	ASSERT_EQ(0, ioctl(dfd, FITHAW, 0));
	EXPECT_EQ(0, rxfs_run_logged(40, "fsck.rxfs -n %s", copy));
	unlink(copy);

	snprintf(path, sizeof(path), "%s/src", RXFS_MNT);
	src = open(path, O_CREAT | O_RDWR, 0644);
	ASSERT_LE(0, src);
	ASSERT_EQ(65536, write(src, buf, 65536));
	/* A clone written through copy-on-write: CoW fork blocks to free. */
	snprintf(path, sizeof(path), "%s/clone", RXFS_MNT);
	fd = open(path, O_CREAT | O_RDWR, 0644);
	ASSERT_LE(0, fd);
	ASSERT_EQ(0, ioctl(fd, FICLONE, src));
	close(fd);
	close(src);
	/* An O_DIRECT overwrite preallocates CoW blocks past itself. */
	fd = open(path, O_RDWR | O_DIRECT);
	ASSERT_LE(0, fd);
	ASSERT_EQ(4096, pwrite(fd, dbuf, 4096, 0));
	close(fd);
	ASSERT_EQ(0, statfs(RXFS_MNT, &held));

	ASSERT_EQ(0, ioctl(dfd, FIFREEZE, 0));
	frozen = dev_hash(self->dev, NULL);
	ASSERT_NE(0, frozen);
	ASSERT_EQ(0, rxfs_sh("echo 3 > /proc/sys/vm/drop_caches"));
	ASSERT_EQ(0, syncfs(dfd));
	EXPECT_EQ(frozen, dev_hash(self->dev, NULL)) {
		TH_LOG("evicting the clone wrote to the frozen device");
	}
	ASSERT_EQ(0, pipe(go));
	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		char c;

		close(go[1]);
		/* The parent closed its copy: this is the last reference. */
		_exit(read(go[0], &c, 1) == 1 && close(orphan) == 0 ? 0 : 1);
	}
	close(go[0]);
	close(orphan);
	ASSERT_EQ(1, write(go[1], "x", 1));
	close(go[1]);
	usleep(300 * 1000);
	EXPECT_EQ(0, waitpid(pid, &status, WNOHANG)) {
		TH_LOG("the last close of an unlinked file finished while frozen");
	}
	ASSERT_EQ(0, syncfs(dfd));
	EXPECT_EQ(frozen, dev_hash(self->dev, NULL)) {
		TH_LOG("freeing the unlinked file wrote to the frozen device");
	}
	ASSERT_EQ(0, ioctl(dfd, FITHAW, 0));
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	close(dfd);
	ASSERT_EQ(0, statfs(RXFS_MNT, &after));
	EXPECT_LE(held.f_bfree + sizeof(buf) / variant->bs, after.f_bfree);

	write_b_and_remount(_metadata, self->dev);
}

static int fitrim(const char *mnt, uint64_t start, uint64_t len, uint64_t minlen, uint64_t *out)
{
	struct fstrim_range r = { .start = start, .len = len, .minlen = minlen };
	int fd = open(mnt, O_RDONLY | O_DIRECTORY), ret;

	if (fd < 0)
		return -1;
	ret = ioctl(fd, FITRIM, &r);
	if (ret == 0 && out)
		*out = r.len;
	close(fd);
	return ret ? errno : 0;
}

/* Blocks of @dev (a file) that read as all zeroes. */
static long zero_blocks(const char *path, int bs, long nblocks)
{
	unsigned char *b = malloc(bs);
	long i, n = 0;
	int fd = open(path, O_RDONLY);

	for (i = 0; b && fd >= 0 && i < nblocks; i++) {
		if (pread(fd, b, bs, (off_t)i * bs) != bs)
			break;
		if (!b[0] && !memcmp(b, b + 1, bs - 1))
			n++;
	}
	if (fd >= 0)
		close(fd);
	free(b);
	return n;
}

/*
 * FITRIM on a loop device over tmpfs, where a discard punches a hole that
 * reads back as zeroes: the image starts all 0xa5, so afterwards every
 * block FITRIM reported is zero, and no block of a file is. XFS's argument
 * checks: a start past the end, a length under a block and a minimum larger
 * than the filesystem are EINVAL; a range trims no more than itself; a
 * minimum as long as the filesystem trims nothing. Files and metadata
 * survive (their contents after a remount, fsck).
 */
TEST_F(blocksize, fitrim_discards_free_blocks_only)
{
	const long size = 16 << 20, nblocks = size / variant->bs;
	static char data[300 << 10];
	char img[] = "/tmp/rxfs-trim.XXXXXX", loopdev[64] = "", path[64];
	uint64_t trimmed = 0, part = 0, none = 1;
	long zeroes;
	struct statfs st;
	int fd = mkstemp(img), i;

	ASSERT_LE(0, fd);
	memset(data, 0xa5, sizeof(data));
	for (i = 0; i < size / (long)sizeof(data) + 1; i++)
		ASSERT_EQ(sizeof(data), pwrite(fd, data, sizeof(data), (off_t)i * sizeof(data)));
	ASSERT_EQ(0, ftruncate(fd, size));
	close(fd);
	ASSERT_EQ(0, rxfs_losetup(img, loopdev, sizeof(loopdev))) TH_LOG("losetup: %s", loopdev);
	ASSERT_EQ(0, rxfs_sh("mkfs.rxfs -q -f -b %d %s", variant->bs, loopdev));
	mkdir(RXFS_MNT, 0755);
	ASSERT_EQ(0, mount(loopdev, RXFS_MNT, "rxfs", 0, NULL));
	for (i = 0; i < 4; i++) {
		memset(data, 'a' + i, sizeof(data));
		snprintf(path, sizeof(path), "%s/f%d", RXFS_MNT, i);
		fd = open(path, O_CREAT | O_WRONLY, 0644);
		ASSERT_LE(0, fd);
		ASSERT_EQ(sizeof(data), write(fd, data, sizeof(data)));
		ASSERT_EQ(0, fsync(fd));
		close(fd);
	}
	/* Freed, not yet committed: FITRIM commits before discarding. */
	snprintf(path, sizeof(path), "%s/f1", RXFS_MNT);
	ASSERT_EQ(0, unlink(path));

	EXPECT_EQ(EINVAL, fitrim(RXFS_MNT, (uint64_t)size, ~0ULL, 0, NULL));
	EXPECT_EQ(EINVAL, fitrim(RXFS_MNT, ~0ULL, 1 << 20, 0, NULL));
	EXPECT_EQ(EINVAL, fitrim(RXFS_MNT, 0, variant->bs - 1, 0, NULL));
	EXPECT_EQ(EINVAL, fitrim(RXFS_MNT, 0, ~0ULL, (uint64_t)size * 2, NULL));
	ASSERT_EQ(0, fitrim(RXFS_MNT, 0, ~0ULL, (uint64_t)size, &none));
	EXPECT_EQ(0, none);
	ASSERT_EQ(0, fitrim(RXFS_MNT, 4 << 20, 1 << 20, 0, &part));
	EXPECT_GT(part, 0);
	EXPECT_LE(part, 1 << 20);
	ASSERT_EQ(0, fitrim(RXFS_MNT, 0, ~0ULL, 0, &trimmed));
	ASSERT_EQ(0, statfs(RXFS_MNT, &st));
	/* Everything free was trimmed (in-memory reservations aside). */
	EXPECT_LE(trimmed, st.f_bfree * variant->bs);
	EXPECT_GE(trimmed, st.f_bfree * variant->bs * 9 / 10);
	zeroes = zero_blocks(loopdev, variant->bs, nblocks);
	EXPECT_GE(zeroes, (long)(trimmed / variant->bs)) TH_LOG("%ld zero blocks, %llu bytes trimmed", zeroes, (unsigned long long)trimmed);
	ASSERT_EQ(0, umount(RXFS_MNT));
	EXPECT_EQ(0, rxfs_run_logged(40, "fsck.rxfs -n %s", loopdev));
	ASSERT_EQ(0, mount(loopdev, RXFS_MNT, "rxfs", 0, NULL));
	for (i = 0; i < 4; i++) {
		char back[sizeof(data)];

		if (i == 1)
			continue;
		snprintf(path, sizeof(path), "%s/f%d", RXFS_MNT, i);
		fd = open(path, O_RDONLY);
		ASSERT_LE(0, fd);
		ASSERT_EQ(sizeof(back), read(fd, back, sizeof(back)));
		memset(data, 'a' + i, sizeof(data));
		EXPECT_EQ(0, memcmp(back, data, sizeof(data))) TH_LOG("f%d lost data to a discard", i);
		close(fd);
	}
	ASSERT_EQ(0, umount(RXFS_MNT));
	rxfs_sh("losetup -d %s", loopdev);
	unlink(img);
}

/* A norecovery mount stays read-only, as XFS's does. */
TEST_F(blocksize, norecovery_stays_readonly)
{
	mkdir(RXFS_MNT, 0755);
	ASSERT_EQ(0, mount(self->dev, RXFS_MNT, "rxfs", MS_RDONLY, "norecovery"));
	EXPECT_EQ(-1, mount(NULL, RXFS_MNT, NULL, MS_REMOUNT, NULL));
	EXPECT_EQ(EINVAL, errno);
	EXPECT_EQ(0, umount(RXFS_MNT));
}

/* An unknown mount option is refused. */
TEST_F(blocksize, unknown_option)
{
	mkdir(RXFS_MNT, 0755);
	EXPECT_EQ(-1, mount(self->dev, RXFS_MNT, "rxfs", 0, "nosuchoption"));
	EXPECT_EQ(EINVAL, errno);
}

static int get_label(const char *mnt, char *out)
{
	int fd = open(mnt, O_RDONLY | O_DIRECTORY), ret;

	if (fd < 0)
		return -1;
	memset(out, 0x55, FSLABEL_MAX);
	ret = ioctl(fd, FS_IOC_GETFSLABEL, out);
	close(fd);
	return ret ? errno : 0;
}

static int set_label(const char *mnt, const char *label)
{
	char buf[FSLABEL_MAX] = "";
	int fd = open(mnt, O_RDONLY | O_DIRECTORY), ret;

	if (fd < 0)
		return -1;
	strncpy(buf, label, sizeof(buf) - 1);
	ret = ioctl(fd, FS_IOC_SETFSLABEL, buf);
	close(fd);
	return ret ? errno : 0;
}

/*
 * The label ioctls, as XFS's (xfs_io's "label"): mkfs -L's label reads
 * back NUL-terminated; a new one is on the device at once (a read of the
 * device's first block, O_DIRECT, without unmounting) and after a
 * remount; 31 bytes fit, 32 are EINVAL and change nothing; an empty label
 * clears it; a read-only mount refuses (EROFS) but reads.
 */
TEST_F(blocksize, label)
{
	static char blk[4096] __attribute__((aligned(4096)));
	char l[FSLABEL_MAX], longest[32], toolong[33];
	int fd;

	ASSERT_EQ(0, rxfs_sh("mkfs.rxfs -q -f -L first -b %d %s", variant->bs, self->dev));
	ASSERT_EQ(0, rxfs_mount(self->dev));
	ASSERT_EQ(0, get_label(RXFS_MNT, l));
	EXPECT_STREQ("first", l);
	EXPECT_EQ(0, l[FSLABEL_MAX - 1]);

	ASSERT_EQ(0, set_label(RXFS_MNT, "second.label"));
	ASSERT_EQ(0, get_label(RXFS_MNT, l));
	EXPECT_STREQ("second.label", l);
	fd = open(self->dev, O_RDONLY | O_DIRECT);
	ASSERT_LE(0, fd);
	ASSERT_EQ(sizeof(blk), pread(fd, blk, sizeof(blk), 0));
	close(fd);
	EXPECT_NE(NULL, memmem(blk, sizeof(blk), "second.label", 13)) {
		TH_LOG("the new label is not on the device");
	}

	memset(longest, 'o', sizeof(longest) - 1);
	longest[sizeof(longest) - 1] = 0;
	memset(toolong, 'x', sizeof(toolong) - 1);
	toolong[sizeof(toolong) - 1] = 0;
	EXPECT_EQ(0, set_label(RXFS_MNT, longest));
	ASSERT_EQ(0, get_label(RXFS_MNT, l));
	EXPECT_STREQ(longest, l);
	EXPECT_EQ(EINVAL, set_label(RXFS_MNT, toolong));
	ASSERT_EQ(0, get_label(RXFS_MNT, l));
	EXPECT_STREQ(longest, l);

	ASSERT_EQ(0, set_label(RXFS_MNT, "kept"));
	ASSERT_EQ(0, umount(RXFS_MNT));
	EXPECT_EQ(0, rxfs_test_fsck(self->dev));
	ASSERT_EQ(0, mount(self->dev, RXFS_MNT, "rxfs", MS_RDONLY, NULL));
	ASSERT_EQ(0, get_label(RXFS_MNT, l));
	EXPECT_STREQ("kept", l);
	EXPECT_EQ(EROFS, set_label(RXFS_MNT, "ro"));
	ASSERT_EQ(0, mount(NULL, RXFS_MNT, NULL, MS_REMOUNT, NULL));
	EXPECT_EQ(0, set_label(RXFS_MNT, ""));
	ASSERT_EQ(0, get_label(RXFS_MNT, l));
	EXPECT_STREQ("", l);
	ASSERT_EQ(0, umount(RXFS_MNT));
	EXPECT_EQ(0, rxfs_test_fsck(self->dev));
}

/* discard and nodiscard are accepted (generic/455 mounts with -o discard). */
TEST_F(blocksize, discard_options)
{
	mkdir(RXFS_MNT, 0755);
	ASSERT_EQ(0, mount(self->dev, RXFS_MNT, "rxfs", 0, "discard"));
	EXPECT_EQ(0, mount(NULL, RXFS_MNT, NULL, MS_REMOUNT, "nodiscard"));
	EXPECT_EQ(0, umount(RXFS_MNT));
	ASSERT_EQ(0, mount(self->dev, RXFS_MNT, "rxfs", 0, "nodiscard"));
	EXPECT_EQ(0, umount(RXFS_MNT));
	EXPECT_EQ(-1, mount(self->dev, RXFS_MNT, "rxfs", 0, "discard=1"));
}

/*
 * The namespace operations of the dirsync test, in directory @d (holding
 * a, b and c, made durable before): create, mkdir, symlink, link, rename
 * and unlink, each a separate operation.
 */
static int ns_ops(const char *d)
{
	char p[256], q[256];
	int fd;

	snprintf(p, sizeof(p), "%s/new", d);
	fd = open(p, O_RDWR | O_CREAT, 0644);
	if (fd < 0)
		return -1;
	close(fd);
	snprintf(p, sizeof(p), "%s/newdir", d);
	if (mkdir(p, 0755))
		return -1;
	snprintf(p, sizeof(p), "%s/sl", d);
	if (symlink("target", p))
		return -1;
	snprintf(p, sizeof(p), "%s/a", d);
	snprintf(q, sizeof(q), "%s/hard", d);
	if (link(p, q))
		return -1;
	snprintf(p, sizeof(p), "%s/b", d);
	snprintf(q, sizeof(q), "%s/b2", d);
	if (rename(p, q))
		return -1;
	snprintf(p, sizeof(p), "%s/c", d);
	return unlink(p);
}

/* How many of ns_ops' six operations in @d are on disk (0 to 6). */
static int ns_ops_kept(const char *d)
{
	char p[256], t[16];
	struct stat st;
	int n = 0;

	snprintf(p, sizeof(p), "%s/new", d);
	n += !lstat(p, &st) && S_ISREG(st.st_mode);
	snprintf(p, sizeof(p), "%s/newdir", d);
	n += !lstat(p, &st) && S_ISDIR(st.st_mode);
	snprintf(p, sizeof(p), "%s/sl", d);
	n += readlink(p, t, sizeof(t)) == 6 && !memcmp(t, "target", 6);
	snprintf(p, sizeof(p), "%s/hard", d);
	n += !lstat(p, &st) && st.st_nlink == 2;
	snprintf(p, sizeof(p), "%s/b", d);
	if (lstat(p, &st)) {
		snprintf(p, sizeof(p), "%s/b2", d);
		n += !lstat(p, &st);
	}
	snprintf(p, sizeof(p), "%s/c", d);
	n += lstat(p, &st) && errno == ENOENT;
	return n;
}

/*
 * dirsync and sync mounts, and chattr +S directories (IS_DIRSYNC): each
 * namespace operation is durable when it returns, as on ext4 and XFS
 * (wsync). A shutdown that flushes nothing follows six of them; after a
 * remount all six are there. The control: the same six in a plain
 * directory of the same plain mount are all gone (nothing forced them
 * out), so the shutdown really drops what was not durable.
 */
TEST_F_TIMEOUT(blocksize, dirsync_namespace_is_durable, 300)
{
	static const struct { const char *name; unsigned long flags; int chattr; } cases[] = {
		{ "dirsync mount", MS_DIRSYNC, 0 },
		{ "sync mount", MS_SYNCHRONOUS, 0 },
		{ "chattr +S directory", 0, 1 },
	};
	const char *S = RXFS_MNT "/S", *P = RXFS_MNT "/P";
	uint32_t how = 2;
	unsigned int i;
	char p[256];
	int fd, j;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		if (i)
			ASSERT_EQ(0, rxfs_mkfs(self->dev, variant->bs));
		ASSERT_EQ(0, rxfs_test_mount_at(self->dev, RXFS_MNT, cases[i].flags, NULL));
		ASSERT_EQ(0, mkdir(S, 0755));
		ASSERT_EQ(0, mkdir(P, 0755));
		if (cases[i].chattr)
			ASSERT_EQ(0, setflags(S, FS_SYNC_FL));
		for (j = 0; j < 3; j++) {
			snprintf(p, sizeof(p), "%s/%c", S, 'a' + j);
			ASSERT_EQ(0, mknod(p, S_IFREG | 0644, 0));
			snprintf(p, sizeof(p), "%s/%c", P, 'a' + j);
			ASSERT_EQ(0, mknod(p, S_IFREG | 0644, 0));
		}
		sync();
		ASSERT_EQ(0, ns_ops(S));
		if (cases[i].chattr)
			ASSERT_EQ(0, ns_ops(P));
		fd = open(RXFS_MNT, O_RDONLY | O_DIRECTORY);
		ASSERT_LE(0, fd);
		ASSERT_EQ(0, ioctl(fd, RXFS_IOC_GOINGDOWN, &how));
		close(fd);
		ASSERT_EQ(0, umount(RXFS_MNT));
		ASSERT_EQ(0, rxfs_test_mount(self->dev));
		EXPECT_EQ(6, ns_ops_kept(S)) TH_LOG("%s: operations lost by the crash", cases[i].name);
		if (cases[i].chattr)
			EXPECT_EQ(0, ns_ops_kept(P)) TH_LOG("control: plain operations survived the crash, so the test cannot tell");
		ASSERT_EQ(0, umount(RXFS_MNT));
		EXPECT_EQ(0, rxfs_test_fsck(self->dev));
	}
}

/*
 * Bad devices: each must fail to mount with the expected errno, log exactly
 * one line naming the problem, and leave the device untouched.
 */
FIXTURE(baddev) {
	const char *dev;
	unsigned char *orig;
	size_t len;
};

FIXTURE_SETUP(baddev)
{
	self->dev = rxfs_dev();
	self->len = 64 * 1024;
	self->orig = malloc(self->len);
	umount(RXFS_MNT);
	ASSERT_NE(NULL, self->orig);
	ASSERT_EQ(0, rxfs_mkfs(self->dev, 4096));
}

FIXTURE_TEARDOWN(baddev)
{
	umount(RXFS_MNT);
	free(self->orig);
}

/* Mounts @dev expecting failure with @err and one log line with @what. */
static void expect_bad_mount(struct __test_metadata *_metadata, const char *dev,
			     const unsigned char *orig, size_t len, int err,
			     const char *what)
{
	unsigned char *after = malloc(len);
	char last[512] = "";
	int kfd = rxfs_kmsg_open();

	ASSERT_NE(NULL, after);
	ASSERT_LE(0, kfd);
	EXPECT_EQ(-err, rxfs_mount(dev));
	EXPECT_EQ(1, rxfs_kmsg_count(kfd, "rxfs", last, sizeof(last)));
	TH_LOG("log: %s", last);
	EXPECT_NE(NULL, strstr(last, what));
	close(kfd);
	/* Nothing was written: the device reads back as it was. */
	ASSERT_EQ(0, rxfs_dev_read(dev, 0, after, len));
	EXPECT_EQ(0, memcmp(orig, after, len));
	free(after);
}

TEST_F(baddev, zeroed)
{
	memset(self->orig, 0, self->len);
	ASSERT_EQ(0, rxfs_dev_write(self->dev, 0, self->orig, self->len));
	expect_bad_mount(_metadata, self->dev, self->orig, self->len, EINVAL, "bad magic");
}

TEST_F(baddev, garbage)
{
	unsigned int x = 12345;

	for (size_t i = 0; i < self->len; i++) {
		x = x * 1103515245 + 12345;
		self->orig[i] = x >> 16;
	}
	ASSERT_EQ(0, rxfs_dev_write(self->dev, 0, self->orig, self->len));
	expect_bad_mount(_metadata, self->dev, self->orig, self->len, EINVAL, "bad magic");
}

TEST_F(baddev, wrong_checksum)
{
	ASSERT_EQ(0, rxfs_dev_read(self->dev, 0, self->orig, self->len));
	self->orig[100] ^= 0x5a;	/* inside the superblock, past the magic */
	ASSERT_EQ(0, rxfs_dev_write(self->dev, 0, self->orig, self->len));
	expect_bad_mount(_metadata, self->dev, self->orig, self->len, EUCLEAN, "checksum");
}

TEST_F(baddev, wrong_stored_checksum)
{
	ASSERT_EQ(0, rxfs_dev_read(self->dev, 0, self->orig, self->len));
	self->orig[RXFS_SB_SIZE - 1] ^= 0x01;	/* the crc32c field itself */
	ASSERT_EQ(0, rxfs_dev_write(self->dev, 0, self->orig, self->len));
	expect_bad_mount(_metadata, self->dev, self->orig, self->len, EUCLEAN, "checksum");
}

/* A filesystem image cut short: the superblock claims more blocks. */
TEST_F(baddev, truncated)
{
	char img[] = "/tmp/rxfs-trunc.XXXXXX";
	char loopdev[64] = "";
	int fd = mkstemp(img);

	ASSERT_LE(0, fd);
	ASSERT_EQ(0, ftruncate(fd, 8 << 20));
	close(fd);
	ASSERT_EQ(0, rxfs_sh("mkfs.rxfs -q %s", img));
	ASSERT_EQ(0, truncate(img, 4 << 20));
	ASSERT_EQ(0, rxfs_losetup(img, loopdev, sizeof(loopdev))) TH_LOG("losetup: %s", loopdev);
	ASSERT_EQ(0, rxfs_dev_read(loopdev, 0, self->orig, self->len));
	expect_bad_mount(_metadata, loopdev, self->orig, self->len, EINVAL, "blocks");
	rxfs_sh("losetup -d %s", loopdev);
	unlink(img);
}

/* A valid superblock on a device far smaller than any rxfs (4 KiB). */
TEST_F(baddev, tiny_device)
{
	char img[] = "/tmp/rxfs-tiny.XXXXXX";
	char loopdev[64] = "";
	unsigned char block0[4096];
	int fd = mkstemp(img);

	ASSERT_LE(0, fd);
	ASSERT_EQ(0, rxfs_dev_read(self->dev, 0, block0, sizeof(block0)));
	ASSERT_EQ((ssize_t)sizeof(block0), write(fd, block0, sizeof(block0)));
	close(fd);
	ASSERT_EQ(0, rxfs_losetup(img, loopdev, sizeof(loopdev))) TH_LOG("losetup: %s", loopdev);
	ASSERT_EQ(0, rxfs_dev_read(loopdev, 0, self->orig, sizeof(block0)));
	expect_bad_mount(_metadata, loopdev, self->orig, sizeof(block0), EINVAL, "blocks");
	rxfs_sh("losetup -d %s", loopdev);
	unlink(img);
}

TEST_HARNESS_MAIN
