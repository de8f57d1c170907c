// SPDX-License-Identifier: GPL-2.0
/*
 * POSIX ACLs (system.posix_acl_access, system.posix_acl_default) and
 * idmapped mounts, at 1k and 4k blocks. ACLs are set and read as the raw xattrs setfacl and
 * getfacl use (struct posix_acl_xattr_header and entries).
 *
 *  enforced: a named-user entry grants what the mode does not: uid 1234
 *    cannot read a 0600 root file (control), can once the ACL names it,
 *    and still cannot write; uid 1235 still cannot read. The mode's group
 *    bits show the mask. The ACL reads back byte for byte, is listed, and
 *    holds after a remount (read from disk, not from the VFS's cache); a
 *    default ACL on a file is EACCES, as on XFS. fsck is clean.
 *  inherit: a directory's default ACL is inherited: a new file gets it as
 *    its access ACL, masked by the mode asked for and not by the umask
 *    (0666 under umask 022 gives 0660); a new directory gets it as its
 *    default ACL too; both survive a crash after fsync.
 *  umask: where the directory has no default ACL the umask applies (with
 *    SB_POSIXACL set the VFS leaves it to the filesystem): 0666 gives
 *    0644 and 0777 gives 0755.
 *  chmod: chmod rewrites the access ACL's mask and other entries (the
 *    named entry that could write no longer can, with that write as the
 *    control), in the cache and on disk; an ACL
 *    that the mode says all of is not stored (nothing listed afterwards)
 *    and sets the mode; removing the ACL leaves the mode.
 *  no_feature: on a filesystem made with -m acl=0 the ACL names are
 *    EOPNOTSUPP and the umask still applies.
 *  idmapped: an idmapped mount of rxfs (FS_ALLOW_IDMAP; a user namespace
 *    mapping 0-999 to 10000-10999) shows on-disk owner 0 as 10000 and 7
 *    as 10007; a file created through it by fsuid 10000 is owned by 0 on
 *    disk; root, whom the mapping does not cover, cannot create there
 *    (EOVERFLOW); an ACL naming user 10005 set through it names 5 on
 *    disk and 10005 when read back through it.
 */
#include <sched.h>
#include <sys/fsuid.h>
#include <sys/xattr.h>
#include <linux/fs.h>
#include "rxfs_test.h"
#include "kselftest_harness.h"
#include "rxfs_data.h"

#define A_ACCESS "system.posix_acl_access"
#define A_DEFAULT "system.posix_acl_default"

enum { USER_OBJ = 1, USER = 2, GROUP_OBJ = 4, GROUP = 8, MASK = 0x10, OTHER = 0x20 };

struct ent {
	uint16_t tag, perm;
	uint32_t id;
};

/* The xattr form of an ACL of @n entries, into @buf; its length. */
static size_t acl_make(char *buf, const struct ent *e, int n)
{
	uint32_t v = 2;
	int i;

	memcpy(buf, &v, 4);
	for (i = 0; i < n; i++)
		memcpy(buf + 4 + 8 * i, &e[i], 8);
	return 4 + 8 * n;
}

/* The permission of the entry @tag (@id for USER/GROUP) in @path's ACL
 * @name, or -1 if there is none. */
static int acl_perm(const char *path, const char *name, int tag, uint32_t id)
{
	char buf[1024];
	ssize_t n = getxattr(path, name, buf, sizeof(buf));
	struct ent e;
	ssize_t i;

	for (i = 4; n > 0 && i + 8 <= n; i += 8) {
		memcpy(&e, buf + i, 8);
		if (e.tag == tag && (tag != USER && tag != GROUP ? 1 : e.id == id))
			return e.perm;
	}
	return -1;
}

/* Runs open(@path, @flags) as uid/gid @uid in a child: 0 or the errno. */
static int open_as(const char *path, int flags, uid_t uid)
{
	int st;
	pid_t pid = fork();

	if (pid == 0) {
		int fd;

		if (setgid(uid) || setuid(uid))
			_exit(200);
		fd = open(path, flags);
		_exit(fd < 0 ? errno : 0);
	}
	if (pid < 0 || waitpid(pid, &st, 0) != pid || !WIFEXITED(st))
		return -1;
	return WEXITSTATUS(st);
}

