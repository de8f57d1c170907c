/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Structures shared between rust/shim.c and Rust. Each has a mirror in
 * rust/vfs/ffi.rs with the same size asserted on both sides.
 */
#ifndef RXFS_SHIM_H
#define RXFS_SHIM_H

#include <linux/types.h>

/* What ->statfs reports; the shim copies it into struct kstatfs. */
struct rxfs_statfs {
	u64 blocks;
	u64 bfree;
	u64 bavail;
	u64 files;
	u64 ffree;
	u64 fsid;
	u32 type;
	u32 bsize;
	u32 namelen;
	u32 pad;
};

struct super_block;

/* Implemented in Rust (rust/vfs/super_block.rs), called by the shim. */
int rxfs_rs_fill_super(struct super_block *sb, int silent);
void rxfs_rs_kill_sb(void *fs_info);
int rxfs_rs_statfs(struct super_block *sb, struct rxfs_statfs *st);

/* Implemented by the shim, called from Rust (rust/vfs/ffi.rs). */
int rxfs_shim_register(void);
void rxfs_shim_unregister(void);
const char *rxfs_shim_sb_id(struct super_block *sb);
void *rxfs_shim_sb_info(struct super_block *sb);
void rxfs_shim_sb_set_info(struct super_block *sb, void *info);
u64 rxfs_shim_bdev_bytes(struct super_block *sb);
unsigned int rxfs_shim_bdev_sector_size(struct super_block *sb);
int rxfs_shim_sb_is_rdonly(struct super_block *sb);
int rxfs_shim_bdev_read(struct super_block *sb, u64 pos, void *buf, size_t len);
int rxfs_shim_sb_setup(struct super_block *sb, unsigned int block_size,
		       unsigned long magic, const u8 *uuid);
int rxfs_shim_make_root(struct super_block *sb, u64 ino);

#endif /* RXFS_SHIM_H */
