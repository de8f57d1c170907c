// SPDX-License-Identifier: GPL-2.0
/*
 * Metadata corruption (rxfs only): for each structure, one corrupted block
 * must be refused with EUCLEAN by the mount or by the first operation that
 * reads it, with no kernel warning, BUG or oops and at least one rxfs log
 * line; fsck.rxfs -n must report it (exit 4) without writing to the device.
 *
 * Kinds (located with `rxfs-db DEV locate KIND [PATH]`, which prints
 * "BLOCK BYTE_OFFSET"):
 *   sb        the superblock                      -> mount fails
 *   inode     /d1/victim's inode                  -> stat fails
 *   extnode   a block node of /frag's extent tree (512 extents: 4 KiB
 *             written every 8 KiB over 4 MiB, fsync'd each time)
 *                                                 -> reading it fails
 *   dirnode   a block node of /big's tree (2000 entries)
 *                                                 -> readdir fails
 *   bitmap    the first free-space bitmap block   -> allocation fails
 *   summary   the first free-space summary block  -> allocation fails
 *   orphan    the first inode on the orphan list  -> mount (recovery) fails
 *   log       the journal's header block          -> mount (log scan) fails
 *   xattr     /xa's extended attribute block      -> getxattr, listxattr
 *                                                    and setxattr fail
 *
 * Corruptions (variants):
 *   body      one byte flipped inside the checksummed area: the last byte
 *             of the block (unused padding, so only the crc can catch it);
 *             the superblock: byte 100 (free_blocks)
 *   crc       the stored crc32c itself (byte 4; superblock byte 508)
 *   blkno     the header's own block number + 1, crc recomputed: a
 *             misdirected write that the checksum alone cannot catch
 *   next      (orphan only) next_orphan pointed at block 1 (the summary),
 *             crc recomputed: a valid inode leading to a non-inode
 *
 * The orphan list cannot survive a clean unmount, and one test cannot power
 * the machine off, so the orphan image is a crash image taken while the
 * filesystem is mounted: an open file is unlinked, syncfs() writes the
 * orphan list, and the whole filesystem is read with O_DIRECT (rxfs never
 * leaves metadata dirty in the block device's page cache, and after syncfs
 * the disk holds every change); fsck.rxfs -y replays its journal's last
 * commit and marks the log clean. The file is then closed and the
 * filesystem unmounted; the tests write the crash image back to the device, so their
 * mount has to recover that orphan.
 *
 * Each test: write the base (or crash) image to the device; fsck -n exits
 * 0; locate the block and check its header (magic, own block number, crc);
 * corrupt it; fsck -n exits 4 and the device is byte-for-byte unchanged;
 * the original block put back makes fsck -n exit 0 again (so the 4 was this
 * block's doing); corrupt again; kernel probe (mount + operations, errno
 * rules per kind; kernel log clean); umount; fsck -n still exits 4.
 *
 * Both images are built once per run (by the first test) into /tmp.
 *
 * Environment: RXFS_TEST_DEV (default /dev/vda, at least 32 MiB; only the
 * first 32 MiB are used), RXFS_TEST_BS (default 4096). Needs mkfs.rxfs,
 * fsck.rxfs and rxfs-db on PATH. RXFS_TEST_FSTYPE other than rxfs skips.
 *
 *   truncate -s 64M /tmp/c.img
 *   scripts/vm-run --disk /tmp/c.img -- build/selftests/rxfs_corrupt
 */
#include <dirent.h>
#include <sys/syscall.h>
#include <sys/xattr.h>
#include <linux/fiemap.h>
#include "rxfs_test.h"
#include "kselftest_harness.h"

#define FS_MAX_BYTES (32ull << 20)
#define BASE_IMG "/tmp/rxfs-corrupt-base.img"
#define CRASH_IMG "/tmp/rxfs-corrupt-crash.img"
#define KEEP_SEED 0x6b656570ull
#define KEEP_SIZE (64 << 10)
#define VICTIM_SIZE (32 << 10)
#define BIG_ENTRIES 2000
#define FRAG_EXTENTS 512

enum mode { BODY, CRC, BLKNO, NEXT };

static uint64_t fs_bytes(const char *dev, int bs)
{
	uint64_t n = rxfs_dev_bytes(dev);

	if (n > FS_MAX_BYTES)
		n = FS_MAX_BYTES;
	return n / bs * bs;
}