static int mode_of(const char *path)
{
	struct stat st;

	return stat(path, &st) ? -1 : (int)(st.st_mode & 07777);
}

FIXTURE(a) {
	char f[256], d[256];
};

FIXTURE_VARIANT(a) {
	int bs;
};

FIXTURE_VARIANT_ADD(a, bs1k) { .bs = 1024 };
FIXTURE_VARIANT_ADD(a, bs4k) { .bs = 4096 };

FIXTURE_SETUP(a)
{
	int fd;

	knob_init();
	umount(RXFS_MNT);
	ASSERT_EQ(0, rxfs_mkfs(rxfs_dev(), variant->bs));
	ASSERT_EQ(0, rxfs_mount(rxfs_dev()));
	snprintf(self->f, sizeof(self->f), RXFS_MNT "/f");
	snprintf(self->d, sizeof(self->d), RXFS_MNT "/d");
	fd = open(self->f, O_RDWR | O_CREAT, 0600);
	ASSERT_LE(0, fd);
	ASSERT_EQ(5, write(fd, "data\n", 5));
	close(fd);
	ASSERT_EQ(0, chmod(self->f, 0600));
	ASSERT_EQ(0, mkdir(self->d, 0755));
	ASSERT_EQ(0, chmod(RXFS_MNT, 0755));
}

FIXTURE_TEARDOWN(a)
{
	umask(022);
	umount(RXFS_MNT);
}

TEST_F_TIMEOUT(a, enforced, 120)
{
	struct ent e[] = {
		{ USER_OBJ, 6, -1 }, { USER, 4, 1234 }, { GROUP_OBJ, 0, -1 }, { MASK, 4, -1 }, { OTHER, 0, -1 },
	};
	char acl[128], back[128], list[256];
	size_t n = acl_make(acl, e, 5);

	/* The control: the mode alone keeps 1234 out. */
	ASSERT_EQ(EACCES, open_as(self->f, O_RDONLY, 1234));
	ASSERT_EQ(-1, getxattr(self->f, A_ACCESS, back, sizeof(back)));
	ASSERT_EQ(ENODATA, errno);
	ASSERT_EQ(0, setxattr(self->f, A_ACCESS, acl, n, 0));
	EXPECT_EQ(0640, mode_of(self->f)) TH_LOG("the group bits show the mask");
	EXPECT_EQ(0, open_as(self->f, O_RDONLY, 1234)) TH_LOG("the named entry does not grant read");
	EXPECT_EQ(EACCES, open_as(self->f, O_WRONLY, 1234));
	EXPECT_EQ(EACCES, open_as(self->f, O_RDONLY, 1235));
	ASSERT_EQ((ssize_t)n, getxattr(self->f, A_ACCESS, back, sizeof(back)));
	EXPECT_EQ(0, memcmp(acl, back, n));
	ASSERT_LT(0, listxattr(self->f, list, sizeof(list)));
	EXPECT_STREQ(A_ACCESS, list);
	/* A default ACL is for directories. */
	EXPECT_EQ(-1, setxattr(self->f, A_DEFAULT, acl, n, 0));
	EXPECT_EQ(EACCES, errno);
	/* From disk. */
	ASSERT_EQ(0, umount(RXFS_MNT));
	ASSERT_EQ(0, rxfs_mount(rxfs_dev()));
	EXPECT_EQ(0, open_as(self->f, O_RDONLY, 1234));
	EXPECT_EQ(EACCES, open_as(self->f, O_RDONLY, 1235));
	ASSERT_EQ((ssize_t)n, getxattr(self->f, A_ACCESS, back, sizeof(back)));
	EXPECT_EQ(0, memcmp(acl, back, n));
	EXPECT_EQ(0640, mode_of(self->f));
	EXPECT_EQ(0, fsck_clean());
}

