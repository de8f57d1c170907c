// SPDX-License-Identifier: GPL-2.0

//! POSIX ACLs (`struct posix_acl`, `fs/posix_acl.c`): an owned reference
//! ([`PosixAcl`]), a borrowed one ([`AclRef`], the VFS's for a `set_acl`
//! call), their on-disk form (the VFS's xattr form with ids as the
//! filesystem stores them, `posix_acl_{from,to}_xattr(&init_user_ns)`, as
//! btrfs stores them), and the VFS's ACL logic a filesystem calls:
//! inheritance at create ([`create`]), the mode a new access ACL gives
//! ([`update_mode`]), the ACL a chmod gives ([`chmod`]), the inode's ACL
//! cache ([`set_cached`]). A superblock with `SB_POSIXACL`
//! ([`super::super_block::NewSuperBlock::set_posix_acl`]) reaches the
//! inode operations `get_inode_acl` and `set_acl`
//! ([`super::namei::InodeOps`]); without it the VFS answers the ACL names
//! with `EOPNOTSUPP` and applies the umask itself.

use super::bindings as b;
use super::inode::Inode;
use super::namei::{Dentry, Idmap};
use core::ptr::NonNull;
use kernel::error::to_result;
use kernel::prelude::*;

/// Which ACL of an inode.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AclType {
    /// `ACL_TYPE_ACCESS`: the file's own.
    Access,
    /// `ACL_TYPE_DEFAULT`: what a directory's new entries inherit.
    Default,
}

impl AclType {
    pub(crate) fn from_raw(t: kernel::ffi::c_int) -> Option<Self> {
        match t as u32 {
            b::ACL_TYPE_ACCESS => Some(AclType::Access),
            b::ACL_TYPE_DEFAULT => Some(AclType::Default),
            _ => None,
        }
    }

    fn raw(self) -> kernel::ffi::c_int {
        (match self {
            AclType::Access => b::ACL_TYPE_ACCESS,
            AclType::Default => b::ACL_TYPE_DEFAULT,
        }) as kernel::ffi::c_int
    }
}

/// A borrowed ACL: valid for the call that handed it over.
#[repr(transparent)]
pub struct AclRef(kernel::types::Opaque<b::posix_acl>);

impl AclRef {
    /// # Safety
    ///
    /// `p` must be a live ACL for `'a`.
    pub(crate) unsafe fn from_raw<'a>(p: *mut b::posix_acl) -> &'a AclRef {
        // SAFETY: transparent wrapper; live by the contract.
        unsafe { &*p.cast::<AclRef>() }
    }

    fn as_raw(&self) -> *mut b::posix_acl {
        self.0.get()
    }

    /// The on-disk form (the xattr form, ids in the initial namespace, as
    /// the inode's own ids are stored).
    pub fn to_xattr(&self) -> Result<KVec<u8>> {
        // SAFETY: `init_user_ns` is static; with a NULL buffer the call
        // only returns the size.
        let n = unsafe { b::posix_acl_to_xattr(&raw mut b::init_user_ns, self.as_raw(), core::ptr::null_mut(), 0) };
        let n = usize::try_from(n).map_err(|_| EINVAL)?;
        let mut v = KVec::from_elem(0u8, n, GFP_KERNEL)?;
        // SAFETY: `v` has `n` writable bytes; the ACL is live.
        let r = unsafe { b::posix_acl_to_xattr(&raw mut b::init_user_ns, self.as_raw(), v.as_mut_ptr().cast(), n) };
        to_result(r.min(0))?;
        Ok(v)
    }
}

/// An owned reference to an ACL, released on drop.
pub struct PosixAcl(NonNull<b::posix_acl>);

// SAFETY: ACLs are reference-counted and immutable once shared.
unsafe impl Send for PosixAcl {}
// SAFETY: as above.
unsafe impl Sync for PosixAcl {}

impl PosixAcl {
    /// Takes over a reference; `None` for NULL.
    ///
    /// # Safety
    ///
    /// `p` is NULL or an ACL whose reference the caller gives up.
    unsafe fn adopt(p: *mut b::posix_acl) -> Option<Self> {
        NonNull::new(p).map(PosixAcl)
    }

