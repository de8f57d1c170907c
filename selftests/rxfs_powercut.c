// SPDX-License-Identifier: GPL-2.0
/*
 * Power cuts: a random workload is cut by sysrq-b (an immediate reboot, no
 * sync) at a random moment, again and again; every next mount must recover
 * by itself, every file that was fsync'd (with its directory) must hold
 * exactly its content, and fsck.rxfs -n must then find the filesystem
 * clean.
 *
 * One boot of the VM per cut, on the same two disks, so the host-side
 * driver selftests/rxfs_powercut.sh runs this once per boot:
 *
 *   /dev/vda   the filesystem under test
 *   /dev/vdb   the record of fsync'd files: one 512-byte slot each, written
 *              O_DIRECT|O_DSYNC after the fsyncs returned, so it survives
 *              the cut exactly when the promise was made
 *
 *   RXFS_PC_BOOT=1          mkfs (RXFS_TEST_BS), then the workload and the cut
 *   RXFS_PC_BOOT=k (k > 1)  mount, check every record, umount, fsck -n;
 *                           then the workload and the cut
 *   RXFS_PC_LAST=1          the last boot: the checks only, then exit 0
 *
 * The workload: scratch files in eight directories written buffered,
 * O_DIRECT and through mmap, cloned into each other (FICLONERANGE, so
 * later writes are copy-on-write), fallocated (allocate, punch, zero,
 * collapse, insert, unshare), renamed across directories, hard-linked,
 * truncated and unlinked, scratch directories made, renamed and removed,
 * directories fsync'd; and "sealed" files: written (buffered or O_DIRECT),
 * or cloned from a scratch file that is then overwritten at once, fsync'd,
 * their directory fsync'd, recorded, and never touched again. A child
 * process writes 'b' to /proc/sysrq-trigger after RXFS_PC_MIN_MS plus a
 * random delay (seeded by RXFS_PC_SEED and the boot number).
 *
 * Knob (g) meta_write_delay_ms (RXFS_PC_DELAY_MS, default 10) makes every
 * commit write its blocks home one at a time with a sleep after each, so a
 * cut usually lands in the middle of a write-out. The driver's negative
 * control runs the same on a filesystem made without a journal
 * (RXFS_TEST_MKFS="mkfs.rxfs ... -l size=0") and expects damage.
 *
 * Output: TAP-like lines "ok N ..." / "not ok N ...", "# RXFS_PC_CUTTING"
 * just before the workload starts.
 */
#include <sys/mman.h>
#include "rxfs_test.h"

#define MNT "/tmp/pc"
#define REC_DEV "/dev/vdb"
#define SLOT 512
#define FIRST_SLOT 8
#define MAX_SLOTS 8000
#define REC_MAGIC 0x43505852u /* "RXPC" */

struct rec {
	uint32_t magic;
	uint32_t boot;
	uint64_t seed;
	uint64_t size;
	char path[SLOT - 24];
};


static void *aligned(size_t len)
{
	void *p = NULL;

	if (posix_memalign(&p, 4096, len ? len : 4096))
		return NULL;
	return p;
}

/* The record slots: reads slot @i into @r; 0 if it holds a record. */
static int read_slot(int fd, int i, struct rec *r)
{
	if (pread(fd, r, SLOT, (off_t)(FIRST_SLOT + i) * SLOT) != SLOT)
		return -1;
	return r->magic == REC_MAGIC ? 0 : -1;
}

static int nrecs;

static int add_record(int fd, const char *path, uint64_t seed, uint64_t size, int boot)
{
	struct rec *r = aligned(SLOT);
	int ret;

	if (!r || nrecs >= MAX_SLOTS)
		return -1;
	memset(r, 0, SLOT);
	r->magic = REC_MAGIC;
	r->boot = boot;
	r->seed = seed;
	r->size = size;
	snprintf(r->path, sizeof(r->path), "%s", path);
	ret = pwrite(fd, r, SLOT, (off_t)(FIRST_SLOT + nrecs) * SLOT) == SLOT ? 0 : -1;
	free(r);
	if (!ret)
		nrecs++;
	return ret;
}