static int read_all(const char *path, void *buf, size_t len, int direct)
{
	int fd = open(path, O_RDONLY | (direct ? O_DIRECT : 0));
	size_t done = 0;

	if (fd < 0)
		return -errno;
	while (done < len) {
		ssize_t r = pread(fd, (char *)buf + done, len - done, done);

		if (r <= 0) {
			close(fd);
			return r < 0 ? -errno : -EIO;
		}
		done += r;
	}
	close(fd);
	return 0;
}

static int write_all(const char *path, const void *buf, size_t len, int flags)
{
	int fd = open(path, O_WRONLY | flags, 0600);
	size_t done = 0;

	if (fd < 0)
		return -errno;
	while (done < len) {
		ssize_t r = pwrite(fd, (const char *)buf + done, len - done, done);

		if (r <= 0) {
			close(fd);
			return r < 0 ? -errno : -EIO;
		}
		done += r;
	}
	if (fsync(fd)) {
		close(fd);
		return -errno;
	}
	close(fd);
	return 0;
}

static int make_file(const char *path, uint64_t seed, size_t size)
{
	unsigned char *b = malloc(size);
	int ret;

	if (!b)
		return -ENOMEM;
	rxfs_fill(b, seed, 0, size);
	ret = write_all(path, b, size, O_CREAT | O_EXCL);
	free(b);
	return ret;
}

static int file_matches(const char *path, uint64_t seed, size_t size)
{
	unsigned char *b = malloc(size + 1), *w = malloc(size);
	int fd = open(path, O_RDONLY), ok = 0;

	if (fd >= 0 && b && w) {
		rxfs_fill(w, seed, 0, size);
		ok = read(fd, b, size + 1) == (ssize_t)size && !memcmp(b, w, size);
	}
	if (fd >= 0)
		close(fd);
	free(b);
	free(w);
	return ok;
}

/*
 * Builds the base and crash images (once per run). Returns 0, or -1 with a
 * reason in @why.
 */
static int build_images(const char *dev, int bs, char *why, size_t whylen)
{
	uint64_t len = fs_bytes(dev, bs);
	unsigned char *img = NULL, blk[4096];
	char p[256];
	int fd = -1, ofd = -1, ret = -1;

	double t0 = rxfs_now();

	if (!access(BASE_IMG, R_OK) && !access(CRASH_IMG, R_OK))
		return 0;
	umount(RXFS_MNT);
	printf("# building the images: %llu blocks of %d bytes\n", (unsigned long long)(len / bs), bs);
	if (rxfs_run_logged(10, "mkfs.rxfs -q -f -b %d %s %llu", bs, dev, (unsigned long long)(len / bs))) {
		snprintf(why, whylen, "mkfs.rxfs failed");
		return -1;
	}
	if (rxfs_mount(dev)) {
		snprintf(why, whylen, "mount: %s", strerror(errno));
		return -1;
	}
	if (make_file(RXFS_MNT "/keep", KEEP_SEED, KEEP_SIZE) ||
	    mkdir(RXFS_MNT "/d1", 0755) ||
	    make_file(RXFS_MNT "/d1/victim", 2, VICTIM_SIZE) ||
	    make_file(RXFS_MNT "/xa", 3, 100) ||
	    setxattr(RXFS_MNT "/xa", "user.a", "value a", 7, 0) ||
	    setxattr(RXFS_MNT "/xa", "trusted.b", "value b", 7, 0) ||
	    mkdir(RXFS_MNT "/big", 0755)) {
		snprintf(why, whylen, "populating: %s", strerror(errno));
		goto out;
	}
	for (int i = 0; i < BIG_ENTRIES; i++) {
		snprintf(p, sizeof(p), RXFS_MNT "/big/e%04d", i);
		fd = open(p, O_CREAT | O_EXCL | O_WRONLY, 0644);
		if (fd < 0) {
			snprintf(why, whylen, "create %s: %s", p, strerror(errno));
			goto out;
		}
		close(fd);
	}
	fd = open(RXFS_MNT "/frag", O_CREAT | O_EXCL | O_WRONLY, 0644);
	if (fd < 0)
		goto fail_errno;
	for (int i = 0; i < FRAG_EXTENTS; i++) {
		rxfs_fill(blk, 3, (uint64_t)i * 8192, 4096);
		if (pwrite(fd, blk, 4096, (off_t)i * 8192) != 4096 || fsync(fd))
			goto fail_errno;
	}
	close(fd);
	fd = -1;
	/* The crash image: an unlinked, open file on the orphan list. */
	ofd = open(RXFS_MNT "/orphan", O_CREAT | O_EXCL | O_RDWR, 0644);
	if (ofd < 0 || write(ofd, blk, 4096) != 4096 || fsync(ofd) ||
	    unlink(RXFS_MNT "/orphan") || syncfs(ofd))
		goto fail_errno;
	if (posix_memalign((void **)&img, 4096, len)) {
		snprintf(why, whylen, "out of memory");
		goto out;
	}
	ret = read_all(dev, img, len, 1);
	if (ret || write_all(CRASH_IMG ".tmp", img, len, O_CREAT | O_TRUNC)) {
		snprintf(why, whylen, "saving the crash image: %s", strerror(-ret));
		ret = -1;
		goto out;
	}
	/*
	 * Its journal still holds the last commit (a crash image): replay it
	 * (syncfs wrote it home already) and mark the log clean, so that the
	 * image checks clean and the orphan is what mount has to recover.
	 */
	ret = rxfs_sh("fsck.rxfs -y %s >/dev/null 2>&1", CRASH_IMG ".tmp");
	if (ret != 0 && ret != 1) {
		snprintf(why, whylen, "fsck.rxfs -y of the crash image: exit %d", ret);
		ret = -1;
		goto out;
	}
	close(ofd);
	ofd = -1;
	if (umount(RXFS_MNT))
		goto fail_errno;
	ret = read_all(dev, img, len, 1);
	if (ret || write_all(BASE_IMG ".tmp", img, len, O_CREAT | O_TRUNC) ||
	    rename(BASE_IMG ".tmp", BASE_IMG) || rename(CRASH_IMG ".tmp", CRASH_IMG)) {
		snprintf(why, whylen, "saving the base image: %s", strerror(ret ? -ret : errno));
		ret = -1;
		goto out;
	}
	free(img);
	printf("# images built in %.1f s\n", rxfs_now() - t0);
	return 0;

fail_errno:
	snprintf(why, whylen, "building: %s", strerror(errno));
out:
	if (fd >= 0)
		close(fd);
	if (ofd >= 0)
		close(ofd);
	free(img);
	umount(RXFS_MNT);
	return -1;
}

