// SPDX-License-Identifier: GPL-2.0
/*
 * Reflink and copy-on-write.
 *
 *  1. clone.cow_paths: FICLONE shares a file's blocks without using space;
 *     buffered (sub-block), O_DIRECT and mmap writes to the clone go
 *     through the CoW fork and never reach the source; FICLONERANGE and
 *     FIDEDUPERANGE share ranges (dedupe only of equal data); the CoW
 *     extent size hint is set with FS_IOC_FSSETXATTR and kept; FIEMAP says
 *     which extents are shared (also two ranges of one file sharing
 *     blocks); after remount both files read back as written, unlinking
 *     either leaves the other whole, and when both are
 *     gone the free count is back where it started; fsck is clean.
 *     clone.full_fs (fstests generic/546): on a filesystem that ordinary
 *     writes filled to ENOSPC, a buffered write into preallocated blocks
 *     and a clone of one of them into a hole still work (a clone takes no
 *     data blocks, only tree nodes, from half the reserve pool), and
 *     after fsync, a shutdown and a remount the file holds both; fsck is
 *     clean. It fails where a clone draws only on ordinary space.
 *     clone.crash_leaves_cow_staging: a shutdown while an O_DIRECT CoW
 *     write's completion is held leaves CoW staging on disk; fsck -n
 *     notes it and exits 0, the mount frees it.
 *     clone.sync_clone_is_durable (fstests generic/628): a clone into an
 *     O_SYNC or chattr +S file, and an fallocate on an O_SYNC file,
 *     survive a crash right after them; plain ones (the control) do not.
 *     snapshot.rewrite (fstests generic/333 and 334 in two processes): a
 *     file rewritten chunk by chunk, O_DIRECT or buffered, while another
 *     process snapshots it with FICLONE again and again, to ENOSPC: only
 *     ENOSPC fails, every snapshot shows whole writes in order, fsck is
 *     clean and the free count comes back. With RXFS_REFLINK_NO_BIG, two
 *     passes and 20 snapshots.
 *  2. cowrace.seed: the race of XFS's "allow unwritten extents in the CoW
 *     fork". Two O_DIRECT writers to neighbouring ranges [A,B) and [B,C)
 *     of a clone. The first, asynchronous, allocates CoW blocks for its
 *     range plus preallocation (the CoW extent size hint, 32 blocks:
 *     unwritten) over the second's range and beyond, and knob (f)
 *     (dio_cow_end_delay_*) holds its completion before the remap. The
 *     second then writes [B,C) into that preallocation and completes. Only
 *     what each write wrote may be remapped into the file: after both
 *     complete and a remount the clone holds both writes and the shared
 *     data everywhere else, the source is untouched, fsck is clean.
 *     Control: cow_remap_all makes completion remap the whole run of CoW
 *     extents, unwritten preallocation included, which then reads as
 *     whatever the new blocks held (not the file's data): the bytes lost
 *     are counted. While the knob is armed, writer 1's bios are submitted
 *     only after iomap_dio_rw has returned, so io_submit returns with the
 *     completion still to come, and the hold lasts until the test releases
 *     it (dio_cow_end_delay_ms = 0) after writer 2 has completed: the test
 *     checks both, no timing involved.
 *  3. big.clone and big.shift: a file of 3000 (1k) or 8000 (4k)
 *     one-block extents (a hole after each) on a filesystem with the
 *     smallest journal (64 blocks) is cloned, or collapsed by two blocks
 *     at its start and then has two blocks inserted there (every extent
 *     moves twice). One metadata change for all of it would not fit in a
 *     transaction and be committed in pieces that are not atomic (the
 *     stats file's log_split). Each is done in pieces of a few extents,
 *     each its own transaction: log_split stays 0, the files read back as
 *     expected after a remount, fsck is clean. Control: one_piece makes
 *     each one change, and log_split counts the splits. Skipped with
 *     RXFS_REFLINK_NO_BIG set (the debug tier: the 8,000 small O_DIRECT
 *     writes and their commits take minutes on the KASAN kernel).
 */
#include <sys/mman.h>
#include <sys/syscall.h>
#include <linux/aio_abi.h>
#include <linux/fiemap.h>
#include <linux/fs.h>
#include "rxfs_test.h"
#include "kselftest_harness.h"
#include "rxfs_data.h"

static long long bfree(void)
{
	struct statfs s;

	return statfs(RXFS_MNT, &s) ? -1 : (long long)s.f_bfree;
}

/* Writes @len bytes of the seeded pattern at @off of @fd. */
static int put_pattern(int fd, uint64_t seed, off_t off, size_t len)
{
	char *buf = malloc(len);
	ssize_t n;

	rxfs_fill(buf, seed, off, len);
	n = pwrite(fd, buf, len, off);
	free(buf);
	return n == (ssize_t)len ? 0 : -1;
}

/* What a file should hold: the seeded pattern, with byte ranges overridden. */
struct expect {
	uint64_t seed;
	/* Overrides: [from, to) holds byte c. */
	struct { long long from, to; int c; } ov[8];
	int nov;
};

static int expected(const struct expect *e, long long at)
{
	unsigned char b;
	int i;

	for (i = e->nov - 1; i >= 0; i--)
		if (at >= e->ov[i].from && at < e->ov[i].to)
			return e->ov[i].c;
	rxfs_fill(&b, e->seed, at, 1);
	return b;
}

static void override(struct expect *e, long long from, long long to, int c)
{
	e->ov[e->nov].from = from;
	e->ov[e->nov].to = to;
	e->ov[e->nov].c = c;
	e->nov++;
}

static long long differs(const char *path, const struct expect *e, long long off, long long len)
{
	unsigned char *buf = malloc(len);
	long long bad = 0, i;
	int fd = open(path, O_RDONLY);

	if (fd < 0 || pread(fd, buf, len, off) != len) {
		bad = -1;
	} else {
		for (i = 0; i < len; i++)
			bad += buf[i] != expected(e, off + i);
	}
	if (fd >= 0)
		close(fd);
	free(buf);
	return bad;
}

