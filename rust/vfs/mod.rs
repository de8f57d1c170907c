// SPDX-License-Identifier: GPL-2.0

//! The VFS abstraction layer: the only place in rxfs with `unsafe` code.
//!
//! rxfs's C shim (`rust/shim.c`) owns the operation tables and the C
//! structures Rust has no bindings for; it calls the `rxfs_rs_*` trampolines
//! defined here, which turn raw pointers into the safe types of this module
//! and errors into errnos. Everything above this layer is safe Rust.

pub(crate) mod ffi;
pub mod meta;
mod ops;
pub mod super_block;

pub use ffi::{
    DInode, Map, IOMAP_DELALLOC, IOMAP_F_NEW, IOMAP_HOLE, IOMAP_MAPPED, IOMAP_REPORT, IOMAP_UNWRITTEN, IOMAP_WRITE,
    IOMAP_ZERO, NULL_ADDR, RENAME_EXCHANGE, RENAME_NOREPLACE, RENAME_WHITEOUT,
};
pub use super_block::{FileSystem, NewSuperBlock, StatFs, SuperBlock};

use kernel::prelude::*;

/// Registration of the `rxfs` filesystem type: registered on creation,
/// unregistered on drop.
pub struct Registration(());

impl Registration {
    /// Registers the `rxfs` filesystem type.
    pub fn new() -> Result<Self> {
        // SAFETY: `rxfs_shim_register` registers a static file_system_type;
        // it is called once, from module init.
        kernel::error::to_result(unsafe { ffi::rxfs_shim_register() })?;
        Ok(Registration(()))
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        // SAFETY: the type was registered by `new`, which is the only way to
        // build a `Registration`.
        unsafe { ffi::rxfs_shim_unregister() };
    }
}

/// Turns a positive errno from the shared core into a kernel error.
pub fn errno(e: i32) -> Error {
    Error::from_errno(-e)
}
