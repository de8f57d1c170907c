// SPDX-License-Identifier: GPL-2.0
/*
 * Module life cycle: rxfs.ko unloads and reloads cleanly, ten times over,
 * with a mount and unmount each time, and cannot be unloaded while mounted.
 * The VM runner fails the run on any kernel warning or leak report.
 *
 * Needs RXFS_KO (the module's path; scripts/vm-run sets it), mkfs.rxfs on
 * PATH and a scratch device (RXFS_TEST_DEV, default /dev/vda).
 */
#include <sys/syscall.h>
#include "rxfs_test.h"
#include "kselftest_harness.h"

static int load(void)
{
	const char *ko = getenv("RXFS_KO");
	int fd, ret;

	if (!ko || !*ko)
		return -ENOENT;
	fd = open(ko, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	ret = syscall(SYS_finit_module, fd, "", 0) ? -errno : 0;
	close(fd);
	return ret;
}

static int unload(void)
{
	return syscall(SYS_delete_module, "rxfs", O_NONBLOCK) ? -errno : 0;
}

static int registered(void)
{
	char line[128];
	FILE *f = fopen("/proc/filesystems", "r");
	int found = 0;

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (!strcmp(line, "\trxfs\n"))
			found = 1;
	fclose(f);
	return found;
}

/* The module may or may not be loaded when a test starts; make it loaded. */
static void ensure_loaded(struct __test_metadata *_metadata)
{
	int ret = load();

	ASSERT_TRUE(ret == 0 || ret == -EEXIST) TH_LOG("load: %s", strerror(-ret));
	ASSERT_EQ(1, registered());
}

TEST(busy_while_mounted)
{
	ensure_loaded(_metadata);
	ASSERT_EQ(0, rxfs_mkfs(rxfs_dev(), 4096));
	ASSERT_EQ(0, rxfs_mount(rxfs_dev()));
	/* In use: refused with EWOULDBLOCK (EBUSY would mean a dependent module). */
	EXPECT_EQ(-EWOULDBLOCK, unload());
	EXPECT_EQ(1, registered());
	ASSERT_EQ(0, umount(RXFS_MNT));
}

TEST(load_mount_unload_ten_times)
{
	ensure_loaded(_metadata);
	ASSERT_EQ(0, rxfs_mkfs(rxfs_dev(), 4096));
	for (int i = 0; i < 10; i++) {
		struct statfs st;

		ASSERT_EQ(0, unload()) TH_LOG("round %d", i);
		ASSERT_EQ(0, registered());
		ASSERT_EQ(-ENODEV, rxfs_mount(rxfs_dev()));
		ASSERT_EQ(0, load()) TH_LOG("round %d", i);
		ASSERT_EQ(1, registered());
		ASSERT_EQ(0, rxfs_mount(rxfs_dev())) TH_LOG("round %d", i);
		ASSERT_EQ(0, statfs(RXFS_MNT, &st));
		ASSERT_EQ(RXFS_MAGIC, (unsigned int)st.f_type);
		ASSERT_EQ(0, umount(RXFS_MNT));
	}
}

TEST_HARNESS_MAIN