/* Bytes of @len at @pa in @a that differ from those at @pb in @b. */
static long long same(const char *a, long long pa, const char *b, long long pb, long long len)
{
	unsigned char *x = malloc(len), *y = malloc(len);
	int fa = open(a, O_RDONLY), fb = open(b, O_RDONLY);
	long long bad = 0, i;

	if (fa < 0 || fb < 0 || pread(fa, x, len, pa) != len || pread(fb, y, len, pb) != len)
		bad = -1;
	for (i = 0; bad >= 0 && i < len; i++)
		bad += x[i] != y[i];
	if (fa >= 0)
		close(fa);
	if (fb >= 0)
		close(fb);
	free(x);
	free(y);
	return bad;
}

/* Bytes of the file FIEMAP reports shared. */
static long long shared_bytes(int fd)
{
	struct {
		struct fiemap fm;
		struct fiemap_extent fe[256];
	} x;
	long long n = 0;
	unsigned int i;

	memset(&x, 0, sizeof(x));
	x.fm.fm_length = ~0ULL;
	x.fm.fm_flags = FIEMAP_FLAG_SYNC;
	x.fm.fm_extent_count = 256;
	if (ioctl(fd, FS_IOC_FIEMAP, &x.fm))
		return -1;
	for (i = 0; i < x.fm.fm_mapped_extents; i++)
		if (x.fe[i].fe_flags & FIEMAP_EXTENT_SHARED)
			n += x.fe[i].fe_length;
	return n;
}

FIXTURE(clone) {
	char src[256], dst[256];
};

FIXTURE_VARIANT(clone) {
	int bs;
};

FIXTURE_VARIANT_ADD(clone, bs1k) { .bs = 1024 };
FIXTURE_VARIANT_ADD(clone, bs4k) { .bs = 4096 };

FIXTURE_SETUP(clone)
{
	fresh_fs(_metadata, variant->bs, self->src, sizeof(self->src));
	snprintf(self->dst, sizeof(self->dst), RXFS_MNT "/g");
}

FIXTURE_TEARDOWN(clone)
{
	umount(RXFS_MNT);
}

TEST_F(clone, cow_paths)
{
	const long long bs = variant->bs, size = 64 * bs;
	uint64_t seed = rxfs_seed(time(NULL));
	struct expect src = { .seed = seed }, dst = { .seed = seed };
	long long free0 = bfree(), free1;
	char *blk = aligned_alloc(4096, 4 * bs), *map;
	int s, d, dd;

	ASSERT_NE(NULL, blk);
	s = open(self->src, O_RDWR | O_CREAT, 0644);
	ASSERT_LE(0, s);
	ASSERT_EQ(0, put_pattern(s, seed, 0, size));
	ASSERT_EQ(0, fsync(s));
	free1 = bfree();
	d = open(self->dst, O_RDWR | O_CREAT, 0644);
	ASSERT_LE(0, d);
	ASSERT_EQ(0, ioctl(d, FICLONE, s));
	/* The CoW extent size hint: set, read back, kept across remount. */
	{
		struct fsxattr fa;

		ASSERT_EQ(0, ioctl(d, FS_IOC_FSGETXATTR, &fa));
		EXPECT_EQ(0, fa.fsx_cowextsize);
		fa.fsx_xflags |= FS_XFLAG_COWEXTSIZE;
		fa.fsx_cowextsize = bs + 1;
		EXPECT_EQ(-1, ioctl(d, FS_IOC_FSSETXATTR, &fa));
		EXPECT_EQ(EINVAL, errno);
		fa.fsx_cowextsize = 8 * bs;
		ASSERT_EQ(0, ioctl(d, FS_IOC_FSSETXATTR, &fa));
		close(d);
		close(s);
		ASSERT_EQ(0, remount());
		d = open(self->dst, O_RDWR);
		ASSERT_LE(0, d);
		s = open(self->src, O_RDWR);
		ASSERT_LE(0, s);
		ASSERT_EQ(0, ioctl(d, FS_IOC_FSGETXATTR, &fa));
		EXPECT_EQ(8 * bs, fa.fsx_cowextsize);
		EXPECT_TRUE(fa.fsx_xflags & FS_XFLAG_COWEXTSIZE);
	}
	/* Sharing costs at most a few tree blocks, not the data. */
	EXPECT_GE(4, free1 - bfree());
	EXPECT_EQ(size, shared_bytes(d));
	EXPECT_EQ(0, differs(self->dst, &dst, 0, size));

	/* A buffered write inside blocks 3..5: the block edges come from the shared data. */
	memset(blk, 'B', 2 * bs);
	ASSERT_EQ(2 * bs, pwrite(d, blk, 2 * bs, 3 * bs + 100));
	override(&dst, 3 * bs + 100, 5 * bs + 100, 'B');
	/* O_DIRECT, block aligned. */
	dd = open(self->dst, O_RDWR | O_DIRECT);
	ASSERT_LE(0, dd);
	memset(blk, 'D', 2 * bs);
	ASSERT_EQ(2 * bs, pwrite(dd, blk, 2 * bs, 10 * bs));
	override(&dst, 10 * bs, 12 * bs, 'D');
	/* O_DIRECT, sub-block: falls back to buffered. */
	if (bs > 512) {
		memset(blk, 'd', 512);
		ASSERT_EQ(512, pwrite(dd, blk, 512, 14 * bs + 512));
		override(&dst, 14 * bs + 512, 14 * bs + 1024, 'd');
	}
	close(dd);
	/* A write fault. */
	map = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, d, 0);
	ASSERT_NE(MAP_FAILED, map);
	memset(map + 20 * bs + 7, 'M', 10);
	override(&dst, 20 * bs + 7, 20 * bs + 17, 'M');
	ASSERT_EQ(0, msync(map, size, MS_SYNC));
	munmap(map, size);
	ASSERT_EQ(0, fsync(d));
	EXPECT_EQ(0, differs(self->src, &src, 0, size));
	EXPECT_EQ(0, differs(self->dst, &dst, 0, size));
	/* The rewritten blocks are the clone's own now. */
	EXPECT_GT(size, shared_bytes(d));

	/* FICLONERANGE: source blocks 40..47 over the clone's 30..37. */
	struct file_clone_range fcr = { .src_fd = s, .src_offset = 40 * bs, .src_length = 8 * bs, .dest_offset = 30 * bs };

	ASSERT_EQ(0, ioctl(d, FICLONERANGE, &fcr));
	EXPECT_EQ(0, same(self->dst, 30 * bs, self->src, 40 * bs, 8 * bs));

	/* FIDEDUPERANGE: equal data is shared, different data is not. */
	struct {
		struct file_dedupe_range r;
		struct file_dedupe_range_info i;
	} dr;

	memset(&dr, 0, sizeof(dr));
	dr.r.src_offset = 50 * bs;
	dr.r.src_length = 4 * bs;
	dr.r.dest_count = 1;
	dr.i.dest_fd = d;
	dr.i.dest_offset = 50 * bs;
	ASSERT_EQ(0, ioctl(s, FIDEDUPERANGE, &dr));
	EXPECT_EQ(FILE_DEDUPE_RANGE_SAME, dr.i.status);
	EXPECT_EQ(4 * bs, dr.i.bytes_deduped);
	dr.r.src_offset = 10 * bs;
	dr.i.dest_offset = 10 * bs;
	dr.i.bytes_deduped = 0;
	ASSERT_EQ(0, ioctl(s, FIDEDUPERANGE, &dr));
	EXPECT_EQ(FILE_DEDUPE_RANGE_DIFFERS, dr.i.status);
	close(d);
	close(s);

	ASSERT_EQ(0, remount());
	EXPECT_EQ(0, differs(self->src, &src, 0, size));
	EXPECT_EQ(0, differs(self->dst, &dst, 0, 30 * bs));
	EXPECT_EQ(0, differs(self->dst, &dst, 38 * bs, size - 38 * bs));
	EXPECT_EQ(0, same(self->dst, 30 * bs, self->src, 40 * bs, 8 * bs));
	EXPECT_EQ(0, fsck_clean());

	/* Either file alone keeps its data; both gone give all space back. */
	ASSERT_EQ(0, unlink(self->src));
	ASSERT_EQ(0, remount());
	EXPECT_EQ(0, differs(self->dst, &dst, 0, 30 * bs));
	EXPECT_EQ(0, differs(self->dst, &dst, 38 * bs, size - 38 * bs));
	d = open(self->dst, O_RDWR);
	ASSERT_LE(0, d);
	/* Blocks 30..37 and 40..47 still map the same blocks. */
	EXPECT_EQ(16 * bs, shared_bytes(d));
	/* Punch and truncate over blocks that were shared. */
	ASSERT_EQ(0, fallocate(d, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 2 * bs, 4 * bs));
	ASSERT_EQ(0, ftruncate(d, 33 * bs));
	close(d);
	EXPECT_EQ(0, fsck_clean());
	ASSERT_EQ(0, unlink(self->dst));
	sync();
	EXPECT_EQ(free0, bfree());
	EXPECT_EQ(0, fsck_clean());
	free(blk);
}

