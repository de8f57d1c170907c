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

extern "C" {
    pub(crate) fn rxfs_shim_register() -> c_int;
    pub(crate) fn rxfs_shim_unregister();
    pub(crate) fn rxfs_shim_sb_id(sb: *mut RawSuperBlock) -> *const c_char;
    pub(crate) fn rxfs_shim_sb_info(sb: *mut RawSuperBlock) -> *mut c_void;
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
}