/* Checks every record; returns the number that failed, printing each. */
static int check_records(int rfd, int *total)
{
	struct rec *r = aligned(SLOT);
	unsigned char *buf = malloc(1 << 20), *want = malloc(1 << 20);
	char path[600];
	int bad = 0, i;

	*total = 0;
	for (i = 0; r && buf && want && i < MAX_SLOTS && !read_slot(rfd, i, r); i++) {
		struct stat st;
		ssize_t n;
		int fd;

		(*total)++;
		snprintf(path, sizeof(path), MNT "/%s", r->path);
		fd = open(path, O_RDONLY);
		if (fd < 0 || fstat(fd, &st)) {
			printf("# record %d (boot %u): %s: missing (%s)\n", i, r->boot, r->path, strerror(errno));
			bad++;
			if (fd >= 0)
				close(fd);
			continue;
		}
		if ((uint64_t)st.st_size != r->size) {
			printf("# record %d (boot %u): %s: size %lld, fsync'd %llu\n", i, r->boot, r->path,
			       (long long)st.st_size, (unsigned long long)r->size);
			bad++;
			close(fd);
			continue;
		}
		n = r->size ? read(fd, buf, r->size) : 0;
		rxfs_fill(want, r->seed, 0, r->size);
		if (n != (ssize_t)r->size || memcmp(buf, want, r->size)) {
			printf("# record %d (boot %u): %s: content differs from what was fsync'd\n", i, r->boot,
			       r->path);
			bad++;
		}
		close(fd);
	}
	nrecs = i;
	free(r);
	free(buf);
	free(want);
	return bad;
}

static int fsync_path(const char *path)
{
	int fd = open(path, O_RDONLY);
	int ret;

	if (fd < 0)
		return -1;
	ret = fsync(fd);
	close(fd);
	return ret;
}

static void scratch_name(char *out, size_t len)
{
	snprintf(out, len, MNT "/d%u/t%u", (unsigned)(rxfs_rnd() % 8), (unsigned)(rxfs_rnd() % 64));
}

/*
 * A sealed clone: the content goes to a scratch file, which is cloned
 * (FICLONE) to the sealed name and then overwritten in place at once
 * (copy-on-write of the source, which must not reach the clone); the
 * clone is fsync'd with its directory and recorded. The scratch source
 * lives on under the workload (rewritten, truncated, unlinked: its
 * blocks' refcounts drop while the cuts come). 1 if this filesystem
 * cannot clone (the caller writes the file instead).
 */
static int seal_clone(int rfd, int boot, const char *rel, const char *path, const char *dpath,
		      const unsigned char *buf, uint64_t seed, uint64_t size)
{
	char src[128];
	unsigned char junk[8192];
	int s, d, ret = -1;

	scratch_name(src, sizeof(src));
	s = open(src, O_CREAT | O_TRUNC | O_RDWR, 0644);
	if (s < 0)
		return -1;
	if (pwrite(s, buf, size, 0) != (ssize_t)size) {
		close(s);
		return -1;
	}
	d = open(path, O_CREAT | O_EXCL | O_WRONLY, 0644);
	if (d < 0) {
		close(s);
		return -1;
	}
	if (ioctl(d, FICLONE, s)) {
		int e = errno;

		close(d);
		close(s);
		unlink(path);
		return e == EOPNOTSUPP || e == EXDEV || e == EINVAL ? 1 : -1;
	}
	if (size) {
		uint64_t off = rxfs_rnd() % size, n = 1 + rxfs_rnd() % sizeof(junk);

		rxfs_fill(junk, rxfs_rnd(), off, n);
		if (pwrite(s, junk, n, off) < 0)
			perror("# pwrite to a clone's source");
	}
	close(s);
	if (!fsync(d) && !fsync_path(dpath))
		ret = add_record(rfd, rel, seed, size, boot);
	close(d);
	return ret;
}

/* One sealed file: written, fsync'd with its directory, recorded. */
static int seal(int rfd, int boot, int n)
{
	uint64_t seed = rxfs_rnd();
	uint64_t size = rxfs_rnd() % 3 ? rxfs_rnd() % (192 << 10) : (rxfs_rnd() % 48 + 1) * 4096;
	int dir = rxfs_rnd() % 8;
	int direct = size % 4096 == 0 && rxfs_rnd() % 2;
	char rel[64], path[128], dpath[64];
	unsigned char *buf = aligned(size);
	int fd, ret = -1;

	snprintf(rel, sizeof(rel), "d%d/s%d_%d", dir, boot, n);
	snprintf(path, sizeof(path), MNT "/%s", rel);
	snprintf(dpath, sizeof(dpath), MNT "/d%d", dir);
	if (!buf)
		return -1;
	rxfs_fill(buf, seed, 0, size);
	if (!direct && rxfs_rnd() % 4 == 0) {
		ret = seal_clone(rfd, boot, rel, path, dpath, buf, seed, size);
		if (ret != 1) {
			free(buf);
			return ret;
		}
		ret = -1;
	}
	fd = open(path, O_CREAT | O_EXCL | O_WRONLY | (direct ? O_DIRECT : 0), 0644);
	if (fd >= 0) {
		uint64_t done = 0;

		/* In pieces, so that extents and the log see several changes. */
		while (done < size) {
			uint64_t piece = direct ? 4096 * (1 + rxfs_rnd() % 8) : 1 + rxfs_rnd() % (32 << 10);
			ssize_t w;

			if (piece > size - done)
				piece = size - done;
			w = pwrite(fd, buf + done, piece, done);
			if (w <= 0)
				break;
			done += w;
		}
		if (done == size && !fsync(fd) && !fsync_path(dpath))
			ret = add_record(rfd, rel, seed, size, boot);
		close(fd);
	}
	free(buf);
	return ret;
}