/*
 * A file may map more blocks than the filesystem has: each mapping of a
 * shared block counts in its block count (as XFS's di_nblocks), so 32
 * blocks cloned into the same file over and over take it past the
 * device's size (fstests generic/387 clones 128 KiB 16,384 times into a
 * 256 MiB filesystem). The clones, a remount (the inode read back), the
 * data at the far end, st_blocks, fsck and the space after the unlink.
 */
TEST_F(clone, more_mappings_than_blocks)
{
	const long long bs = variant->bs, ext = 32 * bs;
	struct statfs before, after;
	struct file_clone_range cr = { .src_offset = 0, .src_length = ext };
	struct stat st;
	char *buf = malloc(ext);
	long long i, n, bad = 0;
	int f;

	ASSERT_NE(NULL, buf);
	ASSERT_EQ(0, statfs(RXFS_MNT, &before));
	n = before.f_blocks / 32 + 8;
	f = open(self->src, O_RDWR | O_CREAT, 0644);
	ASSERT_LE(0, f);
	memset(buf, 0xcd, ext);
	ASSERT_EQ(ext, pwrite(f, buf, ext, 0));
	ASSERT_EQ(0, fsync(f));
	cr.src_fd = f;
	for (i = 1; i <= n; i++) {
		cr.dest_offset = i * ext;
		if (ioctl(f, FICLONERANGE, &cr))
			break;
	}
	EXPECT_EQ(n + 1, i) TH_LOG("clone %lld of %lld: %s", i, n, strerror(errno));
	ASSERT_EQ(0, fsync(f));
	close(f);
	ASSERT_EQ(0, umount(RXFS_MNT));
	ASSERT_EQ(0, rxfs_mount(rxfs_dev()));
	f = open(self->src, O_RDONLY);
	ASSERT_LE(0, f) TH_LOG("%s", strerror(errno));
	ASSERT_EQ(0, fstat(f, &st));
	EXPECT_EQ((n + 1) * ext, st.st_size);
	EXPECT_LE((n + 1) * ext / 512, (long long)st.st_blocks);
	EXPECT_LT((long long)before.f_blocks * bs / 512, (long long)st.st_blocks);
	memset(buf, 0, ext);
	ASSERT_EQ(ext, pread(f, buf, ext, n * ext));
	for (i = 0; i < ext; i++)
		bad += (unsigned char)buf[i] != 0xcd;
	EXPECT_EQ(0, bad);
	close(f);
	EXPECT_EQ(0, fsck_clean());
	ASSERT_EQ(0, unlink(self->src));
	sync();
	ASSERT_EQ(0, statfs(RXFS_MNT, &after));
	EXPECT_EQ(before.f_bfree, after.f_bfree);
	free(buf);
}

