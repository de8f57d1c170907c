// SPDX-License-Identifier: GPL-2.0

//! The refcount tree: how many data forks map each shared disk block, and
//! which blocks are CoW staging, as XFS's refcount btree.
//!
//! One [`btree`](super::btree) keyed by disk block, rooted in the fork of
//! the refcount inode (the superblock names it). Value (8 bytes): length in
//! blocks (4), count (4). Two key domains, as XFS's:
//!
//! - **shared** (keys below [`STAGING`]): a record `(pblk, len, n)` says
//!   blocks `pblk..pblk+len` are mapped by `n >= 2` data-fork extents. A
//!   block with no record is mapped once (or free: the allocator knows).
//!   Records never overlap, and two adjacent records never have the same
//!   count (they are merged), so the tree is a function of the counts.
//! - **staging** (keys `STAGING | pblk`, count 1): blocks allocated to a
//!   CoW fork and not yet remapped into a data fork. The CoW fork lives in
//!   memory only; after a crash, mount frees every staging extent.
//!
//! Counts change by one at a time ([`adjust`]), as `xfs_refcount_adjust`:
//! one more mapping (a clone) or one fewer (an unmap). A block whose last
//! mapping goes is handed to the caller's `free`.

use super::alloc::Alloc;
use super::btree::{Desc, Tree};
use super::error::Error;
use super::inode::FORK_OFF;
use super::le;
use super::meta::{Store, MAGIC_REFCOUNT};

/// Bytes of a value.
pub const VAL_SIZE: usize = 8;
/// Longest record, in blocks (as an extent).
pub const MAX_LEN: u64 = super::format::MAX_EXTENT_LEN;
/// The staging domain's key bit.
pub const STAGING: u64 = 1 << 63;
/// The tree kind.
pub static DESC: Desc = Desc { magic: MAGIC_REFCOUNT, val_size: VAL_SIZE, what: "refcount tree" };

/// The refcount tree rooted in inode `ino`.
pub fn tree(ino: u64) -> Tree {
    Tree::new(&DESC, ino, FORK_OFF)
}

/// The highest count. A record that reaches it is pinned: neither clones
/// nor unmaps change it again, so its blocks are never freed (they leak
/// rather than be freed while still mapped), as XFS's `MAXREFCOUNT`.
pub const MAX_COUNT: u32 = u32::MAX;

/// One record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rec {
    /// First disk block (without the domain bit).
    pub pblk: u64,
    /// Length in blocks.
    pub len: u64,
    /// Mappings of each block (1 for a staging record).
    pub count: u32,
}

impl Rec {
    /// One past the last block.
    pub fn end(&self) -> u64 {
        self.pblk + self.len
    }
}

fn decode(ino: u64, key: u64, v: &[u8], block_count: u64) -> Result<Rec, Error> {
    let bad = |why| Error::Corrupt { what: "refcount tree", blkno: ino, why };
    let staging = key & STAGING != 0;
    let pblk = key & !STAGING;
    let len = le::u32_at(v, 0).ok_or(bad("short record"))? as u64;
    let count = le::u32_at(v, 4).ok_or(bad("short record"))?;
    if len == 0 || len > MAX_LEN {
        return Err(bad("record length out of range"));
    }
    if pblk == 0 || pblk.checked_add(len).is_none_or(|e| e > block_count) {
        return Err(bad("record outside the filesystem"));
    }
    if (staging && count != 1) || (!staging && count < 2) {
        return Err(bad("count out of range for its domain"));
    }
    Ok(Rec { pblk, len, count })
}

/// Decodes a leaf record as [`Tree::walk`] hands it out (for fsck); the
/// bool says whether it is a staging record.
pub fn decode_rec(ino: u64, key: u64, v: &[u8], block_count: u64) -> Result<(Rec, bool), Error> {
    decode(ino, key, v, block_count).map(|r| (r, key & STAGING != 0))
}

fn encode(r: &Rec) -> [u8; VAL_SIZE] {
    let mut v = [0u8; VAL_SIZE];
    le::put_u32(&mut v, 0, r.len as u32);
    le::put_u32(&mut v, 4, r.count);
    v
}

/// The shared record covering `pblk`, else the length of the run of
/// unshared blocks from `pblk` to the next record (`u64::MAX` if none).
fn find<S: Store>(s: &S, ino: u64, pblk: u64) -> Result<Result<Rec, u64>, Error> {
    let t = tree(ino);
    let mut v = [0u8; VAL_SIZE];
    let bc = s.block_count();
    if let Some(k) = t.lookup_le(s, pblk, &mut v)? {
        let r = decode(ino, k, &v, bc)?;
        if pblk < r.end() {
            return Ok(Ok(r));
        }
    }
    match t.next_ge(s, pblk, &mut v)? {
        Some(k) if k & STAGING == 0 => Ok(Err(k - pblk)),
        _ => Ok(Err(u64::MAX)),
    }
}

