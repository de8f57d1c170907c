/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Helpers shared by the rxfs selftests. The tests run inside the test VM
 * (scripts/vm-run) with a scratch disk; RXFS_TEST_DEV names it (default
 * /dev/vda). They are destructive to that device.
 */
#ifndef RXFS_TEST_H
#define RXFS_TEST_H

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/statvfs.h>
#include <sys/vfs.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <linux/fs.h>

#define RXFS_MAGIC 0x53465852u	/* "RXFS" little-endian; statfs f_type */
#define RXFS_SB_SIZE 512
#define RXFS_MNT "/tmp/rxfs-mnt"
/* XFS's shutdown ioctl; the argument: 0 flush data and log, 1 the log, 2 nothing. */
#define RXFS_IOC_GOINGDOWN _IOR('X', 125, uint32_t)

static inline const char *rxfs_dev(void)
{
	const char *d = getenv("RXFS_TEST_DEV");

	return d && *d ? d : "/dev/vda";
}

/* Runs a shell command built from a format; returns its exit status. */
static inline int rxfs_sh(const char *fmt, ...)
{
	char cmd[1024];
	va_list ap;
	int st;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	st = system(cmd);
	if (st == -1 || !WIFEXITED(st))
		return -1;
	return WEXITSTATUS(st);
}

static inline int rxfs_mkfs(const char *dev, int bs)
{
	return rxfs_sh("mkfs.rxfs -q -f -b %d %s", bs, dev);
}

static inline int rxfs_mount(const char *dev)
{
	mkdir(RXFS_MNT, 0755);
	return mount(dev, RXFS_MNT, "rxfs", 0, NULL) ? -errno : 0;
}

static inline uint64_t rxfs_dev_bytes(const char *dev)
{
	uint64_t n = 0;
	int fd = open(dev, O_RDONLY);

	if (fd >= 0) {
		if (ioctl(fd, BLKGETSIZE64, &n))
			n = 0;
		close(fd);
	}
	return n;
}

/* pwrite + fsync of a buffer at @off of @dev; 0 or -errno. */
static inline int rxfs_dev_write(const char *dev, off_t off, const void *buf, size_t len)
{
	int fd = open(dev, O_WRONLY);
	int ret = 0;

	if (fd < 0)
		return -errno;
	if (pwrite(fd, buf, len, off) != (ssize_t)len || fsync(fd))
		ret = -errno;
	close(fd);
	return ret;
}

static inline int rxfs_dev_read(const char *dev, off_t off, void *buf, size_t len)
{
	int fd = open(dev, O_RDONLY);
	int ret = 0;

	if (fd < 0)
		return -errno;
	if (pread(fd, buf, len, off) != (ssize_t)len)
		ret = -EIO;
	close(fd);
	return ret;
}

/* Attaches @img to a free loop device, named in @loopdev; 0 or -1. */
static inline int rxfs_losetup(const char *img, char *loopdev, size_t len)
{
	char cmd[256];
	FILE *p;
	int ok;

	snprintf(cmd, sizeof(cmd), "losetup -f --show %s 2>&1", img);
	p = popen(cmd, "r");
	if (!p)
		return -1;
	ok = fgets(loopdev, len, p) != NULL;
	pclose(p);
	loopdev[strcspn(loopdev, "\n")] = 0;
	return ok && !strncmp(loopdev, "/dev/loop", 9) ? 0 : -1;
}

/* An open /dev/kmsg positioned at its end, to collect what comes next. */
static inline int rxfs_kmsg_open(void)
{
	int fd = open("/dev/kmsg", O_RDONLY | O_NONBLOCK);

	if (fd >= 0)
		lseek(fd, 0, SEEK_END);
	return fd;
}

/*
 * Reads the kernel log records written since rxfs_kmsg_open() and counts
 * those whose text contains @needle; the last such text goes to @last.
 */
static inline int rxfs_kmsg_count(int fd, const char *needle, char *last, size_t lastlen)
{
	char rec[2048];
	int n = 0;

	for (;;) {
		ssize_t r = read(fd, rec, sizeof(rec) - 1);
		char *text;

		if (r < 0 && errno == EPIPE)
			continue;	/* overwritten records: keep reading */
		if (r <= 0)
			break;
		rec[r] = 0;
		text = strchr(rec, ';');
		text = text ? text + 1 : rec;
		if (strstr(text, needle)) {
			n++;
			if (last && lastlen)
				snprintf(last, lastlen, "%.*s", (int)lastlen - 1, text);
		}
	}
	return n;
}

