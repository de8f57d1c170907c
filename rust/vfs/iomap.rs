// SPDX-License-Identifier: GPL-2.0

//! The iomap library, typed: mappings, the four operation tables a
//! filesystem fills (`iomap_ops`, `iomap_folio_ops`, `iomap_writeback_ops`,
//! `iomap_dio_ops`) as `#[vtable]` traits with const tables, and the library
//! entry points that take them.
//!
//! What the types enforce:
//! - A mapping handed to iomap is a [`Mapping`], whose only constructor
//!   takes the validity cookie sampled with it: a mapping without a cookie
//!   cannot be returned from `iomap_begin` or cached for writeback.
//! - The mapping kinds are an enum ([`MapKind`]); a disk address exists
//!   only for mapped and unwritten extents.
//! - The short-write punch ([`write_delalloc_release`]) needs an
//!   [`InvalidateLock`]: 6.12's `iomap_write_delalloc_release` asserts the
//!   invalidate_lock held exclusively.
//! - Every table is built at compile time from a trait implementation, as
//!   `kernel::block::mq` builds `blk_mq_ops`; the trampolines turn raw
//!   pointers into references and `Result`s into errnos.

use super::bindings as b;
use super::file::{IovIter, Kiocb, VmFault};
use super::inode::{Inode, InvalidateLock};
use core::marker::PhantomData;
use core::ptr::NonNull;
use kernel::error::{from_result, to_result, Result};
use kernel::macros::vtable;
use kernel::types::Opaque;

pub use b::iomap_folio_ops as FolioOpsVtable;
pub use b::{
    IOMAP_DELALLOC, IOMAP_DIO_COW, IOMAP_DIO_FORCE_WAIT, IOMAP_DIO_UNWRITTEN, IOMAP_DIRECT, IOMAP_F_NEW, IOMAP_F_SHARED, IOMAP_HOLE,
    IOMAP_MAPPED, IOMAP_NULL_ADDR, IOMAP_REPORT, IOMAP_UNSHARE, IOMAP_UNWRITTEN, IOMAP_WRITE, IOMAP_ZERO,
};

/// What a mapping is.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum MapKind {
    /// No blocks: reads as zeroes.
    Hole,
    /// Reserved, not allocated: the data is only in the page cache.
    Delalloc,
    /// Allocated and written, at the disk byte address.
    Mapped(u64),
    /// Allocated, reads as zeroes until written, at the disk byte address.
    Unwritten(u64),
}

impl MapKind {
    fn raw(self) -> (u16, u64) {
        match self {
            MapKind::Hole => (b::IOMAP_HOLE as u16, b::IOMAP_NULL_ADDR as u64),
            MapKind::Delalloc => (b::IOMAP_DELALLOC as u16, b::IOMAP_NULL_ADDR as u64),
            MapKind::Mapped(a) => (b::IOMAP_MAPPED as u16, a),
            MapKind::Unwritten(a) => (b::IOMAP_UNWRITTEN as u16, a),
        }
    }
}

/// A mapping of file bytes `offset..offset+length`, valid while the
/// inode's fork sequences still match its cookie.
#[derive(Clone, Copy, Debug)]
pub struct Mapping {
    kind: MapKind,
    offset: u64,
    length: u64,
    new: bool,
    shared: bool,
    src: Option<MapKind>,
    cookie: u64,
}

impl Mapping {
    /// A mapping and the validity cookie sampled, under the extent lock,
    /// when it was made.
    pub fn new(kind: MapKind, offset: u64, length: u64, cookie: u64) -> Self {
        Mapping { kind, offset, length, new: false, shared: false, src: None, cookie }
    }

    /// Marks the mapping as a copy-on-write destination
    /// (`IOMAP_F_SHARED`): the blocks it names are the CoW fork's, and
    /// `src` (if any) is where the current contents are (iomap's
    /// `srcmap`, over the same bytes), read for partial blocks.
    pub fn cow(self, src: Option<MapKind>) -> Self {
        Mapping { shared: true, src, ..self }
    }

    /// Marks the mapping as shared with another file (FIEMAP's
    /// `FIEMAP_EXTENT_SHARED`), with no CoW destination.
    pub fn shared(self) -> Self {
        Mapping { shared: true, ..self }
    }

