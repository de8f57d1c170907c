// SPDX-License-Identifier: GPL-2.0
/*
 * dm-log-writes replay, as fstests generic/482 does it, without fstests:
 * every write the filesystem sends to its device during a workload is
 * recorded (dm-log-writes: /dev/vda the filesystem, /dev/vdb the log), then
 * replayed onto a copy of the freshly made filesystem up to each flush or
 * FUA request in turn; at each such mark fsck.rxfs -n must find a copy of
 * the replayed image clean as it is (its log replayed in memory, as
 * generic/757 checks), the copy must mount by itself (recovering the
 * journal) and fsck.rxfs -n must find it clean afterwards. Between marks,
 * a sample of other points (every write completed up to there: what a
 * power cut with no volatile cache leaves) is checked too.
 *
 *   RXFS_TEST_BS             block size (default 4096)
 *   RXFS_LW_OPS              workload operations (default 120)
 *   RXFS_LW_EVERY            also check every Nth other write (default 5)
 *   RXFS_LW_CONTROL=1        negative control: a filesystem made without a
 *                            journal (mkfs.rxfs -l size=0); the test then
 *                            passes if some point is damaged
 *   RXFS_LW_NLINK_CONTROL=1  negative control of the write_inode race: the
 *                            dangerous knob nlink_from_vfs (write_inode
 *                            writes the VFS's stale link count); passes if
 *                            some point is damaged
 *
 * While the workload runs (with a journal), a second process calls
 * syncfs() every SYNC_MS, and knob (h) ns_delay_ms holds every namespace
 * operation for NS_DELAY_MS between its metadata change and the update of
 * its VFS inodes: writeback and commits land inside those windows, as the
 * flusher threads' do under fsstress (generic/482 found "link count 2,
 * should be 3" that way). A point whose image is the same as the last
 * one checked (no write since) is not checked again.
 *
 * Runs in the test VM with two scratch disks (selftests/rxfs_logwrites.sh
 * runs it at 1k and 4k and the control). Needs dmsetup and losetup.
 */
#include <dirent.h>
#include <sys/sysmacros.h>
#include "rxfs_test.h"

#define LOG_FLUSH 1
#define LOG_FUA 2
#define LOG_DISCARD 4
#define LOG_MARK 8
#define LW_MAGIC 0x6a736677736872ull
#define MNT "/tmp/lw"
#define NODE "/tmp/rxfs-lw"
#define BASE "/tmp/lw-base.img"
#define REPLAY "/tmp/lw-replay.img"
#define CHECK "/tmp/lw-check.img"
#define SYNC_MS 200
#define NS_DELAY_MS 100

struct lw_super {
	uint64_t magic, version, nr_entries;
	uint32_t sectorsize;
} __attribute__((packed));

struct lw_entry {
	uint64_t sector, nr_sectors, flags, data_len;
} __attribute__((packed));


/* A process that calls syncfs() on MNT every SYNC_MS until killed. */
static pid_t start_syncer(void)
{
	pid_t pid = fork();

	if (pid == 0) {
		int fd = open(MNT, O_RDONLY | O_DIRECTORY);
		struct timespec t = { 0, SYNC_MS * 1000000L };

		for (;;) {
			if (fd >= 0)
				syncfs(fd);
			nanosleep(&t, NULL);
		}
	}
	return pid;
}

static int copy_file(const char *from, const char *to)
{
	return rxfs_sh("cp --sparse=always %s %s", from, to);
}

/* The workload: files written and fsync'd, renamed, linked, removed,
 * directories made and removed, O_DIRECT writes, ranges cloned and then
 * overwritten (copy-on-write). */