/// How many data-fork mappings block `pblk` has, if it is mapped at all
/// (1 when there is no record), and how many blocks from `pblk` on have
/// that same count.
pub fn lookup<S: Store>(s: &S, ino: u64, pblk: u64) -> Result<(u32, u64), Error> {
    Ok(match find(s, ino, pblk)? {
        Ok(r) => (r.count, r.end() - pblk),
        Err(n) => (1, n),
    })
}

/// The first shared run inside `start..start+len`: its start and length
/// (clipped to the range), as `xfs_refcount_find_shared`.
pub fn find_shared<S: Store>(s: &S, ino: u64, start: u64, len: u64) -> Result<Option<(u64, u64)>, Error> {
    let end = start.saturating_add(len);
    let mut pos = start;
    while pos < end {
        match find(s, ino, pos)? {
            Ok(r) => return Ok(Some((pos, r.end().min(end) - pos))),
            Err(n) => pos = pos.saturating_add(n),
        }
    }
    Ok(None)
}

/// Room for the tree nodes an [`adjust`] of one range may need: it splits
/// at most the two records at its ends and inserts a record per gap.
pub fn adjust_worst<S: Store>(s: &S, ino: u64, len: u64) -> Result<u64, Error> {
    let per = tree(ino).insert_worst(s)?;
    Ok(per.saturating_mul(2 + len.div_ceil(MAX_LEN).saturating_add(1)))
}

/// Adds `delta` (+1 or -1) to the count of every block in `start..start+len`:
/// one more data-fork mapping (a clone) or one fewer (an unmap). Blocks
/// whose last mapping goes are freed. Returns how many were. Counts at
/// [`MAX_COUNT`] stay there.
pub fn adjust<S: Store>(
    s: &S,
    a: &mut Alloc,
    ino: u64,
    start: u64,
    len: u64,
    delta: i32,
    nodes_delta: &mut i64,
) -> Result<u64, Error> {
    if delta != 1 && delta != -1 {
        return Err(Error::BadField { field: "refcount delta", value: delta as u64 });
    }
    let end = start.checked_add(len).filter(|e| *e <= s.block_count() && *e < STAGING).ok_or(Error::BadField { field: "refcount range", value: start })?;
    let mut t = tree(ino);
    let mut freed = 0;
    let r = (|| {
        a.reserve_meta(adjust_worst(s, ino, len)?)?;
        split(s, a, &mut t, ino, start)?;
        split(s, a, &mut t, ino, end)?;
        let mut pos = start;
        while pos < end {
            match find(s, ino, pos)? {
                Ok(r) => {
                    // Whole (split at both ends above); pinned records
                    // are left alone (a shared record's count is at
                    // least 2: decode checks).
                    if r.count != MAX_COUNT {
                        let n = if delta > 0 { r.count + 1 } else { r.count - 1 };
                        if n >= 2 {
                            t.update(s, r.pblk, &encode(&Rec { count: n, ..r }))?;
                        } else {
                            let mut v = [0u8; VAL_SIZE];
                            t.delete(s, a, r.pblk, &mut v)?;
                        }
                    }
                    pos = r.end();
                }
                Err(n) => {
                    let gap_end = pos.saturating_add(n).min(end);
                    if delta > 0 {
                        let mut p = pos;
                        while p < gap_end {
                            let l = (gap_end - p).min(MAX_LEN);
                            t.insert(s, a, p, &encode(&Rec { pblk: p, len: l, count: 2 }))?;
                            p += l;
                        }
                    } else {
                        a.free(s, pos, gap_end - pos)?;
                        freed += gap_end - pos;
                    }
                    pos = gap_end;
                }
            }
        }
        merge(s, a, &mut t, ino, start)?;
        merge(s, a, &mut t, ino, end)
    })();
    *nodes_delta += t.nodes_delta;
    r.map(|()| freed)
}

/// Splits the shared record covering `pblk`, if it starts before it.
fn split<S: Store>(s: &S, a: &mut Alloc, t: &mut Tree, ino: u64, pblk: u64) -> Result<(), Error> {
    if let Ok(r) = find(s, ino, pblk)? {
        if r.pblk < pblk {
            t.update(s, r.pblk, &encode(&Rec { len: pblk - r.pblk, ..r }))?;
            t.insert(s, a, pblk, &encode(&Rec { pblk, len: r.end() - pblk, count: r.count }))?;
        }
    }
    Ok(())
}