    /// Marks the mapping as made by this call (`IOMAP_F_NEW`): the blocks
    /// or the reservation are new, so iomap zeroes around a partial write
    /// and `iomap_end` may take back what the write did not use.
    pub fn new_blocks(self) -> Self {
        Mapping { new: true, ..self }
    }

    /// The kind.
    pub fn kind(&self) -> MapKind {
        self.kind
    }

    /// Turns a delalloc mapping into a hole (O_DIRECT reads: delalloc has
    /// no data on disk).
    pub fn delalloc_as_hole(self) -> Self {
        match self.kind {
            MapKind::Delalloc => Mapping { kind: MapKind::Hole, ..self },
            _ => self,
        }
    }
}

/// A mapping iomap holds (`struct iomap`).
#[repr(transparent)]
pub struct Iomap(Opaque<b::iomap>);

impl Iomap {
    /// # Safety
    ///
    /// `ptr` must be a valid `struct iomap` for `'a`, not written by
    /// anyone else meanwhile.
    unsafe fn from_raw<'a>(ptr: *const b::iomap) -> &'a Iomap {
        // SAFETY: transparent wrapper; live for `'a` by the contract.
        unsafe { &*ptr.cast::<Iomap>() }
    }

    fn raw(&self) -> &b::iomap {
        // SAFETY: the only writers are this layer's `set` (through `&mut`)
        // and iomap before it hands the mapping over.
        unsafe { &*self.0.get() }
    }

    /// The mapping's type.
    pub fn kind(&self) -> MapKind {
        let r = self.raw();
        match r.type_ as u32 {
            b::IOMAP_DELALLOC => MapKind::Delalloc,
            b::IOMAP_MAPPED => MapKind::Mapped(r.addr),
            b::IOMAP_UNWRITTEN => MapKind::Unwritten(r.addr),
            _ => MapKind::Hole,
        }
    }

    /// `IOMAP_F_NEW`: this mapping's call made the blocks or reservation.
    pub fn is_new(&self) -> bool {
        self.raw().flags as u32 & b::IOMAP_F_NEW != 0
    }

    /// `IOMAP_F_SHARED`: a copy-on-write mapping.
    pub fn is_shared(&self) -> bool {
        self.raw().flags as u32 & b::IOMAP_F_SHARED != 0
    }

    /// The validity cookie the mapping was made with.
    pub fn cookie(&self) -> u64 {
        self.raw().validity_cookie
    }

    /// True if the mapping covers file byte `pos`.
    pub fn covers(&self, pos: i64) -> bool {
        let r = self.raw();
        pos >= r.offset && (pos - r.offset) < r.length.min(i64::MAX as u64) as i64
    }

    /// Hands `m` to iomap, for `inode`'s device, with `folio_ops`.
    fn set(&mut self, inode: &Inode, m: &Mapping, folio_ops: *const b::iomap_folio_ops) {
        let (type_, addr) = m.kind.raw();
        // SAFETY: `&mut self` is the only reference; the superblock's
        // device lives as long as the mount.
        let r = unsafe { &mut *self.0.get() };
        r.addr = addr;
        r.offset = m.offset as i64;
        r.length = m.length;
        r.type_ = type_;
        r.flags = if m.new { b::IOMAP_F_NEW as u16 } else { 0 } | if m.shared { b::IOMAP_F_SHARED as u16 } else { 0 };
        // SAFETY: `i_sb` and `s_bdev` never change while mounted.
        r.bdev = unsafe { (*inode.raw_sb()).s_bdev };
        r.validity_cookie = m.cookie;
        r.folio_ops = folio_ops;
    }
}

/// `iomap_ops`: how a kind of I/O maps file ranges.
#[vtable]
pub trait IomapOps {
    /// The `iomap_folio_ops` given with every mapping (buffered I/O).
    const FOLIO_OPS: Option<&'static b::iomap_folio_ops> = None;

    /// Maps bytes `pos..pos+length` (`flags`: `IOMAP_WRITE`, `IOMAP_ZERO`,
    /// `IOMAP_DIRECT`, ...): returns the mapping at `pos`.
    fn begin(inode: &Inode, pos: i64, length: i64, flags: u32) -> Result<Mapping>;

    /// After iomap used `iomap` for bytes `pos..pos+length`, of which
    /// `written` were written.
    fn end(_inode: &Inode, _pos: i64, _length: i64, _written: isize, _flags: u32, _iomap: &Iomap) -> Result {
        kernel::build_error!(kernel::error::VTABLE_DEFAULT_ERROR)
    }
}

