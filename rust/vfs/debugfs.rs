// SPDX-License-Identifier: GPL-2.0

//! debugfs: `/sys/kernel/debug/rxfs/<device>/`, one file per
//! fault-injection knob (like XFS's errortags) and a `stats` file.
//!
//! A knob file reads and writes a signed decimal. The dangerous knobs (the
//! negative controls, which corrupt data on purpose) refuse a non-zero
//! value unless the module parameter `dangerous_knobs` is set.

use super::bindings as b;
use super::super_block::{FileSystem, SbInfo, SuperBlock, KNOBS};
use core::marker::PhantomData;
use core::sync::atomic::{AtomicBool, AtomicI64, AtomicPtr, Ordering};
use kernel::prelude::*;

/// The module parameter `dangerous_knobs`: allows the negative-control
/// knobs (they corrupt data on purpose).
pub(crate) static DANGEROUS_KNOBS: AtomicBool = AtomicBool::new(false);

#[repr(transparent)]
struct Param(b::kernel_param);
// SAFETY: a constant description the module loader reads.
unsafe impl Sync for Param {}

/// `module_param(dangerous_knobs, bool, 0644)`: 6.12's `module!` has no
/// parameters, so the entry the C macro makes is made here, in the
/// `__param` section the module loader reads (an `AtomicBool` has the
/// layout of the `bool` that `param_ops_bool` reads and writes).
#[link_section = "__param"]
#[used]
static DANGEROUS_KNOBS_PARAM: Param = Param(b::kernel_param {
    name: kernel::c_str!("dangerous_knobs").as_char_ptr(),
    mod_: &raw mut b::__this_module,
    ops: &raw const b::param_ops_bool,
    perm: 0o644,
    level: -1,
    flags: 0,
    __bindgen_anon_1: b::kernel_param__bindgen_ty_1 { arg: (&raw const DANGEROUS_KNOBS).cast_mut().cast() },
});

static WARNED: AtomicBool = AtomicBool::new(false);

static ROOT: AtomicPtr<b::dentry> = AtomicPtr::new(core::ptr::null_mut());

/// Creates `/sys/kernel/debug/rxfs` (module init). Failure is not an
/// error: the knobs are for tests.
pub(crate) fn init() {
    // SAFETY: a top-level directory with a static name.
    let d = unsafe { b::debugfs_create_dir(kernel::c_str!("rxfs").as_char_ptr(), core::ptr::null_mut()) };
    ROOT.store(d, Ordering::Relaxed);
}

/// Removes it (module exit).
pub(crate) fn exit() {
    remove(ROOT.swap(core::ptr::null_mut(), Ordering::Relaxed));
}

/// Removes a directory and what is in it; NULL and error pointers are
/// ignored, as debugfs does.
pub(crate) fn remove(d: *mut b::dentry) {
    // SAFETY: `debugfs_remove` accepts NULL and error pointers.
    unsafe { b::debugfs_remove(d) }
}

fn is_err(p: *mut b::dentry) -> bool {
    // SAFETY: IS_ERR only looks at the value.
    p.is_null() || unsafe { b::IS_ERR(p as *const kernel::ffi::c_void) }
}

unsafe extern "C" fn knob_get(data: *mut kernel::ffi::c_void, val: *mut u64) -> kernel::ffi::c_int {
    // SAFETY: `data` is a knob of a mounted superblock's `SbInfo`, which
    // outlives its debugfs files; `val` is the caller's.
    unsafe { *val = (*data.cast::<AtomicI64>()).load(Ordering::Relaxed) as u64 };
    0
}

unsafe extern "C" fn knob_set(data: *mut kernel::ffi::c_void, val: u64) -> kernel::ffi::c_int {
    // SAFETY: as for `knob_get`.
    unsafe { (*data.cast::<AtomicI64>()).store(val as i64, Ordering::Relaxed) };
    0
}

unsafe extern "C" fn dangerous_set(data: *mut kernel::ffi::c_void, val: u64) -> kernel::ffi::c_int {
    if val != 0 && !DANGEROUS_KNOBS.load(Ordering::Relaxed) {
        return EPERM.to_errno();
    }
    if val != 0 && !WARNED.swap(true, Ordering::Relaxed) {
        pr_warn!("a dangerous fault-injection knob is on: data corruption follows\n");
    }
    // SAFETY: as for `knob_get`.
    unsafe { knob_set(data, val) }
}

unsafe extern "C" fn knob_open(inode: *mut b::inode, file: *mut b::file) -> kernel::ffi::c_int {
    // SAFETY: the VFS opens a knob file; the format takes one signed
    // 64-bit value.
    unsafe { b::simple_attr_open(inode, file, Some(knob_get), Some(knob_set), kernel::c_str!("%lld\n").as_char_ptr()) }
}