/// Merges the record ending at `pblk` with the one starting there, if they
/// have the same count and fit one record.
fn merge<S: Store>(s: &S, a: &mut Alloc, t: &mut Tree, ino: u64, pblk: u64) -> Result<(), Error> {
    let Some(p) = pblk.checked_sub(1) else { return Ok(()) };
    let (Ok(l), Ok(r)) = (find(s, ino, p)?, find(s, ino, pblk)?) else { return Ok(()) };
    if l.end() != pblk || r.pblk != pblk || l.count != r.count || l.len + r.len > MAX_LEN {
        return Ok(());
    }
    let mut v = [0u8; VAL_SIZE];
    t.delete(s, a, r.pblk, &mut v)?;
    t.update(s, l.pblk, &encode(&Rec { len: l.len + r.len, ..l }))
}

/// Records `pblk..pblk+len` as CoW staging (allocated to a CoW fork).
pub fn stage<S: Store>(s: &S, a: &mut Alloc, ino: u64, pblk: u64, len: u64, nodes_delta: &mut i64) -> Result<(), Error> {
    if len == 0 || len > MAX_LEN || pblk == 0 || pblk >= STAGING {
        return Err(Error::BadField { field: "staging extent", value: pblk });
    }
    let mut t = tree(ino);
    let r = t.insert(s, a, STAGING | pblk, &encode(&Rec { pblk, len, count: 1 }));
    *nodes_delta += t.nodes_delta;
    r
}

/// Removes the staging record of `pblk..pblk+len` (remapped, or freed):
/// a sub-range of one record, which keeps its head and tail.
pub fn unstage<S: Store>(s: &S, a: &mut Alloc, ino: u64, pblk: u64, len: u64, nodes_delta: &mut i64) -> Result<(), Error> {
    let bad = |why| Error::Corrupt { what: "refcount tree", blkno: ino, why };
    let mut t = tree(ino);
    let mut v = [0u8; VAL_SIZE];
    let end = pblk.checked_add(len).ok_or(bad("staging range overflows"))?;
    let r = (|| {
        let k = t.lookup_le(s, STAGING | pblk, &mut v)?.filter(|k| k & STAGING != 0).ok_or(bad("no staging record"))?;
        let rec = decode(ino, k, &v, s.block_count())?;
        if end > rec.end() {
            return Err(bad("staging range beyond its record"));
        }
        if rec.end() > end {
            a.reserve_meta(t.insert_worst(s)?)?;
        }
        if rec.pblk < pblk {
            t.update(s, k, &encode(&Rec { len: pblk - rec.pblk, ..rec }))?;
        } else {
            t.delete(s, a, k, &mut v)?;
        }
        if rec.end() > end {
            t.insert(s, a, STAGING | end, &encode(&Rec { pblk: end, len: rec.end() - end, count: 1 }))?;
        }
        Ok(())
    })();
    *nodes_delta += t.nodes_delta;
    r
}

/// Rebuilds the refcount tree of inode `ino` (fsck's repair): every
/// record goes, the CoW staging blocks with them (freed: after a crash
/// nothing refers to them), then one record per run of `runs` (first
/// block, length, mappings >= 2; sorted, not overlapping), split at
/// [`MAX_LEN`]. Returns the staging blocks freed.
pub fn rebuild<S: Store>(s: &S, a: &mut Alloc, ino: u64, runs: &[(u64, u64, u32)], nodes_delta: &mut i64) -> Result<u64, Error> {
    let bc = s.block_count();
    let mut t = tree(ino);
    let mut staged = 0;
    let r = (|| {
        t.destroy(s, a, &mut |a, k, v| {
            if k & STAGING != 0 {
                let r = decode(ino, k, v, bc)?;
                a.free(s, r.pblk, r.len)?;
                staged += r.len;
            }
            Ok(())
        })?;
        for &(pblk, len, count) in runs {
            if count < 2 || len == 0 {
                return Err(Error::BadField { field: "refcount run", value: pblk });
            }
            let mut p = pblk;
            while p < pblk + len {
                let l = (pblk + len - p).min(MAX_LEN);
                t.insert(s, a, p, &encode(&Rec { pblk: p, len: l, count }))?;
                p += l;
            }
        }
        Ok(())
    })();
    *nodes_delta += t.nodes_delta;
    r.map(|()| staged)
}

/// The first staging extent at or after disk block `pblk` (mount's
/// recovery frees them all).
pub fn next_staged<S: Store>(s: &S, ino: u64, pblk: u64) -> Result<Option<Rec>, Error> {
    let t = tree(ino);
    let mut v = [0u8; VAL_SIZE];
    match t.next_ge(s, STAGING | pblk, &mut v)? {
        Some(k) => decode(ino, k, &v, s.block_count()).map(Some),
        None => Ok(None),
    }
}

#[cfg(test)]
mod tests;