/// The const `iomap_ops` of an [`IomapOps`] implementation.
pub struct IomapOpsTable<T: IomapOps>(PhantomData<T>);

impl<T: IomapOps> IomapOpsTable<T> {
    const OPS: b::iomap_ops = b::iomap_ops {
        iomap_begin: Some(Self::begin),
        iomap_end: if T::HAS_END { Some(Self::end) } else { None },
    };

    /// The table, for iomap.
    pub const fn get() -> &'static b::iomap_ops {
        &Self::OPS
    }

    /// # Safety
    ///
    /// Called by iomap with a live inode of this filesystem and the iter's
    /// mapping to fill.
    unsafe extern "C" fn begin(
        inode: *mut b::inode,
        pos: b::loff_t,
        length: b::loff_t,
        flags: kernel::ffi::c_uint,
        iomap: *mut b::iomap,
        srcmap: *mut b::iomap,
    ) -> kernel::ffi::c_int {
        from_result(|| {
            // SAFETY: iomap calls with a live rxfs inode.
            let inode = unsafe { Inode::from_raw(inode) };
            let m = T::begin(inode, pos, length, flags)?;
            let folio_ops = T::FOLIO_OPS.map_or(core::ptr::null(), |f| f as *const _);
            // SAFETY: `iomap` is the iter's mapping, ours to fill now.
            let iomap = unsafe { &mut *iomap.cast::<Iomap>() };
            iomap.set(inode, &m, folio_ops);
            if let (Some(src), false) = (m.src, srcmap.is_null()) {
                // SAFETY: `srcmap` is the iter's source mapping (a hole
                // until set), ours to fill now.
                let srcmap = unsafe { &mut *srcmap.cast::<Iomap>() };
                srcmap.set(inode, &Mapping::new(src, m.offset, m.length, m.cookie), core::ptr::null());
            }
            Ok(0)
        })
    }

    /// # Safety
    ///
    /// Called by iomap with a live inode and the mapping `begin` made.
    unsafe extern "C" fn end(
        inode: *mut b::inode,
        pos: b::loff_t,
        length: b::loff_t,
        written: isize,
        flags: kernel::ffi::c_uint,
        iomap: *mut b::iomap,
    ) -> kernel::ffi::c_int {
        from_result(|| {
            // SAFETY: as for `begin`; iomap no longer changes the mapping.
            let (inode, iomap) = unsafe { (Inode::from_raw(inode), Iomap::from_raw(iomap)) };
            T::end(inode, pos, length, written, flags, iomap)?;
            Ok(0)
        })
    }
}

/// An iteration of iomap over a file range (`struct iomap_iter`).
#[repr(transparent)]
pub struct IomapIter(Opaque<b::iomap_iter>);

impl IomapIter {
    /// The inode being iterated.
    pub fn inode(&self) -> &Inode {
        // SAFETY: iomap's iter holds a live inode of this filesystem.
        unsafe { Inode::from_raw((*self.0.get()).inode) }
    }

    /// The source of a buffered write: [`file_buffered_write`] is the only
    /// caller of the library that sets `private`, to its `IovIter`; other
    /// iterations (zeroing, faults) have none.
    pub fn write_source(&self) -> Option<&IovIter> {
        // SAFETY: `private` is NULL or the `iov_iter` of the
        // `file_buffered_write` call this iteration runs in.
        unsafe { ((*self.0.get()).private as *const b::iov_iter).as_ref().map(|p| IovIter::from_raw(p as *const _ as *mut _)) }
    }

    /// Gets and locks the folio for `pos..pos+len` the default way.
    pub fn get_folio(&self, pos: i64, len: u32) -> Result<LockedFolio> {
        // SAFETY: `self` is a live iteration.
        let f = unsafe { b::iomap_get_folio(self.0.get(), pos, len as usize) };
        super::ptr_result(f).map(LockedFolio)
    }
}

/// A locked folio (`iomap_get_folio`'s result) on its way to iomap.
pub struct LockedFolio(NonNull<b::folio>);

