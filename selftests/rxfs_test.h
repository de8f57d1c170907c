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
#include <unistd.h>
#include <linux/fs.h>

#define RXFS_MAGIC 0x53465852u	/* "RXFS" little-endian; statfs f_type */
#define RXFS_SB_SIZE 512
#define RXFS_MNT "/tmp/rxfs-mnt"

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

#endif /* RXFS_TEST_H */
