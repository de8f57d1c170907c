// SPDX-License-Identifier: GPL-2.0

//! A file's copy-on-write fork: where writes to shared blocks go, as XFS's
//! CoW fork (`xfs_reflink.c`'s design comment).
//!
//! The fork maps file blocks to new disk blocks and lives in memory only
//! (an ordered map the caller provides, [`CowStore`], like
//! [`delalloc`](super::delalloc)'s). An extent moves through three states:
//!
//! ```text
//!   delalloc --allocate (writeback, O_DIRECT)--> unwritten --convert--> real
//!   real --end_cow (I/O completion)--> remapped into the data fork
//! ```
//!
//! - **delalloc**: a buffered write over shared blocks reserved space here;
//!   the data is only in the page cache.
//! - **unwritten**: blocks allocated, recorded as CoW staging in the
//!   refcount tree (so mount after a crash frees them), nothing written.
//!   Speculative preallocation beyond a write stays in this state.
//! - **real**: the range an I/O is about to write, converted just before
//!   submission (writeback's `prepare_ioend`, O_DIRECT's `iomap_begin`).
//!
//! [`end_cow`] remaps only *real* extents into the data fork: never an
//! unwritten preallocation that a racing writer's range happened to
//! cover (the race XFS fixed with "allow unwritten extents in the CoW
//! fork"). [`cancel`] drops what an I/O error or an eviction leaves.

use super::alloc::Alloc;
use super::error::Error;
use super::extmap::{self, Extent, Release};
use super::meta::Store;
use super::refcount;

/// The state of a CoW fork extent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum State {
    /// Reserved, no disk blocks.
    Delalloc,
    /// Allocated (CoW staging), not written.
    Unwritten,
    /// Being written or written: remapped at I/O completion.
    Real,
}

/// One CoW fork extent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CowExt {
    /// First file block.
    pub lblk: u64,
    /// Length in blocks.
    pub len: u64,
    /// First disk block (0 for delalloc).
    pub pblk: u64,
    /// State.
    pub state: State,
}

impl CowExt {
    /// One past the last file block.
    pub fn end(&self) -> u64 {
        self.lblk + self.len
    }

    /// The part `from..to` of this extent (inside it).
    fn slice(&self, from: u64, to: u64) -> CowExt {
        let pblk = if self.state == State::Delalloc { 0 } else { self.pblk + (from - self.lblk) };
        CowExt { lblk: from, len: to - from, pblk, state: self.state }
    }
}

/// An ordered map from first file block to extent, for one file's fork.
pub trait CowStore {
    /// The extent with the greatest start `<= k`.
    fn le(&mut self, k: u64) -> Option<CowExt>;
    /// The extent with the least start `>= k`.
    fn ge(&mut self, k: u64) -> Option<CowExt>;
    /// Inserts or replaces the extent starting at `e.lblk`. May fail only
    /// for lack of memory.
    fn set(&mut self, e: CowExt) -> Result<(), Error>;
    /// Removes the extent starting at `k`.
    fn del(&mut self, k: u64);
}

/// The extent covering file block `b`.
pub fn find<C: CowStore>(c: &mut C, b: u64) -> Option<CowExt> {
    c.le(b).filter(|e| b < e.end())
}

/// The first extent that ends after file block `b`.
pub fn next<C: CowStore>(c: &mut C, b: u64) -> Option<CowExt> {
    find(c, b).or_else(|| c.ge(b))
}

/// Cuts extents so that none crosses file block `b`.
fn split_at<C: CowStore>(c: &mut C, b: u64) -> Result<(), Error> {
    if let Some(e) = find(c, b) {
        if e.lblk < b {
            // The tail first: the one insert that may fail.
            c.set(e.slice(b, e.end()))?;
            c.set(e.slice(e.lblk, b))?;
        }
    }
    Ok(())
}

/// Reserves delalloc over `start..start+len`, which must be a hole in the
/// fork, merged with delalloc neighbours. The caller accounts the
/// reservation.
pub fn reserve<C: CowStore>(c: &mut C, start: u64, len: u64) -> Result<(), Error> {
    let end = start.checked_add(len).ok_or(Error::BadField { field: "CoW range", value: start })?;
    if len == 0 {
        return Ok(());
    }
    if next(c, start).is_some_and(|e| e.lblk < end) {
        return Err(Error::BadField { field: "CoW reservation over an extent", value: start });
    }
    let (mut s, mut e) = (start, end);
    let right = c.ge(end).filter(|r| r.lblk == end && r.state == State::Delalloc);
    if let Some(l) = c.le(start).filter(|l| l.end() == start && l.state == State::Delalloc) {
        s = l.lblk;
    }
    if let Some(r) = right {
        e = r.end();
    }
    c.set(CowExt { lblk: s, len: e - s, pblk: 0, state: State::Delalloc })?;
    if right.is_some() {
        c.del(end);
    }
    Ok(())
}

