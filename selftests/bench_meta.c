// SPDX-License-Identifier: GPL-2.0
/*
 * Metadata benchmark (not a test: no thresholds). On an already made
 * filesystem, in one directory:
 *
 *   create        N empty files (open O_CREAT|O_EXCL, close)
 *   sync          syncfs after the creates
 *   stat-cold     stat of every name, in creation order, after a fresh
 *                 mount and drop_caches
 *   stat-warm     the same again, everything cached
 *   readdir-cold  getdents64 of the whole directory after a fresh mount
 *   unlink        unlink of every name, then syncfs
 *
 * Prints one line per phase: "RESULT <phase> <seconds>" (CLOCK_MONOTONIC).
 *
 *   bench_meta [-n FILES] [-t FSTYPE] DEVICE MOUNTPOINT
 *
 * scripts/bench-meta runs it in the test VM against rxfs and xfs.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void die(const char *what, const char *arg)
{
	fprintf(stderr, "bench_meta: %s %s: %s\n", what, arg ? arg : "", strerror(errno));
	exit(1);
}

static const char *dev, *mnt, *fstype = "rxfs";

static void drop_caches(void)
{
	int fd = open("/proc/sys/vm/drop_caches", O_WRONLY);

	sync();
	if (fd >= 0) {
		if (write(fd, "3", 1) != 1)
			perror("drop_caches");
		close(fd);
	}
}

static void remount(void)
{
	if (umount(mnt))
		die("umount", mnt);
	drop_caches();
	if (mount(dev, mnt, fstype, 0, NULL))
		die("mount", dev);
}

static void result(const char *phase, double secs)
{
	printf("RESULT %s %.3f\n", phase, secs);
	fflush(stdout);
}

int main(int argc, char **argv)
{
	char dir[4096], p[4352], buf[65536];
	long n = 100000;
	double t;
	int c, fd;
	struct stat st;

	while ((c = getopt(argc, argv, "n:t:")) != -1) {
		switch (c) {
		case 'n':
			n = strtol(optarg, NULL, 0);
			break;
		case 't':
			fstype = optarg;
			break;
		default:
			fprintf(stderr, "usage: bench_meta [-n FILES] [-t FSTYPE] DEVICE MOUNTPOINT\n");
			return 2;
		}
	}
	if (argc - optind != 2) {
		fprintf(stderr, "usage: bench_meta [-n FILES] [-t FSTYPE] DEVICE MOUNTPOINT\n");
		return 2;
	}
	dev = argv[optind];
	mnt = argv[optind + 1];
	mkdir(mnt, 0755);
	if (mount(dev, mnt, fstype, 0, NULL))
		die("mount", dev);
	snprintf(dir, sizeof(dir), "%s/d", mnt);
	if (mkdir(dir, 0755))
		die("mkdir", dir);
	sync();

	t = now();
	for (long i = 0; i < n; i++) {
		snprintf(p, sizeof(p), "%s/f%07ld", dir, i);
		fd = open(p, O_CREAT | O_EXCL | O_WRONLY, 0644);
		if (fd < 0)
			die("create", p);
		close(fd);
	}
	result("create", now() - t);

	t = now();
	fd = open(dir, O_RDONLY | O_DIRECTORY);
	if (fd < 0 || syncfs(fd))
		die("syncfs", dir);
	close(fd);
	result("sync", now() - t);

	remount();
	t = now();
	for (long i = 0; i < n; i++) {
		snprintf(p, sizeof(p), "%s/f%07ld", dir, i);
		if (stat(p, &st))
			die("stat", p);
	}
	result("stat-cold", now() - t);

	t = now();
	for (long i = 0; i < n; i++) {
		snprintf(p, sizeof(p), "%s/f%07ld", dir, i);
		if (stat(p, &st))
			die("stat", p);
	}
	result("stat-warm", now() - t);

	remount();
	t = now();
	{
		long seen = 0, r;

		fd = open(dir, O_RDONLY | O_DIRECTORY);
		if (fd < 0)
			die("open", dir);
		while ((r = syscall(SYS_getdents64, fd, buf, sizeof(buf))) > 0)
			for (long off = 0; off < r; off += *(unsigned short *)(buf + off + 16))
				seen++;
		if (r < 0)
			die("getdents64", dir);
		close(fd);
		if (seen != n + 2)
			fprintf(stderr, "bench_meta: readdir saw %ld entries, expected %ld\n", seen, n + 2);
	}
	result("readdir-cold", now() - t);

	t = now();
	for (long i = 0; i < n; i++) {
		snprintf(p, sizeof(p), "%s/f%07ld", dir, i);
		if (unlink(p))
			die("unlink", p);
	}
	fd = open(dir, O_RDONLY | O_DIRECTORY);
	if (fd < 0 || syncfs(fd))
		die("syncfs", dir);
	close(fd);
	result("unlink", now() - t);

	if (umount(mnt))
		die("umount", mnt);
	return 0;
}
