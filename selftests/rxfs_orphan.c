// SPDX-License-Identifier: GPL-2.0
/*
 * Orphan recovery across a power cut: files unlinked while open, synced,
 * and the machine powered off without unmounting. The next mount must free
 * them: statfs's free blocks (and free inodes) back to the values from
 * before the files were created, and a read-only fsck clean.
 *
 * Two boots of the VM on one disk image, so this needs the host-side driver
 * selftests/rxfs_orphan.sh, which runs (from the repository root):
 *
 *   truncate -s 64M IMG
 *   RXFS_ORPHAN_PHASE=1 scripts/vm-run --disk IMG -- build/selftests/rxfs_orphan
 *     (powers the VM off in the middle of the test: vm-run exits 1, "the
 *      guest stopped without reporting a status"; the output must contain
 *      the line "# RXFS_ORPHAN_STATE bfree=B ffree=F" and then
 *      "# RXFS_ORPHAN_POWEROFF")
 *   RXFS_ORPHAN_PHASE=2 RXFS_ORPHAN_BFREE=B RXFS_ORPHAN_FFREE=F \
 *     scripts/vm-run --disk IMG -- build/selftests/rxfs_orphan
 *     (exit 0 and "ok 2 orphan.recover" on success)
 *
 * Without RXFS_ORPHAN_PHASE both cases skip. RXFS_TEST_FSTYPE=ext4 (or xfs)
 * runs the same against a baseline; see rxfs_test.h.
 *
 * Phase 1: mkfs, mount, a kept file /keep (100 KiB) and an empty directory
 * /d, sync, statfs -> B, F. Then the orphans, each held open:
 *   /o1       1 MiB, fsync'd, unlinked
 *   /d/o2     256 KiB with a second link /o2link, both names unlinked
 *   /o3       empty, unlinked
 *   /od       a directory, opened and rmdir'd
 * sync; statfs must show the 1.25 MiB still in use; (rxfs) rxfs-db must find
 * an inode on the on-disk orphan list; then sysrq power-off with the files
 * still open.
 *
 * Phase 2: mount (no mkfs) must succeed; statfs free blocks == B and free
 * inodes == F right after the mount; /keep intact, /d empty, no orphan names;
 * umount; fsck -n exits 0; mount again, same counts; umount.
 */
#include <dirent.h>
#include "rxfs_test.h"
#include "kselftest_harness.h"

static const char *phase(void)
{
	const char *p = getenv("RXFS_ORPHAN_PHASE");

	return p ? p : "";
}

static uint64_t env_u64(const char *name)
{
	const char *v = getenv(name);

	return v && *v ? strtoull(v, NULL, 0) : UINT64_MAX;
}

#define KEEP_SEED 0x4b454550ull
#define KEEP_SIZE (100 << 10)

static int write_file(const char *path, uint64_t seed, size_t size, int keep_open)
{
	unsigned char *buf = malloc(size ? size : 1);
	int fd = open(path, O_CREAT | O_EXCL | O_RDWR, 0644);

	if (fd < 0 || !buf)
		return -1;
	rxfs_fill(buf, seed, 0, size);
	if (write(fd, buf, size) != (ssize_t)size || fsync(fd)) {
		close(fd);
		fd = -1;
	}
	free(buf);
	if (fd >= 0 && !keep_open) {
		close(fd);
		return 0;
	}
	return fd;
}

static int check_file(const char *path, uint64_t seed, size_t size)
{
	unsigned char *buf = malloc(size + 1), *want = malloc(size + 1);
	int fd = open(path, O_RDONLY), ok;
	ssize_t r;

	if (fd < 0 || !buf || !want)
		return 0;
	r = read(fd, buf, size + 1);
	rxfs_fill(want, seed, 0, size);
	ok = r == (ssize_t)size && !memcmp(buf, want, size);
	close(fd);
	free(buf);
	free(want);
	return ok;
}

FIXTURE(orphan) {};
FIXTURE_SETUP(orphan) {}
FIXTURE_TEARDOWN(orphan) {}

/*
 * Phase 1. Ends by powering the machine off, so on success it never
 * reports: the host driver checks for RXFS_ORPHAN_POWEROFF instead.
 */