/* `rxfs-db DEV locate KIND [PATH]`: 0 and the block and offset, or -1. */
static int locate(const char *dev, const char *kind, const char *path, uint64_t *blk, uint64_t *off)
{
	char cmd[512], line[256] = "";
	unsigned long long b, o;
	FILE *f;
	int st;

	snprintf(cmd, sizeof(cmd), "rxfs-db %s locate %s %s 2>&1", dev, kind, path ? path : "");
	f = popen(cmd, "r");
	if (!f)
		return -1;
	if (!fgets(line, sizeof(line), f))
		line[0] = 0;
	while (fgetc(f) != EOF)
		;
	st = pclose(f);
	printf("#   $ rxfs-db %s locate %s %s -> %s", dev, kind, path ? path : "", *line ? line : "(nothing)\n");
	if (st == -1 || !WIFEXITED(st) || WEXITSTATUS(st) || sscanf(line, "%llu %llu", &b, &o) != 2)
		return -1;
	*blk = b;
	*off = o;
	return 0;
}

struct probe {
	int mounted, mount_err;
	int euclean;		/* operations that failed with EUCLEAN */
	int unexpected;		/* operations that failed otherwise, or wrongly succeeded */
};

/* Records one operation's result: @ret < 0 failed with errno. */
static void op(struct probe *pr, const char *what, int ret, int may_succeed, int also_ok_errno)
{
	int e = ret < 0 ? errno : 0;

	if (ret < 0 && e == EUCLEAN) {
		pr->euclean++;
		printf("#   %s: EUCLEAN\n", what);
	} else if (ret < 0 && also_ok_errno && e == also_ok_errno) {
		printf("#   %s: %s (allowed)\n", what, strerror(e));
	} else if (ret < 0) {
		pr->unexpected++;
		printf("#   %s: %s, expected EUCLEAN\n", what, strerror(e));
	} else if (!may_succeed) {
		pr->unexpected++;
		printf("#   %s: succeeded over the corrupt block\n", what);
	} else {
		printf("#   %s: ok\n", what);
	}
}

/* Closes @fd; -1 keeping the errno of what @failed, or 0. */
static int close_fail(int fd, int failed)
{
	int e = errno;

	close(fd);
	errno = e;
	return failed ? -1 : 0;
}

