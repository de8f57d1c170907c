// SPDX-License-Identifier: GPL-2.0

//! Trampolines for the inode, directory, file and iomap operations: the
//! shim calls these with raw pointers; they make safe values of them, call
//! [`crate::fs`], and turn the result into an errno. A corruption error is
//! logged here, once, naming the structure and block.

use super::ffi::{DInode, Map, RawDirent, RawRename, RawSuperBlock};
use super::super_block::SuperBlock;
use crate::data;
use crate::fs::{self, FsInfo, Rename};
use core::sync::atomic::AtomicU64;
use crate::librxfs::error::{Error as CoreError, EUCLEAN};
use kernel::ffi::c_int;

/// `EIO`.
const EIO: c_int = 5;

type Fs = crate::mount::Rxfs;

/// Runs `f` on the mounted filesystem's data and turns its result into a
/// C return value.
fn with_fs(raw: *mut RawSuperBlock, f: impl FnOnce(&FsInfo) -> Result<c_int, CoreError>) -> c_int {
    // SAFETY: every caller is an operation on an inode, file or superblock
    // of a mounted rxfs, during which `s_fs_info` is set and stays.
    let sb = unsafe { SuperBlock::<Fs>::from_raw(raw) };
    // After the shutdown ioctl nothing reaches the disk or the metadata.
    // SAFETY: `raw` is a mounted rxfs superblock, as above.
    if unsafe { super::ffi::rxfs_shim_is_shutdown(raw) } != 0 {
        return -EIO;
    }
    // SAFETY: `raw` is a mounted rxfs superblock, as above.
    let check_meta = unsafe { super::ffi::rxfs_shim_no_meta_reserve(raw) } == 0;
    sb.info().check_meta.store(check_meta, core::sync::atomic::Ordering::Relaxed);
    match f(sb.info()) {
        Ok(v) => v,
        Err(e) => {
            let errno = e.errno();
            if errno == EUCLEAN {
                kernel::pr_err!("{}: {}\n", sb.id(), e);
            }
            -errno
        }
    }
}

/// # Safety
///
/// `p` must be valid for `len` bytes of reads for the returned lifetime.
unsafe fn bytes<'a>(p: *const u8, len: u32) -> &'a [u8] {
    if p.is_null() || len == 0 {
        return &[];
    }
    // SAFETY: per the function's contract.
    unsafe { core::slice::from_raw_parts(p, len as usize) }
}

#[no_mangle]
extern "C" fn rxfs_rs_read_inode(raw: *mut RawSuperBlock, ino: u64, di: *mut DInode, link: *mut u8, linkmax: u32) -> c_int {
    // SAFETY: the shim passes a buffer of `linkmax` bytes (one more for the
    // NUL, which it zeroed) for this call only.
    let link = unsafe { core::slice::from_raw_parts_mut(link, linkmax as usize) };
    with_fs(raw, |fs| {
        let d = fs::read_inode(fs, ino, link)?;
        // SAFETY: `di` points to the shim's stack `struct rxfs_dinode`.
        unsafe { di.write(d) };
        Ok(0)
    })
}

#[no_mangle]
extern "C" fn rxfs_rs_write_inode(raw: *mut RawSuperBlock, di: *const DInode) -> c_int {
    // SAFETY: `di` points to the shim's filled-in `struct rxfs_dinode`.
    let d = unsafe { *di };
    with_fs(raw, |fs| fs::write_inode(fs, &d).map(|()| 0))
}

#[no_mangle]
extern "C" fn rxfs_rs_evict_inode(raw: *mut RawSuperBlock, ino: u64, unlinked: c_int) -> c_int {
    with_fs(raw, |fs| fs::evict(fs, ino, unlinked != 0).map(|()| 0))
}

#[no_mangle]
extern "C" fn rxfs_rs_lookup(raw: *mut RawSuperBlock, dir: u64, name: *const u8, len: u32, ino: *mut u64) -> c_int {
    // SAFETY: `name` is the dentry's name of `len` bytes, stable while the
    // VFS holds the parent locked for lookup.
    let name = unsafe { bytes(name, len) };
    with_fs(raw, |fs| {
        let i = fs::lookup(fs, dir, name)?;
        // SAFETY: `ino` points to the shim's local.
        unsafe { ino.write(i) };
        Ok(0)
    })
}

#[no_mangle]
extern "C" fn rxfs_rs_create(
    raw: *mut RawSuperBlock,
    dir: u64,
    name: *const u8,
    len: u32,
    di: *mut DInode,
    link: *const u8,
    linklen: u32,
    tmpfile: c_int,
) -> c_int {
    // SAFETY: the dentry name and symlink target outlive the call.
    let (name, link) = unsafe { (bytes(name, len), bytes(link, linklen)) };
    // SAFETY: `di` points to the shim's stack `struct rxfs_dinode`.
    let d = unsafe { &mut *di };
    with_fs(raw, |fs| fs::create(fs, dir, name, d, link, tmpfile != 0).map(|()| 0))
}