/// `iomap_folio_ops`: folio hooks of buffered writes.
#[vtable]
pub trait FolioOps {
    /// Gets the locked folio a buffered write will copy into.
    fn get_folio(iter: &IomapIter, pos: i64, len: u32) -> Result<LockedFolio>;

    /// With the folio locked: is `iomap` still valid for `inode`?
    fn iomap_valid(inode: &Inode, iomap: &Iomap) -> bool;
}

/// The const `iomap_folio_ops` of a [`FolioOps`] implementation.
pub struct FolioOpsTable<T: FolioOps>(PhantomData<T>);

impl<T: FolioOps> FolioOpsTable<T> {
    const OPS: b::iomap_folio_ops = b::iomap_folio_ops {
        get_folio: if T::HAS_GET_FOLIO { Some(Self::get_folio) } else { None },
        put_folio: None,
        iomap_valid: if T::HAS_IOMAP_VALID { Some(Self::iomap_valid) } else { None },
    };

    /// The table.
    pub const fn get() -> &'static b::iomap_folio_ops {
        &Self::OPS
    }

    /// # Safety
    ///
    /// Called by iomap with a live iteration.
    unsafe extern "C" fn get_folio(iter: *mut b::iomap_iter, pos: b::loff_t, len: kernel::ffi::c_uint) -> *mut b::folio {
        // SAFETY: a live iteration, for this call.
        let iter = unsafe { &*iter.cast::<IomapIter>() };
        match T::get_folio(iter, pos, len) {
            Ok(f) => f.0.as_ptr(),
            // SAFETY: ERR_PTR only encodes the errno.
            Err(e) => unsafe { b::ERR_PTR(e.to_errno() as _) }.cast(),
        }
    }

    /// # Safety
    ///
    /// Called by iomap with a live inode and its current mapping.
    unsafe extern "C" fn iomap_valid(inode: *mut b::inode, iomap: *const b::iomap) -> bool {
        // SAFETY: as documented.
        let (inode, iomap) = unsafe { (Inode::from_raw(inode), Iomap::from_raw(iomap)) };
        T::iomap_valid(inode, iomap)
    }
}

/// The writeback context: the mapping cached across folios.
#[repr(transparent)]
pub struct WritepageCtx(Opaque<b::iomap_writepage_ctx>);

impl WritepageCtx {
    /// The cached mapping.
    pub fn iomap(&self) -> &Iomap {
        // SAFETY: the context's mapping lives as long as the context.
        unsafe { Iomap::from_raw(&raw const (*self.0.get()).iomap) }
    }

    /// Caches a new mapping for `inode`.
    pub fn set(&mut self, inode: &Inode, m: &Mapping) {
        // SAFETY: `&mut self`: the context is ours during map_blocks.
        let iomap = unsafe { &mut *(&raw mut (*self.0.get()).iomap).cast::<Iomap>() };
        iomap.set(inode, m, core::ptr::null());
    }
}

/// A writeback I/O being built or completed (`struct iomap_ioend`).
#[repr(transparent)]
pub struct Ioend(Opaque<b::iomap_ioend>);

impl Ioend {
    fn raw(&self) -> &b::iomap_ioend {
        // SAFETY: the fields read are set when the ioend is built and do
        // not change afterwards.
        unsafe { &*self.0.get() }
    }

    /// The file written.
    pub fn inode(&self) -> &Inode {
        // SAFETY: an ioend holds a live inode of this filesystem.
        unsafe { Inode::from_raw(self.raw().io_inode) }
    }

    /// True if the ioend wrote into unwritten blocks.
    pub fn is_unwritten(&self) -> bool {
        self.raw().io_type as u32 == b::IOMAP_UNWRITTEN
    }

    /// True if the ioend writes into CoW fork blocks (`IOMAP_F_SHARED`).
    pub fn is_shared(&self) -> bool {
        self.raw().io_flags as u32 & b::IOMAP_F_SHARED != 0
    }

    /// File offset.
    pub fn offset(&self) -> i64 {
        self.raw().io_offset
    }

    /// Length in bytes.
    pub fn size(&self) -> u64 {
        self.raw().io_size as u64
    }

    /// The I/O's status, as an errno (0 on success).
    pub fn status(&self) -> i32 {
        // SAFETY: the bio's status is final once the ioend completes.
        unsafe { b::blk_status_to_errno(self.raw().io_bio.bi_status) }
    }