static int read_file(const char *path, int flags)
{
	int fd = open(path, O_RDONLY | flags);
	void *buf;
	ssize_t r;

	if (fd < 0)
		return -1;
	if (posix_memalign(&buf, 4096, 1 << 20)) {
		close(fd);
		errno = ENOMEM;
		return -1;
	}
	while ((r = read(fd, buf, 1 << 20)) > 0)
		;
	free(buf);
	return close_fail(fd, r < 0);
}

static int fiemap_all(const char *path)
{
	struct {
		struct fiemap fm;
		struct fiemap_extent ext[64];
	} m;
	int fd = open(path, O_RDONLY), r = 0;
	uint64_t start = 0;

	if (fd < 0)
		return -1;
	for (int guard = 0; guard < 1000; guard++) {
		memset(&m, 0, sizeof(m));
		m.fm.fm_start = start;
		m.fm.fm_length = ~0ull - start;
		m.fm.fm_extent_count = 64;
		r = ioctl(fd, FS_IOC_FIEMAP, &m);
		if (r || !m.fm.fm_mapped_extents)
			break;
		if (m.ext[m.fm.fm_mapped_extents - 1].fe_flags & FIEMAP_EXTENT_LAST)
			break;
		start = m.ext[m.fm.fm_mapped_extents - 1].fe_logical +
			m.ext[m.fm.fm_mapped_extents - 1].fe_length;
	}
	return close_fail(fd, r != 0);
}

/* getdents64 until the end (0) or an error (-1, errno). */
static int readdir_all(const char *path, int *n)
{
	char buf[4096];
	int fd = open(path, O_RDONLY | O_DIRECTORY);

	*n = 0;
	if (fd < 0)
		return -1;
	for (;;) {
		long r = syscall(SYS_getdents64, fd, buf, sizeof(buf));

		if (r < 0)
			return close_fail(fd, 1);
		if (r == 0)
			break;
		for (long off = 0; off < r; off += ((struct dirent64 *)(buf + off))->d_reclen)
			(*n)++;
	}
	close(fd);
	return 0;
}

