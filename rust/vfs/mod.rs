// SPDX-License-Identifier: GPL-2.0

//! The VFS abstraction layer: the only place in rxfs with `unsafe` code.
//!
//! rxfs's C shim (`rust/shim.c`) owns the operation tables and the C
//! structures Rust has no bindings for; it calls the `rxfs_rs_*` trampolines
//! defined here, which turn raw pointers into the safe types of this module
//! and errors into errnos. Everything above this layer is safe Rust.

pub mod aops;
mod bdev;
pub(crate) mod bindings;
mod debugfs;
pub mod file;
pub mod inode;
pub mod iomap;
pub mod meta;
pub mod namei;
pub mod super_block;

pub use super_block::{FileSystem, Knob, NewSuperBlock, Registration, StatFs, SuperBlock};

use kernel::error::Error;

/// Errors `kernel::error::code` lacks in 6.12, from the kernel's values.
pub mod code {
    use super::bindings as b;
    use kernel::error::Error;

    macro_rules! errs {
        ($($f:ident => $e:ident),* $(,)?) => {$(
            #[doc = concat!("`", stringify!($e), "`.")]
            pub fn $f() -> Error {
                Error::from_errno(-(b::$e as i32))
            }
        )*};
    }

    errs!(enametoolong => ENAMETOOLONG, enotempty => ENOTEMPTY, euclean => EUCLEAN, eopnotsupp => EOPNOTSUPP);
}

/// Turns a positive errno from the shared core into a kernel error.
pub fn errno(e: i32) -> Error {
    Error::from_errno(-e)
}

/// Sleeps for `ms` milliseconds (fault-injection delays).
pub fn msleep(ms: u32) {
    // SAFETY: always safe in process context, where every caller runs.
    unsafe { bindings::msleep(ms) }
}
