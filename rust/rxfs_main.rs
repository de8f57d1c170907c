// SPDX-License-Identifier: GPL-2.0

//! rxfs: a small on-disk block filesystem whose data path is the kernel's
//! iomap library, written in Rust.
//!
//! Layout of the crate:
//! - [`vfs`]: the abstraction layer over the C VFS and iomap. All `unsafe`
//!   code and every raw binding lives there.
//! - [`librxfs`]: the on-disk format and pure logic, shared with the
//!   user-space tools (`tools/`) and unit-tested there with `cargo test`.
//! - Safe Rust, one module per mechanism as `fs/xfs` names them:
//!   [`iomap`] (the iomap callbacks), [`aops`] (address space and
//!   writeback), [`file`] (file operations), [`inode`], [`dir`],
//!   [`ioctl`], [`mount`] (mounting, statfs), [`journal`] (commit and
//!   recovery); [`fs`] and [`data`] change the metadata under the
//!   metadata lock.

use kernel::prelude::*;

#[allow(unused_attributes)] // librxfs's `#![no_std]` is for its cargo build
#[path = "librxfs/lib.rs"]
pub mod librxfs;
pub mod aops;
pub mod data;
pub mod acl;
pub mod dir;
pub mod file;
pub mod fs;
pub mod inode;
pub mod iomap;
pub mod ioctl;
pub mod journal;
pub mod mount;
pub mod reflink;
pub mod vfs;
pub mod xattr;

module! {
    type: RxfsModule,
    name: "rxfs",
    author: "rxfs developers",
    description: "rxfs: an iomap-based block filesystem in Rust",
    license: "GPL",
}

/// The loaded module: holds the filesystem type's registration.
struct RxfsModule {
    _registration: vfs::Registration,
}

impl kernel::Module for RxfsModule {
    fn init(module: &'static ThisModule) -> Result<Self> {
        let registration = vfs::Registration::new::<mount::Rxfs>(kernel::c_str!("rxfs"), module)?;
        pr_info!(
            "filesystem type registered (format version {})\n",
            librxfs::format::FORMAT_VERSION
        );
        Ok(RxfsModule { _registration: registration })
    }
}
