// SPDX-License-Identifier: GPL-2.0

//! The data fork: every change to a file's block mapping, in safe Rust.
//!
//! A file block is in exactly one of four states: a hole, **delalloc**
//! (reserved space, data only in the page cache, kept in
//! [`crate::fs::Meta::delalloc`]), **unwritten** (allocated on disk, reads
//! as zeroes) or **written**. The transitions, as in XFS:
//!
//! ```text
//!   hole --buffered write/mkwrite--> delalloc --writeback--> unwritten
//!   hole --O_DIRECT write/fallocate--------------------> unwritten
//!   unwritten --I/O completion (ioend, dio end_io)--> written
//!   delalloc --short-write punch, truncate--> hole
//! ```
//!
//! Every operation runs under the metadata lock, which is therefore the
//! extent lock: an operation is atomic with respect to every other extent
//! change. Each change bumps the inode's data fork sequence (the iomap
//! validity cookie) before the lock is dropped, and the cookie handed out
//! with a mapping is sampled under the same lock.

use crate::fs::{add_nblocks, Ctx, FsInfo};
use crate::librxfs::alloc::Budget;
use crate::librxfs::cowfork::{self, CowExt, CowStore, State};
use crate::librxfs::delalloc::{self, RangeStore};
use crate::librxfs::error::Error;
use crate::librxfs::extmap::{self, Extent, Map as XMap, Release};
use crate::librxfs::refcount;
use crate::vfs::iomap as vi;
use core::sync::atomic::{AtomicU64, Ordering};
use kernel::prelude::*;
use kernel::rbtree::RBTree;
use crate::vfs::inode::Inode;

/// `ENOMEM`.
const ENOMEM: i32 = 12;

/// `IOMAP_HOLE`.
pub const IOMAP_HOLE: u16 = vi::IOMAP_HOLE as u16;
/// `IOMAP_DELALLOC`.
pub const IOMAP_DELALLOC: u16 = vi::IOMAP_DELALLOC as u16;
/// `IOMAP_MAPPED`.
pub const IOMAP_MAPPED: u16 = vi::IOMAP_MAPPED as u16;
/// `IOMAP_UNWRITTEN`.
pub const IOMAP_UNWRITTEN: u16 = vi::IOMAP_UNWRITTEN as u16;
/// `IOMAP_F_NEW`.
pub const IOMAP_F_NEW: u16 = vi::IOMAP_F_NEW as u16;
const IOMAP_ZERO: u32 = vi::IOMAP_ZERO;
const IOMAP_REPORT: u32 = vi::IOMAP_REPORT;
/// No disk address (`IOMAP_NULL_ADDR`).
pub const NULL_ADDR: u64 = vi::IOMAP_NULL_ADDR as u64;

/// What an extent operation mapped and changed, in bytes.
#[derive(Default, Clone, Copy, Debug)]
pub struct Map {
    /// Disk byte address, or [`NULL_ADDR`].
    pub addr: u64,
    /// File offset of the mapping.
    pub offset: u64,
    /// Length in bytes.
    pub length: u64,
    /// `IOMAP_HOLE`, `IOMAP_DELALLOC`, `IOMAP_MAPPED` or `IOMAP_UNWRITTEN`.
    pub kind: u16,
    /// `IOMAP_F_NEW`.
    pub flags: u16,
    /// 1 if `nblocks` is set.
    pub changed: u32,
    /// The inode's on-disk block count afterwards.
    pub nblocks: u64,
    /// Change in the inode's delalloc blocks.
    pub delayed: i64,
    /// The fork sequences, sampled under the extent lock ([`cookie`]).
    pub cookie: u64,
    /// A copy-on-write mapping (`IOMAP_F_SHARED`): the blocks are the CoW
    /// fork's; or, for a report, blocks shared with another file.
    pub shared: bool,
    /// With `shared`, where the current contents are (kind, address): the
    /// data fork's mapping of the same bytes.
    pub src: Option<(u16, u64)>,
}

/// The delalloc ranges of every file of a mount, keyed by (inode, first
/// block), valued by length.
pub type DelallocMap = RBTree<(u64, u64), u64>;

/// One file's view of a [`DelallocMap`].
pub fn dl(t: &mut DelallocMap, ino: u64) -> Dl<'_> {
    Dl { t, ino }
}

/// One file's view of a [`DelallocMap`].
pub struct Dl<'a> {
    t: &'a mut DelallocMap,
    ino: u64,
}

/// The entry of file `ino` with the greatest start `<= k`, in a map keyed
/// by (inode, first block).
fn le_of<V: Copy>(t: &mut RBTree<(u64, u64), V>, ino: u64, k: u64) -> Option<(u64, V)> {
    let key = (ino, k);
    let found = match t.cursor_lower_bound(&key) {
        Some(c) => {
            let (ck, cv) = c.current();
            if *ck == key {
                Some((*ck, *cv))
            } else {
                c.peek_prev().map(|(pk, pv)| (*pk, *pv))
            }
        }
        None => t.cursor_back().map(|c| {
            let (ck, cv) = c.current();
            (*ck, *cv)
        }),
    };
    found.filter(|((i, s), _)| *i == ino && *s <= k).map(|((_, s), v)| (s, v))
}

/// The entry of file `ino` with the least start `>= k`.
fn ge_of<V: Copy>(t: &mut RBTree<(u64, u64), V>, ino: u64, k: u64) -> Option<(u64, V)> {
    let c = t.cursor_lower_bound(&(ino, k))?;
    let ((i, s), v) = c.current();
    (*i == ino).then_some((*s, *v))
}

