/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Structures shared between the C shim (rust/shim*.c) and Rust. Each has a
 * mirror in rust/vfs/ffi.rs with the same size asserted on both sides.
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

/* The inode fields the VFS and the on-disk inode share. */
struct rxfs_dinode {
	u64 ino;
	u64 size;
	u64 nblocks;
	s64 atime_sec, mtime_sec, ctime_sec, btime_sec;
	u32 atime_nsec, mtime_nsec, ctime_nsec, btime_nsec;
	u32 mode, uid, gid, nlink, rdev, generation, flags, pad;
};

/* One directory entry for readdir. */
struct rxfs_dirent {
	s64 next_pos;
	u64 ino;
	u32 type;
	u32 namelen;
	u8 name[256];
};

/* A rename: all inode numbers; new_ino 0 if the target does not exist. */
struct rxfs_rename {
	u64 old_dir, new_dir, old_ino, new_ino;
	const u8 *old_name, *new_name;
	u32 old_len, new_len;
	u32 flags;
	u32 old_mode, new_mode;
	u32 target_last_link;	/* the target's link count drops to zero */
	struct rxfs_dinode whiteout;	/* in: owner, times; out: ino */
};

/* A mapping for iomap, in bytes, and what an extent operation changed. */
struct rxfs_map {
	u64 addr;	/* disk byte address, or IOMAP_NULL_ADDR */
	u64 offset;
	u64 length;
	u16 type;	/* IOMAP_HOLE, _DELALLOC, _MAPPED, _UNWRITTEN */
	u16 flags;	/* IOMAP_F_NEW */
	u32 changed;	/* 1: nblocks is set */
	u64 nblocks;	/* the inode's on-disk block count after the call */
	s64 delayed;	/* change in the inode's delalloc blocks */
	u64 cookie;	/* data fork sequence, sampled under the extent lock */
};

/* Extent operations (rust/data.rs XOp, same order). */
enum rxfs_xop {
	RXFS_XOP_READ,		/* map; delalloc shows as IOMAP_DELALLOC */
	RXFS_XOP_BWRITE,	/* map for a buffered write: holes become delalloc */
	RXFS_XOP_DWRITE,	/* map for O_DIRECT: holes, delalloc become unwritten */
	RXFS_XOP_WRITEBACK,	/* map for writeback: delalloc becomes unwritten */
	RXFS_XOP_PUNCH_DELALLOC,	/* remove only delalloc in the range */
	RXFS_XOP_CONVERT,	/* unwritten -> written (I/O completion) */
	RXFS_XOP_PREALLOC,	/* fallocate: unwritten over holes and delalloc */
	RXFS_XOP_REMOVE,	/* unmap the range (blocks and delalloc) */
	RXFS_XOP_COLLAPSE,	/* remove the range, shift the rest down */
	RXFS_XOP_INSERT,	/* shift everything from pos up by len */
};

struct super_block;
struct folio;

/* Implemented in Rust (rust/vfs/), called by the shim. */
int rxfs_rs_fill_super(struct super_block *sb, int silent);
void rxfs_rs_kill_sb(void *fs_info);
int rxfs_rs_statfs(struct super_block *sb, struct rxfs_statfs *st);
int rxfs_rs_sync_fs(struct super_block *sb, int wait);
int rxfs_rs_read_inode(struct super_block *sb, u64 ino, struct rxfs_dinode *di,
		       u8 *link, u32 linkmax);
int rxfs_rs_write_inode(struct super_block *sb, const struct rxfs_dinode *di);
int rxfs_rs_evict_inode(struct super_block *sb, u64 ino, int unlinked);
int rxfs_rs_lookup(struct super_block *sb, u64 dir, const u8 *name, u32 len, u64 *ino);
int rxfs_rs_create(struct super_block *sb, u64 dir, const u8 *name, u32 len,
		   struct rxfs_dinode *di, const u8 *link, u32 linklen, int tmpfile);
int rxfs_rs_link(struct super_block *sb, u64 dir, const u8 *name, u32 len,
		 u64 ino, u32 mode);
int rxfs_rs_unlink(struct super_block *sb, u64 dir, const u8 *name, u32 len,
		   u64 ino, int last_link);
int rxfs_rs_orphan_del(struct super_block *sb, u64 ino);
int rxfs_rs_dir_empty(struct super_block *sb, u64 ino);
int rxfs_rs_rename(struct super_block *sb, struct rxfs_rename *r);
int rxfs_rs_readdir(struct super_block *sb, u64 dir, s64 pos, struct rxfs_dirent *de);
int rxfs_rs_xop(struct super_block *sb, u64 ino, atomic64_t *seq, u32 op, u64 pos,
		u64 len, u32 flags, struct rxfs_map *m);
int rxfs_rs_stats(struct super_block *sb, u64 *out);
int rxfs_rs_fsync(struct super_block *sb);

/* Implemented by the shim, called from Rust (rust/vfs/ffi.rs). */
int rxfs_shim_register(void);
void rxfs_shim_unregister(void);
const char *rxfs_shim_sb_id(struct super_block *sb);
void *rxfs_shim_sb_info(struct super_block *sb);
void rxfs_shim_sb_set_info(struct super_block *sb, void *info);
u64 rxfs_shim_bdev_bytes(struct super_block *sb);
unsigned int rxfs_shim_bdev_sector_size(struct super_block *sb);
int rxfs_shim_sb_is_rdonly(struct super_block *sb);
int rxfs_shim_is_shutdown(struct super_block *sb);
int rxfs_shim_no_meta_reserve(struct super_block *sb);
int rxfs_shim_bdev_read(struct super_block *sb, u64 pos, void *buf, size_t len);
int rxfs_shim_sb_setup(struct super_block *sb, unsigned int block_size,
		       unsigned long magic, const u8 *uuid);
int rxfs_shim_make_root(struct super_block *sb, u64 ino);
void *rxfs_shim_meta_get(struct super_block *sb, u64 pos, struct folio **folio);
void rxfs_shim_folio_get(struct folio *folio);
void rxfs_shim_folio_put(struct folio *folio);
int rxfs_shim_meta_write(struct super_block *sb, const u64 *pos, struct folio **folios,
			 size_t n, unsigned int len);
int rxfs_shim_bdev_flush(struct super_block *sb);
unsigned int rxfs_shim_nofs_save(void);
void rxfs_shim_nofs_restore(unsigned int flags);

#endif /* RXFS_SHIM_H */