TEST_F(clone, full_fs)
{
	const long long bs = variant->bs;
	char pad[256], *buf = malloc(1 << 20);
	struct file_clone_range cr;
	int f, p;
	long long n, bad = 0;

	ASSERT_NE(NULL, buf);
	f = open(self->dst, O_RDWR | O_CREAT, 0644);
	ASSERT_LE(0, f);
	ASSERT_EQ(0, fallocate(f, 0, 2 * bs, 64 * bs));
	snprintf(pad, sizeof(pad), RXFS_MNT "/padding");
	p = open(pad, O_RDWR | O_CREAT, 0644);
	ASSERT_LE(0, p);
	memset(buf, 0, 1 << 20);
	for (n = 0; pwrite(p, buf, 1 << 20, n) > 0; n += 1 << 20)
		;
	ASSERT_EQ(ENOSPC, errno);
	ASSERT_EQ(0, fsync(p));
	close(p);
	sync();
	/* Into the preallocation: no new data blocks. */
	memset(buf, 0xcd, 16 * bs);
	ASSERT_EQ(16 * bs, pwrite(f, buf, 16 * bs, 8 * bs));
	/* Block 2 (unwritten, reads as zeroes) into the hole at block 0. */
	cr.src_fd = f;
	cr.src_offset = 2 * bs;
	cr.src_length = bs;
	cr.dest_offset = 0;
	EXPECT_EQ(0, ioctl(f, FICLONERANGE, &cr)) TH_LOG("clone on a full filesystem: %s", strerror(errno));
	ASSERT_EQ(0, fsync(f));
	/* Mode 2 (nothing flushed): what survives is what fsync made durable. */
	{
		uint32_t how = 2;

		ASSERT_EQ(0, ioctl(f, _IOR('X', 125, uint32_t), &how));
	}
	close(f);
	ASSERT_EQ(0, umount(RXFS_MNT));
	ASSERT_EQ(0, rxfs_mount(rxfs_dev()));
	f = open(self->dst, O_RDONLY);
	ASSERT_LE(0, f);
	ASSERT_EQ(24 * bs, pread(f, buf, 24 * bs, 0));
	for (n = 0; n < 24 * bs; n++)
		bad += (unsigned char)buf[n] != (n >= 8 * bs ? 0xcd : 0);
	EXPECT_EQ(0, bad);
	close(f);
	ASSERT_EQ(0, unlink(pad));
	EXPECT_EQ(0, fsck_clean());
	free(buf);
}

/*
 * A crash while a CoW write is in flight leaves CoW staging on disk: an
 * O_DIRECT write over shared blocks, its completion held by the knob, and
 * a shutdown that flushes the log meanwhile. fsck -n before any mount
 * notes the staging (what the mount recovers, as a dirty log) and exits 0;
 * the mount frees it, giving the free count back; the clone and its source
 * still hold the shared data. (CI found fsck -n counting such staging a
 * problem in rxfs_logwrites, by chance of timing; this shows it each time.)
 */
TEST_F_TIMEOUT(clone, crash_leaves_cow_staging, 300)
{
	const long long bs = variant->bs, size = 16 * bs, len = 4 * bs;
	uint64_t seed = rxfs_seed(time(NULL));
	struct expect want = { .seed = seed };
	uint32_t how = 1;
	long long free0;
	int s, d, st;
	pid_t pid;

	s = open(self->src, O_RDWR | O_CREAT, 0644);
	ASSERT_LE(0, s);
	ASSERT_EQ(0, put_pattern(s, seed, 0, size));
	d = open(self->dst, O_RDWR | O_CREAT, 0644);
	ASSERT_LE(0, d);
	ASSERT_EQ(0, ioctl(d, FICLONE, s));
	close(d);
	close(s);
	ASSERT_EQ(0, remount());
	free0 = bfree();
	ASSERT_EQ(0, knob("dio_cow_end_delay_ms", 5000));
	ASSERT_EQ(0, knob("dio_cow_end_delay_pos", 0));
	/* The writer: its completion (in its own context or a worker's) is
	 * held 5 s before the remap; it exits 0 if the write failed EIO. */
	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		char *x = aligned_alloc(4096, len);
		int fd = open(self->dst, O_RDWR | O_DIRECT);

		memset(x, 'X', len);
		_exit(fd >= 0 && pwrite(fd, x, len, 0) < 0 && errno == EIO ? 0 : 1);
	}
	msleep(1000);
	/* The crash: the log flushed, nothing after it reaches the disk. */
	d = open(self->src, O_RDONLY);
	ASSERT_LE(0, d);
	ASSERT_EQ(0, ioctl(d, RXFS_IOC_GOINGDOWN, &how));
	close(d);
	ASSERT_EQ(pid, waitpid(pid, &st, 0));
	EXPECT_EQ(0, st) TH_LOG("the completion, held past the shutdown, cannot remap: EIO");
	knob("dio_cow_end_delay_ms", 0);
	knob("dio_cow_end_delay_pos", -1);
	ASSERT_EQ(0, umount(RXFS_MNT));

	st = rxfs_run_logged(20, "fsck.rxfs -n %s", rxfs_dev());
	EXPECT_EQ(0, st) TH_LOG("CoW staging a crash left is no error for fsck -n");
	EXPECT_EQ(0, rxfs_sh("fsck.rxfs -n %s | grep -q 'CoW staging left over from a crash (the next mount recovers this)'", rxfs_dev()))
		TH_LOG("the staging must be on disk and noted");
	ASSERT_EQ(0, rxfs_mount(rxfs_dev()));
	EXPECT_EQ(free0, bfree()) TH_LOG("the mount frees the staging");
	EXPECT_EQ(0, differs(self->src, &want, 0, size));
	EXPECT_EQ(0, differs(self->dst, &want, 0, size)) TH_LOG("the write never completed");
	ASSERT_EQ(0, umount(RXFS_MNT));
	EXPECT_NE(0, rxfs_sh("fsck.rxfs -n %s | grep -q 'left over'", rxfs_dev())) TH_LOG("the mount freed it");
	EXPECT_EQ(0, rxfs_run_logged(20, "fsck.rxfs -n %s", rxfs_dev()));
	ASSERT_EQ(0, rxfs_mount(rxfs_dev()));
}

