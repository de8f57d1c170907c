/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Helpers of the data-path selftests (rxfs_iomap, rxfs_reflink): include
 * after kselftest_harness.h.
 */
#ifndef RXFS_DATA_H
#define RXFS_DATA_H

#define MiB (1024 * 1024)

/* One counter of the debugfs stats file, or -1. */
static inline long long stat_of(const char *name)
{
	char path[320], key[64];
	long long v, r = -1;
	FILE *f;

	snprintf(path, sizeof(path), "%s/stats", knobdir);
	f = fopen(path, "r");
	if (!f)
		return -1;
	while (fscanf(f, "%63s %lld", key, &v) == 2)
		if (!strcmp(key, name))
			r = v;
	fclose(f);
	return r;
}

static inline int remount(void)
{
	sync();
	if (umount(RXFS_MNT))
		return -errno;
	return rxfs_mount(rxfs_dev());
}

static inline int fsck_clean(void)
{
	int st;

	if (umount(RXFS_MNT))
		return -errno;
	st = rxfs_run_logged(20, "fsck.rxfs -n %s", rxfs_dev());
	return rxfs_mount(rxfs_dev()) ? -1 : st;
}

/* Counts bytes of [off, off+len) of @path that differ from @c. */
static inline long long mismatches(const char *path, long long off, long long len, int c)
{
	unsigned char buf[4096];
	long long bad = 0, done = 0;
	int fd = open(path, O_RDONLY);

	if (fd < 0)
		return -1;
	while (done < len) {
		ssize_t n = pread(fd, buf, len - done < 4096 ? len - done : 4096, off + done);
		ssize_t i;

		if (n <= 0) {
			bad = -1;
			break;
		}
		for (i = 0; i < n; i++)
			bad += buf[i] != c;
		done += n;
	}
	close(fd);
	return bad;
}

static inline void msleep(int ms)
{
	struct timespec t = { ms / 1000, (ms % 1000) * 1000000L };

	nanosleep(&t, NULL);
}

#define VERDICT(control, lost, what) do {					\
	if (control) {								\
		printf("# control: %lld %s\n", (long long)(lost), what);	\
		EXPECT_LT(0, lost);						\
	} else {								\
		EXPECT_EQ(0, lost);						\
	}									\
} while (0)

/* A fresh rxfs of block size @bs mounted, and the test file's path. */
static inline void fresh_fs(struct __test_metadata *_metadata, int bs, char *path, size_t len)
{
	knob_init();
	umount(RXFS_MNT);
	ASSERT_EQ(0, rxfs_mkfs(rxfs_dev(), bs));
	ASSERT_EQ(0, rxfs_mount(rxfs_dev()));
	snprintf(path, len, RXFS_MNT "/f");
}

#endif