/*
 * Test cases run in forked children that end with _exit(), which drops
 * buffered stdio: keep stdout line-buffered even when it is a pipe or file.
 */
static void __attribute__((constructor)) rxfs_stdout_line_buffered(void)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
}

/*
 * The filesystem under test. Most tests are filesystem-agnostic and can be
 * validated against a baseline:
 *
 *   RXFS_TEST_FSTYPE  rxfs (default), ext4, xfs, ...: mount -t type
 *   RXFS_TEST_BS      block size for mkfs (rxfs default 4096; for the
 *                     others only passed when set)
 *   RXFS_TEST_MKFS    the whole mkfs command without the device, overriding
 *                     the defaults below (e.g. "mkfs.ext4 -q -F -O ^has_journal")
 *   RXFS_TEST_FSCK    the whole read-only check command without the device;
 *                     set but empty skips the check
 *
 * Defaults: rxfs: mkfs.rxfs -q -f -b BS, fsck.rxfs -n;
 * ext4/ext3/ext2: mkfs.TYPE -q -F [-b BS], e2fsck -fn; xfs: mkfs.xfs -q -f
 * [-b size=BS], xfs_repair -n.
 */
static inline const char *rxfs_fstype(void)
{
	const char *t = getenv("RXFS_TEST_FSTYPE");

	return t && *t ? t : "rxfs";
}

static inline int rxfs_is_rxfs(void)
{
	return !strcmp(rxfs_fstype(), "rxfs");
}

/* The block size asked for, or 0 when RXFS_TEST_BS is unset (not rxfs). */
static inline int rxfs_test_bs(void)
{
	const char *b = getenv("RXFS_TEST_BS");

	if (b && *b)
		return atoi(b);
	return rxfs_is_rxfs() ? 4096 : 0;
}

/*
 * Runs a command with its output captured and echoed as TAP comments
 * ("#   " prefixed, at most @maxlines lines); returns its exit status,
 * 127 when it could not run.
 */
static inline int rxfs_run_logged(int maxlines, const char *fmt, ...)
{
	static const char out[] = "/tmp/rxfs-cmd.out";
	char cmd[1024], full[1200], line[512];
	va_list ap;
	FILE *f;
	int st, n = 0;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	snprintf(full, sizeof(full), "%s >%s 2>&1", cmd, out);
	fflush(stdout);
	fflush(stderr);
	st = system(full);
	if (st == -1 || !WIFEXITED(st))
		st = 127;
	else
		st = WEXITSTATUS(st);
	printf("#   $ %s  -> exit %d\n", cmd, st);
	f = fopen(out, "r");
	if (f) {
		while (fgets(line, sizeof(line), f)) {
			if (n++ < maxlines)
				printf("#   %s%s", line, strchr(line, '\n') ? "" : "\n");
		}
		if (n > maxlines)
			printf("#   ... (%d more lines)\n", n - maxlines);
		fclose(f);
	}
	unlink(out);
	fflush(stdout);
	return st;
}

/*
 * 1 if fsck.rxfs -n says @dev's log needs recovery (a crash's log, which
 * it checks as replayed and which is no error: exit 0 when the rest is
 * clean), 0 if the log is clean, -1 if fsck could not run.
 */
static inline int rxfs_fsck_log_dirty(const char *dev)
{
	int st = rxfs_sh("fsck.rxfs -n %s 2>&1 | grep -q 'log: needs recovery'", dev);

	return st == 0 ? 1 : st == 1 ? 0 : -1;
}

/* True if @prog is found on PATH. */
static inline int rxfs_have_prog(const char *prog)
{
	return rxfs_sh("command -v %s >/dev/null 2>&1", prog) == 0;
}