impl RangeStore for Dl<'_> {
    fn le(&mut self, k: u64) -> Option<(u64, u64)> {
        le_of(self.t, self.ino, k)
    }

    fn ge(&mut self, k: u64) -> Option<(u64, u64)> {
        ge_of(self.t, self.ino, k)
    }

    fn set(&mut self, k: u64, len: u64) -> Result<(), Error> {
        if let Some(v) = self.t.get_mut(&(self.ino, k)) {
            *v = len;
            return Ok(());
        }
        self.t.try_create_and_insert((self.ino, k), len, GFP_KERNEL).map_err(|_| Error::Io(ENOMEM))?;
        Ok(())
    }

    fn del(&mut self, k: u64) {
        self.t.remove(&(self.ino, k));
    }
}

/// The CoW fork extents of every file of a mount (see
/// [`crate::librxfs::cowfork`]), keyed by (inode, first block): each file's
/// CoW fork is its part of the map, changed only under the extent lock.
pub type CowMap = RBTree<(u64, u64), CowExt>;

/// One file's CoW fork in a [`CowMap`].
pub struct Cw<'a> {
    t: &'a mut CowMap,
    ino: u64,
}

/// One file's CoW fork.
pub fn cw(t: &mut CowMap, ino: u64) -> Cw<'_> {
    Cw { t, ino }
}

impl CowStore for Cw<'_> {
    fn le(&mut self, k: u64) -> Option<CowExt> {
        le_of(self.t, self.ino, k).map(|(_, e)| e)
    }

    fn ge(&mut self, k: u64) -> Option<CowExt> {
        ge_of(self.t, self.ino, k).map(|(_, e)| e)
    }

    fn set(&mut self, e: CowExt) -> Result<(), Error> {
        if let Some(v) = self.t.get_mut(&(self.ino, e.lblk)) {
            *v = e;
            return Ok(());
        }
        self.t.try_create_and_insert((self.ino, e.lblk), e, GFP_KERNEL).map_err(|_| Error::Io(ENOMEM))?;
        Ok(())
    }

    fn del(&mut self, k: u64) {
        self.t.remove(&(self.ino, k));
    }
}

/// Drops the CoW fork extents of `ino` in `b..b+n`, real ones too (no I/O
/// is in flight over them), on a filesystem whose refcount inode is `rc`:
/// their blocks are unstaged and freed, their delalloc reservation given
/// back. Returns the delalloc blocks dropped.
pub fn drop_cow(cx: &mut Ctx<'_>, rc: u64, ino: u64, b: u64, n: u64) -> Result<u64, Error> {
    let mut rcn = 0;
    let r = cowfork::cancel(&mut cw(cx.cow, ino), &cx.s, cx.a, rc, &mut rcn, b, n, true);
    if rcn != 0 {
        add_nblocks(cx, rc, rcn)?;
    }
    let dl = r?;
    cx.a.reserved = cx.a.reserved.saturating_sub(dl);
    Ok(dl)
}

/// Removes the delalloc blocks of `ino` in `b..b+n` and gives their
/// reservation back; returns how many there were.
pub fn release_delalloc(cx: &mut Ctx<'_>, ino: u64, b: u64, n: u64) -> Result<u64, Error> {
    let got = delalloc::remove(&mut dl(cx.dl, ino), b, n)?;
    cx.a.reserved = cx.a.reserved.saturating_sub(got);
    Ok(got)
}

/// An extent operation.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum XOp {
    /// Map for reading or reporting; delalloc shows as `IOMAP_DELALLOC`.
    Read,
    /// Map for a buffered write or a write fault: holes become delalloc.
    BufferedWrite,
    /// Map for an O_DIRECT write: holes and delalloc become unwritten.
    DirectWrite,
    /// Map for writeback: delalloc becomes unwritten; never delalloc.
    Writeback,
    /// Remove only the delalloc blocks of the range (short-write punch).
    PunchDelalloc,
    /// Mark the range's unwritten blocks written (I/O completion).
    Convert,
    /// Allocate unwritten blocks for the range's holes and delalloc.
    Prealloc,
    /// Unmap the range: disk blocks and delalloc.
    Remove,
    /// Mark the CoW fork's unwritten extents of the range real: an I/O is
    /// about to write them (writeback's `prepare_ioend`).
    ConvertCow,
    /// I/O completion over the range: remap its real CoW extents.
    EndCow,
    /// Negative control (`cow_remap_all`): remap the whole run of CoW
    /// extents touching the range, unwritten ones included.
    EndCowAll,
    /// An I/O over the range failed: drop its CoW extents.
    CancelCow,
}

/// The CoW extent size hint: an O_DIRECT write over shared blocks
/// allocates CoW blocks up to the next multiple of this many file blocks,
/// as XFS's default `cowextsize` (32 blocks), unwritten beyond the write.
pub const COW_EXTSIZE: u64 = 32;

/// What covers a file block.
enum Found {
    Disk(Extent),
    /// A delalloc range (start, length).
    Delay(u64, u64),
    /// A hole of this many blocks (up to the next extent or delalloc).
    Hole(u64),
}

/// State of one operation on one file.
struct Op<'c, 'a> {
    cx: &'c mut Ctx<'a>,
    ino: u64,
    log: u32,
    /// The inode's on-disk block count, once changed.
    nblocks: Option<u64>,
    /// Change in the inode's delalloc blocks.
    delayed: i64,
    /// Whether the mapping changed (the sequence must move).
    changed: bool,
    /// The refcount inode if this file may share blocks (it has the
    /// reflink flag on a reflink filesystem), else 0.
    rc: u64,
    /// Whether the CoW fork changed (its sequence must move).
    cow_changed: bool,
    /// The CoW extent size hint, in blocks.
    cowext: u64,
}

impl<'c, 'a> Op<'c, 'a> {
    /// An operation on file `t` that has changed nothing yet; `rc` is the
    /// refcount inode if the file may share blocks, else 0.
    fn new(cx: &'c mut Ctx<'a>, t: &Target<'_>, log: u32, rc: u64) -> Self {
        let cowext = if t.cowext == 0 { COW_EXTSIZE } else { t.cowext };
        Op { cx, ino: t.ino, log, nblocks: None, delayed: 0, changed: false, rc, cow_changed: false, cowext }
    }

