// SPDX-License-Identifier: GPL-2.0

//! ioctls, as `fs/xfs/xfs_ioctl.c`: the XFS shutdown ioctl
//! (`XFS_IOC_GOINGDOWN`, which fstests uses on any filesystem that has it),
//! `FITRIM` (`fstrim`) and the label ioctls (`FS_IOC_GETFSLABEL`,
//! `FS_IOC_SETFSLABEL`), with XFS's argument checks.
//!
//! Modes: 0 flushes data and metadata, 1 flushes metadata, 2 flushes
//! nothing; then the filesystem is shut down: every later operation fails
//! with EIO and nothing more reaches the disk: no journal commit, so after
//! mode 2 a remount recovers the last commit (what fsync promised). Mode 1
//! commits the journal first without flushing file data (XFS's log force).

use crate::fs::call;
use crate::vfs::file::{self as vf, File};
use kernel::prelude::*;

/// `_IOR('X', 125, __u32)`.
const IOC_GOINGDOWN: u32 = (2 << 30) | (4 << 16) | ((b'X' as u32) << 8) | 125;

/// `_IOWR('X', 121, struct fstrim_range)`.
const FITRIM: u32 = (3 << 30) | (24 << 16) | ((b'X' as u32) << 8) | 121;

/// `_IOR(0x94, 49, char[FSLABEL_MAX])`.
const GETFSLABEL: u32 = (2 << 30) | ((FSLABEL_MAX as u32) << 16) | (0x94 << 8) | 49;

/// `_IOW(0x94, 50, char[FSLABEL_MAX])`.
const SETFSLABEL: u32 = (1 << 30) | ((FSLABEL_MAX as u32) << 16) | (0x94 << 8) | 50;

/// The label ioctls' buffer.
const FSLABEL_MAX: usize = 256;

/// Flush data and metadata, then shut down.
const GOINGDOWN_DEFAULT: u32 = 0;
/// Flush metadata, then shut down.
const GOINGDOWN_LOGFLUSH: u32 = 1;
/// Shut down now.
const GOINGDOWN_NOLOGFLUSH: u32 = 2;

/// `unlocked_ioctl` of files and directories.
pub(crate) fn ioctl(file: &File, cmd: u32, arg: usize) -> Result<i32> {
    match cmd {
        IOC_GOINGDOWN => {
            if !vf::capable_sys_admin() {
                return Err(EPERM);
            }
            let how = vf::read_user_u32(arg)?;
            shutdown(file, how)?;
            Ok(0)
        }
        FITRIM => {
            trim(file, arg)?;
            Ok(0)
        }
        GETFSLABEL => {
            // NUL padded on disk, and the buffer is longer: NUL-terminated.
            let mut out = [0u8; FSLABEL_MAX];
            let label = file.inode().sb().info().meta.lock().sb.label;
            out[..label.len()].copy_from_slice(&label);
            vf::write_user_bytes(arg, &out)?;
            Ok(0)
        }
        SETFSLABEL => {
            set_label(file, arg)?;
            Ok(0)
        }
        _ => Err(ENOTTY),
    }
}

/// `FITRIM`: `struct fstrim_range { start, len, minlen }` in bytes; on
/// return `len` is the number of bytes discarded. As XFS: `EPERM` without
/// `CAP_SYS_ADMIN`, `EOPNOTSUPP` if the device takes no discards, `EINVAL`
/// for a start past the end, a length under one block or a minimum longer
/// than the filesystem; `minlen` is at least the device's granularity.
/// `EROFS` on a read-only mount; waits while the filesystem is frozen.
fn trim(file: &File, arg: usize) -> Result {
    if !vf::capable_sys_admin() {
        return Err(EPERM);
    }
    let sb = file.inode().sb();
    let fs = sb.info();
    let granularity = fs.dev.discard_granularity().ok_or_else(crate::vfs::code::eopnotsupp)?;
    // Not on a read-only mount, and not on a frozen device.
    let _write = file.want_write()?;
    let mut raw = [0u8; 24];
    vf::read_user_bytes(arg, &mut raw)?;
    let field = |i: usize| raw.get(i * 8..i * 8 + 8).and_then(|b| b.try_into().ok()).map_or(0, u64::from_ne_bytes);
    let (start, len, minlen) = (field(0), field(1), field(2).max(granularity.into()));
    let bs = 1u64 << fs.block_log;
    let blocks = fs.meta.lock().sb.block_count;
    let size = blocks << fs.block_log;
    if start >= size || minlen > size || len < bs {
        return Err(EINVAL);
    }
    // Whole blocks inside [start, start + len).
    let first = start.div_ceil(bs);
    let end = (start.saturating_add(len) / bs).min(blocks);
    let min_blocks = minlen.div_ceil(bs);
    let trimmed = call(&sb, |fs| fs.trim(first, end, min_blocks))?;
    let out = len.min(trimmed << fs.block_log);
    vf::write_user_bytes(arg + 8, &out.to_ne_bytes())
}

/// `FS_IOC_SETFSLABEL`, as `xfs_ioc_setlabel`: `EPERM` without
/// `CAP_SYS_ADMIN`; `EINVAL` for a label that does not fit the
/// superblock's field with its NUL (31 bytes); then the superblock is
/// committed durably (blkid reads the label from the device).
fn set_label(file: &File, arg: usize) -> Result {
    if !vf::capable_sys_admin() {
        return Err(EPERM);
    }
    let mut raw = [0u8; crate::librxfs::format::LABEL_LEN];
    vf::read_user_bytes(arg, &mut raw)?;
    let len = raw.iter().position(|&c| c == 0).ok_or(EINVAL)?;
    let _write = file.want_write()?;
    call(&file.inode().sb(), |fs| fs.set_label(&raw[..len]))
}

fn shutdown(file: &File, how: u32) -> Result {
    let sb = file.inode().sb();
    match how {
        GOINGDOWN_DEFAULT => sb.sync_filesystem(),
        GOINGDOWN_LOGFLUSH => {
            // The shutdown follows whether or not the flush worked.
            let _ = sb.info().sync(true);
        }
        GOINGDOWN_NOLOGFLUSH => {}
        _ => return Err(EINVAL),
    }
    sb.info().shutdown();
    if sb.set_shutdown() {
        pr_warn!("rxfs ({}): filesystem shut down (mode {})\n", sb.id(), how);
    }
    Ok(())
}