static void workload(int ops)
{
	char a[128], b[128];
	static char buf[65536] __attribute__((aligned(4096)));
	int i, fd;

	for (i = 0; i < 4; i++) {
		snprintf(a, sizeof(a), MNT "/d%d", i);
		mkdir(a, 0755);
	}
	for (i = 0; i < ops; i++) {
		int r = rxfs_rnd() % 100;

		snprintf(a, sizeof(a), MNT "/d%u/f%u", (unsigned)(rxfs_rnd() % 4), (unsigned)(rxfs_rnd() % 24));
		snprintf(b, sizeof(b), MNT "/d%u/f%u", (unsigned)(rxfs_rnd() % 4), (unsigned)(rxfs_rnd() % 24));
		memset(buf, 'a' + i % 26, sizeof(buf));
		if (r < 35) {
			fd = open(a, O_CREAT | O_WRONLY, 0644);
			if (fd >= 0) {
				if (pwrite(fd, buf, 1 + rxfs_rnd() % sizeof(buf), rxfs_rnd() % (128 << 10)) < 0)
					perror("# pwrite");
				if (rxfs_rnd() % 3 == 0)
					fsync(fd);
				close(fd);
			}
		} else if (r < 45) {
			fd = open(a, O_CREAT | O_WRONLY | O_DIRECT, 0644);
			if (fd >= 0) {
				if (pwrite(fd, buf, 4096 * (1 + rxfs_rnd() % 8), 4096 * (rxfs_rnd() % 32)) < 0)
					perror("# pwrite O_DIRECT");
				if (rxfs_rnd() % 2 == 0)
					fsync(fd);
				close(fd);
			}
		} else if (r < 55) {
			rename(a, b);
		} else if (r < 62) {
			link(a, b);
		} else if (r < 72) {
			unlink(a);
		} else if (r < 77) {
			if (truncate(a, rxfs_rnd() % (200 << 10)) && errno != ENOENT)
				perror("# truncate");
		} else if (r < 81) {
			snprintf(a, sizeof(a), MNT "/d%u/x%u", (unsigned)(rxfs_rnd() % 4), (unsigned)(rxfs_rnd() % 6));
			if (rxfs_rnd() % 2)
				mkdir(a, 0755);
			else
				rmdir(a);
		} else if (r < 91) {
			/* Reflink: clone a range, then the copy-on-write paths. */
			struct file_clone_range fcr = { 0 };
			int src = open(a, O_RDONLY), dst = open(b, O_CREAT | O_WRONLY, 0644);

			if (src >= 0 && dst >= 0 && src != dst) {
				fcr.src_fd = src;
				fcr.src_offset = 4096 * (rxfs_rnd() % 16);
				fcr.src_length = 4096 * (1 + rxfs_rnd() % 16);
				fcr.dest_offset = 4096 * (rxfs_rnd() % 16);
				ioctl(dst, FICLONERANGE, &fcr);
				if (pwrite(dst, buf, 1 + rxfs_rnd() % 8192, fcr.dest_offset + rxfs_rnd() % 4096) < 0)
					perror("# pwrite after clone");
				if (rxfs_rnd() % 2)
					fsync(dst);
			}
			if (src >= 0)
				close(src);
			if (dst >= 0)
				close(dst);
		} else if (r < 95) {
			snprintf(a, sizeof(a), MNT "/d%u", (unsigned)(rxfs_rnd() % 4));
			fd = open(a, O_RDONLY);
			if (fd >= 0) {
				fsync(fd);
				close(fd);
			}
		} else {
			sync();
		}
	}
}

/*
 * fsck -n of @loop at point @idx (@what), @when ("before mount" or
 * "after mount"); 0 if clean, else 1 with the reason in @why and the
 * first lines of its report printed.
 */
static int fsck_point(const char *loop, uint64_t idx, const char *what, const char *when, char *why, size_t whylen)
{
	int ret = rxfs_sh("fsck.rxfs -n %s > /tmp/lw-fsck.out 2>&1", loop);

	if (!ret)
		return 0;
	snprintf(why, whylen, "entry %llu (%s): fsck -n %s exit %d", (unsigned long long)idx, what, when, ret);
	rxfs_sh("head -5 /tmp/lw-fsck.out | sed 's/^/#     /'");
	return 1;
}

/*
 * Checks a copy of the replayed image; 0 if fsck -n finds it clean, it
 * mounts and fsck is clean after.
 */