    /// Completes in process context: the bio's completion queues the ioend
    /// for the inode's completion work, which calls
    /// [`WritebackOps::end_io`].
    pub fn defer_completion(&mut self) {
        // SAFETY: prepare_ioend runs before the bio is submitted.
        unsafe { (*self.0.get()).io_bio.bi_end_io = Some(super::aops::end_bio) };
    }

    /// # Safety
    ///
    /// `ptr` must be a live ioend for `'a`.
    pub(crate) unsafe fn from_raw<'a>(ptr: *mut b::iomap_ioend) -> &'a mut Ioend {
        // SAFETY: transparent wrapper.
        unsafe { &mut *ptr.cast::<Ioend>() }
    }

    pub(crate) fn as_raw(&self) -> *mut b::iomap_ioend {
        self.0.get()
    }
}

/// A folio given to a filesystem callback.
#[repr(transparent)]
pub struct Folio(Opaque<b::folio>);

impl Folio {
    /// # Safety
    ///
    /// `ptr` must be a live folio for `'a`.
    pub(crate) unsafe fn from_raw<'a>(ptr: *mut b::folio) -> &'a Folio {
        // SAFETY: transparent wrapper.
        unsafe { &*ptr.cast::<Folio>() }
    }

    /// File position of the folio's first byte.
    pub fn pos(&self) -> i64 {
        // SAFETY: a live folio.
        unsafe { b::rxfs_helper_folio_pos(self.0.get()) }
    }

    /// Size in bytes.
    pub fn size(&self) -> u64 {
        // SAFETY: a live folio.
        unsafe { b::rxfs_helper_folio_size(self.0.get()) as u64 }
    }

    /// The file the folio caches.
    pub fn inode(&self) -> &Inode {
        // SAFETY: a page cache folio of an rxfs file, locked by the caller
        // so its mapping stays.
        unsafe { Inode::from_raw(b::rxfs_helper_folio_host(self.0.get())) }
    }

    pub(crate) fn as_raw(&self) -> *mut b::folio {
        self.0.get()
    }
}

/// `iomap_writeback_ops` plus the process-context completion.
#[vtable]
pub trait WritebackOps {
    /// Makes the cached mapping cover `offset` (never delalloc).
    fn map_blocks(wpc: &mut WritepageCtx, inode: &Inode, offset: i64, len: u32) -> Result;

    /// Before submission; may [`Ioend::defer_completion`].
    fn prepare_ioend(ioend: &mut Ioend, status: i32) -> i32;

    /// A folio's writeback failed before submission: its data is lost.
    fn discard_folio(folio: &Folio, pos: i64);

    /// In process context, the inode's ioends whose completion
    /// [`Ioend::defer_completion`] deferred.
    fn complete(inode: &Inode, queue: &mut super::aops::IoendQueue<'_>);
}

/// The const `iomap_writeback_ops` of a [`WritebackOps`] implementation.
pub struct WritebackOpsTable<T: WritebackOps>(PhantomData<T>);

impl<T: WritebackOps> WritebackOpsTable<T> {
    const OPS: b::iomap_writeback_ops = b::iomap_writeback_ops {
        map_blocks: Some(Self::map_blocks),
        prepare_ioend: if T::HAS_PREPARE_IOEND { Some(Self::prepare_ioend) } else { None },
        discard_folio: if T::HAS_DISCARD_FOLIO { Some(Self::discard_folio) } else { None },
    };

    /// # Safety
    ///
    /// Called by iomap's writeback with its context and a live inode.
    unsafe extern "C" fn map_blocks(
        wpc: *mut b::iomap_writepage_ctx,
        inode: *mut b::inode,
        offset: b::loff_t,
        len: kernel::ffi::c_uint,
    ) -> kernel::ffi::c_int {
        from_result(|| {
            // SAFETY: as documented; the context is ours for the call.
            let (wpc, inode) = unsafe { (&mut *wpc.cast::<WritepageCtx>(), Inode::from_raw(inode)) };
            T::map_blocks(wpc, inode, offset, len)?;
            Ok(0)
        })
    }

    /// # Safety
    ///
    /// Called by iomap with an ioend not yet submitted.
    unsafe extern "C" fn prepare_ioend(ioend: *mut b::iomap_ioend, status: kernel::ffi::c_int) -> kernel::ffi::c_int {
        // SAFETY: as documented.
        T::prepare_ioend(unsafe { Ioend::from_raw(ioend) }, status)
    }

