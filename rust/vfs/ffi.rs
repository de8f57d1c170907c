// SPDX-License-Identifier: GPL-2.0

//! Declarations of the C shim's functions (`rust/shim.c`) and mirrors of the
//! structures in `rust/shim.h`.

use kernel::ffi::{c_char, c_int, c_uint, c_ulong, c_void};

/// `struct super_block`, only ever handled by pointer.
#[repr(C)]
pub(crate) struct RawSuperBlock {
    _opaque: [u8; 0],
}

/// Mirror of `struct rxfs_statfs` in `rust/shim.h`.
#[repr(C)]
#[derive(Default)]
pub(crate) struct RawStatFs {
    pub(crate) blocks: u64,
    pub(crate) bfree: u64,
    pub(crate) bavail: u64,
    pub(crate) files: u64,
    pub(crate) ffree: u64,
    pub(crate) fsid: u64,
    pub(crate) fs_type: u32,
    pub(crate) bsize: u32,
    pub(crate) namelen: u32,
    pub(crate) pad: u32,
}

// The shim asserts the same size.
const _: () = assert!(core::mem::size_of::<RawStatFs>() == 64);

/// `struct folio`, only ever handled by pointer.
#[repr(C)]
pub(crate) struct RawFolio {
    _opaque: [u8; 0],
}

/// Mirror of `struct rxfs_dinode`: the inode fields the VFS inode and the
/// on-disk inode share. Plain integers, so safe code uses it directly.
#[repr(C)]
#[derive(Default, Clone, Copy, Debug)]
pub struct DInode {
    /// Inode number.
    pub ino: u64,
    /// Size in bytes.
    pub size: u64,
    /// Blocks owned.
    pub nblocks: u64,
    /// Access time, seconds.
    pub atime_sec: i64,
    /// Modification time, seconds.
    pub mtime_sec: i64,
    /// Change time, seconds.
    pub ctime_sec: i64,
    /// Birth time, seconds.
    pub btime_sec: i64,
    /// Access time, nanoseconds.
    pub atime_nsec: u32,
    /// Modification time, nanoseconds.
    pub mtime_nsec: u32,
    /// Change time, nanoseconds.
    pub ctime_nsec: u32,
    /// Birth time, nanoseconds.
    pub btime_nsec: u32,
    /// Mode.
    pub mode: u32,
    /// Owner (in the initial user namespace).
    pub uid: u32,
    /// Group.
    pub gid: u32,
    /// Link count.
    pub nlink: u32,
    /// Device number, `new_encode_dev`.
    pub rdev: u32,
    /// Generation.
    pub generation: u32,
    /// Inode flags.
    pub flags: u32,
    /// Zero.
    pub pad: u32,
}
const _: () = assert!(core::mem::size_of::<DInode>() == 104);

/// Mirror of `struct rxfs_dirent`.
#[repr(C)]
pub(crate) struct RawDirent {
    pub(crate) next_pos: i64,
    pub(crate) ino: u64,
    pub(crate) dtype: u32,
    pub(crate) namelen: u32,
    pub(crate) name: [u8; 256],
}
const _: () = assert!(core::mem::size_of::<RawDirent>() == 280);

/// Mirror of `struct rxfs_rename`.
#[repr(C)]
pub(crate) struct RawRename {
    pub(crate) old_dir: u64,
    pub(crate) new_dir: u64,
    pub(crate) old_ino: u64,
    pub(crate) new_ino: u64,
    pub(crate) old_name: *const u8,
    pub(crate) new_name: *const u8,
    pub(crate) old_len: u32,
    pub(crate) new_len: u32,
    pub(crate) flags: u32,
    pub(crate) old_mode: u32,
    pub(crate) new_mode: u32,
    pub(crate) target_last_link: u32,
    pub(crate) whiteout: DInode,
}