    fn dl(&mut self) -> Dl<'_> {
        Dl { t: &mut *self.cx.dl, ino: self.ino }
    }

    fn cw(&mut self) -> Cw<'_> {
        Cw { t: &mut *self.cx.cow, ino: self.ino }
    }

    /// The first CoW fork extent that ends after `b`.
    fn next_cow(&mut self, b: u64) -> Option<CowExt> {
        if self.rc == 0 {
            return None;
        }
        cowfork::next(&mut self.cw(), b)
    }

    /// Charges the refcount inode for its tree's node change.
    fn charge_rc(&mut self, delta: i64) -> Result<(), Error> {
        if delta != 0 {
            add_nblocks(self.cx, self.rc, delta)?;
        }
        Ok(())
    }

    /// Whether data extent `e`'s block for file block `b` is shared, and
    /// for how many blocks from `b` (within `e`) that stays so.
    fn sharing(&self, e: &Extent, b: u64) -> Result<(bool, u64), Error> {
        let p = e.pblk + (b - e.lblk);
        let len = e.end() - b;
        if self.rc == 0 {
            return Ok((false, len));
        }
        Ok(match refcount::find_shared(&self.cx.s, self.rc, p, len)? {
            Some((s, l)) if s == p => (true, l),
            Some((s, _)) => (false, s - p),
            None => (false, len),
        })
    }

    /// Drops the CoW fork's extents in `b..b+n`, real ones too (no I/O can
    /// be in flight over them): the data fork there is about to go.
    fn cancel_cow(&mut self, b: u64, n: u64) -> Result<(), Error> {
        if self.next_cow(b).is_none_or(|c| c.lblk >= b.saturating_add(n)) {
            return Ok(());
        }
        self.cow_changed = true;
        let dl = drop_cow(self.cx, self.rc, self.ino, b, n)?;
        self.delayed -= dl as i64;
        Ok(())
    }

    /// Allocates unwritten CoW blocks at `b`: out of the delalloc
    /// reservation `c` covering it (`Some`), or directly over a hole of
    /// the fork. At most `max` blocks.
    fn alloc_cow(&mut self, delalloc: bool, b: u64, max: u64) -> Result<CowExt, Error> {
        let goal = self.goal(b)?;
        let mut rcn = 0;
        let rc = self.rc;
        let mut c = Cw { t: &mut *self.cx.cow, ino: self.ino };
        let r = if delalloc {
            cowfork::allocate(&mut c, &self.cx.s, self.cx.a, rc, &mut rcn, b, max, goal)
        } else {
            cowfork::allocate_direct(&mut c, &self.cx.s, self.cx.a, rc, &mut rcn, b, max, goal)
        };
        self.charge_rc(rcn)?;
        let e = r?;
        self.cow_changed = true;
        if delalloc {
            self.delayed -= e.len as i64;
        }
        Ok(e)
    }

    /// A delalloc reservation of up to `n` blocks (one extent's worth, at
    /// most what ordinary allocations may still use), recorded by `add`
    /// and accounted; returns its length. `NoSpace` if nothing is left.
    fn reserve(&mut self, n: u64, add: impl FnOnce(&mut Self, u64) -> Result<(), Error>) -> Result<u64, Error> {
        let want = n.min(extmap::MAX_LEN).min(self.cx.a.user_available());
        if want == 0 {
            return Err(Error::NoSpace);
        }
        add(self, want)?;
        self.cx.a.reserved += want;
        self.delayed += want as i64;
        Ok(want)
    }

    /// The mapping of CoW extent `c` at `b`, up to `lim`.
    fn cow_map(&self, c: &CowExt, b: u64, lim: u64) -> Map {
        let log = self.log;
        let (kind, addr) = match c.state {
            State::Delalloc => (IOMAP_DELALLOC, NULL_ADDR),
            State::Unwritten => (IOMAP_UNWRITTEN, (c.pblk + (b - c.lblk)) << log),
            State::Real => (IOMAP_MAPPED, (c.pblk + (b - c.lblk)) << log),
        };
        Map { addr, offset: b << log, length: (c.end().min(lim) - b) << log, kind, shared: true, ..Default::default() }
    }

    /// A write (buffered, `direct` or writeback's) to data extent `e` at
    /// file block `b`, on a file that may share blocks: where it goes.
    /// Shared blocks get CoW fork blocks (a delalloc reservation for a
    /// buffered write; unwritten blocks, converted to real over the
    /// write, for O_DIRECT; unwritten for writeback), with the data fork
    /// as the source; blocks of the file's own are written in place, the
    /// mapping cut short of the next shared block or CoW extent.
    fn cow_write(&mut self, op: XOp, e: Extent, b: u64, end: u64, max: u64, flags: u32) -> Result<Map, Error> {
        let data = self.map_of(&Found::Disk(e), b, max);
        let next = self.next_cow(b);
        if op == XOp::BufferedWrite && flags & IOMAP_ZERO != 0 && e.unwritten && next.is_none_or(|c| c.lblk > b) {
            // Zeroing skips unwritten blocks: nothing would be written, so
            // no CoW reservation (it would only wait for eviction).
            let mut m = data;
            if let Some(c) = next {
                m.length = m.length.min((c.lblk - b) << self.log);
            }
            return Ok(m);
        }
        let src = Some((data.kind, data.addr));
        let lim = e.end();
        let mut c = match next {
            Some(c) if c.lblk <= b => c,
            _ => {
                let (shared, run) = self.sharing(&e, b)?;
                let run = run.min(next.map_or(u64::MAX, |c| c.lblk - b));
                if !shared {
                    let mut m = data;
                    m.length = m.length.min(run << self.log);
                    return Ok(m);
                }
                match op {
                    XOp::BufferedWrite => {
                        let want = self.reserve(run.min(end - b), |o, w| cowfork::reserve(&mut o.cw(), b, w))?;
                        self.cow_changed = true;
                        let c = CowExt { lblk: b, len: want, pblk: 0, state: State::Delalloc };
                        let mut m = self.cow_map(&c, b, lim);
                        m.flags = IOMAP_F_NEW;
                        m.src = src;
                        return Ok(m);
                    }
                    XOp::DirectWrite => {
                        // The extent size hint: unwritten beyond the write.
                        let hint = end.div_ceil(self.cowext).saturating_mul(self.cowext);
                        let n = hint.min(lim).min(next.map_or(u64::MAX, |c| c.lblk)) - b;
                        self.alloc_cow(false, b, n)?
                    }
                    _ => self.alloc_cow(false, b, run.min(end - b))?,
                }
            }
        };
        if c.state == State::Delalloc && op != XOp::BufferedWrite {
            c = self.alloc_cow(true, b, c.end().min(lim).min(end) - b)?;
        }
        let mut to = lim;
        if op == XOp::DirectWrite {
            // Exactly what this write covers becomes real before the I/O.
            to = c.end().min(lim).min(end);
            cowfork::convert(&mut self.cw(), b, to - b)?;
            self.cow_changed = true;
            c.state = State::Real;
        }
        let mut m = self.cow_map(&c, b, to);
        if op == XOp::BufferedWrite {
            m.src = src;
        }
        Ok(m)
    }

    fn find(&mut self, b: u64) -> Result<Found, Error> {
        match extmap::lookup(&self.cx.s, self.ino, b)? {
            XMap::Mapped(e) => Ok(Found::Disk(e)),
            XMap::Hole(n) => {
                let mut dl = self.dl();
                match delalloc::next(&mut dl, b) {
                    Some((s, l)) if s <= b => Ok(Found::Delay(s, l)),
                    Some((s, _)) => Ok(Found::Hole(n.min(s - b))),
                    None => Ok(Found::Hole(n)),
                }
            }
        }
    }

    /// At the end of the operation on `t`: the fork sequences it changed
    /// move on (the cookies of mappings handed out before go stale), and
    /// `out` says what the inode's counts became.
    fn settle(&self, t: &Target<'_>, out: &mut Map) {
        if self.changed {
            t.data_seq.fetch_add(1, Ordering::Release);
        }
        if self.cow_changed {
            t.cow_seq.fetch_add(1, Ordering::Release);
        }
        if let Some(n) = self.nblocks {
            out.nblocks = n;
            out.changed = 1;
        }
        out.delayed = self.delayed;
    }

    fn charge(&mut self, delta: i64) -> Result<(), Error> {
        if delta != 0 {
            self.nblocks = Some(add_nblocks(self.cx, self.ino, delta)?);
        }
        Ok(())
    }

    /// Where to put new blocks for file block `b`: after the blocks of the
    /// extent before it, or after the inode.
    fn goal(&self, b: u64) -> Result<u64, Error> {
        if let Some(p) = b.checked_sub(1) {
            if let XMap::Mapped(l) = extmap::lookup(&self.cx.s, self.ino, p)? {
                return Ok(l.pblk + l.len);
            }
        }
        Ok(self.ino + 1)
    }

    /// Allocates unwritten blocks for `b..b+want` (a hole or delalloc) and
    /// maps them. `reserved`: the blocks come out of a delalloc
    /// reservation, which they replace; otherwise they must be available
    /// to ordinary allocations. Returns the new extent (maybe shorter).
    ///
    /// The tree nodes the new extent's insert may need come from the same
    /// budget as the blocks: ordinary space for a new allocation (so its
    /// blocks leave room for them), the pool for a reservation's blocks.
    fn alloc_unwritten(&mut self, b: u64, want: u64, reserved: bool) -> Result<Extent, Error> {
        let want = want.min(extmap::MAX_LEN);
        let want = if reserved {
            want
        } else {
            let nodes = extmap::tree(self.ino).insert_worst(&self.cx.s)?;
            want.min(self.cx.a.user_available().saturating_sub(nodes))
        };
        if want == 0 {
            return Err(Error::NoSpace);
        }
        let goal = self.goal(b)?;
        let (start, got) = self.cx.a.alloc(&self.cx.s, goal, want)?;
        let e = Extent { lblk: b, pblk: start, len: got, unwritten: true };
        // A reservation's blocks leave it as they are allocated, so that
        // its remaining promises stay covered while the insert allocates.
        if reserved {
            self.cx.a.reserved = self.cx.a.reserved.saturating_sub(got);
        }
        self.cx.a.budget(if reserved { Budget::Pool } else { Budget::User });
        let mut nodes = 0;
        if let Err(err) = extmap::insert(&self.cx.s, self.cx.a, self.ino, e, &mut nodes) {
            let _ = self.cx.a.free(&self.cx.s, start, got);
            if reserved {
                self.cx.a.reserved += got;
            }
            return Err(err);
        }
        self.changed = true;
        if reserved {
            // Normally n == got; keep the count exact if not.
            let n = delalloc::remove(&mut self.dl(), b, got)?;
            self.cx.a.reserved = (self.cx.a.reserved + got).saturating_sub(n);
            self.delayed -= n as i64;
        }
        self.charge(nodes + got as i64)?;
        Ok(e)
    }

    /// Removes delalloc blocks `b..b+n` and returns their reservation.
    fn punch_delalloc(&mut self, b: u64, n: u64) -> Result<u64, Error> {
        let got = release_delalloc(self.cx, self.ino, b, n)?;
        if got > 0 {
            self.delayed -= got as i64;
            self.changed = true;
        }
        Ok(got)
    }

    fn remove(&mut self, b: u64, n: u64) -> Result<(), Error> {
        self.punch_delalloc(b, n)?;
        self.cancel_cow(b, n)?;
        let mut nodes = 0;
        // Blocks another file may share lose one mapping; the others go.
        let mut rcn = 0;
        let mut rel = if self.rc != 0 { Release::Refcount { ino: self.rc, nodes: &mut rcn } } else { Release::Free };
        let mut k = 0;
        // What was unmapped is charged even if it stopped part-way.
        let r = extmap::remove_counted(&self.cx.s, self.cx.a, self.ino, b, n, &mut rel, &mut nodes, &mut k);
        self.charge_rc(rcn)?;
        self.changed |= k > 0 || nodes != 0 || r.is_err();
        self.charge(nodes - k as i64)?;
        r
    }

    fn map_of(&self, f: &Found, b: u64, max: u64) -> Map {
        let log = self.log;
        let mut m = Map { offset: b << log, addr: NULL_ADDR, ..Default::default() };
        let (kind, end) = match *f {
            Found::Disk(e) => {
                m.addr = (e.pblk + (b - e.lblk)) << log;
                (if e.unwritten { IOMAP_UNWRITTEN } else { IOMAP_MAPPED }, e.end())
            }
            Found::Delay(s, l) => (IOMAP_DELALLOC, s + l),
            Found::Hole(n) => (IOMAP_HOLE, b.saturating_add(n)),
        };
        m.kind = kind;
        m.length = (end.min(max) - b) << log;
        m
    }
}