/// Allocates disk blocks for the delalloc extent covering file block `b`,
/// from `b` up to `b + max` (writeback's conversion of CoW delalloc): they
/// become unwritten, recorded as CoW staging in the refcount tree of inode
/// `rc`, and leave the allocator's reserved count. Returns the new
/// unwritten extent (maybe shorter).
#[allow(clippy::too_many_arguments)]
pub fn allocate<C: CowStore, S: Store>(
    c: &mut C,
    s: &S,
    a: &mut Alloc,
    rc: u64,
    rc_nodes: &mut i64,
    b: u64,
    max: u64,
    goal: u64,
) -> Result<CowExt, Error> {
    let d = find(c, b).filter(|e| e.state == State::Delalloc).ok_or(Error::BadField { field: "no CoW delalloc", value: b })?;
    let want = (d.end() - b).min(max).min(extmap::MAX_LEN);
    if want == 0 {
        return Err(Error::BadField { field: "CoW allocation length", value: 0 });
    }
    alloc_staged(c, s, a, (rc, rc_nodes), b, want, goal, true)
}

/// Allocates unwritten CoW blocks directly over a hole of the fork
/// (O_DIRECT over shared blocks), at most `max` from file block `b`.
#[allow(clippy::too_many_arguments)]
pub fn allocate_direct<C: CowStore, S: Store>(
    c: &mut C,
    s: &S,
    a: &mut Alloc,
    rc: u64,
    rc_nodes: &mut i64,
    b: u64,
    max: u64,
    goal: u64,
) -> Result<CowExt, Error> {
    if find(c, b).is_some() {
        return Err(Error::BadField { field: "CoW allocation over an extent", value: b });
    }
    let room = c.ge(b).map_or(u64::MAX, |n| n.lblk - b);
    let want = max.min(room).min(extmap::MAX_LEN).min(a.user_available());
    if want == 0 {
        return Err(Error::NoSpace);
    }
    alloc_staged(c, s, a, (rc, rc_nodes), b, want, goal, false)
}

/// Allocates up to `want` blocks near `goal` for file block `b`, records
/// them as CoW staging in the refcount tree `rc` and puts them in the fork,
/// unwritten. `reserved`: they come out of a delalloc reservation. On an
/// error nothing is left behind.
#[allow(clippy::too_many_arguments)]
fn alloc_staged<C: CowStore, S: Store>(
    c: &mut C,
    s: &S,
    a: &mut Alloc,
    (rc, rc_nodes): (u64, &mut i64),
    b: u64,
    want: u64,
    goal: u64,
    reserved: bool,
) -> Result<CowExt, Error> {
    let (pblk, got) = a.alloc(s, goal, want)?;
    if reserved {
        a.reserved = a.reserved.saturating_sub(got);
    }
    let new = CowExt { lblk: b, len: got, pblk, state: State::Unwritten };
    let r = refcount::stage(s, a, rc, pblk, got, rc_nodes).and_then(|()| {
        split_at(c, b)?;
        split_at(c, b + got)?;
        c.set(new)
    });
    if let Err(e) = r {
        // Nothing refers to the blocks: give them (and the reservation)
        // back.
        let _ = a.free(s, pblk, got);
        if reserved {
            a.reserved += got;
        }
        return Err(e);
    }
    Ok(new)
}

/// Marks the unwritten extents of `start..start+len` real: the range an
/// I/O is about to write (`xfs_reflink_convert_cow`). Delalloc there is a
/// bug in the caller (it must have been allocated first): an error, and
/// nothing changes.
pub fn convert<C: CowStore>(c: &mut C, start: u64, len: u64) -> Result<(), Error> {
    let end = start.saturating_add(len);
    let mut pos = start;
    while let Some(e) = next(c, pos) {
        if e.lblk >= end {
            break;
        }
        if e.state == State::Delalloc {
            return Err(Error::BadField { field: "CoW delalloc under an I/O", value: e.lblk.max(start) });
        }
        pos = e.end();
    }
    split_at(c, start)?;
    split_at(c, end)?;
    let mut pos = start;
    while let Some(e) = next(c, pos) {
        if e.lblk >= end {
            break;
        }
        if e.state == State::Unwritten {
            c.set(CowExt { state: State::Real, ..e })?;
        }
        pos = e.end();
    }
    Ok(())
}