/*
 * fstests generic/333 and 334, in one process each side instead of a
 * million xfs_io runs (too slow under TCG): a file of 64 KiB chunks
 * holding 'a' is rewritten with 'c', chunk by chunk from the last,
 * O_DIRECT or buffered, pass after pass, while another process clones it
 * into a new snapshot again and again, until the rewrites or the clones
 * run out of space. No error but ENOSPC; every snapshot and the file hold
 * whole chunks, 'a' below some chunk and 'c' from it on (a clone sees a
 * write whole or not at all, in the order written); after a remount the
 * same; fsck is clean; with everything unlinked the free count is back.
 */
FIXTURE(snapshot) {
	char path[256];
};

FIXTURE_VARIANT(snapshot) {
	int bs, direct, passes;
};

/* Enough passes to run out of space most times (the snapshots pin the
 * blocks each pass rewrites); buffered passes are quicker, and a snapshot
 * made after a pass's writes pins only what writeback wrote. */
FIXTURE_VARIANT_ADD(snapshot, bs1k_direct) { .bs = 1024, .direct = 1, .passes = 12 };
FIXTURE_VARIANT_ADD(snapshot, bs4k_direct) { .bs = 4096, .direct = 1, .passes = 12 };
FIXTURE_VARIANT_ADD(snapshot, bs4k_buffered) { .bs = 4096, .passes = 40 };

FIXTURE_SETUP(snapshot)
{
	fresh_fs(_metadata, variant->bs, self->path, sizeof(self->path));
}

FIXTURE_TEARDOWN(snapshot)
{
	umount(RXFS_MNT);
}

#define SNAP_CHUNK 65536
#define SNAP_CHUNKS 128
#define SNAP_MAX 400

/*
 * Chunks of @path: -1 if one is mixed or unreadable or an 'a' follows a
 * 'c'. Chunk @pi (if not -1) may start with @pr bytes of 'c' (a short
 * write at ENOSPC), the rest of it deciding its letter.
 */
static int snap_shape(const char *path, int pi, int pr)
{
	char *b = malloc(SNAP_CHUNK);
	int fd = open(path, O_RDONLY), i, j, seen_c = 0, bad = fd < 0;

	for (i = 0; !bad && i < SNAP_CHUNKS; i++) {
		int from = 0;
		char v;

		if (pread(fd, b, SNAP_CHUNK, (off_t)i * SNAP_CHUNK) != SNAP_CHUNK) {
			bad = 1;
			break;
		}
		/* Whole, or (chunk @pi only) the short write's prefix. */
		if (i == pi && memchr(b, b[0] == 'a' ? 'c' : 'a', SNAP_CHUNK))
			from = pr;
		v = b[from];
		for (j = 0; j < SNAP_CHUNK; j++)
			if (b[j] != (j < from ? 'c' : v))
				bad = 1;
		if ((v != 'a' && v != 'c') || (v == 'a' && seen_c))
			bad = 1;
		if (bad)
			printf("# %s: chunk %d: %c at 0, %c at %d\n", path, i, b[0], b[SNAP_CHUNK - 1], SNAP_CHUNK - 1);
		seen_c |= v == 'c';
	}
	if (fd >= 0)
		close(fd);
	free(b);
	return bad ? -1 : 0;
}

TEST_F_TIMEOUT(snapshot, rewrite, 600)
{
	char *buf = aligned_alloc(4096, SNAP_CHUNK), snap[300];
	/* Shared with the cloner: [0] stop, [1] snapshots made, [2] its errno. */
	volatile int *sh = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	long long free0 = bfree();
	int fd, i, pass, err = 0, writes = 0, n, st, pi = -1, pr = 0;
	pid_t pid;

	/* The debug tier (RXFS_REFLINK_NO_BIG): two passes, 20 snapshots, for
	 * lockdep and KASAN to see the two sides meet, not ENOSPC. */
	const int small = getenv("RXFS_REFLINK_NO_BIG") != NULL;
	const int passes = small ? 2 : variant->passes, snaps = small ? 20 : SNAP_MAX;

	ASSERT_NE(MAP_FAILED, (void *)sh);
	fd = open(self->path, O_RDWR | O_CREAT, 0644);
	ASSERT_LE(0, fd);
	memset(buf, 'a', SNAP_CHUNK);
	for (i = 0; i < SNAP_CHUNKS; i++)
		ASSERT_EQ(SNAP_CHUNK, pwrite(fd, buf, SNAP_CHUNK, (off_t)i * SNAP_CHUNK));
	close(fd);
	ASSERT_EQ(0, remount());
	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		int src = open(self->path, O_RDONLY), k;

		for (k = 0; src >= 0 && !sh[0] && k < snaps; k++) {
			int d;

			snprintf(snap, sizeof(snap), RXFS_MNT "/snap_%d", k);
			d = open(snap, O_RDWR | O_CREAT, 0644);
			if (d < 0 || ioctl(d, FICLONE, src)) {
				sh[2] = errno;
				if (d >= 0)
					close(d);
				unlink(snap);
				break;
			}
			close(d);
			sh[1] = k + 1;
		}
		_exit(0);
	}
	fd = open(self->path, O_RDWR | (variant->direct ? O_DIRECT : 0));
	ASSERT_LE(0, fd);
	memset(buf, 'c', SNAP_CHUNK);
	for (pass = 0; !err && pass < passes && !sh[2]; pass++)
		for (i = SNAP_CHUNKS - 1; i >= 0; i--, writes++) {
			ssize_t r = pwrite(fd, buf, SNAP_CHUNK, (off_t)i * SNAP_CHUNK);

			if (r != SNAP_CHUNK) {
				/* A buffered write ends short at ENOSPC. */
				err = r < 0 ? errno : ENOSPC;
				if (r > 0) {
					pi = i;
					pr = r;
				}
				printf("# pwrite of chunk %d returned %zd\n", i, r);
				break;
			}
		}
	if (!err && !variant->direct && fsync(fd))
		err = errno;
	close(fd);
	sh[0] = 1;
	ASSERT_EQ(pid, waitpid(pid, &st, 0));
	n = sh[1];
	printf("# %d rewrites (%s), %d snapshots; the writer stopped with %d, the cloner with %d\n",
	       writes, err ? strerror(err) : "all passes", n, err, sh[2]);
	EXPECT_TRUE(err == 0 || err == ENOSPC) TH_LOG("a rewrite failed: %s", strerror(err));
	EXPECT_TRUE(sh[2] == 0 || sh[2] == ENOSPC) TH_LOG("a clone failed: %s", strerror(sh[2]));
	EXPECT_LT(0, n);
	for (int round = 0; round < 2; round++) {
		EXPECT_EQ(0, snap_shape(self->path, pi, pr)) TH_LOG("the file, round %d", round);
		for (i = 0; i < n; i++) {
			snprintf(snap, sizeof(snap), RXFS_MNT "/snap_%d", i);
			EXPECT_EQ(0, snap_shape(snap, pi, pr)) TH_LOG("snapshot %d of %d, round %d", i, n, round);
		}
		ASSERT_EQ(0, remount());
	}
	EXPECT_EQ(0, fsck_clean());
	for (i = 0; i < n; i++) {
		snprintf(snap, sizeof(snap), RXFS_MNT "/snap_%d", i);
		EXPECT_EQ(0, unlink(snap));
	}
	EXPECT_EQ(0, unlink(self->path));
	ASSERT_EQ(0, remount());
	EXPECT_EQ(free0, bfree());
	EXPECT_EQ(0, fsck_clean());
	munmap((void *)sh, 4096);
	free(buf);
}