/// The validity cookie of a mapping: the data fork's sequence in the low
/// 32 bits, the CoW fork's in the high 32, as `xfs_iomap_inode_sequence`
/// for a shared mapping. Every mapping carries both, so any change to
/// either fork invalidates it.
pub fn cookie(data: &AtomicU64, cow: &AtomicU64) -> u64 {
    (cow.load(Ordering::Acquire) & 0xffff_ffff) << 32 | data.load(Ordering::Acquire) & 0xffff_ffff
}

/// The file an extent operation works on.
pub struct Target<'a> {
    /// Inode number.
    pub ino: u64,
    /// Its data fork sequence.
    pub data_seq: &'a AtomicU64,
    /// Its CoW fork sequence.
    pub cow_seq: &'a AtomicU64,
    /// It may share blocks (the reflink inode flag).
    pub reflink: bool,
    /// Its CoW extent size hint in blocks (0: [`COW_EXTSIZE`]).
    pub cowext: u64,
}

impl<'a> Target<'a> {
    /// The target of extent operations on `inode`.
    pub fn of(inode: &'a Inode) -> Self {
        let reflink = inode.rx().flags.load(Ordering::Relaxed) & crate::librxfs::inode::FLAG_REFLINK != 0;
        let cowext = inode.rx().cowextsize.load(Ordering::Relaxed) as u64;
        Target { ino: inode.ino(), data_seq: inode.data_seq(), cow_seq: inode.cow_seq(), reflink, cowext }
    }

