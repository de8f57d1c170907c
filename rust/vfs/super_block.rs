// SPDX-License-Identifier: GPL-2.0

//! Superblocks: mounting (`fill_super`), per-mount data, statfs, unmount.
//!
//! A superblock is seen through one of two types. [`NewSuperBlock`] exists
//! only during `fill_super`: it can read the device and set the superblock
//! up, and has no filesystem data yet. [`SuperBlock`] is a mounted
//! superblock whose data is always there. The C `s_fs_info` pointer is set
//! only when `fill_super` succeeds and freed only in `kill_sb`, so the data
//! outlives every callback that can reach it.

use super::ffi::{self, RawSuperBlock};
use kernel::ffi::{c_int, c_void};
use kernel::prelude::*;
use core::marker::PhantomData;
use kernel::str::CStr;

/// What a filesystem implements. rxfs has one implementation,
/// [`crate::mount::Rxfs`]; the trait keeps the layer's contract explicit.
pub trait FileSystem {
    /// Per-mount data, kept in `s_fs_info` from mount to unmount.
    type Info: Send + Sync;

    /// Reads and verifies the on-disk superblock and sets up `sb`.
    /// `silent` is set when the kernel is probing filesystem types.
    fn fill_super(sb: &NewSuperBlock<'_>, silent: bool) -> Result<Self::Info>;

    /// Finishes mounting once the data is in place: recovery, the root.
    fn fill_root(sb: &SuperBlock<'_, Self>) -> Result;

    /// Reports the filesystem's space and inode figures.
    fn statfs(sb: &SuperBlock<'_, Self>) -> Result<StatFs>;
}

/// The one filesystem this layer serves.
type Fs = crate::mount::Rxfs;

/// What `statfs` reports.
#[derive(Debug, Default, Clone, Copy)]
pub struct StatFs {
    /// `f_type`: the filesystem's magic number.
    pub fs_type: u32,
    /// Block size in bytes.
    pub bsize: u32,
    /// Total data blocks.
    pub blocks: u64,
    /// Free blocks.
    pub bfree: u64,
    /// Free blocks available to unprivileged users.
    pub bavail: u64,
    /// Total inodes.
    pub files: u64,
    /// Free inodes.
    pub ffree: u64,
    /// Filesystem id.
    pub fsid: u64,
    /// Longest file name.
    pub namelen: u32,
}

/// A superblock being set up by `fill_super`.
pub struct NewSuperBlock<'a> {
    raw: *mut RawSuperBlock,
    _p: PhantomData<&'a ()>,
}

/// A mounted superblock and its filesystem data.
pub struct SuperBlock<'a, T: FileSystem + ?Sized> {
    raw: *mut RawSuperBlock,
    info: &'a T::Info,
}

fn sb_id<'a>(raw: *mut RawSuperBlock) -> &'a CStr {
    // SAFETY: `raw` is a live superblock (the callers' invariant) and
    // `s_id` is a NUL-terminated array inside it that lives as long.
    unsafe { CStr::from_char_ptr(ffi::rxfs_shim_sb_id(raw)) }
}

impl<'a> NewSuperBlock<'a> {
    /// The device name (`s_id`), for log lines.
    pub fn id(&self) -> &CStr {
        sb_id(self.raw)
    }

    /// Size of the block device in bytes.
    pub fn device_bytes(&self) -> u64 {
        // SAFETY: `self.raw` is a live superblock with a block device.
        unsafe { ffi::rxfs_shim_bdev_bytes(self.raw) }
    }

    /// The device's logical sector size.
    pub fn sector_size(&self) -> u32 {
        // SAFETY: as for `device_bytes`.
        unsafe { ffi::rxfs_shim_bdev_sector_size(self.raw) }
    }

    /// True if the mount is read-only.
    pub fn is_rdonly(&self) -> bool {
        // SAFETY: `self.raw` is a live superblock.
        unsafe { ffi::rxfs_shim_sb_is_rdonly(self.raw) != 0 }
    }

    /// Reads `buf.len()` bytes at byte `pos` of the device, through the
    /// device's page cache. A range beyond the device is `EINVAL`.
    pub fn read(&self, pos: u64, buf: &mut [u8]) -> Result {
        let end = pos.checked_add(buf.len() as u64).ok_or(EINVAL)?;
        if end > self.device_bytes() {
            return Err(EINVAL);
        }
        // SAFETY: `buf` is valid for `buf.len()` bytes of writes and the
        // shim writes no more; the range lies inside the device.
        kernel::error::to_result(unsafe {
            ffi::rxfs_shim_bdev_read(self.raw, pos, buf.as_mut_ptr().cast(), buf.len())
        })
    }

    /// Sets the block size, magic, operations, time range and UUID.
    /// `EINVAL` if the block size is smaller than the device's sectors.
    pub fn setup(&self, block_size: u32, magic: u64, uuid: &[u8; 16]) -> Result {
        let magic = usize::try_from(magic).map_err(|_| EINVAL)?;
        // SAFETY: `self.raw` is a superblock in fill_super, owned by this
        // call; `uuid` points to 16 readable bytes.
        kernel::error::to_result(unsafe {
            ffi::rxfs_shim_sb_setup(self.raw, block_size, magic, uuid.as_ptr())
        })
    }