    /// # Safety
    ///
    /// Called by iomap with a locked folio.
    unsafe extern "C" fn discard_folio(folio: *mut b::folio, pos: b::loff_t) {
        // SAFETY: as documented.
        T::discard_folio(unsafe { Folio::from_raw(folio) }, pos)
    }
}

/// `iomap_dio_ops`.
#[vtable]
pub trait DioOps {
    /// Completion of a direct I/O of `size` bytes at the iocb's position
    /// (`flags`: `IOMAP_DIO_UNWRITTEN`, ...).
    fn end_io(iocb: &Kiocb, size: isize, error: i32, flags: u32) -> Result;
}

/// The const `iomap_dio_ops` of a [`DioOps`] implementation.
pub struct DioOpsTable<T: DioOps>(PhantomData<T>);

impl<T: DioOps> DioOpsTable<T> {
    const OPS: b::iomap_dio_ops = b::iomap_dio_ops {
        end_io: Some(Self::end_io),
        submit_io: None,
        bio_set: core::ptr::null_mut(),
    };

    /// [`Self::OPS`] with `submit_io` holding bios back, for
    /// [`dio_rw_submit_after_return`] only: every other direct I/O goes
    /// straight to `submit_bio`.
    const OPS_HELD: b::iomap_dio_ops = b::iomap_dio_ops { submit_io: Some(Self::submit_io), ..Self::OPS };

    /// # Safety
    ///
    /// Called by iomap with the I/O's iocb.
    unsafe extern "C" fn end_io(
        iocb: *mut b::kiocb,
        size: isize,
        error: kernel::ffi::c_int,
        flags: kernel::ffi::c_uint,
    ) -> kernel::ffi::c_int {
        from_result(|| {
            // SAFETY: as documented.
            T::end_io(unsafe { Kiocb::from_raw(iocb) }, size, error, flags)?;
            Ok(0)
        })
    }