/*
 * fstests generic/628: a clone into a file opened O_SYNC, or with the sync
 * flag (chattr +S), is durable when it returns, as XFS forces the log (and
 * so is fallocate on an O_SYNC file);
 * shown by a shutdown that flushes nothing (a crash) right after it. The
 * control: a plain clone is lost by the same crash (nothing forced it out),
 * so the shutdown does drop what was not made durable.
 */
TEST_F_TIMEOUT(clone, sync_clone_is_durable, 300)
{
	const long long size = 64 * variant->bs;
	uint64_t seed = rxfs_seed(time(NULL));
	struct expect want = { .seed = seed };
	const char *names[3] = { "osync", "flag", "plain" };
	char p[3][300];
	int s, d, i, fl = FS_SYNC_FL;
	uint32_t how = 2;
	struct stat st;

	s = open(self->src, O_RDWR | O_CREAT, 0644);
	ASSERT_LE(0, s);
	ASSERT_EQ(0, put_pattern(s, seed, 0, size));
	for (i = 0; i < 3; i++) {
		snprintf(p[i], sizeof(p[i]), RXFS_MNT "/%s", names[i]);
		d = open(p[i], O_RDWR | O_CREAT, 0644);
		ASSERT_LE(0, d);
		if (i == 1)
			ASSERT_EQ(0, ioctl(d, FS_IOC_SETFLAGS, &fl));
		close(d);
	}
	sync();
	for (i = 0; i < 3; i++) {
		d = open(p[i], O_RDWR | (i == 0 ? O_SYNC : 0));
		ASSERT_LE(0, d);
		ASSERT_EQ(0, ioctl(d, FICLONE, s));
		close(d);
	}
	/* And fallocate, which XFS also forces out on a synchronous file. */
	d = open(RXFS_MNT "/falloc_osync", O_RDWR | O_CREAT | O_SYNC, 0644);
	ASSERT_LE(0, d);
	ASSERT_EQ(0, fallocate(d, 0, 0, size));
	close(d);
	d = open(RXFS_MNT "/falloc_plain", O_RDWR | O_CREAT, 0644);
	ASSERT_LE(0, d);
	ASSERT_EQ(0, fsync(d));
	ASSERT_EQ(0, fallocate(d, 0, 0, size));
	close(d);
	/* The crash: nothing more reaches the disk. */
	ASSERT_EQ(0, ioctl(s, RXFS_IOC_GOINGDOWN, &how));
	close(s);
	ASSERT_EQ(0, umount(RXFS_MNT));
	ASSERT_EQ(0, rxfs_mount(rxfs_dev()));
	ASSERT_EQ(0, stat(RXFS_MNT "/falloc_osync", &st));
	EXPECT_EQ(size, st.st_size) TH_LOG("fallocate on an O_SYNC file was lost");
	ASSERT_EQ(0, stat(RXFS_MNT "/falloc_plain", &st));
	EXPECT_EQ(0, st.st_size) TH_LOG("control: a plain fallocate survived the crash");
	EXPECT_EQ(0, differs(self->src, &want, 0, size));
	EXPECT_EQ(0, differs(p[0], &want, 0, size)) TH_LOG("the clone into an O_SYNC file was lost");
	EXPECT_EQ(0, differs(p[1], &want, 0, size)) TH_LOG("the clone into a chattr +S file was lost");
	ASSERT_EQ(0, stat(p[2], &st));
	EXPECT_EQ(0, st.st_size) TH_LOG("control: a plain clone survived the crash, so the test cannot tell");
	EXPECT_EQ(0, fsck_clean());
}

FIXTURE(cowrace) {
	char src[256], dst[256];
};

FIXTURE_VARIANT(cowrace) {
	int bs;
	int control;
};

FIXTURE_VARIANT_ADD(cowrace, bs1k) { .bs = 1024 };
FIXTURE_VARIANT_ADD(cowrace, bs4k) { .bs = 4096 };
FIXTURE_VARIANT_ADD(cowrace, bs1k_control) { .bs = 1024, .control = 1 };
FIXTURE_VARIANT_ADD(cowrace, bs4k_control) { .bs = 4096, .control = 1 };

FIXTURE_SETUP(cowrace)
{
	fresh_fs(_metadata, variant->bs, self->src, sizeof(self->src));
	snprintf(self->dst, sizeof(self->dst), RXFS_MNT "/g");
	ASSERT_EQ(0, dangerous(variant->control));
}

FIXTURE_TEARDOWN(cowrace)
{
	knob("cow_remap_all", 0);
	knob("dio_cow_end_delay_ms", 0);
	knob("dio_cow_end_delay_pos", -1);
	dangerous(0);
	umount(RXFS_MNT);
}

