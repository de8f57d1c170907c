// SPDX-License-Identifier: GPL-2.0

//! The VFS abstraction layer: the only place in rxfs with `unsafe` code.
//!
//! Every operation table rxfs gives the kernel is a const built here from a
//! `#[vtable]` trait the filesystem implements; the `unsafe extern "C"`
//! trampolines turn raw pointers into the typed borrows of this module and
//! `Result`s into errnos. Bindings come from the kernel crate and from
//! bindgen run by the module's build ([`bindings`]); `rust/helpers.c` wraps
//! the static inlines Rust cannot call. Everything above this layer is safe
//! Rust. See `Documentation/filesystems/rxfs/design.rst`, "The abstraction
//! layer".

pub mod acl;
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
pub mod xattr;

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

    errs!(enametoolong => ENAMETOOLONG, enotempty => ENOTEMPTY, euclean => EUCLEAN, eopnotsupp => EOPNOTSUPP, enodata => ENODATA);
}

/// A C pointer result: the object, or an `ERR_PTR` errno (`ENOMEM` for
/// NULL).
pub(crate) fn ptr_result<T>(p: *mut T) -> kernel::error::Result<core::ptr::NonNull<T>> {
    // SAFETY: IS_ERR/PTR_ERR only look at the pointer's value.
    if unsafe { bindings::IS_ERR(p as *const kernel::ffi::c_void) } {
        // SAFETY: as above.
        return Err(Error::from_errno(unsafe { bindings::PTR_ERR(p as *const kernel::ffi::c_void) } as i32));
    }
    core::ptr::NonNull::new(p).ok_or(kernel::error::code::ENOMEM)
}

/// A C `ssize_t` result: a count, or a negative errno.
pub(crate) fn ssize(r: isize) -> kernel::error::Result<usize> {
    if r < 0 {
        Err(Error::from_errno(r as i32))
    } else {
        Ok(r as usize)
    }
}

/// A C `loff_t` result: an offset, or a negative errno.
pub(crate) fn loff(r: i64) -> kernel::error::Result<i64> {
    if r < 0 {
        Err(Error::from_errno(r as i32))
    } else {
        Ok(r)
    }
}

/// Turns a positive errno from the shared core into a kernel error.
pub fn errno(e: i32) -> Error {
    Error::from_errno(-e)
}

/// Whether the current task has been killed (`fatal_signal_pending`):
/// long operations stop between their changes.
pub fn fatal_signal_pending() -> bool {
    // SAFETY: looks at the current task's pending signals only.
    unsafe { bindings::rxfs_helper_fatal_signal_pending() }
}

/// Sleeps for `ms` milliseconds (fault-injection delays).
pub fn msleep(ms: u32) {
    // SAFETY: always safe in process context, where every caller runs.
    unsafe { bindings::msleep(ms) }
}