TEST_F_TIMEOUT(a, inherit, 120)
{
	struct ent e[] = {
		{ USER_OBJ, 7, -1 }, { USER, 7, 1234 }, { GROUP_OBJ, 5, -1 }, { MASK, 7, -1 }, { OTHER, 0, -1 },
	};
	char acl[128], back[128], file[300], sub[300];
	size_t n = acl_make(acl, e, 5);
	uint32_t how = 2;
	int fd;

	ASSERT_EQ(0, setxattr(self->d, A_DEFAULT, acl, n, 0));
	EXPECT_EQ(0755, mode_of(self->d)) TH_LOG("a default ACL does not change the mode");
	snprintf(file, sizeof(file), "%s/file", self->d);
	snprintf(sub, sizeof(sub), "%s/sub", self->d);
	umask(022);
	fd = open(file, O_CREAT | O_RDWR, 0666);
	ASSERT_LE(0, fd);
	ASSERT_EQ(0, mkdir(sub, 0777));
	EXPECT_EQ(0660, mode_of(file)) TH_LOG("masked by the mode asked for, not by the umask");
	EXPECT_EQ(0770, mode_of(sub));
	EXPECT_EQ(7, acl_perm(file, A_ACCESS, USER, 1234));
	EXPECT_EQ(6, acl_perm(file, A_ACCESS, MASK, 0));
	EXPECT_EQ(-1, acl_perm(file, A_DEFAULT, USER_OBJ, 0)) TH_LOG("a file has no default ACL");
	EXPECT_EQ((ssize_t)n, getxattr(sub, A_DEFAULT, back, sizeof(back)));
	EXPECT_EQ(0, memcmp(acl, back, n));
	EXPECT_EQ(7, acl_perm(sub, A_ACCESS, MASK, 0));
	EXPECT_EQ(0, open_as(file, O_RDWR, 1234)) TH_LOG("the inherited named entry does not grant access");
	/* Durable with the inode: fsync, then a shutdown that flushes nothing. */
	ASSERT_EQ(0, fsync(fd));
	close(fd);
	fd = open(sub, O_RDONLY | O_DIRECTORY);
	ASSERT_LE(0, fd);
	ASSERT_EQ(0, fsync(fd));
	ASSERT_EQ(0, ioctl(fd, RXFS_IOC_GOINGDOWN, &how));
	close(fd);
	ASSERT_EQ(0, umount(RXFS_MNT));
	ASSERT_EQ(0, rxfs_mount(rxfs_dev()));
	EXPECT_EQ(0660, mode_of(file));
	EXPECT_EQ(7, acl_perm(file, A_ACCESS, USER, 1234));
	EXPECT_EQ((ssize_t)n, getxattr(sub, A_DEFAULT, back, sizeof(back)));
	EXPECT_EQ(0, fsck_clean());
}

TEST_F_TIMEOUT(a, umask, 120)
{
	char file[300], sub[300];

	snprintf(file, sizeof(file), "%s/file", self->d);
	snprintf(sub, sizeof(sub), "%s/sub", self->d);
	umask(022);
	close(open(file, O_CREAT | O_RDWR, 0666));
	ASSERT_EQ(0, mkdir(sub, 0777));
	EXPECT_EQ(0644, mode_of(file));
	EXPECT_EQ(0755, mode_of(sub));
	EXPECT_EQ(0, listxattr(file, NULL, 0));
}