/* @len bytes of junk at @off of scratch file @path, created if need be
 * (@flags: 0 or O_DIRECT, then @len and @off are block multiples). */
static void scratch_write(const char *path, size_t len, off_t off, int flags)
{
	unsigned char *buf = aligned(len);
	int fd = open(path, O_CREAT | O_WRONLY | flags, 0644);

	if (buf && fd >= 0) {
		rxfs_fill(buf, rxfs_rnd(), off, len);
		if (pwrite(fd, buf, len, off) < 0)
			perror(flags ? "# pwrite O_DIRECT" : "# pwrite");
	}
	if (fd >= 0)
		close(fd);
	free(buf);
}

/*
 * The data operations on scratch file @a (@k of 20): a clone of a range
 * of another scratch file into it (over shared blocks, later writes are
 * copy-on-write), fallocate (allocate, punch, zero, collapse, insert,
 * unshare) and a write through a shared mapping.
 */
static void scratch_data_op(const char *a, int k)
{
	char b[128];
	off_t off = 4096 * (rxfs_rnd() % 64), len = 4096 * (1 + rxfs_rnd() % 16);
	int fd = open(a, O_RDWR);
	struct stat st;

	if (fd < 0)
		return;
	if (k < 6) {
		struct file_clone_range r = { .src_offset = off, .src_length = len, .dest_offset = 4096 * (rxfs_rnd() % 64) };
		int s;

		scratch_name(b, sizeof(b));
		s = open(b, O_RDONLY);
		if (s >= 0) {
			r.src_fd = s;
			/* Past the source's EOF (EINVAL) and the same file overlapping are fine to refuse. */
			if (ioctl(fd, FICLONERANGE, &r) && errno != EINVAL && errno != EOPNOTSUPP)
				perror("# FICLONERANGE");
			close(s);
		}
	} else if (k < 14) {
		static const int modes[] = {
			0, FALLOC_FL_KEEP_SIZE, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
			FALLOC_FL_ZERO_RANGE, FALLOC_FL_COLLAPSE_RANGE, FALLOC_FL_INSERT_RANGE,
			FALLOC_FL_UNSHARE_RANGE | FALLOC_FL_KEEP_SIZE, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
		};
		int mode = modes[k - 6];

		/* Collapse and insert past EOF are EINVAL, as are modes a filesystem lacks. */
		if (fallocate(fd, mode, off, len) && errno != EINVAL && errno != ENOSPC && errno != EOPNOTSUPP)
			perror("# fallocate");
	} else if (!fstat(fd, &st) && st.st_size > 0) {
		size_t n = st.st_size, at = rxfs_rnd() % n, m = 1 + rxfs_rnd() % 8192;
		unsigned char *p = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);

		if (p != MAP_FAILED) {
			if (m > n - at)
				m = n - at;
			rxfs_fill(p + at, rxfs_rnd(), at, m);
			if (rxfs_rnd() % 2)
				msync(p, n, MS_SYNC);
			munmap(p, n);
		}
	}
	close(fd);
}

static void scratch_op(void)
{
	char a[128], b[128];
	int r = rxfs_rnd() % 120, fd;
	size_t len;

	scratch_name(a, sizeof(a));
	if (r >= 100) {
		scratch_data_op(a, r - 100);
		return;
	}
	if (r < 40) {
		len = 1 + rxfs_rnd() % (64 << 10);
		scratch_write(a, len, rxfs_rnd() % (256 << 10), 0);
	} else if (r < 55) {
		len = 4096 * (1 + rxfs_rnd() % 16);
		scratch_write(a, len, 4096 * (rxfs_rnd() % 64), O_DIRECT);
	} else if (r < 70) {
		scratch_name(b, sizeof(b));
		rename(a, b);
	} else if (r < 82) {
		unlink(a);
	} else if (r < 90) {
		if (truncate(a, rxfs_rnd() % (300 << 10)) && errno != ENOENT)
			perror("# truncate");
	} else if (r < 93) {
		snprintf(b, sizeof(b), MNT "/d%u", (unsigned)(rxfs_rnd() % 8));
		fsync_path(b);
	} else if (r < 95) {
		/* A hard link: the target's link count changes with the entry. */
		snprintf(b, sizeof(b), MNT "/d%u/l%u", (unsigned)(rxfs_rnd() % 8), (unsigned)(rxfs_rnd() % 32));
		link(a, b);
	} else if (r < 97) {
		/* Directories: each changes its parent's link count. */
		unsigned int x = rxfs_rnd() % 16;

		snprintf(a, sizeof(a), MNT "/d%u/x%u", (unsigned)(rxfs_rnd() % 8), x);
		snprintf(b, sizeof(b), MNT "/d%u/x%u", (unsigned)(rxfs_rnd() % 8), x);
		switch (rxfs_rnd() % 3) {
		case 0: mkdir(a, 0755); break;
		case 1: rmdir(a); break;
		default: rename(a, b); break;
		}
	} else {
		fd = open(a, O_WRONLY);
		if (fd >= 0) {
			fsync(fd);
			close(fd);
		}
	}
}

