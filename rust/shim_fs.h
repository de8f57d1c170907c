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
	/*
	 * Data fork sequence: bumped by Rust under the extent lock on every
	 * extent change; the iomap validity cookie.
	 */
	atomic64_t data_seq;
	u64 dblocks;	/* on-disk blocks (under i_lock) */
	s64 delayed;	/* delalloc blocks (under i_lock) */
	char *link;	/* symlink target, NUL terminated */
	/* Completed writeback ioends that need unwritten conversion. */
	spinlock_t ioend_lock;
	struct list_head ioend_list;
	struct work_struct ioend_work;
};

/* Fault-injection knobs (debugfs); -1 disarms an offset. */
struct rxfs_knobs {
	s64 begin_delay_ms;	/* (a) sleep after iomap_begin hands out a write mapping */
	s64 begin_delay_pos;	/*     ... covering this offset (one shot) */
	s64 wb_submit_delay_ms;	/* (b) sleep in writeback before ioend submission */
	s64 wb_complete_delay_ms; /*   ... and before ioend completion */
	s64 short_write_at;	/* (c) a buffered write's copy stops here (one shot) */
	s64 fail_write_at;	/* (c) a buffered write fails at the folio here (one shot) */
	s64 no_iomap_valid;	/* (d) dangerous: iomap_valid always says yes */
	s64 punch_mode;		/* (e) dangerous: 0 correct, 1 naive punch+truncate, 2 none */
	s64 mkwrite_naive;	/* dangerous: page_mkwrite dirties without reserving */
	s64 no_meta_reserve;	/* dangerous: metadata changes do not check for room first */
	s64 no_zero_eof;	/* dangerous: writes past EOF do not zero from the old EOF */
};

/* What the C half keeps per mount; s_fs_info points here. */
struct rxfs_sb_info {
	void *rs;			/* Rust's FsInfo */
	struct rxfs_knobs knobs;
	struct dentry *debugfs;
	struct workqueue_struct *ioend_wq;
	unsigned long flags;
};
#define RXFS_SB_SHUTDOWN	0

static inline struct rxfs_sb_info *RXSB(struct super_block *sb)
{
	return sb->s_fs_info;
}

static inline bool rxfs_is_shutdown(struct super_block *sb)
{
	return test_bit(RXFS_SB_SHUTDOWN, &RXSB(sb)->flags);
}

extern const struct iomap_ops rxfs_read_iomap_ops;
extern const struct iomap_ops rxfs_buffered_write_iomap_ops;

int rxfs_debugfs_init(void);
void rxfs_debugfs_exit(void);
void rxfs_debugfs_mount(struct super_block *sb);

int rxfs_inode_cache_create(void);
void rxfs_inode_cache_destroy(void);
struct inode *rxfs_alloc_inode(struct super_block *sb);
void rxfs_free_inode(struct inode *inode);
int rxfs_write_inode(struct inode *inode, struct writeback_control *wbc);
void rxfs_evict_inode(struct inode *inode);
struct inode *rxfs_iget(struct super_block *sb, u64 ino);

#endif
