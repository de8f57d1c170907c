/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The C headers rxfs's Rust bindings come from, beyond those 6.12's
 * `kernel::bindings` already covers. Kbuild runs bindgen over this file
 * (scripts/lib/bindgen-module) into rust/vfs/bindings_generated.rs.
 */
#include <linux/fs.h>
#include <linux/fs_context.h>
#include <linux/fs_parser.h>
#include <linux/iomap.h>
#include <linux/pagemap.h>
#include <linux/debugfs.h>
#include <linux/statfs.h>
#include <linux/falloc.h>
#include <linux/fileattr.h>
#include <linux/slab.h>
#include <linux/uio.h>
#include <linux/bio.h>
#include <linux/blkdev.h>
#include <linux/workqueue.h>
#include <linux/xattr.h>
#include <linux/posix_acl.h>
#include <linux/posix_acl_xattr.h>
#include <linux/fiemap.h>

#include "../helpers.h"

/*
 * Constants bindgen cannot evaluate from their macros (casts, calls),
 * evaluated by clang here as mainline's RUST_CONST_HELPER_* are.
 */
const int RXFS_CONST_IOCB_NOWAIT = IOCB_NOWAIT;
const int RXFS_CONST_IOCB_APPEND = IOCB_APPEND;
const int RXFS_CONST_IOCB_HIPRI = IOCB_HIPRI;
const unsigned int RXFS_CONST_FMODE_CAN_ODIRECT = (__force unsigned int)FMODE_CAN_ODIRECT;
const slab_flags_t RXFS_CONST_SLAB_INODE_FLAGS = SLAB_RECLAIM_ACCOUNT | SLAB_ACCOUNT;
const loff_t RXFS_CONST_MAX_LFS_FILESIZE = MAX_LFS_FILESIZE;
const unsigned int RXFS_CONST_WQ_IOEND_FLAGS = WQ_MEM_RECLAIM | WQ_FREEZABLE;
const blk_opf_t RXFS_CONST_REQ_META_WRITE = REQ_OP_WRITE | REQ_META | REQ_SYNC;
const blk_opf_t RXFS_CONST_REQ_META_FUA = REQ_OP_WRITE | REQ_META | REQ_SYNC | REQ_PREFLUSH | REQ_FUA;
const gfp_t RXFS_CONST_GFP_NOFS = GFP_NOFS;
const unsigned int RXFS_CONST_SB_SILENT = SB_SILENT;
const unsigned int RXFS_CONST_SB_RDONLY = SB_RDONLY;
const unsigned int RXFS_CONST_SB_POSIXACL = SB_POSIXACL;