/* Makes a filesystem of the type under test on @dev; the mkfs exit status. */
static inline int rxfs_test_mkfs(const char *dev)
{
	const char *cmd = getenv("RXFS_TEST_MKFS");
	const char *t = rxfs_fstype();
	int bs = rxfs_test_bs();

	if (cmd && *cmd)
		return rxfs_run_logged(20, "%s %s", cmd, dev);
	if (!strcmp(t, "rxfs"))
		return rxfs_run_logged(20, "mkfs.rxfs -q -f -b %d %s", bs, dev);
	if (!strcmp(t, "xfs")) {
		if (bs)
			return rxfs_run_logged(20, "mkfs.xfs -q -f -b size=%d %s", bs, dev);
		return rxfs_run_logged(20, "mkfs.xfs -q -f %s", dev);
	}
	if (bs)
		return rxfs_run_logged(20, "mkfs.%s -q -F -b %d %s", t, bs, dev);
	return rxfs_run_logged(20, "mkfs.%s -q -F %s", t, dev);
}

/* Mounts @dev at @mnt as the type under test; 0 or -errno. */
static inline int rxfs_test_mount_at(const char *dev, const char *mnt,
				     unsigned long flags, const char *opts)
{
	mkdir(mnt, 0755);
	return mount(dev, mnt, rxfs_fstype(), flags, opts) ? -errno : 0;
}

static inline int rxfs_test_mount(const char *dev)
{
	return rxfs_test_mount_at(dev, RXFS_MNT, 0, NULL);
}

#define RXFS_FSCK_SKIPPED (-2)

/*
 * Read-only check of @dev (not mounted) with the checker of the type under
 * test; its exit status (0 = clean for all three defaults; fsck.rxfs:
 * 0 clean, 1 fixed, 4 errors left, 8 operational error), 127 when the
 * checker is missing, RXFS_FSCK_SKIPPED when RXFS_TEST_FSCK is set empty.
 */
static inline int rxfs_test_fsck(const char *dev)
{
	const char *cmd = getenv("RXFS_TEST_FSCK");
	const char *t = rxfs_fstype();

	if (cmd)
		return *cmd ? rxfs_run_logged(40, "%s %s", cmd, dev) : RXFS_FSCK_SKIPPED;
	if (!strcmp(t, "rxfs"))
		return rxfs_run_logged(40, "fsck.rxfs -n %s", dev);
	if (!strcmp(t, "xfs"))
		return rxfs_run_logged(40, "xfs_repair -n %s", dev);
	if (!strncmp(t, "ext", 3))
		return rxfs_run_logged(40, "e2fsck -fn %s", dev);
	return RXFS_FSCK_SKIPPED;
}

/*
 * Reads the kernel log records written since rxfs_kmsg_open() into @buf
 * (one record's text per line, truncated to fit); returns the record count.
 */
static inline int rxfs_kmsg_text(int fd, char *buf, size_t len)
{
	char rec[2048];
	size_t used = 0;
	int n = 0;

	if (len)
		buf[0] = 0;
	for (;;) {
		ssize_t r = read(fd, rec, sizeof(rec) - 1);
		char *text;
		size_t tl;

		if (r < 0 && errno == EPIPE)
			continue;
		if (r <= 0)
			break;
		rec[r] = 0;
		text = strchr(rec, ';');
		text = text ? text + 1 : rec;
		tl = strcspn(text, "\n");	/* drop the key=value continuation lines */
		if (used + tl + 2 < len) {
			memcpy(buf + used, text, tl);
			used += tl;
			buf[used++] = '\n';
			buf[used] = 0;
		}
		n++;
	}
	return n;
}

