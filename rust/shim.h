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

#endif /* RXFS_SHIM_H */