    /// The device, for metadata I/O. `block_log` is the block size set up
    /// by [`NewSuperBlock::setup`]; the filesystem must fit the device.
    pub fn dev(&self, block_log: u32, block_count: u64, fsid: u64) -> super::meta::Dev {
        // SAFETY: the superblock and its device live until `kill_sb`, after
        // the last use of the filesystem's data, which holds the `Dev`.
        unsafe { super::meta::Dev::new(self.raw, block_log, block_count, fsid) }
    }
}

impl<'a, T: FileSystem + ?Sized> SuperBlock<'a, T> {
    /// The filesystem's per-mount data.
    pub fn info(&self) -> &'a T::Info {
        self.info
    }

    /// The device name (`s_id`), for log lines.
    pub fn id(&self) -> &CStr {
        sb_id(self.raw)
    }

    /// True if the mount is read-only.
    pub fn is_rdonly(&self) -> bool {
        // SAFETY: `self.raw` is a live superblock.
        unsafe { ffi::rxfs_shim_sb_is_rdonly(self.raw) != 0 }
    }

    /// Reads the root directory inode `ino` and makes it the root dentry.
    pub fn make_root(&self, ino: u64) -> Result {
        // SAFETY: `self.raw` is a superblock in fill_super with its data
        // set, whose operations were set up by `setup`.
        kernel::error::to_result(unsafe { ffi::rxfs_shim_make_root(self.raw, ino) })
    }

    /// # Safety
    ///
    /// `raw` must be a mounted rxfs superblock whose `s_fs_info` was set by
    /// [`rxfs_rs_fill_super`] and not yet freed, and must stay so for `'a`.
    pub(crate) unsafe fn from_raw(raw: *mut RawSuperBlock) -> Self {
        // SAFETY: per the contract, `s_fs_info` is a live `KBox<T::Info>`
        // pointer for `'a`, and only shared references are made from it.
        let info = unsafe { &*ffi::rxfs_shim_sb_info(raw).cast::<T::Info>() };
        SuperBlock { raw, info }
    }
}

/// `fill_super` trampoline, called by the shim under `get_tree_bdev`.
#[no_mangle]
extern "C" fn rxfs_rs_fill_super(raw: *mut RawSuperBlock, silent: c_int) -> c_int {
    kernel::error::from_result(|| {
        let sb = NewSuperBlock { raw, _p: PhantomData };
        let info = <Fs as FileSystem>::fill_super(&sb, silent != 0)?;
        let info = KBox::new(info, GFP_KERNEL)?;
        // SAFETY: `raw` is the superblock being filled; ownership of the
        // box passes to `s_fs_info` and back in `rxfs_rs_kill_sb`, which
        // also runs when the rest of mounting fails.
        unsafe { ffi::rxfs_shim_sb_set_info(raw, KBox::into_raw(info).cast()) };
        // SAFETY: `s_fs_info` was just set and stays until `kill_sb`.
        let sb = unsafe { SuperBlock::<Fs>::from_raw(raw) };
        <Fs as FileSystem>::fill_root(&sb)?;
        Ok(0)
    })
}

/// Frees the per-mount data after `kill_block_super` has shut the
/// superblock down. `info` is the old `s_fs_info`, NULL if mounting failed.
#[no_mangle]
extern "C" fn rxfs_rs_kill_sb(info: *mut c_void) {
    if !info.is_null() {
        // SAFETY: a non-NULL `s_fs_info` came from `KBox::into_raw` in
        // `rxfs_rs_fill_super`; the superblock is gone, so nothing else
        // refers to it.
        drop(unsafe { KBox::from_raw(info.cast::<<Fs as FileSystem>::Info>()) });
    }
}

/// `statfs` trampoline: the shim copies the result into `struct kstatfs`.
#[no_mangle]
extern "C" fn rxfs_rs_statfs(raw: *mut RawSuperBlock, out: *mut ffi::RawStatFs) -> c_int {
    kernel::error::from_result(|| {
        // SAFETY: statfs runs on a mounted superblock (it has a dentry), so
        // `s_fs_info` is set and stays until unmount.
        let sb = unsafe { SuperBlock::<Fs>::from_raw(raw) };
        let s = <Fs as FileSystem>::statfs(&sb)?;
        let r = ffi::RawStatFs {
            blocks: s.blocks,
            bfree: s.bfree,
            bavail: s.bavail,
            files: s.files,
            ffree: s.ffree,
            fsid: s.fsid,
            fs_type: s.fs_type,
            bsize: s.bsize,
            namelen: s.namelen,
            pad: 0,
        };
        // SAFETY: `out` points to the shim's stack `struct rxfs_statfs`,
        // whose layout `RawStatFs` mirrors.
        unsafe { out.write(r) };
        Ok(0)
    })
}