/// Removes only the delalloc extents of `start..start+len` (the
/// short-write punch: a reservation the write did not use). Returns how
/// many blocks, whose reservation the caller gives back.
pub fn punch_delalloc<C: CowStore>(c: &mut C, start: u64, len: u64) -> Result<u64, Error> {
    let end = start.saturating_add(len);
    if !next(c, start).is_some_and(|e| e.lblk < end) {
        return Ok(0);
    }
    split_at(c, start)?;
    split_at(c, end)?;
    let mut pos = start;
    let mut n = 0;
    while let Some(e) = next(c, pos) {
        if e.lblk >= end {
            break;
        }
        pos = e.end();
        if e.state == State::Delalloc {
            n += e.len;
            c.del(e.lblk);
        }
    }
    Ok(n)
}

/// What [`end_cow`] did, for the inodes' block counts.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Ended {
    /// Data-fork blocks unmapped (the old, shared or not, blocks).
    pub unmapped: u64,
    /// CoW blocks remapped into the data fork.
    pub remapped: u64,
    /// Change in the data fork's extent-tree node blocks.
    pub data_nodes: i64,
    /// Refcount tree node change.
    pub rc_nodes: i64,
}

/// I/O completion over `start..start+len` (`xfs_reflink_end_cow`): every
/// *real* CoW extent there moves into the data fork, written, replacing
/// what the data fork mapped (one mapping fewer for the old blocks, freed
/// if it was their last), and leaves the staging records. Unwritten and
/// delalloc CoW extents are skipped: only what was written is remapped.
#[allow(clippy::too_many_arguments)]
pub fn end_cow<C: CowStore, S: Store>(
    c: &mut C,
    s: &S,
    a: &mut Alloc,
    rc: u64,
    ino: u64,
    start: u64,
    len: u64,
    out: &mut Ended,
) -> Result<(), Error> {
    let end = start.saturating_add(len);
    let mut pos = start;
    while pos < end {
        let Some(e) = next(c, pos).filter(|e| e.lblk < end) else { break };
        let (os, oe) = (e.lblk.max(pos), e.end().min(end));
        pos = oe;
        if e.state != State::Real {
            continue;
        }
        let piece = e.slice(os, oe);
        // Room for the whole remap of this piece first (the unmap's tail
        // and refcount splits, the staging record's split, the insert):
        // out of space, nothing of it has changed.
        let data_worst = extmap::tree(ino).insert_worst(s)?;
        let rc_worst = refcount::adjust_worst(s, rc, piece.len)?.saturating_add(refcount::tree(rc).insert_worst(s)?);
        a.reserve_meta(data_worst.saturating_mul(2).saturating_add(rc_worst))?;
        let mut rel = Release::Refcount { ino: rc, nodes: &mut out.rc_nodes };
        extmap::remove_counted(s, a, ino, os, oe - os, &mut rel, &mut out.data_nodes, &mut out.unmapped)?;
        refcount::unstage(s, a, rc, piece.pblk, piece.len, &mut out.rc_nodes)?;
        extmap::insert(s, a, ino, Extent { lblk: os, pblk: piece.pblk, len: piece.len, unwritten: false }, &mut out.data_nodes)?;
        out.remapped += piece.len;
        split_at(c, os)?;
        split_at(c, oe)?;
        c.del(os);
    }
    Ok(())
}

/// Drops the CoW fork's extents in `start..start+len`: delalloc (returns
/// how many blocks, whose reservation the caller gives back), unwritten
/// (freed, staging records removed) and, with `real`, real ones too (an
/// I/O error, or eviction). Returns the delalloc blocks dropped.
#[allow(clippy::too_many_arguments)]
pub fn cancel<C: CowStore, S: Store>(
    c: &mut C,
    s: &S,
    a: &mut Alloc,
    rc: u64,
    rc_nodes: &mut i64,
    start: u64,
    len: u64,
    real: bool,
) -> Result<u64, Error> {
    let end = start.saturating_add(len);
    split_at(c, start)?;
    split_at(c, end)?;
    let mut pos = start;
    let mut delalloc = 0;
    while let Some(e) = next(c, pos) {
        if e.lblk >= end {
            break;
        }
        pos = e.end();
        match e.state {
            State::Delalloc => delalloc += e.len,
            State::Real if !real => continue,
            _ => {
                refcount::unstage(s, a, rc, e.pblk, e.len, rc_nodes)?;
                a.free(s, e.pblk, e.len)?;
            }
        }
        c.del(e.lblk);
    }
    Ok(delalloc)
}

#[cfg(any(test, feature = "std"))]
impl CowStore for std::collections::BTreeMap<u64, CowExt> {
    fn le(&mut self, k: u64) -> Option<CowExt> {
        self.range(..=k).next_back().map(|(_, e)| *e)
    }
    fn ge(&mut self, k: u64) -> Option<CowExt> {
        self.range(k..).next().map(|(_, e)| *e)
    }
    fn set(&mut self, e: CowExt) -> Result<(), Error> {
        self.insert(e.lblk, e);
        Ok(())
    }
    fn del(&mut self, k: u64) {
        self.remove(&k);
    }
}

#[cfg(test)]
mod tests;