TEST_F_TIMEOUT(a, chmod, 120)
{
	struct ent e[] = {
		{ USER_OBJ, 6, -1 }, { USER, 6, 1234 }, { GROUP_OBJ, 4, -1 }, { MASK, 6, -1 }, { OTHER, 4, -1 },
	};
	struct ent plain[] = { { USER_OBJ, 6, -1 }, { GROUP_OBJ, 4, -1 }, { OTHER, 4, -1 } };
	char acl[128];
	size_t n = acl_make(acl, e, 5);

	ASSERT_EQ(0, setxattr(self->f, A_ACCESS, acl, n, 0));
	EXPECT_EQ(0664, mode_of(self->f));
	/* The control: the mask lets the named entry write. */
	ASSERT_EQ(0, open_as(self->f, O_WRONLY, 1234));
	ASSERT_EQ(0, chmod(self->f, 0640));
	EXPECT_EQ(4, acl_perm(self->f, A_ACCESS, MASK, 0)) TH_LOG("chmod did not rewrite the mask");
	EXPECT_EQ(6, acl_perm(self->f, A_ACCESS, USER, 1234)) TH_LOG("named entries keep their bits");
	EXPECT_EQ(0, acl_perm(self->f, A_ACCESS, OTHER, 0));
	EXPECT_EQ(EACCES, open_as(self->f, O_WRONLY, 1234)) TH_LOG("the mask still lets 1234 write");
	EXPECT_EQ(0, open_as(self->f, O_RDONLY, 1234));
	/* From disk too. */
	ASSERT_EQ(0, umount(RXFS_MNT));
	ASSERT_EQ(0, rxfs_mount(rxfs_dev()));
	EXPECT_EQ(4, acl_perm(self->f, A_ACCESS, MASK, 0));
	EXPECT_EQ(0640, mode_of(self->f));
	EXPECT_EQ(EACCES, open_as(self->f, O_WRONLY, 1234));
	/* An ACL the mode says all of: not stored, the mode follows it. */
	n = acl_make(acl, plain, 3);
	ASSERT_EQ(0, setxattr(self->f, A_ACCESS, acl, n, 0));
	EXPECT_EQ(0644, mode_of(self->f));
	EXPECT_EQ(0, listxattr(self->f, NULL, 0));
	EXPECT_EQ(-1, getxattr(self->f, A_ACCESS, acl, sizeof(acl)));
	EXPECT_EQ(ENODATA, errno);
	/* Removing the ACL leaves the mode. */
	n = acl_make(acl, e, 5);
	ASSERT_EQ(0, setxattr(self->f, A_ACCESS, acl, n, 0));
	ASSERT_EQ(0, removexattr(self->f, A_ACCESS));
	EXPECT_EQ(0664, mode_of(self->f));
	EXPECT_EQ(0, listxattr(self->f, NULL, 0));
	EXPECT_EQ(0, fsck_clean());
}

TEST_F_TIMEOUT(a, no_feature, 120)
{
	struct ent plain[] = { { USER_OBJ, 6, -1 }, { GROUP_OBJ, 4, -1 }, { OTHER, 0, -1 } };
	char acl[64], file[300];
	size_t n = acl_make(acl, plain, 3);

	ASSERT_EQ(0, umount(RXFS_MNT));
	ASSERT_EQ(0, rxfs_sh("mkfs.rxfs -q -f -b %d -m acl=0 %s", variant->bs, rxfs_dev()));
	ASSERT_EQ(0, rxfs_mount(rxfs_dev()));
	close(open(self->f, O_CREAT | O_RDWR, 0644));
	EXPECT_EQ(-1, setxattr(self->f, A_ACCESS, acl, n, 0));
	EXPECT_EQ(EOPNOTSUPP, errno);
	EXPECT_EQ(-1, getxattr(self->f, A_ACCESS, acl, sizeof(acl)));
	EXPECT_EQ(EOPNOTSUPP, errno);
	/* user. xattrs still work. */
	EXPECT_EQ(0, setxattr(self->f, "user.a", "1", 1, 0));
	umask(022);
	snprintf(file, sizeof(file), RXFS_MNT "/g");
	close(open(file, O_CREAT | O_RDWR, 0666));
	EXPECT_EQ(0644, mode_of(file));
	EXPECT_EQ(0, fsck_clean());
}

/* A user namespace mapping 0-999 to 10000-10999: an fd to it, or -1. */
static int userns_fd(void)
{
	int p[2], fd = -1, st;
	char path[64], c;
	pid_t pid;

	if (pipe(p))
		return -1;
	pid = fork();
	if (pid == 0) {
		close(p[1]);
		if (unshare(CLONE_NEWUSER))
			_exit(1);
		/* Wait until the parent has the namespace. */
		read(p[0], &c, 1);
		_exit(0);
	}
	close(p[0]);
	usleep(200000);
	snprintf(path, sizeof(path), "/proc/%d/uid_map", pid);
	if (rxfs_sh("echo '0 10000 1000' > %s", path) == 0) {
		snprintf(path, sizeof(path), "/proc/%d/gid_map", pid);
		if (rxfs_sh("echo '0 10000 1000' > %s", path) == 0) {
			snprintf(path, sizeof(path), "/proc/%d/ns/user", pid);
			fd = open(path, O_RDONLY | O_CLOEXEC);
		}
	}
	write(p[1], "x", 1);
	close(p[1]);
	waitpid(pid, &st, 0);
	return fd;
}