/* The kernel side: mount and the operations that read the corrupt block. */
static void probe_kernel(struct __test_metadata *_metadata, const char *dev,
			 const char *kind, struct probe *pr)
{
	struct stat st;
	char p[64];
	int ret, n;

	memset(pr, 0, sizeof(*pr));
	ret = rxfs_mount(dev);
	if (ret) {
		pr->mount_err = -ret;
		errno = -ret;
		op(pr, "mount", -1, 0, 0);
		return;
	}
	pr->mounted = 1;
	printf("#   mount: ok\n");
	if (!strcmp(kind, "xattr")) {
		char v[64];

		op(pr, "stat /xa", stat(RXFS_MNT "/xa", &st), 1, 0);
		op(pr, "read /xa", read_file(RXFS_MNT "/xa", 0), 1, 0);
		op(pr, "getxattr /xa user.a", getxattr(RXFS_MNT "/xa", "user.a", v, sizeof(v)) < 0 ? -1 : 0, 0, 0);
		op(pr, "listxattr /xa", listxattr(RXFS_MNT "/xa", v, sizeof(v)) < 0 ? -1 : 0, 0, 0);
		op(pr, "setxattr /xa user.c", setxattr(RXFS_MNT "/xa", "user.c", "c", 1, 0), 0, 0);
		op(pr, "removexattr /xa user.a", removexattr(RXFS_MNT "/xa", "user.a"), 0, 0);
	} else if (!strcmp(kind, "inode")) {
		op(pr, "stat /d1/victim", stat(RXFS_MNT "/d1/victim", &st), 0, 0);
		op(pr, "read /d1/victim", read_file(RXFS_MNT "/d1/victim", 0), 0, 0);
		op(pr, "readdir /d1 (the entry is fine)", readdir_all(RXFS_MNT "/d1", &n), 1, 0);
	} else if (!strcmp(kind, "extnode")) {
		op(pr, "stat /frag", stat(RXFS_MNT "/frag", &st), 1, 0);
		/* Buffered reads lose iomap_begin's errno in readahead: EIO is fine there. */
		op(pr, "read /frag", read_file(RXFS_MNT "/frag", 0), 0, EIO);
		ret = fiemap_all(RXFS_MNT "/frag");
		if (ret && (errno == EOPNOTSUPP || errno == ENOTTY))
			printf("#   fiemap /frag: not supported\n");
		else
			op(pr, "fiemap /frag", ret, 0, 0);
		ret = open(RXFS_MNT "/frag", O_RDONLY | O_DIRECT);
		if (ret < 0 && errno == EINVAL) {
			printf("#   O_DIRECT: not supported\n");
		} else {
			if (ret >= 0)
				close(ret);
			op(pr, "O_DIRECT read /frag", read_file(RXFS_MNT "/frag", O_DIRECT), 0, 0);
		}
		/*
		 * Writes and truncates map the file through the tree and
		 * return its errno directly. The located node is the first
		 * block node, so it maps the start of the file: a write into
		 * the hole at 4 KiB looks there, and a truncate to 4 KiB
		 * must read every node to free the blocks.
		 */
		ret = open(RXFS_MNT "/frag", O_WRONLY);
		if (ret >= 0) {
			int fd = ret;
			char blk[4096] = { 1 };

			ret = pwrite(fd, blk, sizeof(blk), 4096) == sizeof(blk) ? fsync(fd) : -1;
			op(pr, "write into the hole at 4 KiB of /frag", ret, 1, 0);
			close(fd);
		} else {
			op(pr, "open /frag for writing", ret, 1, 0);
		}
		op(pr, "truncate /frag to 4 KiB", truncate(RXFS_MNT "/frag", 4096), 0, 0);
	} else if (!strcmp(kind, "dirnode")) {
		int bad = 0, good = 0;

		op(pr, "stat /big", stat(RXFS_MNT "/big", &st), 1, 0);
		op(pr, "readdir /big", readdir_all(RXFS_MNT "/big", &n), 0, 0);
		for (int i = 0; i < BIG_ENTRIES; i++) {
			snprintf(p, sizeof(p), RXFS_MNT "/big/e%04d", i);
			if (!stat(p, &st)) {
				good++;
			} else if (errno == EUCLEAN) {
				bad++;
			} else {
				pr->unexpected++;
				if (pr->unexpected < 5)
					printf("#   stat %s: %s\n", p, strerror(errno));
			}
		}
		printf("#   lookups in /big: %d ok, %d EUCLEAN\n", good, bad);
		errno = EUCLEAN;
		op(pr, "some lookups in /big", bad ? -1 : 0, 0, 0);
		ret = open(RXFS_MNT "/big/new", O_CREAT | O_WRONLY, 0644);
		if (ret >= 0)
			close(ret);
		op(pr, "create /big/new", ret, 1, 0);
	} else if (!strcmp(kind, "bitmap") || !strcmp(kind, "summary")) {
		for (int i = 0; i < 8; i++) {
			snprintf(p, sizeof(p), RXFS_MNT "/new%d", i);
			ret = make_file(p, 9, 256 << 10);
			errno = -ret;
			/* A write-back failure reaches fsync as EIO on some paths. */
			op(pr, p, ret ? -1 : 0, 1, EIO);
		}
		op(pr, "mkdir /newdir", mkdir(RXFS_MNT "/newdir", 0755), 1, 0);
		op(pr, "unlink /d1/victim", unlink(RXFS_MNT "/d1/victim"), 1, 0);
		op(pr, "syncfs", rxfs_sh("sync -f " RXFS_MNT) ? (errno = EIO, -1) : 0, 1, EIO);
	} else {
		pr->unexpected++;
		printf("#   %s: mounted although the corruption is read at mount\n", kind);
	}
	/* What the corruption does not touch still works. */
	if (!file_matches(RXFS_MNT "/keep", KEEP_SEED, KEEP_SIZE)) {
		pr->unexpected++;
		printf("#   /keep (untouched by the corruption) does not read back\n");
	}
	ret = umount(RXFS_MNT);
	if (ret)
		printf("#   umount: %s\n", strerror(errno));
	EXPECT_EQ(0, ret);
}

FIXTURE(corrupt) {
	const char *dev;
	int bs;
	uint64_t len;
	unsigned char *img;
};

FIXTURE_VARIANT(corrupt) {
	const char *kind;
	const char *path;
	enum mode mode;
	const char *magic;	/* what the located block must start with */
};

#define V(name, k, pth, m, mg) \
	FIXTURE_VARIANT_ADD(corrupt, name) { .kind = k, .path = pth, .mode = m, .magic = mg }