    /// An ACL from its on-disk form: `EINVAL` if the kernel finds it
    /// malformed (the caller decides whether that means corruption).
    pub fn from_xattr(v: &[u8]) -> Result<Self> {
        // SAFETY: `v` is readable for the call; `init_user_ns` is static.
        let p = unsafe { b::posix_acl_from_xattr(&raw mut b::init_user_ns, v.as_ptr().cast(), v.len()) };
        super::ptr_result(p).map(PosixAcl)
    }

    /// Gives the reference to C (`get_inode_acl`'s result).
    pub(crate) fn into_raw(self) -> *mut b::posix_acl {
        let p = self.0.as_ptr();
        core::mem::forget(self);
        p
    }
}

impl core::ops::Deref for PosixAcl {
    type Target = AclRef;
    fn deref(&self) -> &AclRef {
        // SAFETY: we hold a reference: live while `self` is.
        unsafe { AclRef::from_raw(self.0.as_ptr()) }
    }
}

impl Drop for PosixAcl {
    fn drop(&mut self) {
        // SAFETY: we own one reference.
        unsafe { b::rxfs_helper_posix_acl_release(self.0.as_ptr()) }
    }
}

/// What a new inode inherits from its directory (`posix_acl_create`).
pub struct Inherited {
    /// The new inode's mode: masked by the directory's default ACL if it
    /// has one, else by the caller's umask.
    pub mode: u32,
    /// Its default ACL (directories only).
    pub default: Option<PosixAcl>,
    /// Its access ACL, if the inherited one is not just the mode.
    pub access: Option<PosixAcl>,
}

/// `posix_acl_create`: what a new inode of `mode` in `dir` inherits. On a
/// superblock without `SB_POSIXACL` only the umask.
pub fn create(dir: &Inode, mode: u32) -> Result<Inherited> {
    let mut m = mode as b::umode_t;
    let (mut d, mut a) = (core::ptr::null_mut(), core::ptr::null_mut());
    // SAFETY: a live directory (the caller's creation holds it locked);
    // the out pointers are ours.
    to_result(unsafe { b::posix_acl_create(dir.as_raw(), &mut m, &mut d, &mut a) })?;
    // SAFETY: on success each out pointer is NULL or a reference for us.
    let (default, access) = unsafe { (PosixAcl::adopt(d), PosixAcl::adopt(a)) };
    Ok(Inherited { mode: u32::from(m), default, access })
}

/// `posix_acl_update_mode`: the mode an access ACL `acl` gives `inode`
/// (its permission bits; S_ISGID cleared unless the caller may keep it),
/// and the ACL to store: `None` when the mode says all of it.
pub fn update_mode<'a>(idmap: &Idmap, inode: &Inode, acl: &'a AclRef) -> Result<(u32, Option<&'a AclRef>)> {
    let mut m: b::umode_t = 0;
    let mut p = acl.as_raw();
    // SAFETY: a live inode whose i_rwsem the caller (set_acl) holds; `p`
    // is borrowed and the call only reads it or sets our copy to NULL.
    to_result(unsafe { b::posix_acl_update_mode(idmap.as_raw(), inode.as_raw(), &mut m, &mut p) })?;
    Ok((u32::from(m), (!p.is_null()).then_some(acl)))
}

/// `posix_acl_chmod`: after a chmod, the access ACL's permissions follow
/// the new mode (through the filesystem's own `set_acl`).
pub fn chmod(idmap: &Idmap, dentry: &Dentry, mode: u32) -> Result {
    // SAFETY: the current setattr's dentry, its inode locked by the VFS.
    to_result(unsafe { b::posix_acl_chmod(idmap.as_raw(), dentry.as_raw(), mode as b::umode_t) })
}

/// Caches `acl` as `inode`'s ACL of type `t` (`None`: it has none), so
/// that the VFS does not ask for it again.
pub fn set_cached(inode: &Inode, t: AclType, acl: Option<&AclRef>) {
    // SAFETY: a live inode; the cache takes its own reference.
    unsafe { b::set_cached_acl(inode.as_raw(), t.raw(), acl.map_or(core::ptr::null_mut(), AclRef::as_raw)) }
}