TEST_F_TIMEOUT(cowrace, seed, 300)
{
	const long long bs = variant->bs, size = 64 * bs;
	const long long A = 0, B = 4 * bs, C = 8 * bs, pre = 32 * bs;
	uint64_t seed = rxfs_seed(time(NULL));
	struct expect src = { .seed = seed }, dst = { .seed = seed };
	char *x = aligned_alloc(4096, B - A), *y = aligned_alloc(4096, C - B);
	aio_context_t ctx = 0;
	struct iocb cb, *cbs[1] = { &cb };
	struct io_event ev;
	struct timespec t0, t1;
	int s, d, dd;

	s = open(self->src, O_RDWR | O_CREAT, 0644);
	ASSERT_LE(0, s);
	ASSERT_EQ(0, put_pattern(s, seed, 0, size));
	ASSERT_EQ(0, fsync(s));
	memset(x, 'X', B - A);
	memset(y, 'Y', C - B);
	/*
	 * Writer 1, asynchronous: [A,B), its completion held by the knob
	 * until released below. Its bios go out only after iomap_dio_rw has
	 * returned, so io_submit cannot run the completion (and the hold)
	 * itself, with i_rwsem held.
	 */
	d = open(self->dst, O_RDWR | O_CREAT, 0644);
	ASSERT_LE(0, d);
	ASSERT_EQ(0, ioctl(d, FICLONE, s));
	close(d);
	close(s);
	dd = open(self->dst, O_RDWR | O_DIRECT);
	ASSERT_LE(0, dd);
	ASSERT_EQ(0, knob("dio_cow_end_delay_ms", 60000));
	ASSERT_EQ(0, knob("dio_cow_end_delay_pos", A));
	if (variant->control)
		ASSERT_EQ(0, knob("cow_remap_all", 1));
	ASSERT_EQ(0, syscall(SYS_io_setup, 1, &ctx));
	memset(&cb, 0, sizeof(cb));
	cb.aio_fildes = dd;
	cb.aio_lio_opcode = IOCB_CMD_PWRITE;
	cb.aio_buf = (uintptr_t)x;
	cb.aio_nbytes = B - A;
	cb.aio_offset = A;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	ASSERT_EQ(1, syscall(SYS_io_submit, ctx, 1, cbs));
	clock_gettime(CLOCK_MONOTONIC, &t1);
	/* The hold is a minute: io_submit returned without running it. */
	ASSERT_GT(30, t1.tv_sec - t0.tv_sec);
	/* Writer 2: [B,C), into writer 1's unwritten preallocation. */
	ASSERT_EQ(C - B, pwrite(dd, y, C - B, B));
	/* Writer 1 is still held: writer 2 completed inside the window. */
	ASSERT_EQ(0, syscall(SYS_io_getevents, ctx, 0, 1, &ev, &(struct timespec){ 0 }));
	ASSERT_EQ(0, knob("dio_cow_end_delay_ms", 0));
	ASSERT_EQ(1, syscall(SYS_io_getevents, ctx, 1, 1, &ev, NULL));
	EXPECT_EQ(B - A, (long long)ev.res);
	syscall(SYS_io_destroy, ctx);
	close(dd);
	knob("dio_cow_end_delay_pos", -1);
	override(&dst, A, B, 'X');
	override(&dst, B, C, 'Y');
	ASSERT_EQ(0, remount());

	long long lost = differs(self->dst, &dst, 0, size);

	EXPECT_EQ(0, differs(self->dst, &dst, A, C - A));
	printf("# preallocation beyond the writes: %lld bytes\n", pre - C);
	VERDICT(variant->control, lost, "bytes of the clone read back as the CoW preallocation's stale blocks");
	EXPECT_EQ(0, differs(self->src, &src, 0, size));
	EXPECT_EQ(0, fsck_clean());
	free(x);
	free(y);
}

FIXTURE(big) {
	char src[256], dst[256];
};

FIXTURE_VARIANT(big) {
	int bs;
	int control;
};

FIXTURE_VARIANT_ADD(big, bs1k) { .bs = 1024 };
FIXTURE_VARIANT_ADD(big, bs4k) { .bs = 4096 };
FIXTURE_VARIANT_ADD(big, bs1k_control) { .bs = 1024, .control = 1 };
FIXTURE_VARIANT_ADD(big, bs4k_control) { .bs = 4096, .control = 1 };

FIXTURE_SETUP(big)
{
	/* About ten times slower on the debug kernel: scripts/check skips it. */
	if (getenv("RXFS_REFLINK_NO_BIG"))
		SKIP(return, "RXFS_REFLINK_NO_BIG is set");
	knob_init();
	umount(RXFS_MNT);
	ASSERT_EQ(0, rxfs_sh("mkfs.rxfs -q -f -b %d -l size=%d %s", variant->bs, 64 * variant->bs, rxfs_dev()));
	ASSERT_EQ(0, rxfs_mount(rxfs_dev()));
	snprintf(self->src, sizeof(self->src), RXFS_MNT "/f");
	snprintf(self->dst, sizeof(self->dst), RXFS_MNT "/g");
	ASSERT_EQ(0, dangerous(variant->control));
}

FIXTURE_TEARDOWN(big)
{
	if (getenv("RXFS_REFLINK_NO_BIG"))
		return;
	knob("one_piece", 0);
	dangerous(0);
	umount(RXFS_MNT);
}

/* Extents in the fragmented file: enough that one change would split. */
static long long big_extents(int bs)
{
	return bs == 1024 ? 3000 : 8000;
}

/* @path as big_extents() one-block extents, a hole after each. */
static int fragmented(const char *path, int bs, uint64_t seed)
{
	char *blk = aligned_alloc(4096, bs);
	long long i, n = big_extents(bs);
	int fd = open(path, O_RDWR | O_CREAT | O_DIRECT, 0644), bad = !blk || fd < 0;

	for (i = 0; !bad && i < n; i++) {
		rxfs_fill(blk, seed, 2 * i * bs, bs);
		bad = pwrite(fd, blk, bs, 2 * i * bs) != bs;
	}
	if (fd >= 0) {
		bad |= fsync(fd) != 0;
		close(fd);
	}
	free(blk);
	sync();
	return bad ? -1 : 0;
}