V(sb_body, "sb", NULL, BODY, "RXFS");
V(sb_crc, "sb", NULL, CRC, "RXFS");
V(inode_body, "inode", "/d1/victim", BODY, "RXIN");
V(inode_crc, "inode", "/d1/victim", CRC, "RXIN");
V(inode_blkno, "inode", "/d1/victim", BLKNO, "RXIN");
V(extnode_body, "extnode", "/frag", BODY, "RXEX");
V(extnode_crc, "extnode", "/frag", CRC, "RXEX");
V(extnode_blkno, "extnode", "/frag", BLKNO, "RXEX");
V(dirnode_body, "dirnode", "/big", BODY, "RXDR");
V(dirnode_crc, "dirnode", "/big", CRC, "RXDR");
V(dirnode_blkno, "dirnode", "/big", BLKNO, "RXDR");
V(bitmap_body, "bitmap", NULL, BODY, "RXBM");
V(bitmap_crc, "bitmap", NULL, CRC, "RXBM");
V(bitmap_blkno, "bitmap", NULL, BLKNO, "RXBM");
V(summary_body, "summary", NULL, BODY, "RXGS");
V(summary_crc, "summary", NULL, CRC, "RXGS");
V(log_body, "log", NULL, BODY, "RXLH");
V(log_crc, "log", NULL, CRC, "RXLH");
V(log_blkno, "log", NULL, BLKNO, "RXLH");
V(summary_blkno, "summary", NULL, BLKNO, "RXGS");
V(orphan_body, "orphan", NULL, BODY, "RXIN");
V(orphan_crc, "orphan", NULL, CRC, "RXIN");
V(orphan_blkno, "orphan", NULL, BLKNO, "RXIN");
V(orphan_next, "orphan", NULL, NEXT, "RXIN");
V(xattr_body, "xattr", "/xa", BODY, "RXXA");
V(xattr_crc, "xattr", "/xa", CRC, "RXXA");
V(xattr_blkno, "xattr", "/xa", BLKNO, "RXXA");

FIXTURE_SETUP(corrupt)
{
	char why[256] = "";
	const char *src;

	if (!rxfs_is_rxfs())
		SKIP(return, "rxfs only (RXFS_TEST_FSTYPE=%s)", rxfs_fstype());
	self->dev = rxfs_dev();
	self->bs = rxfs_test_bs();
	self->len = fs_bytes(self->dev, self->bs);
	umount(RXFS_MNT);
	ASSERT_TRUE(rxfs_have_prog("fsck.rxfs")) TH_LOG("fsck.rxfs is not on PATH");
	ASSERT_TRUE(rxfs_have_prog("rxfs-db")) TH_LOG("rxfs-db is not on PATH");
	ASSERT_LE(16ull << 20, self->len) TH_LOG("%s is too small", self->dev);
	ASSERT_EQ(0, build_images(self->dev, self->bs, why, sizeof(why))) TH_LOG("%s", why);
	ASSERT_EQ(0, posix_memalign((void **)&self->img, 4096, self->len));
	src = !strcmp(variant->kind, "orphan") ? CRASH_IMG : BASE_IMG;
	ASSERT_EQ(0, read_all(src, self->img, self->len, 0));
	ASSERT_EQ(0, write_all(self->dev, self->img, self->len, 0));
}

FIXTURE_TEARDOWN(corrupt)
{
	umount(RXFS_MNT);
	free(self->img);
}

/* The device's first @len bytes equal @want? */
static int device_is(const char *dev, const unsigned char *want, size_t len)
{
	unsigned char *now = malloc(len);
	int same;

	if (!now || read_all(dev, now, len, 0)) {
		free(now);
		return 0;
	}
	same = !memcmp(now, want, len);
	if (!same)
		for (size_t i = 0; i < len; i++)
			if (now[i] != want[i]) {
				printf("#   device differs first at byte %zu (block %zu)\n", i, i / 4096);
				break;
			}
	free(now);
	return same;
}