int main(void)
{
	const char *dev = rxfs_dev();
	int boot = getenv("RXFS_PC_BOOT") ? atoi(getenv("RXFS_PC_BOOT")) : 0;
	int last = getenv("RXFS_PC_LAST") && atoi(getenv("RXFS_PC_LAST"));
	int min_ms = getenv("RXFS_PC_MIN_MS") ? atoi(getenv("RXFS_PC_MIN_MS")) : 300;
	uint64_t seed = getenv("RXFS_PC_SEED") ? strtoull(getenv("RXFS_PC_SEED"), NULL, 0) : 1;
	int rfd, i, n = 0;
	pid_t cutter;

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (boot < 1) {
		printf("# RXFS_PC_BOOT not set: run by selftests/rxfs_powercut.sh\n");
		return 4;
	}
	rxfs_rng = seed * 0x9e3779b97f4a7c15ull + boot * 0x632be59bd9b4e019ull + 1;
	rfd = open(REC_DEV, O_RDWR | O_DIRECT | O_DSYNC);
	if (rfd < 0) {
		rxfs_result(0, "powercut.boot%d.records # open %s: %s", boot, REC_DEV, strerror(errno));
		return 1;
	}
	mkdir(MNT, 0755);
	if (boot == 1) {
		if (rxfs_test_mkfs(dev)) {
			rxfs_result(0, "powercut.boot1.mkfs");
			return 1;
		}
		if (rxfs_test_mount_at(dev, MNT, 0, NULL)) {
			rxfs_result(0, "powercut.boot1.mount # %s", strerror(errno));
			return 1;
		}
		for (i = 0; i < 8; i++) {
			char d[64];

			snprintf(d, sizeof(d), MNT "/d%d", i);
			mkdir(d, 0755);
		}
		sync();
		nrecs = 0;
	} else {
		int total, bad, rc;

		rc = rxfs_test_mount_at(dev, MNT, 0, NULL);
		rxfs_result(!rc, "powercut.boot%d.mount_recovers%s%s", boot, rc ? " # " : "", rc ? strerror(-rc) : "");
		if (rc)
			return 1;
		bad = check_records(rfd, &total);
		rxfs_result(!bad, "powercut.boot%d.fsynced_files_intact # %d of %d records differ", boot, bad, total);
		if (umount(MNT)) {
			rxfs_result(0, "powercut.boot%d.umount # %s", boot, strerror(errno));
			return 1;
		}
		rc = rxfs_test_fsck(dev);
		rxfs_result(rc == 0 || rc == RXFS_FSCK_SKIPPED, "powercut.boot%d.fsck_clean # exit %d", boot, rc);
		if (last)
			return bad || rc ? 1 : 0;
		if (rxfs_test_mount_at(dev, MNT, 0, NULL)) {
			rxfs_result(0, "powercut.boot%d.remount # %s", boot, strerror(errno));
			return 1;
		}
	}
	knob_init();
	if (rxfs_is_rxfs()) {
		int delay = getenv("RXFS_PC_DELAY_MS") ? atoi(getenv("RXFS_PC_DELAY_MS")) : 10;

		if (knob("meta_write_delay_ms", delay))
			printf("# knob meta_write_delay_ms: %s\n", strerror(errno));
	}
	cutter = fork();
	if (cutter == 0) {
		int ms = min_ms + rxfs_rnd() % 2500;
		int fd = open("/proc/sysrq-trigger", O_WRONLY);

		usleep(ms * 1000);
		printf("# cut after %d ms\n", ms);
		if (fd < 0 || write(fd, "b", 1) != 1)
			perror("# sysrq-b");
		_exit(1);
	}
	printf("# RXFS_PC_CUTTING: workload until the power cut\n");
	for (;;) {
		if (rxfs_rnd() % 100 < 25) {
			if (seal(rfd, boot, n++))
				printf("# seal %d failed: %s\n", n - 1, strerror(errno));
		} else {
			scratch_op();
		}
		if (rxfs_rnd() % 200 == 0)
			sync();
	}
}