    fn cookie(&self) -> u64 {
        cookie(self.data_seq, self.cow_seq)
    }
}

/// Runs extent operation `op` on file `t` for bytes `pos..pos+len`. Map
/// operations put the mapping at `pos` in `out`. What the operation
/// changed (the inode's block count, its delalloc blocks) goes to `out`
/// whether it succeeds or not, so the in-memory inode stays in step with
/// what a failed operation left done.
fn xop(fs: &FsInfo, t: &Target<'_>, op: XOp, pos: u64, len: u64, flags: u32, out: &mut Map) -> Result<(), Error> {
    let log = fs.block_log;
    // File blocks are 0..max: the last one holds the largest file's last
    // bytes (up to LLONG_MAX) and ends at 2^63, so byte ends reach 2^63
    // (a mapping's offset + length, in u64 as iomap computes it).
    let max = crate::librxfs::inode::max_file_blocks(log);
    let b = pos >> log;
    if b >= max {
        return match op {
            XOp::Remove | XOp::PunchDelalloc => Ok(()),
            _ => Err(Error::TooBig),
        };
    }
    let end = (pos.saturating_add(len).saturating_add((1 << log) - 1) >> log).clamp(b.saturating_add(1), max);
    let rc = if t.reflink { fs.refcount_ino } else { 0 };
    // Operations that allocate blocks file data goes to directly.
    let data = matches!(op, XOp::DirectWrite | XOp::Writeback | XOp::Prealloc);
    let with = |f: &mut dyn FnMut(&mut crate::fs::Ctx<'_>) -> Result<(), Error>| if data { fs.with_data(f) } else { fs.with(f) };
    with(&mut |cx| {
        let mut o = Op::new(cx, t, log, rc);
        let r = run(&mut o, op, b, end, max, flags);
        if let Ok(m) = r {
            *out = m;
        }
        o.settle(t, out);
        out.cookie = t.cookie();
        r.map(|_| ())
    })
}

fn run(o: &mut Op<'_, '_>, op: XOp, b: u64, end: u64, max: u64, flags: u32) -> Result<Map, Error> {
    let none = Map::default();
    // Completing promises (writeback of delalloc, unwritten conversion) and
    // giving space back must not fail for want of tree nodes: they may use
    // the pool. New allocations stay within ordinary space.
    o.cx.a.budget(match op {
        XOp::Read | XOp::BufferedWrite | XOp::DirectWrite | XOp::Prealloc => Budget::User,
        XOp::Writeback | XOp::PunchDelalloc | XOp::Convert | XOp::Remove => Budget::Pool,
        XOp::ConvertCow | XOp::EndCow | XOp::EndCowAll | XOp::CancelCow => Budget::Pool,
    });
    match op {
        XOp::Read => {
            let f = o.find(b)?;
            let mut m = o.map_of(&f, b, max);
            if let (Found::Disk(e), true) = (&f, o.rc != 0 && flags & IOMAP_REPORT != 0) {
                // FIEMAP: say which blocks are shared.
                let (shared, run) = o.sharing(e, b)?;
                m.length = m.length.min(run << o.log);
                m.shared = shared;
            }
            Ok(m)
        }
        XOp::ConvertCow => {
            cowfork::convert(&mut o.cw(), b, end - b)?;
            o.cow_changed = true;
            Ok(none)
        }
        XOp::EndCow | XOp::EndCowAll => {
            let (mut from, mut to) = (b, end);
            if op == XOp::EndCowAll {
                // Widen to the whole run of touching CoW extents.
                while let Some(p) = from.checked_sub(1).and_then(|p| cowfork::find(&mut o.cw(), p)) {
                    from = p.lblk;
                }
                while let Some(n) = cowfork::find(&mut o.cw(), to) {
                    to = n.end();
                }
                cowfork::convert(&mut o.cw(), from, to - from)?;
            }
            remap_cow(o, from, to)
        }
        XOp::CancelCow => {
            o.cancel_cow(b, end - b)?;
            Ok(none)
        }
        XOp::BufferedWrite => {
            let f = o.find(b)?;
            if let (Found::Disk(e), true) = (&f, o.rc != 0) {
                return o.cow_write(op, *e, b, end, max, flags);
            }
            if let Found::Hole(n) = f {
                if flags & IOMAP_ZERO == 0 {
                    let want = o.reserve(n.min(end - b), |o, w| delalloc::add(&mut o.dl(), b, w))?;
                    o.changed = true;
                    let mut m = o.map_of(&Found::Delay(b, want), b, max);
                    m.flags = IOMAP_F_NEW;
                    return Ok(m);
                }
            }
            Ok(o.map_of(&f, b, max))
        }
        XOp::DirectWrite | XOp::Writeback => {
            let (e, new) = match o.find(b)? {
                Found::Disk(e) if o.rc != 0 => return o.cow_write(op, e, b, end, max, flags),
                Found::Disk(e) => (e, false),
                Found::Delay(s, l) => (o.alloc_unwritten(b, (s + l).min(end) - b, true)?, true),
                Found::Hole(n) if op == XOp::DirectWrite => (o.alloc_unwritten(b, n.min(end - b), false)?, true),
                h @ Found::Hole(_) => return Ok(o.map_of(&h, b, max)),
            };
            let mut m = o.map_of(&Found::Disk(e), b, max);
            if new && op == XOp::DirectWrite {
                m.flags = IOMAP_F_NEW;
            }
            Ok(m)
        }
        XOp::PunchDelalloc => {
            o.punch_delalloc(b, end - b)?;
            if o.next_cow(b).is_some_and(|c| c.lblk < end) {
                // The CoW fork's reservations there go too.
                let n = cowfork::punch_delalloc(&mut o.cw(), b, end - b)?;
                o.cx.a.reserved = o.cx.a.reserved.saturating_sub(n);
                o.delayed -= n as i64;
                o.cow_changed = true;
            }
            Ok(none)
        }
        XOp::Convert => {
            let mut nodes = 0;
            let r = extmap::convert(&o.cx.s, o.cx.a, o.ino, b, end - b, &mut nodes);
            o.changed = true;
            o.charge(nodes)?;
            r.map(|()| none)
        }
        XOp::Prealloc => {
            let mut p = b;
            while p < end {
                p = match o.find(p)? {
                    Found::Disk(e) => e.end(),
                    Found::Delay(s, l) => o.alloc_unwritten(p, (s + l).min(end) - p, true)?.end(),
                    Found::Hole(n) => o.alloc_unwritten(p, n.min(end - p), false)?.end(),
                };
            }
            Ok(none)
        }
        XOp::Remove => {
            let n = if end >= max { u64::MAX - b } else { end - b };
            o.remove(b, n)?;
            Ok(none)
        }
    }
}

/// I/O completion over file blocks `from..to`: the real CoW extents there
/// replace the data fork's blocks.
fn remap_cow(o: &mut Op<'_, '_>, from: u64, to: u64) -> Result<Map, Error> {
    if o.next_cow(from).is_none_or(|c| c.lblk >= to) {
        return Ok(Map::default());
    }
    let mut out = cowfork::Ended::default();
    let mut c = Cw { t: &mut *o.cx.cow, ino: o.ino };
    let r = cowfork::end_cow(&mut c, &o.cx.s, o.cx.a, o.rc, o.ino, from, to - from, &mut out);
    o.cow_changed = true;
    o.changed = true;
    o.charge_rc(out.rc_nodes)?;
    o.charge(out.data_nodes + out.remapped as i64 - out.unmapped as i64)?;
    r.map(|()| Map::default())
}

/// Counters for the debugfs `stats` file.
pub struct Stats {
    /// Free blocks on disk.
    pub free: u64,
    /// Blocks reserved by delalloc.
    pub reserved: u64,
    /// Blocks kept back for metadata of conversions.
    pub pool: u64,
    /// Delalloc ranges in memory.
    pub delalloc_ranges: u64,
    /// CoW fork extents in memory.
    pub cow_extents: u64,
    /// Journal transactions committed this mount.
    pub log_commits: u64,
    /// Commits of a changed set too large for one transaction.
    pub log_split: u64,
    /// Commits whose home writes failed and were kept for the next.
    pub log_home_retries: u64,
    /// Changed metadata blocks not yet written home.
    pub dirty: u64,
}

/// The mount's space counters.
pub fn stats(fs: &FsInfo) -> Stats {
    let m = fs.meta.lock();
    Stats {
        free: m.alloc.free,
        reserved: m.alloc.reserved,
        pool: m.alloc.pool,
        delalloc_ranges: m.delalloc.iter().count() as u64,
        cow_extents: m.cow.iter().count() as u64,
        log_commits: m.journal.as_ref().map_or(0, |j| j.commits),
        log_split: m.journal.as_ref().map_or(0, |j| j.split),
        log_home_retries: m.journal.as_ref().map_or(0, |j| j.home_retries),
        dirty: m.dirty.len() as u64,
    }
}

/// Runs extent operation `op` on `inode`'s data fork for bytes
/// `pos..pos+len`: the one way the VFS-facing code changes or maps a file's
/// blocks. Refused after a shutdown; the inode's block counts follow what
/// the operation did, even when it failed part-way; a corruption is logged
/// once, here.
fn run_op(inode: &Inode, op: XOp, pos: u64, len: u64, flags: u32) -> kernel::error::Result<Map> {
    let mut m = Map::default();
    let t = Target::of(inode);
    let r = crate::fs::call(&inode.sb(), |fs| xop(fs, &t, op, pos, len, flags, &mut m));
    inode.account((m.changed != 0).then_some(m.nblocks), m.delayed);
    r.map(|()| m)
}

// The extent operations the VFS-facing code calls, one per transition of
// the state machine above. Each runs atomically under the metadata lock.

/// The mapping at `pos` for reading or reporting; delalloc shows as
/// delalloc.
pub fn map_read(inode: &Inode, pos: u64, len: u64, flags: u32) -> kernel::error::Result<Map> {
    run_op(inode, XOp::Read, pos, len, flags)
}

/// The mapping at `pos` for a buffered write or write fault: a hole
/// becomes a delalloc reservation (`IOMAP_F_NEW`), unless zeroing.
pub fn reserve_delalloc(inode: &Inode, pos: u64, len: u64, flags: u32) -> kernel::error::Result<Map> {
    run_op(inode, XOp::BufferedWrite, pos, len, flags)
}

/// The mapping at `pos` for an O_DIRECT write: holes and delalloc become
/// unwritten blocks.
pub fn alloc_direct(inode: &Inode, pos: u64, len: u64, flags: u32) -> kernel::error::Result<Map> {
    run_op(inode, XOp::DirectWrite, pos, len, flags)
}

/// The mapping at `pos` for writeback: delalloc up to `pos+len` becomes
/// unwritten blocks; never delalloc.
pub fn map_writeback(inode: &Inode, pos: u64, len: u64) -> kernel::error::Result<Map> {
    run_op(inode, XOp::Writeback, pos, len, 0)
}

/// Removes only the delalloc of the range (the short-write punch).
pub fn punch_delalloc(inode: &Inode, pos: u64, len: u64) -> kernel::error::Result {
    run_op(inode, XOp::PunchDelalloc, pos, len, 0).map(|_| ())
}

/// Marks the range's unwritten blocks written (I/O completion).
pub fn convert_unwritten(inode: &Inode, pos: u64, len: u64) -> kernel::error::Result {
    run_op(inode, XOp::Convert, pos, len, 0).map(|_| ())
}

/// Allocates unwritten blocks over the range's holes and delalloc
/// (fallocate).
pub fn prealloc(inode: &Inode, pos: u64, len: u64) -> kernel::error::Result {
    run_op(inode, XOp::Prealloc, pos, len, 0).map(|_| ())
}

/// Unmaps the range: blocks and delalloc (punch, truncate).
pub fn remove(inode: &Inode, pos: u64, len: u64) -> kernel::error::Result {
    run_op(inode, XOp::Remove, pos, len, 0).map(|_| ())
}

/// Removes the range and moves everything after it down.
pub fn collapse(inode: &Inode, pos: u64, len: u64) -> kernel::error::Result {
    shift_range(inode, pos, len, true)
}

/// Moves everything from `pos` up by `len`.
pub fn insert(inode: &Inode, pos: u64, len: u64) -> kernel::error::Result {
    shift_range(inode, pos, len, false)
}

/// How many extents one piece of a clone, collapse or insert may meet
/// ([`FsInfo::piece_extents`]); with the `one_piece` negative control,
/// no limit (the whole range in one change).
fn piece_extents(sb: &crate::vfs::SuperBlock<'_, crate::mount::Rxfs>) -> u64 {
    if sb.knob(crate::vfs::Knob::OnePiece).load(Ordering::Relaxed) != 0 {
        u64::MAX
    } else {
        sb.info().piece_extents()
    }
}

/// Collapse (`left`) or insert range: every extent from the range on
/// moves, so the work is done in pieces of at most
/// [`FsInfo::piece_extents`] extents, each its own metadata change (as
/// XFS's `xfs_collapse_file_space` and `xfs_insert_file_space` move one
/// extent per transaction). The first piece also drops delalloc and the
/// CoW fork from the range on (the caller flushed and dropped the page
/// cache there; the data fork moves under the CoW fork) and unmaps the
/// collapsed range or splits the extent at the insert point. Between
/// pieces the map is consistent: a crash leaves some extents moved, none
/// overlapping, every refcount unchanged.
fn shift_range(inode: &Inode, pos: u64, len: u64, left: bool) -> kernel::error::Result {
    let t = Target::of(inode);
    let sb = inode.sb();
    let max = piece_extents(&sb);
    let fs = sb.info();
    let log = fs.block_log;
    let b = pos >> log;
    let end = pos.checked_add(len).map(|e| e >> log).filter(|&e| e > b && e <= crate::librxfs::inode::max_file_blocks(log));
    let end = end.ok_or(crate::vfs::errno(Error::TooBig.errno()))?;
    let n = end - b;
    let rc = if t.reflink { fs.refcount_ino } else { 0 };
    // Where the next piece goes on (`extmap::shift_piece`); `None` first.
    let mut at: Option<u64> = None;
    loop {
        let mut m = Map::default();
        let r = crate::fs::call(&sb, |fs| {
            fs.with(|cx| {
                let mut o = Op::new(cx, &t, log, rc);
                o.changed = true;
                o.cx.a.budget(Budget::Pool);
                let mut nodes = 0;
                let r = (|| {
                    if at.is_none() {
                        o.punch_delalloc(b, u64::MAX - b)?;
                        o.cancel_cow(b, u64::MAX - b)?;
                        if left {
                            o.remove(b, n)?;
                        } else {
                            extmap::split_at(&o.cx.s, o.cx.a, o.ino, b, &mut nodes)?;
                        }
                    }
                    if left {
                        extmap::shift_piece(&o.cx.s, o.cx.a, o.ino, end, at.unwrap_or(end), -(n as i64), max, &mut nodes)
                    } else {
                        extmap::shift_piece(&o.cx.s, o.cx.a, o.ino, b, at.unwrap_or(u64::MAX), n as i64, max, &mut nodes)
                    }
                })();
                let charged = o.charge(nodes);
                o.settle(&t, &mut m);
                let next = r?;
                charged.map(|()| next)
            })
        });
        inode.account((m.changed != 0).then_some(m.nblocks), m.delayed);
        match r? {
            Some(next) => at = Some(next),
            None => return Ok(()),
        }
    }
}

/// Marks the CoW fork's unwritten extents of the range real: writeback is
/// about to write them (`xfs_reflink_convert_cow`).
pub fn convert_cow(inode: &Inode, pos: u64, len: u64) -> kernel::error::Result {
    run_op(inode, XOp::ConvertCow, pos, len, 0).map(|_| ())
}

/// I/O completion over the range: its real CoW extents replace the data
/// fork's blocks (`xfs_reflink_end_cow`). With `all` (the `cow_remap_all`
/// negative control), the whole run of CoW extents touching the range is
/// remapped, unwritten preallocation included.
pub fn end_cow(inode: &Inode, pos: u64, len: u64, all: bool) -> kernel::error::Result {
    run_op(inode, if all { XOp::EndCowAll } else { XOp::EndCow }, pos, len, 0).map(|_| ())
}

/// An I/O over the range failed: its CoW extents are dropped.
pub fn cancel_cow(inode: &Inode, pos: u64, len: u64) -> kernel::error::Result {
    run_op(inode, XOp::CancelCow, pos, len, 0).map(|_| ())
}

/// A clone request in bytes, block aligned (the length rounded up to a
/// block at the source's EOF).
pub struct Clone {
    /// Source offset.
    pub src_pos: u64,
    /// Destination offset.
    pub dst_pos: u64,
    /// Length.
    pub len: u64,
}

/// Shares the source's blocks of a range into the destination
/// (`xfs_reflink_remap_blocks`): the destination's blocks there lose a
/// mapping (its delalloc and CoW fork there are dropped; the caller
/// flushed and dropped its page cache), each source extent is mapped at
/// the same offset and its blocks gain one. Both files get the reflink
/// flag first. Done in pieces that each meet at most a few extents of
/// either file ([`reflink::piece`](crate::librxfs::reflink::piece)), each
/// atomic under the extent lock and so a whole journal transaction: a
/// crash leaves a prefix of the range cloned, every refcount matching its
/// mappings (XFS remaps one extent per transaction). Returns the blocks
/// remapped: all of them, or, after an error part-way, those done (the
/// error itself only if none were).
pub fn remap(src: &Inode, dst: &Inode, c: &Clone) -> kernel::error::Result<u64> {
    use crate::librxfs::inode::{self as di, FLAG_REFLINK};
    use crate::librxfs::reflink;
    for i in [src, dst] {
        i.rx().flags.fetch_or(FLAG_REFLINK, Ordering::Relaxed);
    }
    let (ts, td) = (Target::of(src), Target::of(dst));
    let sb = dst.sb();
    let log = sb.info().block_log;
    let (sblk, dblk, n) = (c.src_pos >> log, c.dst_pos >> log, c.len.div_ceil(1 << log));
    let max = piece_extents(&sb);
    let mut done = 0u64;
    while done < n {
        // Killed: stop between pieces, where every refcount matches its
        // mappings, with what is done (as xfs_reflink_remap_blocks).
        if crate::vfs::fatal_signal_pending() {
            if done == 0 {
                return Err(EINTR);
            }
            break;
        }
        let mut dm = Map::default();
        let r = crate::fs::call(&sb, |fs| {
            if fs.refcount_ino == 0 {
                return Err(Error::Io(95));
            }
            fs.with(|cx| {
                cx.a.budget(Budget::Remap);
                if done == 0 {
                    for t in [&ts, &td] {
                        di::modify(&cx.s, t.ino, |i| i.flags |= FLAG_REFLINK)?;
                    }
                }
                let (sb, db) = (sblk + done, dblk + done);
                let k = reflink::piece(&cx.s, ts.ino, sb, td.ino, db, n - done, max)?;
                let mut o = Op::new(cx, &td, log, fs.refcount_ino);
                o.changed = true;
                o.punch_delalloc(db, k)?;
                o.cancel_cow(db, k)?;
                let mut out = reflink::Remapped::default();
                let r = reflink::remap(&o.cx.s, o.cx.a, o.rc, ts.ino, sb, td.ino, db, k, &mut out);
                o.charge_rc(out.rc_nodes)?;
                o.charge(out.dst_nodes + out.mapped as i64 - out.unmapped as i64)?;
                o.settle(&td, &mut dm);
                r.map(|()| k)
            })
        });
        dst.account((dm.changed != 0).then_some(dm.nblocks), dm.delayed);
        match r {
            Ok(k) => done += k,
            Err(e) if done == 0 => return Err(e),
            Err(_) => break,
        }
    }
    Ok(done)
}