TEST_F_TIMEOUT(corrupt, detected, 900)
{
	const int is_sb = !strcmp(variant->kind, "sb");
	const size_t crc_off = is_sb ? RXFS_SB_SIZE - 4 : 4;
	const size_t span = is_sb ? RXFS_SB_SIZE : (size_t)self->bs;
	uint64_t blk, off, owner_ino = 0, dummy;
	unsigned char *b, orig[4096];
	char klog[16384], *line;
	struct probe pr;
	const char *badword;
	int kfd, ret, nlog = 0;
	double t0 = rxfs_now();

	/* 1. A clean start. */
	ASSERT_EQ(0, rxfs_test_fsck(self->dev)) TH_LOG("fsck -n of the uncorrupted image");

	/* 2. Locate the block and check that it is what it claims to be. */
	ASSERT_EQ(0, locate(self->dev, variant->kind, variant->path, &blk, &off))
		TH_LOG("rxfs-db could not locate %s", variant->kind);
	ASSERT_EQ(blk * self->bs, off);
	ASSERT_GT(self->len, off + self->bs);
	b = self->img + off;
	memcpy(orig, b, self->bs);
	EXPECT_EQ(0, memcmp(b, variant->magic, 4)) TH_LOG("block %llu does not start with %s",
							  (unsigned long long)blk, variant->magic);
	EXPECT_EQ(rxfs_le32(b + crc_off), rxfs_block_crc(b, span, crc_off))
		TH_LOG("the stored crc32c of block %llu is not the crc32c of the block",
		       (unsigned long long)blk);
	if (!is_sb)
		EXPECT_EQ(blk, rxfs_le64(b + 8));
	if (variant->path && strcmp(variant->kind, "inode")) {
		ASSERT_EQ(0, locate(self->dev, "inode", variant->path, &owner_ino, &dummy));
		EXPECT_EQ(owner_ino, rxfs_le64(b + 16)) TH_LOG("the node's owner is not %s's inode",
							       variant->path);
	}

	/* 3. Corrupt it. */
	switch (variant->mode) {
	case BODY:
		b[is_sb ? 100 : self->bs - 1] ^= 0x5a;
		break;
	case CRC:
		b[crc_off] ^= 0x01;
		break;
	case BLKNO:
		rxfs_put_le64(b + 8, blk + 1);
		rxfs_put_le32(b + crc_off, rxfs_block_crc(b, span, crc_off));
		break;
	case NEXT:
		rxfs_put_le64(b + 136, 1);
		rxfs_put_le32(b + crc_off, rxfs_block_crc(b, span, crc_off));
		break;
	}
	ASSERT_NE(0, memcmp(orig, b, self->bs));
	ASSERT_EQ(0, rxfs_dev_write(self->dev, off, b, self->bs));

	/* 4. fsck -n sees it, and writes nothing. */
	EXPECT_EQ(4, rxfs_test_fsck(self->dev)) TH_LOG("fsck -n of the corrupted image");
	EXPECT_TRUE(device_is(self->dev, self->img, self->len)) TH_LOG("fsck -n wrote to the device");

	/* 5. Control: the original block back gives a clean fsck again. */
	ASSERT_EQ(0, rxfs_dev_write(self->dev, off, orig, self->bs));
	EXPECT_EQ(0, rxfs_test_fsck(self->dev)) TH_LOG("fsck -n with the block restored");
	ASSERT_EQ(0, rxfs_dev_write(self->dev, off, b, self->bs));

	/* 6. The kernel refuses the block: EUCLEAN, no warning, a log line. */
	kfd = rxfs_kmsg_open();
	ASSERT_LE(0, kfd);
	probe_kernel(_metadata, self->dev, variant->kind, &pr);
	rxfs_kmsg_text(kfd, klog, sizeof(klog));
	close(kfd);
	for (line = strtok(klog, "\n"); line; line = strtok(NULL, "\n")) {
		if (nlog < 8)
			printf("#   kmsg: %s\n", line);
		nlog += !!strstr(line, "rxfs");
		badword = rxfs_kmsg_bad(line);
		EXPECT_EQ(NULL, badword) TH_LOG("kernel log: %s", line);
	}
	EXPECT_LE(1, nlog) TH_LOG("no rxfs log line about the corruption");
	EXPECT_EQ(0, pr.unexpected);
	if (!pr.mounted) {
		EXPECT_EQ(EUCLEAN, pr.mount_err);
	} else {
		EXPECT_LE(1, pr.euclean) TH_LOG("no operation failed with EUCLEAN");
		EXPECT_TRUE(strcmp(variant->kind, "sb") && strcmp(variant->kind, "orphan") &&
			    strcmp(variant->kind, "log"))
			TH_LOG("the %s corruption must stop the mount", variant->kind);
	}

	/* 7. The corruption is still there for fsck: the kernel did not paper over it. */
	ret = rxfs_test_fsck(self->dev);
	EXPECT_EQ(4, ret) TH_LOG("fsck -n after the kernel saw the corruption");
	printf("# %.1f s\n", rxfs_now() - t0);
}

