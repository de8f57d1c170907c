// SPDX-License-Identifier: GPL-2.0

//! Extended attribute handlers (`struct xattr_handler`, the superblock's
//! `s_xattr`): `user.`, `trusted.` and `security.` names reach an
//! [`XattrOps`] implementation with their [`Namespace`] and the rest of the
//! name. The VFS has already checked the caller (`xattr_permission`:
//! `user.` only on regular files and directories, `trusted.` only with
//! `CAP_SYS_ADMIN`), the name's length and the value's size; `listxattr`
//! is an inode operation ([`super::namei::InodeOps::listxattr`]).

use super::bindings as b;
use super::inode::{Inode, InodeLock};
use core::marker::PhantomData;
use kernel::error::from_result;
use kernel::prelude::*;

/// The namespace of a name, as the handler that received it says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Namespace {
    /// `user.`
    User,
    /// `trusted.`
    Trusted,
    /// `security.`
    Security,
}

impl Namespace {
    fn from_flags(f: kernel::ffi::c_int) -> Option<Self> {
        match f {
            1 => Some(Namespace::User),
            2 => Some(Namespace::Trusted),
            3 => Some(Namespace::Security),
            _ => None,
        }
    }

    /// Whether the caller may see names of this namespace in a list:
    /// `trusted.` only with `CAP_SYS_ADMIN`, as ext4's and XFS's lists.
    pub fn listed(self) -> bool {
        self != Namespace::Trusted || super::file::capable_sys_admin()
    }
}

/// How a set may treat an existing name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SetMode {
    /// Create or replace.
    Any,
    /// `XATTR_CREATE`: `EEXIST` if the name exists.
    Create,
    /// `XATTR_REPLACE`: `ENODATA` if it does not (and every removal).
    Replace,
}

/// A filesystem's extended attributes.
#[vtable]
pub trait XattrOps {
    /// The value of `name` in `ns` of `inode`: copied into `buf` if given
    /// (`ERANGE` if it is too short); returns its length. `ENODATA` if
    /// there is no such name.
    fn get(inode: &Inode, ns: Namespace, name: &[u8], buf: Option<&mut [u8]>) -> Result<usize>;

    /// Sets `name` in `ns` to `value`, or removes it (`None`), per `mode`.
    /// The VFS holds i_rwsem.
    fn set(lock: &InodeLock<'_>, ns: Namespace, name: &[u8], value: Option<&[u8]>, mode: SetMode) -> Result;
}

/// The const handlers of an [`XattrOps`] implementation, for
/// [`super::super_block::NewSuperBlock::set_xattr_handlers`].
pub struct XattrTable<T: XattrOps>(PhantomData<T>);

impl<T: XattrOps> XattrTable<T> {
    const fn handler(prefix: &'static [u8], ns: kernel::ffi::c_int) -> b::xattr_handler {
        b::xattr_handler {
            name: core::ptr::null(),
            prefix: prefix.as_ptr().cast(),
            flags: ns,
            list: None,
            get: Some(Self::get),
            set: Some(Self::set),
        }
    }

    const USER: b::xattr_handler = Self::handler(b::XATTR_USER_PREFIX, 1);
    const TRUSTED: b::xattr_handler = Self::handler(b::XATTR_TRUSTED_PREFIX, 2);
    const SECURITY: b::xattr_handler = Self::handler(b::XATTR_SECURITY_PREFIX, 3);
    const HANDLERS: [*const b::xattr_handler; 4] = [&Self::USER, &Self::TRUSTED, &Self::SECURITY, core::ptr::null()];

    /// The NULL-terminated array `s_xattr` points at.
    pub(crate) const fn get_table() -> &'static [*const b::xattr_handler; 4] {
        &Self::HANDLERS
    }

    /// # Safety
    ///
    /// Called by the VFS with one of this table's handlers, a live inode,
    /// the NUL-terminated name after the prefix and, if `size` is not 0, a
    /// buffer of `size` bytes.
    unsafe extern "C" fn get(
        handler: *const b::xattr_handler,
        _dentry: *mut b::dentry,
        inode: *mut b::inode,
        name: *const kernel::ffi::c_char,
        buffer: *mut kernel::ffi::c_void,
        size: usize,
    ) -> kernel::ffi::c_int {
        from_result(|| {
            // SAFETY: as documented.
            let (ns, inode, name) = unsafe { ((*handler).flags, Inode::from_raw(inode), kernel::str::CStr::from_char_ptr(name)) };
            let ns = Namespace::from_flags(ns).ok_or_else(super::code::eopnotsupp)?;
            let buf = if size == 0 || buffer.is_null() {
                None
            } else {
                // SAFETY: as documented: `size` writable bytes, ours for the call.
                Some(unsafe { core::slice::from_raw_parts_mut(buffer.cast::<u8>(), size) })
            };
            let n = T::get(inode, ns, name.as_bytes(), buf)?;
            i32::try_from(n).map_err(|_| E2BIG)
        })
    }

    /// # Safety
    ///
    /// Called by the VFS with one of this table's handlers, a live inode
    /// whose i_rwsem it holds, the name after the prefix, and a value of
    /// `size` bytes (NULL: remove the name).
    unsafe extern "C" fn set(
        handler: *const b::xattr_handler,
        _idmap: *mut b::mnt_idmap,
        _dentry: *mut b::dentry,
        inode: *mut b::inode,
        name: *const kernel::ffi::c_char,
        value: *const kernel::ffi::c_void,
        size: usize,
        flags: kernel::ffi::c_int,
    ) -> kernel::ffi::c_int {
        from_result(|| {
            // SAFETY: as documented.
            let (ns, inode, name) = unsafe { ((*handler).flags, Inode::from_raw(inode), kernel::str::CStr::from_char_ptr(name)) };
            let ns = Namespace::from_flags(ns).ok_or_else(super::code::eopnotsupp)?;
            let value = if value.is_null() {
                None
            } else {
                // SAFETY: as documented: `size` readable bytes for the call
                // (the VFS passes "" for an empty value).
                Some(unsafe { core::slice::from_raw_parts(value.cast::<u8>(), size) })
            };
            let mode = if value.is_none() || flags & b::XATTR_REPLACE as i32 != 0 {
                SetMode::Replace
            } else if flags & b::XATTR_CREATE as i32 != 0 {
                SetMode::Create
            } else {
                SetMode::Any
            };
            // SAFETY: the VFS holds i_rwsem for the call.
            let lock = unsafe { InodeLock::held_by_vfs(inode) };
            T::set(&lock, ns, name.as_bytes(), value, mode)?;
            Ok(0)
        })
    }
}