unsafe extern "C" fn dangerous_open(inode: *mut b::inode, file: *mut b::file) -> kernel::ffi::c_int {
    // SAFETY: as for `knob_open`.
    unsafe { b::simple_attr_open(inode, file, Some(knob_get), Some(dangerous_set), kernel::c_str!("%lld\n").as_char_ptr()) }
}

/// `DEFINE_DEBUGFS_ATTRIBUTE_SIGNED`'s file operations.
const fn attr_fops(open: unsafe extern "C" fn(*mut b::inode, *mut b::file) -> kernel::ffi::c_int) -> b::file_operations {
    // SAFETY: all-zero is a table without operations.
    let mut ops: b::file_operations = unsafe { core::mem::zeroed() };
    ops.open = Some(open);
    ops.release = Some(b::simple_attr_release);
    ops.read = Some(b::debugfs_attr_read);
    ops.write = Some(b::debugfs_attr_write_signed);
    ops
}

#[repr(transparent)]
struct Fops(b::file_operations);
// SAFETY: constant tables of function pointers.
unsafe impl Sync for Fops {}

static KNOB_FOPS: Fops = Fops(attr_fops(knob_open));
static DANGEROUS_FOPS: Fops = Fops(attr_fops(dangerous_open));

/// The `stats` file's text, written by the filesystem.
struct StatsBuf {
    buf: [u8; 256],
    len: usize,
}

impl core::fmt::Write for StatsBuf {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        let end = self.len.checked_add(s.len()).filter(|&e| e <= self.buf.len()).ok_or(core::fmt::Error)?;
        self.buf[self.len..end].copy_from_slice(s.as_bytes());
        self.len = end;
        Ok(())
    }
}

/// The `stats` file's operations for filesystem `T`.
struct StatsFops<T: FileSystem>(PhantomData<T>);

impl<T: FileSystem> StatsFops<T> {
    const OPS: Fops = Fops({
        // SAFETY: all-zero is a table without operations.
        let mut ops: b::file_operations = unsafe { core::mem::zeroed() };
        ops.open = Some(Self::open);
        ops.read = Some(b::seq_read);
        ops.llseek = Some(b::seq_lseek);
        ops.release = Some(b::single_release);
        ops
    });

    unsafe extern "C" fn show(m: *mut b::seq_file, _v: *mut kernel::ffi::c_void) -> kernel::ffi::c_int {
        // SAFETY: `private` is the superblock of `T` the file was made for,
        // which removes the file before it goes.
        let sb = unsafe { SuperBlock::<T>::from_raw((*m).private.cast()) };
        let mut out = StatsBuf { buf: [0; 256], len: 0 };
        if T::stats(&sb, &mut out).is_err() {
            return EINVAL.to_errno();
        }
        // SAFETY: `m` is the seq_file being shown; the bytes are copied.
        unsafe { b::seq_write(m, out.buf.as_ptr().cast(), out.len) }
    }

    unsafe extern "C" fn open(inode: *mut b::inode, file: *mut b::file) -> kernel::ffi::c_int {
        // SAFETY: `i_private` is the superblock given at creation.
        unsafe { b::single_open(file, Some(Self::show), (*inode).i_private) }
    }
}

/// Creates the mount's directory, its knob files and `stats`.
pub(crate) fn mount<T: FileSystem>(sb: &SuperBlock<'_, T>, sbi: &SbInfo<T>) {
    let root = ROOT.load(Ordering::Relaxed);
    if is_err(root) {
        return;
    }
    // SAFETY: the mount's device name; the root exists until module exit,
    // after every unmount.
    let d = unsafe { b::debugfs_create_dir(sb.id().as_char_ptr(), root) };
    if is_err(d) {
        return;
    }
    sbi.debugfs.store(d, Ordering::Relaxed);
    for (i, (_, name, dangerous, _)) in KNOBS.iter().enumerate() {
        let fops = if *dangerous { &DANGEROUS_FOPS } else { &KNOB_FOPS };
        // SAFETY: each file's data is a knob of `sbi`, which removes the
        // directory before it is freed.
        unsafe {
            b::debugfs_create_file_unsafe(
                name.as_char_ptr(),
                0o600,
                d,
                (&raw const sbi.knobs[i]).cast_mut().cast(),
                &fops.0,
            )
        };
    }
    // SAFETY: as above, with the superblock as the data.
    unsafe { b::debugfs_create_file(kernel::c_str!("stats").as_char_ptr(), 0o400, d, sb.raw_ptr().cast(), &StatsFops::<T>::OPS.0) };
}
