/* SPDX-License-Identifier: GPL-2.0 */
/* Declarations shared by the two halves of the C shim. */
#ifndef RXFS_SHIM_FS_H
#define RXFS_SHIM_FS_H

#include <linux/fs.h>
#include <linux/iomap.h>

/* The in-memory inode: the VFS inode plus what rxfs keeps beside it. */
struct rxfs_inode {
	struct inode vfs;
	s64 btime_sec;
	u32 btime_nsec;
	u32 flags;
	/* Data fork sequence: bumped on every extent change (validity cookie). */
	atomic64_t data_seq;
	char *link;	/* symlink target, NUL terminated */
};

extern const struct iomap_ops rxfs_iomap_ops;

int rxfs_inode_cache_create(void);
void rxfs_inode_cache_destroy(void);
struct inode *rxfs_alloc_inode(struct super_block *sb);
void rxfs_free_inode(struct inode *inode);
int rxfs_write_inode(struct inode *inode, struct writeback_control *wbc);
void rxfs_evict_inode(struct inode *inode);
struct inode *rxfs_iget(struct super_block *sb, u64 ino);

#endif