static int check_point(uint64_t idx, const char *what, char *why, size_t whylen)
{
	char loop[64];
	int ret;

	if (copy_file(REPLAY, CHECK)) {
		snprintf(why, whylen, "copy failed");
		return -1;
	}
	if (rxfs_losetup(CHECK, loop, sizeof(loop))) {
		snprintf(why, whylen, "losetup failed");
		return -1;
	}
	/*
	 * fsck -n first, on the device as the cut left it (fstests
	 * generic/757 does this): it replays the log in memory and must find
	 * clean what mount will then make of it.
	 */
	ret = fsck_point(loop, idx, what, "before mount", why, whylen);
	if (!ret && mount(loop, MNT, "rxfs", 0, NULL)) {
		snprintf(why, whylen, "entry %llu (%s): mount: %s", (unsigned long long)idx, what, strerror(errno));
		ret = 1;
	} else if (!ret) {
		umount(MNT);
		ret = fsck_point(loop, idx, what, "after mount", why, whylen);
	}
	rxfs_sh("losetup -d %s", loop);
	return ret;
}

int main(void)
{
	const char *dev = "/dev/vda", *logdev = "/dev/vdb";
	int bs = rxfs_test_bs() ? rxfs_test_bs() : 4096;
	int ops = getenv("RXFS_LW_OPS") ? atoi(getenv("RXFS_LW_OPS")) : 120;
	int every = getenv("RXFS_LW_EVERY") ? atoi(getenv("RXFS_LW_EVERY")) : 5;
	int control = getenv("RXFS_LW_CONTROL") && atoi(getenv("RXFS_LW_CONTROL"));
	int nlink_control = getenv("RXFS_LW_NLINK_CONTROL") && atoi(getenv("RXFS_LW_NLINK_CONTROL"));
	int wrote = 1;
	pid_t syncer;
	unsigned long long sectors;
	unsigned int maj, min;
	struct lw_super sup;
	unsigned char *sec, *data = NULL;
	uint64_t i, pos, marks = 0, others = 0, bad_marks = 0, bad_others = 0, since = 0;
	char why[256], first_bad[256] = "";
	FILE *f;
	int lfd, rfd;

	setvbuf(stdout, NULL, _IOLBF, 0);
	rxfs_rng = 0x1234567 + bs + control;
	printf("# dm-log-writes replay, %d-byte blocks, %d operations%s\n", bs, ops,
	       control ? ", negative control: no journal" :
	       nlink_control ? ", negative control: nlink_from_vfs" : "");
	if (rxfs_sh("mkfs.rxfs -q -f -b %d %s %s", bs, control ? "-l size=0" : "", dev) ||
	    rxfs_sh("dd if=%s of=%s bs=1M conv=sparse status=none", dev, BASE)) {
		rxfs_result(0, "logwrites.setup # mkfs or the base image");
		return 1;
	}
	rxfs_sh("dd if=/dev/zero of=%s bs=1M count=1 status=none", logdev);
	f = popen("blockdev --getsz /dev/vda", "r");
	if (!f || fscanf(f, "%llu", &sectors) != 1) {
		rxfs_result(0, "logwrites.setup # device size");
		return 1;
	}
	pclose(f);
	setenv("DM_DISABLE_UDEV", "1", 1);
	if (rxfs_sh("dmsetup create rxfs-lw --table '0 %llu log-writes %s %s'", sectors, dev, logdev)) {
		rxfs_result(0, "logwrites.setup # dmsetup create log-writes");
		return 1;
	}
	/* No udev: make the node from the mapping's numbers. */
	f = popen("dmsetup info -c --noheadings -o major,minor rxfs-lw", "r");
	if (!f || fscanf(f, "%u:%u", &maj, &min) != 2 || (unlink(NODE), mknod(NODE, S_IFBLK | 0600, makedev(maj, min)))) {
		rxfs_result(0, "logwrites.setup # device node");
		return 1;
	}
	pclose(f);
	mkdir(MNT, 0755);
	if (mount(NODE, MNT, "rxfs", 0, NULL)) {
		rxfs_result(0, "logwrites.mount # %s", strerror(errno));
		return 1;
	}
	/* The mount's debugfs directory is named after the dm device. */
	snprintf(knobdir, sizeof(knobdir), "/sys/kernel/debug/rxfs/dm-%u", min);
	/* Without a journal every point is torn anyway: no windows needed. */
	if (!control && (knob("ns_delay_ms", NS_DELAY_MS) ||
			 (nlink_control && (dangerous(1) || knob("nlink_from_vfs", 1))))) {
		rxfs_result(0, "logwrites.knobs # %s", knobdir);
		return 1;
	}
	syncer = control ? 0 : start_syncer();
	workload(ops);
	if (syncer > 0) {
		kill(syncer, SIGKILL);
		waitpid(syncer, NULL, 0);
	}
	control |= nlink_control;
	knob("ns_delay_ms", 0);
	knob("nlink_from_vfs", 0);
	dangerous(0);
	if (umount(MNT) || rxfs_sh("dmsetup remove rxfs-lw")) {
		rxfs_result(0, "logwrites.record # umount or dmsetup remove");
		return 1;
	}
	rxfs_result(1, "logwrites.record");

	/* Replay. */
	lfd = open(logdev, O_RDONLY);
	if (lfd < 0 || pread(lfd, &sup, sizeof(sup), 0) != sizeof(sup) || sup.magic != LW_MAGIC ||
	    !sup.sectorsize || sup.sectorsize > 65536) {
		rxfs_result(0, "logwrites.log_super");
		return 1;
	}
	printf("# %llu entries, sector size %u\n", (unsigned long long)sup.nr_entries, sup.sectorsize);
	if (copy_file(BASE, REPLAY)) {
		rxfs_result(0, "logwrites.replay_image");
		return 1;
	}
	rfd = open(REPLAY, O_WRONLY);
	sec = malloc(sup.sectorsize);
	if (rfd < 0 || !sec) {
		rxfs_result(0, "logwrites.replay_image");
		return 1;
	}
	pos = sup.sectorsize;
	for (i = 0; i < sup.nr_entries; i++) {
		struct lw_entry e;
		uint64_t len;
		int mark, ret;

		if (pread(lfd, sec, sup.sectorsize, pos) != (ssize_t)sup.sectorsize) {
			rxfs_result(0, "logwrites.read_entry # entry %llu", (unsigned long long)i);
			return 1;
		}
		memcpy(&e, sec, sizeof(e));
		pos += sup.sectorsize;
		len = e.nr_sectors * sup.sectorsize;
		if (!(e.flags & (LOG_DISCARD | LOG_MARK)) && len) {
			data = realloc(data, len);
			if (!data || pread(lfd, data, len, pos) != (ssize_t)len ||
			    pwrite(rfd, data, len, e.sector * sup.sectorsize) != (ssize_t)len) {
				rxfs_result(0, "logwrites.apply # entry %llu", (unsigned long long)i);
				return 1;
			}
			pos += len;
			wrote = 1;
		}
		mark = !!(e.flags & (LOG_FLUSH | LOG_FUA));
		since++;
		if (!mark && !(every > 0 && since % every == 0))
			continue;
		if (!wrote)
			continue;	/* the image checked last, again */
		wrote = 0;
		fsync(rfd);
		ret = check_point(i, mark ? "flush/FUA" : "between marks", why, sizeof(why));
		if (ret < 0) {
			rxfs_result(0, "logwrites.check # %s", why);
			return 1;
		}
		if (mark) {
			marks++;
			bad_marks += ret;
			since = 0;
		} else {
			others++;
			bad_others += ret;
		}
		if (ret) {
			printf("# %s\n", why);
			if (!first_bad[0])
				snprintf(first_bad, sizeof(first_bad), "%s", why);
		}
	}
	printf("# %llu marks checked (%llu damaged), %llu points between marks (%llu damaged)\n",
	       (unsigned long long)marks, (unsigned long long)bad_marks, (unsigned long long)others,
	       (unsigned long long)bad_others);
	if (control) {
		rxfs_result(bad_marks + bad_others > 0, "logwrites.control_sees_damage # %llu of %llu points damaged %s",
		       (unsigned long long)(bad_marks + bad_others), (unsigned long long)(marks + others),
		       nlink_control ? "with nlink_from_vfs" : "without a journal");
		return bad_marks + bad_others > 0 ? 0 : 1;
	}
	rxfs_result(marks > 0 && !bad_marks, "logwrites.every_mark_recovers_clean # %llu marks, %llu damaged%s%s",
	       (unsigned long long)marks, (unsigned long long)bad_marks, first_bad[0] ? "; first: " : "", first_bad);
	rxfs_result(!bad_others, "logwrites.between_marks_recover_clean # %llu points, %llu damaged",
	       (unsigned long long)others, (unsigned long long)bad_others);
	return bad_marks || bad_others || !marks;
}