/* In a child with fsuid/fsgid @id: creates @path; 0 or the errno. */
static int create_as(const char *path, uid_t id)
{
	int st;
	pid_t pid = fork();

	if (pid == 0) {
		int fd;

		setfsgid(id);
		setfsuid(id);
		fd = open(path, O_CREAT | O_EXCL | O_RDWR, 0644);
		_exit(fd < 0 ? errno : 0);
	}
	if (pid < 0 || waitpid(pid, &st, 0) != pid || !WIFEXITED(st))
		return -1;
	return WEXITSTATUS(st);
}

TEST_F_TIMEOUT(a, idmapped, 120)
{
	const char *idm = "/tmp/rxfs-idmapped";
	struct mount_attr attr = { .attr_set = MOUNT_ATTR_IDMAP };
	struct ent e[] = {
		{ USER_OBJ, 6, -1 }, { USER, 4, 10005 }, { GROUP_OBJ, 4, -1 }, { MASK, 4, -1 }, { OTHER, 0, -1 },
	};
	char p[300], acl[128];
	struct stat st;
	int tree;

	ASSERT_EQ(0, chmod(self->d, 0777));
	ASSERT_EQ(0, chown(self->f, 7, 7));
	mkdir(idm, 0755);
	attr.userns_fd = userns_fd();
	ASSERT_LE(0, attr.userns_fd);
	tree = open_tree(AT_FDCWD, RXFS_MNT, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC);
	ASSERT_LE(0, tree);
	ASSERT_EQ(0, mount_setattr(tree, "", AT_EMPTY_PATH, &attr, sizeof(attr))) TH_LOG("mount_setattr(MOUNT_ATTR_IDMAP): %s", strerror(errno));
	ASSERT_EQ(0, move_mount(tree, "", AT_FDCWD, idm, MOVE_MOUNT_F_EMPTY_PATH));
	close(tree);
	close(attr.userns_fd);

	snprintf(p, sizeof(p), "%s/d", idm);
	ASSERT_EQ(0, stat(p, &st));
	EXPECT_EQ(10000, st.st_uid);
	snprintf(p, sizeof(p), "%s/f", idm);
	ASSERT_EQ(0, stat(p, &st));
	EXPECT_EQ(10007, st.st_uid);
	EXPECT_EQ(10007, st.st_gid);
	/* Created through the mount by 10000: 0 on disk. */
	snprintf(p, sizeof(p), "%s/d/by10000", idm);
	EXPECT_EQ(0, create_as(p, 10000));
	ASSERT_EQ(0, stat(p, &st));
	EXPECT_EQ(10000, st.st_uid);
	ASSERT_EQ(0, stat(RXFS_MNT "/d/by10000", &st));
	EXPECT_EQ(0, st.st_uid);
	EXPECT_EQ(0, st.st_gid);
	/* Root is not in the mapping. */
	snprintf(p, sizeof(p), "%s/d/byroot", idm);
	EXPECT_EQ(EOVERFLOW, create_as(p, 0));
	/* An ACL's ids are mapped too. */
	snprintf(p, sizeof(p), "%s/f", idm);
	ASSERT_EQ(0, setxattr(p, A_ACCESS, acl, acl_make(acl, e, 5), 0));
	EXPECT_EQ(4, acl_perm(RXFS_MNT "/f", A_ACCESS, USER, 5)) TH_LOG("on disk the named user is not 5");
	EXPECT_EQ(4, acl_perm(p, A_ACCESS, USER, 10005));
	ASSERT_EQ(0, umount2(idm, MNT_DETACH));
	EXPECT_EQ(0, fsck_clean());
}

TEST_HARNESS_MAIN