TEST_F_TIMEOUT(orphan, crash, 300)
{
	const char *dev = rxfs_dev();
	struct statfs before, held;
	struct stat st;
	uint64_t bs;
	int fd1, fd2, fd3, fdd, fd, sysrq;
	unsigned char b[4096], w[4096];

	if (strcmp(phase(), "1"))
		SKIP(return, "phase 1 of two VM boots: run selftests/rxfs_orphan.sh on the host");
	umount(RXFS_MNT);
	ASSERT_EQ(0, rxfs_test_mkfs(dev));
	ASSERT_EQ(0, rxfs_test_mount(dev));
	ASSERT_EQ(0, write_file(RXFS_MNT "/keep", KEEP_SEED, KEEP_SIZE, 0));
	ASSERT_EQ(0, mkdir(RXFS_MNT "/d", 0755));
	sync();
	ASSERT_EQ(0, statfs(RXFS_MNT, &before));
	bs = before.f_bsize;

	fd1 = write_file(RXFS_MNT "/o1", 1, 1 << 20, 1);
	ASSERT_LE(0, fd1) TH_LOG("o1: %s", strerror(errno));
	fd2 = write_file(RXFS_MNT "/d/o2", 2, 256 << 10, 1);
	ASSERT_LE(0, fd2) TH_LOG("o2: %s", strerror(errno));
	ASSERT_EQ(0, link(RXFS_MNT "/d/o2", RXFS_MNT "/o2link"));
	fd3 = write_file(RXFS_MNT "/o3", 3, 0, 1);
	ASSERT_LE(0, fd3);
	ASSERT_EQ(0, mkdir(RXFS_MNT "/od", 0755));
	fdd = open(RXFS_MNT "/od", O_RDONLY | O_DIRECTORY);
	ASSERT_LE(0, fdd);
	sync();

	ASSERT_EQ(0, unlink(RXFS_MNT "/o1"));
	ASSERT_EQ(0, unlink(RXFS_MNT "/d/o2"));
	ASSERT_EQ(0, unlink(RXFS_MNT "/o2link"));
	ASSERT_EQ(0, unlink(RXFS_MNT "/o3"));
	ASSERT_EQ(0, rmdir(RXFS_MNT "/od"));
	ASSERT_EQ(0, fstat(fd1, &st));
	EXPECT_EQ(0, st.st_nlink);
	EXPECT_EQ(1 << 20, st.st_size);
	ASSERT_EQ(0, fstat(fd2, &st));
	EXPECT_EQ(0, st.st_nlink);
	/* The data is still readable through the open descriptors. */
	ASSERT_EQ((ssize_t)sizeof(b), pread(fd1, b, sizeof(b), 512 << 10));
	rxfs_fill(w, 1, 512 << 10, sizeof(w));
	EXPECT_EQ(0, memcmp(b, w, sizeof(b)));
	sync();
	ASSERT_EQ(0, statfs(RXFS_MNT, &held));
	/* The open files still hold their blocks. */
	EXPECT_GE(before.f_bfree - ((1 << 20) + (256 << 10)) / bs, held.f_bfree)
		TH_LOG("free blocks: %llu before the files, %llu with them unlinked but open",
		       (unsigned long long)before.f_bfree, (unsigned long long)held.f_bfree);
	printf("# free blocks %llu before, %llu with the orphans held\n",
	       (unsigned long long)before.f_bfree, (unsigned long long)held.f_bfree);

	if (rxfs_is_rxfs() && !rxfs_have_prog("rxfs-db"))
		printf("# rxfs-db not on PATH: on-disk orphan list not inspected\n");
	if (rxfs_is_rxfs() && rxfs_have_prog("rxfs-db")) {
		EXPECT_EQ(0, rxfs_run_logged(5, "rxfs-db %s locate orphan", dev))
			TH_LOG("after sync, the on-disk orphan list must not be empty");
	}
	ASSERT_EQ(0, _metadata->exit_code) TH_LOG("not powering off: phase 1 already failed");

	printf("# RXFS_ORPHAN_STATE bfree=%llu ffree=%llu\n",
	       (unsigned long long)before.f_bfree, (unsigned long long)before.f_ffree);
	printf("# RXFS_ORPHAN_POWEROFF: sysrq power-off with the orphans open\n");
	fflush(stdout);
	fflush(stderr);
	fd = open("/dev/hvc0", O_WRONLY);
	if (fd >= 0) {
		fsync(fd);
		close(fd);
	}
	sleep(1);
	sysrq = open("/proc/sysrq-trigger", O_WRONLY);
	ASSERT_LE(0, sysrq);
	ASSERT_EQ(1, write(sysrq, "o", 1));
	sleep(120);
	TH_LOG("still running 120 s after the power-off request");
	ASSERT_TRUE(0);
}