/// Mirror of `struct rxfs_map`: an iomap mapping in bytes.
#[repr(C)]
#[derive(Default, Clone, Copy, Debug)]
pub struct Map {
    /// Disk byte address, or [`NULL_ADDR`].
    pub addr: u64,
    /// File offset of the mapping.
    pub offset: u64,
    /// Length in bytes.
    pub length: u64,
    /// `IOMAP_HOLE`, `IOMAP_DELALLOC`, `IOMAP_MAPPED` or `IOMAP_UNWRITTEN`.
    pub kind: u16,
    /// `IOMAP_F_NEW`.
    pub flags: u16,
    /// 1 if `nblocks` is set.
    pub changed: u32,
    /// The inode's on-disk block count afterwards.
    pub nblocks: u64,
    /// Change in the inode's delalloc blocks.
    pub delayed: i64,
    /// The data fork sequence, sampled under the extent lock.
    pub cookie: u64,
}
const _: () = assert!(core::mem::size_of::<Map>() == 56);

/// `IOMAP_NULL_ADDR`.
pub const NULL_ADDR: u64 = u64::MAX;
/// `IOMAP_HOLE`.
pub const IOMAP_HOLE: u16 = 0;
/// `IOMAP_DELALLOC`.
pub const IOMAP_DELALLOC: u16 = 1;
/// `IOMAP_MAPPED`.
pub const IOMAP_MAPPED: u16 = 2;
/// `IOMAP_UNWRITTEN`.
pub const IOMAP_UNWRITTEN: u16 = 3;
/// `IOMAP_F_NEW`.
pub const IOMAP_F_NEW: u16 = 1;
/// `IOMAP_WRITE`.
pub const IOMAP_WRITE: u32 = 1 << 0;
/// `IOMAP_ZERO`.
pub const IOMAP_ZERO: u32 = 1 << 1;
/// `IOMAP_REPORT`.
pub const IOMAP_REPORT: u32 = 1 << 2;
/// `RENAME_NOREPLACE`.
pub const RENAME_NOREPLACE: u32 = 1;
/// `RENAME_EXCHANGE`.
pub const RENAME_EXCHANGE: u32 = 2;
/// `RENAME_WHITEOUT`.
pub const RENAME_WHITEOUT: u32 = 4;

extern "C" {
    pub(crate) fn rxfs_shim_register() -> c_int;
    pub(crate) fn rxfs_shim_unregister();
    pub(crate) fn rxfs_shim_sb_id(sb: *mut RawSuperBlock) -> *const c_char;
    pub(crate) fn rxfs_shim_sb_info(sb: *mut RawSuperBlock) -> *mut c_void;
    pub(crate) fn rxfs_shim_is_shutdown(sb: *mut RawSuperBlock) -> c_int;
    pub(crate) fn rxfs_shim_no_meta_reserve(sb: *mut RawSuperBlock) -> c_int;
    pub(crate) fn rxfs_shim_sb_set_info(sb: *mut RawSuperBlock, info: *mut c_void);
    pub(crate) fn rxfs_shim_bdev_bytes(sb: *mut RawSuperBlock) -> u64;
    pub(crate) fn rxfs_shim_bdev_sector_size(sb: *mut RawSuperBlock) -> c_uint;
    pub(crate) fn rxfs_shim_sb_is_rdonly(sb: *mut RawSuperBlock) -> c_int;
    pub(crate) fn rxfs_shim_bdev_read(
        sb: *mut RawSuperBlock,
        pos: u64,
        buf: *mut c_void,
        len: usize,
    ) -> c_int;
    pub(crate) fn rxfs_shim_sb_setup(
        sb: *mut RawSuperBlock,
        block_size: c_uint,
        magic: c_ulong,
        uuid: *const u8,
    ) -> c_int;
    pub(crate) fn rxfs_shim_make_root(sb: *mut RawSuperBlock, ino: u64) -> c_int;
    pub(crate) fn rxfs_shim_meta_get(
        sb: *mut RawSuperBlock,
        pos: u64,
        folio: *mut *mut RawFolio,
    ) -> *mut c_void;
    pub(crate) fn rxfs_shim_folio_get(folio: *mut RawFolio);
    pub(crate) fn rxfs_shim_folio_put(folio: *mut RawFolio);
    pub(crate) fn rxfs_shim_meta_write(
        sb: *mut RawSuperBlock,
        pos: *const u64,
        folios: *const *mut RawFolio,
        n: usize,
        len: c_uint,
    ) -> c_int;
    pub(crate) fn rxfs_shim_bdev_flush(sb: *mut RawSuperBlock) -> c_int;
    pub(crate) fn rxfs_shim_nofs_save() -> c_uint;
    pub(crate) fn rxfs_shim_nofs_restore(flags: c_uint);
}
