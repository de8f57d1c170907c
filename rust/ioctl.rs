// SPDX-License-Identifier: GPL-2.0

//! ioctls, as `fs/xfs/xfs_ioctl.c`: the XFS shutdown ioctl
//! (`XFS_IOC_GOINGDOWN`, which fstests uses on any filesystem that has it).
//!
//! Modes: 0 flushes data and metadata, 1 flushes metadata, 2 flushes
//! nothing; then the filesystem is shut down: every later operation fails
//! with EIO and nothing more reaches the disk: no journal commit, so after
//! mode 2 a remount recovers the last commit (what fsync promised). Mode 1
//! commits the journal first without flushing file data (XFS's log force).

use crate::vfs::file::{self as vf, File};
use kernel::prelude::*;

/// `_IOR('X', 125, __u32)`.
const IOC_GOINGDOWN: u32 = (2 << 30) | (4 << 16) | ((b'X' as u32) << 8) | 125;

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
        _ => Err(ENOTTY),
    }
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