/*
 * The journal's contents, fuzzed: a filesystem shut down (mode 2, nothing
 * flushed) right after a run of fsync'd changes has a dirty log; one byte
 * of the used part of the log region is flipped at a time (descriptors,
 * images, commit blocks, and what follows the last commit). Mount must
 * recover or fail with EUCLEAN (never anything else, never a warning: the
 * VM runner fails the run on any), and fsck.rxfs -y must then leave a
 * filesystem that fsck.rxfs -n finds clean.
 */
#define LOGFUZZ_ROUNDS 40

TEST_F_TIMEOUT(corrupt, logfuzz, 1200)
{
	uint64_t start = 0, dummy, seed = rxfs_seed(0x10c);
	unsigned char *img = NULL;
	char line[256];
	uint64_t used = 0;
	FILE *f;
	int fd, ret, i, recovered = 0, refused = 0;

	if (strcmp(variant->kind, "log") || variant->mode != BODY)
		SKIP(return, "one variant runs it");
	memset(line, 'x', sizeof(line));
	ASSERT_EQ(0, rxfs_test_mkfs(self->dev));
	ASSERT_EQ(0, rxfs_mount(self->dev));
	for (i = 0; i < 30; i++) {
		char p[64];

		snprintf(p, sizeof(p), RXFS_MNT "/f%d", i);
		fd = open(p, O_CREAT | O_WRONLY, 0644);
		ASSERT_LE(0, fd);
		ASSERT_EQ(100, write(fd, line, 100));
		ASSERT_EQ(0, fsync(fd));
		close(fd);
		if (i % 3 == 0) {
			snprintf(p, sizeof(p), RXFS_MNT "/d%d", i);
			ASSERT_EQ(0, mkdir(p, 0755));
		}
	}
	fd = open(RXFS_MNT, O_RDONLY);
	ASSERT_LE(0, fd);
	{
		uint32_t how = 2;	/* XFS_FSOP_GOING_FLAGS_NOLOGFLUSH */

		ASSERT_EQ(0, ioctl(fd, _IOR('X', 125, uint32_t), &how));
	}
	close(fd);
	ASSERT_EQ(0, umount(RXFS_MNT));
	/* Where the log is, and how far its chain reaches. */
	ASSERT_EQ(0, locate(self->dev, "log", NULL, &start, &dummy));
	snprintf(line, sizeof(line), "rxfs-db %s logprint", self->dev);
	f = popen(line, "r");
	ASSERT_NE(NULL, f);
	while (fgets(line, sizeof(line), f)) {
		unsigned long long s2, p2;

		printf("#   %s", line);
		if (sscanf(line, "next: seq %llu pos %llu", &s2, &p2) == 2)
			used = p2 + 2;
	}
	pclose(f);
	ASSERT_LT(3, used) TH_LOG("the shut-down filesystem's log is not dirty");
	ASSERT_EQ(0, posix_memalign((void **)&img, 4096, self->len));
	ASSERT_EQ(0, read_all(self->dev, img, self->len, 1));
	for (i = 0; i < LOGFUZZ_ROUNDS; i++) {
		uint64_t r = rxfs_mix64(seed + i);
		uint64_t blk = start + r % used;
		uint64_t byte = (r >> 20) % self->bs;
		unsigned char b = img[blk * self->bs + byte] ^ (1 + (r >> 40) % 255);

		ASSERT_EQ(0, rxfs_dev_write(self->dev, 0, img, self->len));
		ASSERT_EQ(0, rxfs_dev_write(self->dev, blk * self->bs + byte, &b, 1));
		ret = rxfs_mount(self->dev);
		if (ret == 0) {
			recovered++;
			ASSERT_EQ(0, umount(RXFS_MNT));
		} else {
			EXPECT_EQ(-EUCLEAN, ret) TH_LOG("round %d: block %llu byte %llu: mount: %s", i,
							 (unsigned long long)blk, (unsigned long long)byte,
							 strerror(-ret));
			refused++;
		}
		ret = rxfs_sh("fsck.rxfs -y %s >/dev/null 2>&1", self->dev);
		EXPECT_TRUE(ret == 0 || ret == 1) TH_LOG("round %d: fsck -y exit %d", i, ret);
		EXPECT_EQ(0, rxfs_test_fsck(self->dev)) TH_LOG("round %d: fsck -n after fsck -y", i);
	}
	printf("# %d rounds: %d mounted (recovered), %d refused with EUCLEAN\n", LOGFUZZ_ROUNDS, recovered,
	       refused);
	free(img);
}

TEST_HARNESS_MAIN