/* FICLONE of @src to @dst (created). */
static int clone_file(const char *src, const char *dst)
{
	int s = open(src, O_RDONLY), d = open(dst, O_RDWR | O_CREAT, 0644);
	int r = s < 0 || d < 0 || ioctl(d, FICLONE, s) || fsync(d);

	if (s >= 0)
		close(s);
	if (d >= 0)
		close(d);
	sync();
	return r ? -1 : 0;
}

TEST_F_TIMEOUT(big, clone, 300)
{
	const long long bs = variant->bs, n = big_extents(bs);
	long long split0;
	time_t t0;

	ASSERT_EQ(0, fragmented(self->src, bs, rxfs_seed(time(NULL))));
	split0 = stat_of("log_split");
	ASSERT_LE(0, split0);
	if (variant->control)
		ASSERT_EQ(0, knob("one_piece", 1));
	t0 = time(NULL);
	ASSERT_EQ(0, clone_file(self->src, self->dst));
	printf("# clone of %lld extents: %lld s\n", n, (long long)(time(NULL) - t0));
	VERDICT(variant->control, stat_of("log_split") - split0, "transactions split in pieces");
	knob("one_piece", 0);
	ASSERT_EQ(0, remount());
	EXPECT_EQ(0, same(self->src, 0, self->dst, 0, (2 * n - 1) * bs));
	EXPECT_EQ(0, fsck_clean());
}

TEST_F_TIMEOUT(big, shift, 300)
{
	const long long bs = variant->bs, n = big_extents(bs), size = (2 * n - 1) * bs;
	long long split0;
	time_t t0 = time(NULL);
	int fd;

	ASSERT_EQ(0, fragmented(self->src, bs, rxfs_seed(time(NULL))));
	/* The expected contents, shared, before anything moves. */
	ASSERT_EQ(0, clone_file(self->src, self->dst));
	split0 = stat_of("log_split");
	ASSERT_LE(0, split0);
	if (variant->control)
		ASSERT_EQ(0, knob("one_piece", 1));
	t0 = time(NULL);
	fd = open(self->src, O_RDWR);
	ASSERT_LE(0, fd);
	/* Every extent but the first moves down two blocks, then back up. */
	ASSERT_EQ(0, fallocate(fd, FALLOC_FL_COLLAPSE_RANGE, 0, 2 * bs));
	ASSERT_EQ(0, fsync(fd));
	EXPECT_EQ(0, same(self->src, 0, self->dst, 2 * bs, size - 2 * bs));
	ASSERT_EQ(0, fallocate(fd, FALLOC_FL_INSERT_RANGE, 0, 2 * bs));
	ASSERT_EQ(0, fsync(fd));
	close(fd);
	sync();
	printf("# collapse and insert of %lld extents: %lld s\n", n, (long long)(time(NULL) - t0));
	VERDICT(variant->control, stat_of("log_split") - split0, "transactions split in pieces");
	knob("one_piece", 0);
	ASSERT_EQ(0, remount());
	EXPECT_EQ(0, same(self->src, 2 * bs, self->dst, 2 * bs, size - 2 * bs));
	EXPECT_EQ(0, mismatches(self->src, 0, 2 * bs, 0));
	EXPECT_EQ(0, fsck_clean());
}

/*
 * A clone killed part-way (SIGKILL, as fstests generic/298; ^C in 297)
 * leaves every refcount matching its mappings: the kernel stops between
 * its pieces, and a metadata read in the middle of one does not give up
 * for the signal (read_mapping_folio's killable wait did: a refcount one
 * too high, a block count one too high and a leaked tree node). Caches
 * dropped before each try so that the clone waits for reads; killed after
 * 0 to about 300 ms, so some tries die at the start, some in the middle,
 * some not at all. Each destination holds a prefix of the source.
 */
TEST_F_TIMEOUT(clone, killed_midway, 600)
{
	const long long bs = variant->bs, n = big_extents(bs) / 2;
	char dst[64];
	int i, status, kills = 0;
	struct stat st;

	/* Half of big's fragmented file: n one-block extents, holes between. */
	{
		char *blk = aligned_alloc(4096, bs);
		int fd = open(self->src, O_RDWR | O_CREAT | O_DIRECT, 0644);
		long long j;

		ASSERT_NE(NULL, blk);
		ASSERT_LE(0, fd);
		for (j = 0; j < n; j++) {
			rxfs_fill(blk, 5, 2 * j * bs, bs);
			ASSERT_EQ(bs, pwrite(fd, blk, bs, 2 * j * bs));
		}
		ASSERT_EQ(0, fsync(fd));
		close(fd);
		free(blk);
	}
	for (i = 0; i < 12; i++) {
		pid_t pid;

		snprintf(dst, sizeof(dst), RXFS_MNT "/k%d", i);
		close(open(dst, O_RDWR | O_CREAT, 0644));
		sync();
		ASSERT_EQ(0, rxfs_sh("echo 3 > /proc/sys/vm/drop_caches"));
		pid = fork();
		ASSERT_LE(0, pid);
		if (pid == 0) {
			int s = open(self->src, O_RDONLY), d = open(dst, O_RDWR);

			_exit(s < 0 || d < 0 || ioctl(d, FICLONE, s) ? 1 : 0);
		}
		usleep(i * i * 2000);
		kill(pid, SIGKILL);
		ASSERT_EQ(pid, waitpid(pid, &status, 0));
		kills += WIFSIGNALED(status);
		ASSERT_EQ(0, stat(dst, &st));
		EXPECT_EQ(0, same(self->src, 0, dst, 0, st.st_size)) TH_LOG("%s", dst);
	}
	printf("# %d of 12 clones killed\n", kills);
	EXPECT_LT(0, kills);
	EXPECT_EQ(0, fsck_clean());
}

TEST_HARNESS_MAIN