/* Phase 2: the next boot. */
TEST_F_TIMEOUT(orphan, recover, 300)
{
	const char *dev = rxfs_dev();
	uint64_t bfree = env_u64("RXFS_ORPHAN_BFREE"), ffree = env_u64("RXFS_ORPHAN_FFREE");
	struct statfs sf;
	struct stat st;
	struct dirent *de;
	DIR *d;
	int n, ret;

	if (strcmp(phase(), "2"))
		SKIP(return, "phase 2 of two VM boots: run selftests/rxfs_orphan.sh on the host");
	ASSERT_NE(UINT64_MAX, bfree) TH_LOG("RXFS_ORPHAN_BFREE (from phase 1) is not set");
	ASSERT_NE(UINT64_MAX, ffree) TH_LOG("RXFS_ORPHAN_FFREE (from phase 1) is not set");
	umount(RXFS_MNT);
	ret = rxfs_test_mount(dev);
	ASSERT_EQ(0, ret) TH_LOG("mount after the power cut: %s", strerror(-ret));
	ASSERT_EQ(0, statfs(RXFS_MNT, &sf));
	EXPECT_EQ(bfree, sf.f_bfree) TH_LOG("free blocks after recovery (%llu before the orphans)",
					    (unsigned long long)bfree);
	EXPECT_EQ(ffree, sf.f_ffree) TH_LOG("free inodes after recovery");
	printf("# after the mount: %llu free blocks (%llu expected), %llu free inodes (%llu)\n",
	       (unsigned long long)sf.f_bfree, (unsigned long long)bfree,
	       (unsigned long long)sf.f_ffree, (unsigned long long)ffree);

	EXPECT_TRUE(check_file(RXFS_MNT "/keep", KEEP_SEED, KEEP_SIZE));
	EXPECT_EQ(-1, lstat(RXFS_MNT "/o1", &st));
	EXPECT_EQ(-1, lstat(RXFS_MNT "/o2link", &st));
	EXPECT_EQ(-1, lstat(RXFS_MNT "/o3", &st));
	EXPECT_EQ(-1, lstat(RXFS_MNT "/od", &st));
	d = opendir(RXFS_MNT "/d");
	ASSERT_NE(NULL, d);
	n = 0;
	while ((de = readdir(d)))
		n += strcmp(de->d_name, ".") && strcmp(de->d_name, "..");
	closedir(d);
	EXPECT_EQ(0, n);
	ASSERT_EQ(0, stat(RXFS_MNT, &st));
	EXPECT_EQ(3 + (strncmp(rxfs_fstype(), "ext", 3) == 0), st.st_nlink);	/* ., d, (lost+found) */
	ASSERT_EQ(0, umount(RXFS_MNT));

	ret = rxfs_test_fsck(dev);
	if (ret != RXFS_FSCK_SKIPPED) {
		EXPECT_EQ(0, ret) TH_LOG("read-only fsck after recovery: exit %d", ret);
	}

	/* The recovery was written, not just done in memory. */
	ASSERT_EQ(0, rxfs_test_mount(dev));
	ASSERT_EQ(0, statfs(RXFS_MNT, &sf));
	EXPECT_EQ(bfree, sf.f_bfree);
	EXPECT_EQ(ffree, sf.f_ffree);
	EXPECT_TRUE(check_file(RXFS_MNT "/keep", KEEP_SEED, KEEP_SIZE));
	ASSERT_EQ(0, umount(RXFS_MNT));
}

TEST_HARNESS_MAIN