#[no_mangle]
extern "C" fn rxfs_rs_link(raw: *mut RawSuperBlock, dir: u64, name: *const u8, len: u32, ino: u64, mode: u32) -> c_int {
    // SAFETY: the dentry name outlives the call.
    let name = unsafe { bytes(name, len) };
    with_fs(raw, |fs| fs::link(fs, dir, name, ino, mode).map(|()| 0))
}

#[no_mangle]
extern "C" fn rxfs_rs_unlink(raw: *mut RawSuperBlock, dir: u64, name: *const u8, len: u32, ino: u64, last: c_int) -> c_int {
    // SAFETY: the dentry name outlives the call.
    let name = unsafe { bytes(name, len) };
    with_fs(raw, |fs| fs::unlink(fs, dir, name, ino, last != 0).map(|()| 0))
}

#[no_mangle]
extern "C" fn rxfs_rs_orphan_del(raw: *mut RawSuperBlock, ino: u64) -> c_int {
    with_fs(raw, |fs| fs::orphan_del(fs, ino).map(|()| 0))
}

#[no_mangle]
extern "C" fn rxfs_rs_dir_empty(raw: *mut RawSuperBlock, ino: u64) -> c_int {
    with_fs(raw, |fs| fs::dir_empty(fs, ino).map(c_int::from))
}

#[no_mangle]
extern "C" fn rxfs_rs_rename(raw: *mut RawSuperBlock, r: *mut RawRename) -> c_int {
    // SAFETY: `r` points to the shim's stack `struct rxfs_rename`, whose
    // names are the dentries' names, stable under the rename locks.
    let r = unsafe { &mut *r };
    // SAFETY: as above.
    let (old_name, new_name) = unsafe { (bytes(r.old_name, r.old_len), bytes(r.new_name, r.new_len)) };
    let req = Rename {
        old_dir: r.old_dir,
        new_dir: r.new_dir,
        old_ino: r.old_ino,
        new_ino: r.new_ino,
        old_name,
        new_name,
        flags: r.flags,
        old_mode: r.old_mode,
        new_mode: r.new_mode,
        target_last_link: r.target_last_link != 0,
        whiteout: &mut r.whiteout,
    };
    with_fs(raw, |fs| fs::rename(fs, req).map(|()| 0))
}

#[no_mangle]
extern "C" fn rxfs_rs_readdir(raw: *mut RawSuperBlock, dir: u64, pos: i64, de: *mut RawDirent) -> c_int {
    // SAFETY: `de` points to the shim's buffer for this call only.
    let de = unsafe { &mut *de };
    with_fs(raw, |fs| match fs::readdir(fs, dir, pos, &mut de.name)? {
        Some((next, ino, dtype, len)) => {
            de.next_pos = next;
            de.ino = ino;
            de.dtype = dtype as u32;
            de.namelen = len as u32;
            Ok(1)
        }
        None => Ok(0),
    })
}

#[no_mangle]
extern "C" fn rxfs_rs_xop(
    raw: *mut RawSuperBlock,
    ino: u64,
    seq: *const AtomicU64,
    op: u32,
    pos: u64,
    len: u64,
    flags: u32,
    m: *mut Map,
) -> c_int {
    // SAFETY: `seq` is the `data_seq` of the in-memory inode the operation
    // is on (an `atomic64_t`, the same layout as `AtomicU64`); the VFS
    // keeps that inode for the whole call.
    let seq = unsafe { &*seq };
    // SAFETY: `m` points to the shim's zeroed stack `struct rxfs_map`, for
    // this call only.
    let out = unsafe { &mut *m };
    with_fs(raw, |fs| {
        let op = data::XOp::from_raw(op).ok_or(CoreError::BadField { field: "extent op", value: op as u64 })?;
        data::xop(fs, ino, seq, op, pos, len, flags, out).map(|()| 0)
    })
}

#[no_mangle]
extern "C" fn rxfs_rs_stats(raw: *mut RawSuperBlock, out: *mut u64) -> c_int {
    with_fs(raw, |fs| {
        let st = data::stats(fs);
        let v = [st.free, st.reserved, st.pool, st.delalloc_ranges];
        // SAFETY: the shim passes an array of four u64.
        unsafe { core::ptr::copy_nonoverlapping(v.as_ptr(), out, 4) };
        Ok(0)
    })
}

#[no_mangle]
extern "C" fn rxfs_rs_fsync(raw: *mut RawSuperBlock) -> c_int {
    with_fs(raw, |fs| fs.sync(true).map(|()| 0))
}

#[no_mangle]
extern "C" fn rxfs_rs_sync_fs(raw: *mut RawSuperBlock, wait: c_int) -> c_int {
    with_fs(raw, |fs| fs.sync(wait != 0).map(|()| 0))
}