/* The first sign of a kernel bug in a log text (NULL if none). */
static inline const char *rxfs_kmsg_bad(const char *text)
{
	static const char *const bad[] = {
		"WARNING", "BUG", "Oops", "panicked", "Kernel panic",
		"general protection fault", "Call Trace", "KASAN", "UBSAN",
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (strstr(text, bad[i]))
			return bad[i];
	return NULL;
}

/* CRC-32C (Castagnoli), as rxfs's metadata checksums: crc32c("123456789") = 0xe3069283. */
static inline uint32_t rxfs_crc32c_update(uint32_t crc, const void *data, size_t len)
{
	const unsigned char *p = data;

	while (len--) {
		crc ^= *p++;
		for (int k = 0; k < 8; k++)
			crc = (crc >> 1) ^ (0x82f63b78u & -(crc & 1));
	}
	return crc;
}

/* The checksum of a block whose own crc32c is at @crc_off (taken as zero). */
static inline uint32_t rxfs_block_crc(const unsigned char *buf, size_t len, size_t crc_off)
{
	static const unsigned char zero[4];
	uint32_t c = ~0u;

	c = rxfs_crc32c_update(c, buf, crc_off);
	c = rxfs_crc32c_update(c, zero, 4);
	c = rxfs_crc32c_update(c, buf + crc_off + 4, len - crc_off - 4);
	return ~c;
}

static inline uint32_t rxfs_le32(const unsigned char *p)
{
	return p[0] | p[1] << 8 | p[2] << 16 | (uint32_t)p[3] << 24;
}

static inline uint64_t rxfs_le64(const unsigned char *p)
{
	return rxfs_le32(p) | (uint64_t)rxfs_le32(p + 4) << 32;
}

static inline void rxfs_put_le32(unsigned char *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = v >> (8 * i);
}

static inline void rxfs_put_le64(unsigned char *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = v >> (8 * i);
}

/* 64-bit FNV-1a. */
static inline uint64_t rxfs_fnv1a(uint64_t h, const void *data, size_t len)
{
	const unsigned char *p = data;

	while (len--) {
		h ^= *p++;
		h *= 0x100000001b3ull;
	}
	return h;
}
#define RXFS_FNV_INIT 0xcbf29ce484222325ull

/* splitmix64: deterministic pseudo-random numbers from a seed. */
static inline uint64_t rxfs_mix64(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ull;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
	return x ^ (x >> 31);
}

/*
 * Deterministic file contents: byte @off of the stream named by @seed
 * depends on nothing else, so any prefix, or any range, can be regenerated.
 */
static inline void rxfs_fill(void *buf, uint64_t seed, uint64_t off, size_t len)
{
	unsigned char *p = buf;

	while (len) {
		uint64_t w = rxfs_mix64(seed ^ rxfs_mix64(off >> 3));
		unsigned int b = off & 7;

		for (; b < 8 && len; b++, len--, off++)
			*p++ = w >> (8 * b);
	}
}

/* The test seed: $SEED, else $RXFS_TEST_SEED, else @def. */
static inline uint64_t rxfs_seed(uint64_t def)
{
	const char *s = getenv("SEED");

	if (!s || !*s)
		s = getenv("RXFS_TEST_SEED");
	return s && *s ? strtoull(s, NULL, 0) : def;
}

/* Monotonic seconds. */
static inline double rxfs_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/*
 * Fault-injection knobs: /sys/kernel/debug/rxfs/<dev>/NAME. The negative
 * controls' knobs are refused unless dangerous(1) allowed them.
 */
static char knobdir[256] __attribute__((unused));

static inline void knob_init(void)
{
	const char *d = strrchr(rxfs_dev(), '/');

	snprintf(knobdir, sizeof(knobdir), "/sys/kernel/debug/rxfs/%s", d ? d + 1 : rxfs_dev());
}

static inline int rxfs_write_str(const char *path, const char *val)
{
	int fd = open(path, O_WRONLY);
	int ok;

	if (fd < 0)
		return -errno;
	ok = write(fd, val, strlen(val)) == (ssize_t)strlen(val);
	close(fd);
	return ok ? 0 : -EPERM;
}

static inline int knob(const char *name, long long v)
{
	char path[320], val[32];

	snprintf(path, sizeof(path), "%s/%s", knobdir, name);
	snprintf(val, sizeof(val), "%lld", v);
	return rxfs_write_str(path, val);
}

static inline int dangerous(int on)
{
	return rxfs_write_str("/sys/module/rxfs/parameters/dangerous_knobs", on ? "1" : "0");
}


/*
 * For tests that run outside the kselftest harness (one program per boot,
 * or a replay): a xorshift generator and TAP result lines.
 */
static uint64_t rxfs_rng __attribute__((unused)) = 1;

static inline uint64_t rxfs_rnd(void)
{
	rxfs_rng ^= rxfs_rng << 13;
	rxfs_rng ^= rxfs_rng >> 7;
	rxfs_rng ^= rxfs_rng << 17;
	return rxfs_rng;
}

static int rxfs_tap __attribute__((unused));

static inline void __attribute__((format(printf, 2, 3))) rxfs_result(int ok, const char *fmt, ...)
{
	va_list ap;

	printf("%sok %d ", ok ? "" : "not ", ++rxfs_tap);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
}

#endif /* RXFS_TEST_H */