    /// Holds `bio` for [`dio_rw_submit_after_return`] in the call's
    /// [`HeldBios`] (its private data), or submits it when that is full.
    ///
    /// # Safety
    ///
    /// Called by iomap, through [`Self::OPS_HELD`] only, with the iteration
    /// of the current `iomap_dio_rw` call and a bio ready to submit.
    unsafe extern "C" fn submit_io(iter: *const b::iomap_iter, bio: *mut b::bio, _pos: b::loff_t) {
        // SAFETY: as documented; `OPS_HELD` is only passed with the
        // caller's `HeldBios` as private data, alive for the whole call.
        let held = unsafe { (*iter).private.cast::<HeldBios>().as_mut() };
        if let Some(h) = held {
            if let Some(slot) = h.bios.get_mut(h.n) {
                *slot = bio;
                h.n += 1;
                return;
            }
        }
        // SAFETY: as documented.
        unsafe { b::submit_bio(bio) };
    }
}

/// `iomap_read_folio`.
pub fn read_folio<T: IomapOps>(folio: &Folio) -> Result {
    // SAFETY: a locked folio of an rxfs file; the table is static.
    to_result(unsafe { b::iomap_read_folio(folio.as_raw(), IomapOpsTable::<T>::get()) })
}

/// `iomap_readahead`.
///
/// # Safety
///
/// `rac` must be the readahead control of the current `readahead` call.
pub(crate) unsafe fn readahead<T: IomapOps>(rac: *mut b::readahead_control) {
    // SAFETY: per the contract; the table is static.
    unsafe { b::iomap_readahead(rac, IomapOpsTable::<T>::get()) }
}

/// `iomap_swapfile_activate`: the swap extents of the file, from
/// reporting (`IOMAP_REPORT`) mappings of `T`; iomap refuses holes,
/// delalloc, inline data and shared blocks. Returns the number of extents.
///
/// # Safety
///
/// `sis`, `file` and `span` must be those of the current `swap_activate`
/// call.
pub(crate) unsafe fn swapfile_activate<T: IomapOps>(sis: *mut b::swap_info_struct, file: *mut b::file, span: *mut b::sector_t) -> Result<i32> {
    // SAFETY: per the contract; the table is static.
    let r = unsafe { b::iomap_swapfile_activate(sis, file, span, IomapOpsTable::<T>::get()) };
    kernel::error::to_result(r).map(|()| r)
}

/// `iomap_bmap`: writes the mapping back, then the device block of file
/// block `block` if `T` maps it written (`IOMAP_MAPPED`), else 0.
///
/// # Safety
///
/// `mapping` must be that of the current `bmap` call.
pub(crate) unsafe fn bmap<T: IomapOps>(mapping: *mut b::address_space, block: b::sector_t) -> b::sector_t {
    // SAFETY: per the contract; the table is static.
    unsafe { b::iomap_bmap(mapping, block, IomapOpsTable::<T>::get()) }
}

/// `iomap_writepages` with a fresh context.
///
/// # Safety
///
/// `mapping` and `wbc` must be those of the current `writepages` call.
pub(crate) unsafe fn writepages<T: WritebackOps>(mapping: *mut b::address_space, wbc: *mut b::writeback_control) -> Result {
    // SAFETY: all-zero is the empty context iomap expects.
    let mut wpc: b::iomap_writepage_ctx = unsafe { core::mem::zeroed() };
    // SAFETY: per the contract; the table is static and `wpc` outlives
    // the call.
    to_result(unsafe { b::iomap_writepages(mapping, wbc, &mut wpc, &WritebackOpsTable::<T>::OPS) })
}

/// `iomap_file_buffered_write`, with the source as the iteration's
/// private data (see [`IomapIter::write_source`]).
pub fn file_buffered_write<T: IomapOps>(iocb: &Kiocb, from: &IovIter) -> Result<usize> {
    // SAFETY: the iocb and iterator are the caller's write's; the table is
    // static.
    let r = unsafe { b::iomap_file_buffered_write(iocb.as_raw(), from.as_raw(), IomapOpsTable::<T>::get(), from.as_raw().cast()) };
    super::ssize(r)
}

/// `iomap_dio_rw`.
pub fn dio_rw<T: IomapOps, D: DioOps>(iocb: &Kiocb, iter: &IovIter, dio_flags: u32) -> Result<usize> {
    // SAFETY: as for `file_buffered_write`; both tables are static.
    let r = unsafe {
        b::iomap_dio_rw(iocb.as_raw(), iter.as_raw(), IomapOpsTable::<T>::get(), &DioOpsTable::<D>::OPS, dio_flags, core::ptr::null_mut(), 0)
    };
    super::ssize(r)
}

/// The bios of one `iomap_dio_rw` call held back by [`DioOpsTable`]'s
/// `submit_io` until that call has returned (at most `HELD` of them; more
/// are submitted at once).
struct HeldBios {
    bios: [*mut b::bio; HELD],
    n: usize,
}

const HELD: usize = 16;

/// `iomap_dio_rw` for an asynchronous iocb whose bios are all submitted
/// only after iomap has returned `-EIOCBQUEUED`: none can have completed
/// while iomap still held its own reference to the dio, so the completion
/// never runs inside the submitting call (with its locks held), as it
/// does when a fast device finishes every bio first. A fault-injection
/// aid (the race tests need the submitter to return before completion);
/// a synchronous or polled iocb is submitted as by [`dio_rw`] (iomap
/// would wait for bios that were never sent, or poll one not yet sent).
pub fn dio_rw_submit_after_return<T: IomapOps, D: DioOps>(iocb: &Kiocb, iter: &IovIter, dio_flags: u32) -> Result<usize> {
    if !iocb.is_async() || iocb.is_polled() {
        return dio_rw::<T, D>(iocb, iter, dio_flags);
    }
    let mut held = HeldBios { bios: [core::ptr::null_mut(); HELD], n: 0 };
    // SAFETY: as for `dio_rw`; `held` outlives the call, and iomap hands
    // it (as the iteration's private data) only to `submit_io`, during the
    // call.
    let r = unsafe {
        b::iomap_dio_rw(
            iocb.as_raw(),
            iter.as_raw(),
            IomapOpsTable::<T>::get(),
            &DioOpsTable::<D>::OPS_HELD,
            dio_flags,
            (&raw mut held).cast(),
            0,
        )
    };
    for &bio in &held.bios[..held.n] {
        // SAFETY: a bio iomap built and gave `submit_io` to submit, not yet
        // submitted; the dio it belongs to stays alive until it completes.
        unsafe { b::submit_bio(bio) };
    }
    super::ssize(r)
}

/// `iomap_dio_rw` for reads: no completion hook.
pub fn dio_read<T: IomapOps>(iocb: &Kiocb, iter: &IovIter) -> Result<usize> {
    // SAFETY: as above.
    let r = unsafe {
        b::iomap_dio_rw(iocb.as_raw(), iter.as_raw(), IomapOpsTable::<T>::get(), core::ptr::null(), 0, core::ptr::null_mut(), 0)
    };
    super::ssize(r)
}


/// `iomap_zero_range`: zeroes file bytes `pos..pos+len` through the page
/// cache.
pub fn zero_range<T: IomapOps>(inode: &Inode, pos: i64, len: i64) -> Result {
    // SAFETY: a live inode; the table is static.
    to_result(unsafe { b::iomap_zero_range(inode.as_raw(), pos, len, core::ptr::null_mut(), IomapOpsTable::<T>::get()) })
}

/// `iomap_file_unshare`: dirties the page cache over the shared blocks of
/// `pos..pos+len`, so writeback gives the file copies of its own.
pub fn file_unshare<T: IomapOps>(inode: &Inode, pos: i64, len: i64) -> Result {
    // SAFETY: a live inode; the table is static.
    to_result(unsafe { b::iomap_file_unshare(inode.as_raw(), pos, len, IomapOpsTable::<T>::get()) })
}

/// `iomap_truncate_page`: zeroes from `pos` to the end of its block.
pub fn truncate_page<T: IomapOps>(inode: &Inode, pos: i64) -> Result {
    // SAFETY: as above.
    to_result(unsafe { b::iomap_truncate_page(inode.as_raw(), pos, core::ptr::null_mut(), IomapOpsTable::<T>::get()) })
}

/// `iomap_page_mkwrite`.
pub fn page_mkwrite<T: IomapOps>(vmf: &VmFault) -> b::vm_fault_t {
    // SAFETY: the fault being handled; the table is static.
    unsafe { b::iomap_page_mkwrite(vmf.as_raw(), IomapOpsTable::<T>::get()) }
}

/// `iomap_seek_hole` / `iomap_seek_data`.
pub fn seek<T: IomapOps>(inode: &Inode, offset: i64, hole: bool) -> Result<i64> {
    // SAFETY: a live inode; the table is static.
    let r = unsafe {
        if hole {
            b::iomap_seek_hole(inode.as_raw(), offset, IomapOpsTable::<T>::get())
        } else {
            b::iomap_seek_data(inode.as_raw(), offset, IomapOpsTable::<T>::get())
        }
    };
    super::loff(r)
}

/// `iomap_fiemap`.
///
/// # Safety
///
/// `fi` must be the fiemap request of the current `fiemap` call.
pub(crate) unsafe fn fiemap<T: IomapOps>(inode: &Inode, fi: *mut b::fiemap_extent_info, start: u64, len: u64) -> Result {
    // SAFETY: per the contract; the table is static.
    to_result(unsafe { b::iomap_fiemap(inode.as_raw(), fi, start, len, IomapOpsTable::<T>::get()) })
}

/// The callback of [`write_delalloc_release`].
pub trait Punch {
    /// Removes the delalloc (only) of bytes `offset..offset+length`.
    fn punch(inode: &Inode, offset: i64, length: i64);
}

/// # Safety
///
/// Called by iomap with a live inode.
unsafe extern "C" fn punch_trampoline<P: Punch>(inode: *mut b::inode, offset: b::loff_t, length: b::loff_t, _iomap: *mut b::iomap) {
    // SAFETY: as documented.
    P::punch(unsafe { Inode::from_raw(inode) }, offset, length)
}

/// `iomap_write_delalloc_release`: punches the delalloc of `start..end`
/// that no dirty page cache covers. The lock is the proof 6.12 requires.
pub fn write_delalloc_release<P: Punch>(lock: &InvalidateLock<'_>, inode: &Inode, start: i64, end: i64, flags: u32, iomap: &Iomap) {
    let _ = lock;
    // SAFETY: the invalidate_lock is held exclusively (the guard); the
    // mapping is iomap_end's own, which iomap only reads.
    unsafe {
        b::iomap_write_delalloc_release(inode.as_raw(), start, end, flags, iomap.0.get(), Some(punch_trampoline::<P>))
    }
}
