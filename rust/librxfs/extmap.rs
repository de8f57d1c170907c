// SPDX-License-Identifier: GPL-2.0

//! A file's extent map: a [`btree`](super::btree) keyed by file block.
//!
//! Value (16 bytes): disk block (8), length in blocks (4), flags (4; bit 0:
//! unwritten, so reads see zeroes until written). Extents never overlap and
//! are at most [`MAX_LEN`] blocks.

use super::alloc::Alloc;
use super::btree::{Desc, Tree};
use super::error::Error;
use super::inode::FORK_OFF;
use super::le;
use super::meta::{Store, MAGIC_EXTENT};

/// Bytes of a value.
pub const VAL_SIZE: usize = 16;
/// Longest extent, in blocks.
pub const MAX_LEN: u64 = super::format::MAX_EXTENT_LEN;
/// Flag: allocated but unwritten.
pub const UNWRITTEN: u32 = 1;
/// The tree kind.
pub static DESC: Desc = Desc { magic: MAGIC_EXTENT, val_size: VAL_SIZE, what: "extent tree" };

/// One extent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Extent {
    /// First file block.
    pub lblk: u64,
    /// First disk block.
    pub pblk: u64,
    /// Length in blocks.
    pub len: u64,
    /// Unwritten (reads as zeroes).
    pub unwritten: bool,
}

impl Extent {
    /// One past the last file block.
    pub fn end(&self) -> u64 {
        self.lblk + self.len
    }
}

/// What a file block maps to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Map {
    /// An extent covering the block.
    Mapped(Extent),
    /// A hole of this many blocks (to the next extent, or `u64::MAX`).
    Hole(u64),
}

/// The extent tree of inode `ino`.
pub fn tree(ino: u64) -> Tree {
    Tree::new(&DESC, ino, FORK_OFF)
}

fn decode(ino: u64, lblk: u64, v: &[u8], block_count: u64, data_start: u64) -> Result<Extent, Error> {
    let bad = |why| Error::Corrupt { what: "extent tree", blkno: ino, why };
    let pblk = le::u64_at(v, 0).ok_or(bad("short record"))?;
    let len = le::u32_at(v, 8).ok_or(bad("short record"))? as u64;
    let flags = le::u32_at(v, 12).ok_or(bad("short record"))?;
    if len == 0 || len > MAX_LEN {
        return Err(bad("extent length out of range"));
    }
    if pblk < data_start.max(1) || pblk.checked_add(len).is_none_or(|e| e > block_count) {
        return Err(bad("extent outside the filesystem"));
    }
    if lblk.checked_add(len).is_none_or(|e| e > i64::MAX as u64) {
        return Err(bad("extent beyond the largest file"));
    }
    if flags & !UNWRITTEN != 0 {
        return Err(bad("unknown extent flags"));
    }
    Ok(Extent { lblk, pblk, len, unwritten: flags & UNWRITTEN != 0 })
}

/// Decodes a leaf record as [`btree::Tree::walk`](super::btree::Tree::walk)
/// hands it out (for fsck).
pub fn decode_rec(ino: u64, key: u64, v: &[u8], block_count: u64) -> Result<Extent, Error> {
    decode(ino, key, v, block_count, 1)
}

fn encode(e: &Extent) -> [u8; VAL_SIZE] {
    let mut v = [0u8; VAL_SIZE];
    le::put_u64(&mut v, 0, e.pblk);
    le::put_u32(&mut v, 8, e.len as u32);
    le::put_u32(&mut v, 12, if e.unwritten { UNWRITTEN } else { 0 });
    v
}

/// The mapping of file block `lblk`.
pub fn lookup<S: Store>(s: &S, ino: u64, lblk: u64) -> Result<Map, Error> {
    let t = tree(ino);
    let mut v = [0u8; VAL_SIZE];
    if let Some(k) = t.lookup_le(s, lblk, &mut v)? {
        let e = decode(ino, k, &v, s.block_count(), s.data_start())?;
        if lblk < e.end() {
            return Ok(Map::Mapped(e));
        }
    }
    match t.next_ge(s, lblk, &mut v)? {
        Some(k) => Ok(Map::Hole(k - lblk)),
        None => Ok(Map::Hole(u64::MAX)),
    }
}

/// The first extent that ends after `lblk`, if any.
pub fn next_extent<S: Store>(s: &S, ino: u64, lblk: u64) -> Result<Option<Extent>, Error> {
    match lookup(s, ino, lblk)? {
        Map::Mapped(e) => Ok(Some(e)),
        Map::Hole(u64::MAX) => Ok(None),
        Map::Hole(n) => match lookup(s, ino, lblk + n)? {
            Map::Mapped(e) => Ok(Some(e)),
            Map::Hole(_) => Err(Error::Corrupt { what: "extent tree", blkno: ino, why: "lost extent" }),
        },
    }
}

/// The first extent overlapping `pos..end`, and the overlap's bounds.
fn first_overlap<S: Store>(s: &S, ino: u64, pos: u64, end: u64) -> Result<Option<(Extent, u64, u64)>, Error> {
    if pos >= end {
        return Ok(None);
    }
    match next_extent(s, ino, pos)? {
        Some(e) if e.lblk < end => Ok(Some((e, e.lblk.max(pos), e.end().min(end)))),
        _ => Ok(None),
    }
}

/// Whether `r` can be merged onto the end of `l`: they touch in the file
/// and on disk, are in the same state, and fit in one extent.
fn joins(l: &Extent, r: &Extent) -> bool {
    l.end() == r.lblk && l.pblk + l.len == r.pblk && l.unwritten == r.unwritten && l.len + r.len <= MAX_LEN
}

/// The extent just left of `e` in the file, if `e` can be merged onto it.
fn left_join<S: Store>(s: &S, ino: u64, e: &Extent) -> Result<Option<Extent>, Error> {
    if e.lblk == 0 {
        return Ok(None);
    }
    Ok(match lookup(s, ino, e.lblk - 1)? {
        Map::Mapped(l) if joins(&l, e) => Some(l),
        _ => None,
    })
}

/// Merges extent `e` (as it is in the tree) with each neighbour it
/// [`joins`], as XFS keeps its extent lists: a conversion or a collapse
/// that makes the data contiguous again leaves one extent, not the pieces
/// it was made in (fstests generic/064 counts them). The survivor grows
/// before the other record goes, so a failure between the two leaves an
/// overlap for fsck to report, never a block without its mapping. Only
/// deletes: no room to reserve.
fn merge_around<S: Store>(s: &S, a: &mut Alloc, t: &mut Tree, ino: u64, mut e: Extent) -> Result<(), Error> {
    let mut v = [0u8; VAL_SIZE];
    if let Some(l) = left_join(s, ino, &e)? {
        let m = Extent { len: l.len + e.len, ..l };
        t.update(s, l.lblk, &encode(&m))?;
        t.delete(s, a, e.lblk, &mut v)?;
        e = m;
    }
    if let Map::Mapped(r) = lookup(s, ino, e.end())? {
        if joins(&e, &r) {
            t.update(s, e.lblk, &encode(&Extent { len: e.len + r.len, ..e }))?;
            t.delete(s, a, r.lblk, &mut v)?;
        }
    }
    Ok(())
}

/// Adds an extent over a hole, merging with its left neighbour when they
/// are contiguous on disk and in the same state.
pub fn insert<S: Store>(s: &S, a: &mut Alloc, ino: u64, e: Extent, nodes_delta: &mut i64) -> Result<(), Error> {
    if e.len == 0 || e.len > MAX_LEN {
        return Err(Error::BadField { field: "extent length", value: e.len });
    }
    let mut t = tree(ino);
    if let Some(l) = left_join(s, ino, &e)? {
        return t.update(s, l.lblk, &encode(&Extent { len: l.len + e.len, ..l }));
    }
    let r = t.insert(s, a, e.lblk, &encode(&e));
    *nodes_delta += t.nodes_delta;
    r
}

/// What unmapping does with a disk range the data fork no longer maps.
pub enum Release<'r> {
    /// Frees it: nothing else can map it (no reflink).
    Free,
    /// Drops one mapping in the refcount tree rooted in inode `ino`: the
    /// blocks are freed only if it was their last. The tree's node change
    /// is the refcount inode's, added to `nodes`.
    Refcount {
        /// The refcount inode.
        ino: u64,
        /// Its tree's node change.
        nodes: &'r mut i64,
    },
}

impl Release<'_> {
    /// The metadata blocks releasing `len` blocks may need (the refcount
    /// tree's splits), to check for before anything changes.
    pub fn worst<S: Store>(&self, s: &S, len: u64) -> Result<u64, Error> {
        match self {
            Release::Free => Ok(0),
            Release::Refcount { ino, .. } => super::refcount::adjust_worst(s, *ino, len),
        }
    }

    /// Releases `pblk..pblk+len`; returns how many blocks were freed.
    pub fn release<S: Store>(&mut self, s: &S, a: &mut Alloc, pblk: u64, len: u64) -> Result<u64, Error> {
        match self {
            Release::Free => a.free(s, pblk, len).map(|()| len),
            Release::Refcount { ino, nodes } => super::refcount::adjust(s, a, *ino, pblk, len, -1, nodes),
        }
    }
}

/// Unmaps `start..start+len` (file blocks), releasing each disk range that
/// is no longer mapped with `rel`. Returns blocks unmapped.
pub fn remove<S: Store>(
    s: &S,
    a: &mut Alloc,
    ino: u64,
    start: u64,
    len: u64,
    rel: &mut Release<'_>,
    nodes_delta: &mut i64,
) -> Result<u64, Error> {
    let mut unmapped = 0;
    remove_counted(s, a, ino, start, len, rel, nodes_delta, &mut unmapped).map(|()| unmapped)
}

/// [`remove`], adding the blocks unmapped to `unmapped` even when it stops
/// part-way: each extent is unmapped and released whole (room for both is
/// checked before either changes), so the count says exactly what is done.
#[allow(clippy::too_many_arguments)]
pub fn remove_counted<S: Store>(
    s: &S,
    a: &mut Alloc,
    ino: u64,
    start: u64,
    len: u64,
    rel: &mut Release<'_>,
    nodes_delta: &mut i64,
    unmapped: &mut u64,
) -> Result<(), Error> {
    let end = start.saturating_add(len);
    let mut pos = start;
    let mut t = tree(ino);
    let r = (|| {
        while let Some((e, os, oe)) = first_overlap(s, ino, pos, end)? {
            // Keep the head and the tail, free the middle.
            let head = os - e.lblk;
            let tail = e.end() - oe;
            let mut v = [0u8; VAL_SIZE];
            // The tail is re-inserted, and a refcount release may split
            // records: room for both before the change.
            let tail_room = if tail > 0 { t.insert_worst(s)? } else { 0 };
            a.reserve_meta(tail_room.saturating_add(rel.worst(s, oe - os)?))?;
            if head > 0 {
                t.update(s, e.lblk, &encode(&Extent { len: head, ..e }))?;
            } else {
                t.delete(s, a, e.lblk, &mut v)?;
            }
            if tail > 0 {
                let te = Extent { lblk: oe, pblk: e.pblk + (oe - e.lblk), len: tail, unwritten: e.unwritten };
                t.insert(s, a, oe, &encode(&te))?;
            }
            *unmapped += oe - os;
            rel.release(s, a, e.pblk + head, oe - os)?;
            pos = oe;
        }
        Ok(())
    })();
    *nodes_delta += t.nodes_delta;
    r
}

/// Marks the mapped, unwritten blocks in `start..start+len` written, and
/// merges every extent it meets with the neighbours it [`joins`].
pub fn convert<S: Store>(s: &S, a: &mut Alloc, ino: u64, start: u64, len: u64, nodes_delta: &mut i64) -> Result<(), Error> {
    let end = start.saturating_add(len);
    let mut pos = start;
    let mut t = tree(ino);
    let r = (|| {
        while let Some((e, os, oe)) = first_overlap(s, ino, pos, end)? {
            if !e.unwritten {
                // Written already: still merged with a neighbour this
                // conversion made written, so the range ends canonical.
                merge_around(s, a, &mut t, ino, e)?;
                pos = oe;
                continue;
            }
            let head = os - e.lblk;
            let tail = e.end() - oe;
            let mid = Extent { lblk: os, pblk: e.pblk + head, len: oe - os, unwritten: false };
            // Up to two inserts: room for both before the first change.
            let inserts = (head > 0) as u64 + (tail > 0) as u64;
            if inserts > 0 {
                a.reserve_meta(inserts * t.insert_worst(s)?)?;
            }
            if head > 0 {
                t.update(s, e.lblk, &encode(&Extent { len: head, ..e }))?;
                t.insert(s, a, os, &encode(&mid))?;
            } else {
                t.update(s, e.lblk, &encode(&mid))?;
            }
            if tail > 0 {
                let te = Extent { lblk: oe, pblk: e.pblk + (oe - e.lblk), len: tail, unwritten: true };
                t.insert(s, a, oe, &encode(&te))?;
            }
            merge_around(s, a, &mut t, ino, mid)?;
            pos = oe;
        }
        Ok(())
    })();
    *nodes_delta += t.nodes_delta;
    r
}

/// Splits the extent covering `lblk`, if any starts before it, so that an
/// extent starts at `lblk` (for inserting a range there).
pub fn split_at<S: Store>(s: &S, a: &mut Alloc, ino: u64, lblk: u64, nodes_delta: &mut i64) -> Result<(), Error> {
    let Map::Mapped(e) = lookup(s, ino, lblk)? else { return Ok(()) };
    if e.lblk == lblk {
        return Ok(());
    }
    let mut t = tree(ino);
    let head = lblk - e.lblk;
    let tail = Extent { lblk, pblk: e.pblk + head, len: e.len - head, unwritten: e.unwritten };
    a.reserve_meta(t.insert_worst(s)?)?;
    let r = t.update(s, e.lblk, &encode(&Extent { len: head, ..e })).and_then(|()| t.insert(s, a, lblk, &encode(&tail)));
    *nodes_delta += t.nodes_delta;
    r
}

/// Moves every extent starting at or after `from` by `delta` blocks:
/// left (negative, collapse) into a hole the caller made, or right
/// (positive, insert) after [`split_at`]`(from)`.
pub fn shift<S: Store>(s: &S, a: &mut Alloc, ino: u64, from: u64, delta: i64, nodes_delta: &mut i64) -> Result<(), Error> {
    let mut at = if delta < 0 { from } else { u64::MAX };
    while let Some(next) = shift_piece(s, a, ino, from, at, delta, u64::MAX, nodes_delta)? {
        at = next;
    }
    Ok(())
}

/// One piece of [`shift`]: moves at most `max` extents and says where to
/// go on, `Some(at)` (call again with it) or `None` (done). Left, `at` is
/// the key of the next extent to move (start with `from`); right, it is
/// the highest key still to move (start with `u64::MAX`), `from` staying
/// the lower bound. Between pieces the map is consistent: extents moved
/// left are below the hole that is left, extents moved right above it.
#[allow(clippy::too_many_arguments)]
pub fn shift_piece<S: Store>(
    s: &S,
    a: &mut Alloc,
    ino: u64,
    from: u64,
    at: u64,
    delta: i64,
    max: u64,
    nodes_delta: &mut i64,
) -> Result<Option<u64>, Error> {
    let bad = |why| Error::Corrupt { what: "extent tree", blkno: ino, why };
    let mut t = tree(ino);
    let mut v = [0u8; VAL_SIZE];
    let (bc, ds) = (s.block_count(), s.data_start());
    let mut moved = 0u64;
    let r = (|| {
        if delta < 0 {
            let d = delta.unsigned_abs();
            if from < d || at < from {
                return Err(Error::BadField { field: "shift", value: from });
            }
            if let Map::Mapped(e) = lookup(s, ino, at - 1)? {
                if e.end() > at - d {
                    return Err(bad("collapse into a mapped range"));
                }
            }
            let mut k = at;
            while let Some(key) = t.next_ge(s, k, &mut v)? {
                if moved >= max {
                    return Ok(Some(key));
                }
                let e = decode(ino, key, &v, bc, ds)?;
                let ne = Extent { lblk: key - d, ..e };
                if let Some(l) = left_join(s, ino, &ne)? {
                    // Back beside its old neighbour on disk: one extent.
                    t.update(s, l.lblk, &encode(&Extent { len: l.len + ne.len, ..l }))?;
                    t.delete(s, a, key, &mut v)?;
                } else {
                    a.reserve_meta(t.insert_worst(s)?)?;
                    t.delete(s, a, key, &mut v)?;
                    t.insert(s, a, ne.lblk, &encode(&ne))?;
                }
                moved += 1;
                k = key + 1;
            }
        } else if delta > 0 {
            let d = delta as u64;
            let mut k = at;
            while let Some(key) = t.lookup_le(s, k, &mut v)? {
                if key < from {
                    break;
                }
                if moved >= max {
                    return Ok(Some(key));
                }
                let e = decode(ino, key, &v, bc, ds)?;
                let nk = key.checked_add(d).filter(|n| n.checked_add(e.len).is_some_and(|x| x <= i64::MAX as u64));
                let nk = nk.ok_or(Error::TooBig)?;
                a.reserve_meta(t.insert_worst(s)?)?;
                t.delete(s, a, key, &mut v)?;
                t.insert(s, a, nk, &encode(&Extent { lblk: nk, ..e }))?;
                moved += 1;
                if key == 0 {
                    break;
                }
                k = key - 1;
            }
        }
        Ok(None)
    })();
    *nodes_delta += t.nodes_delta;
    r
}

/// Releases every extent with `rel` and frees every tree node of a file;
/// returns data blocks unmapped.
pub fn destroy<S: Store>(s: &S, a: &mut Alloc, ino: u64, rel: &mut Release<'_>, nodes_delta: &mut i64) -> Result<u64, Error> {
    let mut t = tree(ino);
    let (bc, ds) = (s.block_count(), s.data_start());
    let mut freed = 0;
    let r = t.destroy(s, a, &mut |a, k, v| {
        let e = decode(ino, k, v, bc, ds)?;
        rel.release(s, a, e.pblk, e.len)?;
        freed += e.len;
        Ok(())
    });
    *nodes_delta += t.nodes_delta;
    r.map(|()| freed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::btree::tests::{setup, Rng};
    use std::collections::BTreeMap;

    /// [`shift`] as pieces of at most `max` extents; between pieces the
    /// extents are in order and do not overlap, and each piece moved at
    /// most `max` of them.
    fn shift_in_pieces<S: Store>(s: &S, a: &mut Alloc, ino: u64, from: u64, delta: i64, max: u64, nodes: &mut i64) {
        let keys = |s: &S| {
            let mut v = Vec::new();
            let mut at = 0;
            while let Some(e) = next_extent(s, ino, at).unwrap() {
                if let Some(&(_, end)) = v.last() {
                    assert!(e.lblk >= end, "extents overlap between pieces");
                }
                v.push((e.lblk, e.end()));
                at = e.end();
            }
            v
        };
        let mut at = if delta < 0 { from } else { u64::MAX };
        let mut before = keys(s);
        loop {
            let next = shift_piece(s, a, ino, from, at, delta, max, nodes).unwrap();
            let after = keys(s);
            let moved = after.iter().filter(|k| !before.contains(k)).count() as u64;
            assert!(moved <= max, "a piece of at most {max} moved {moved} extents");
            before = after;
            match next {
                Some(n) => at = n,
                None => break,
            }
        }
    }

    fn extents<S: Store>(s: &S, ino: u64) -> Vec<Extent> {
        let mut v = Vec::new();
        let mut at = 0;
        while let Some(e) = next_extent(s, ino, at).unwrap() {
            at = e.end();
            v.push(e);
        }
        v
    }

    /// No two extents that meet inside `lo..=hi` could be one.
    fn assert_merged<S: Store>(s: &S, ino: u64, lo: u64, hi: u64, what: &str) {
        for w in extents(s, ino).windows(2) {
            if (lo..=hi).contains(&w[1].lblk) {
                assert!(!joins(&w[0], &w[1]), "{what}: unmerged neighbours {:?}", w);
            }
        }
    }

    /// generic/064: insert a one-block hole before every other block of a
    /// contiguous file, then collapse them all again: the file is one
    /// extent again, as it was.
    #[test]
    fn collapsing_inserted_holes_leaves_one_extent() {
        for bs in [1024usize, 4096] {
            let (s, mut a, ino) = setup(bs, 1 << 12);
            let mut nodes = 0i64;
            let (p, got) = a.alloc(&s, 0, 100).unwrap();
            assert_eq!(got, 100);
            insert(&s, &mut a, ino, Extent { lblk: 0, pblk: p, len: 100, unwritten: false }, &mut nodes).unwrap();
            for j in 0..50 {
                split_at(&s, &mut a, ino, 2 * j, &mut nodes).unwrap();
                shift(&s, &mut a, ino, 2 * j, 1, &mut nodes).unwrap();
            }
            assert_eq!(extents(&s, ino).len(), 50, "one extent per inserted hole");
            for j in 0..50 {
                assert_eq!(remove(&s, &mut a, ino, j, 1, &mut Release::Free, &mut nodes).unwrap(), 0);
                shift(&s, &mut a, ino, j + 1, -1, &mut nodes).unwrap();
            }
            assert_eq!(extents(&s, ino), vec![Extent { lblk: 0, pblk: p, len: 100, unwritten: false }]);
        }
    }

    /// Preallocated blocks written a block at a time, in any order, end as
    /// one written extent.
    #[test]
    fn converting_in_pieces_leaves_one_extent() {
        let (s, mut a, ino) = setup(4096, 1 << 12);
        let mut nodes = 0i64;
        let (p, _) = a.alloc(&s, 0, 64).unwrap();
        insert(&s, &mut a, ino, Extent { lblk: 0, pblk: p, len: 64, unwritten: true }, &mut nodes).unwrap();
        let mut rng = Rng(5);
        let mut order: Vec<u64> = (0..64).collect();
        for i in (1..order.len()).rev() {
            order.swap(i, rng.below(i as u64 + 1) as usize);
        }
        for b in order {
            convert(&s, &mut a, ino, b, 1, &mut nodes).unwrap();
        }
        assert_eq!(extents(&s, ino), vec![Extent { lblk: 0, pblk: p, len: 64, unwritten: false }]);
    }

    /// Random maps, unmaps and conversions against a per-block model; every
    /// block's mapping and the free count are checked after each step.
    #[test]
    fn random_ops_match_a_block_model() {
        for bs in [1024usize, 4096] {
            let (s, mut a, ino) = setup(bs, 1 << 14);
            let free0 = a.free;
            let mut model: BTreeMap<u64, (u64, bool)> = BTreeMap::new();
            let mut rng = Rng(bs as u64 * 31 + 7);
            let mut nodes = 0i64;
            for step in 0..600 {
                let start = rng.below(600);
                let len = 1 + rng.below(40);
                match rng.below(5) {
                    0 => {
                        // Map the holes in the range.
                        for b in start..start + len {
                            if model.contains_key(&b) {
                                continue;
                            }
                            // Often right after the block before it on
                            // disk, so that extents can merge.
                            let goal = match model.get(&(b.wrapping_sub(1))) {
                                Some(&(p, _)) if rng.below(2) == 0 => p + 1,
                                _ => rng.below(1 << 14),
                            };
                            let (p, _) = a.alloc(&s, goal, 1).unwrap();
                            let unwritten = rng.below(3) == 0;
                            insert(&s, &mut a, ino, Extent { lblk: b, pblk: p, len: 1, unwritten }, &mut nodes).unwrap();
                            model.insert(b, (p, unwritten));
                        }
                    }
                    1 => {
                        let n = remove(&s, &mut a, ino, start, len, &mut Release::Free, &mut nodes).unwrap();
                        let gone: Vec<u64> = model.range(start..start + len).map(|(k, _)| *k).collect();
                        assert_eq!(n, gone.len() as u64);
                        for b in gone {
                            model.remove(&b);
                        }
                    }
                    3 => {
                        // Collapse start..start+len: unmap, then shift left.
                        let n = remove(&s, &mut a, ino, start, len, &mut Release::Free, &mut nodes).unwrap();
                        let max = 1 + rng.below(4);
                        shift_in_pieces(&s, &mut a, ino, start + len, -(len as i64), max, &mut nodes);
                        let old = std::mem::take(&mut model);
                        let mut gone = 0;
                        for (b, v) in old {
                            if b < start {
                                model.insert(b, v);
                            } else if b >= start + len {
                                model.insert(b - len, v);
                            } else {
                                gone += 1;
                            }
                        }
                        assert_eq!(n, gone);
                        assert_merged(&s, ino, start, start, "collapse");
                    }
                    4 => {
                        // Insert a hole of len blocks at start.
                        if model.keys().next_back().is_some_and(|&b| b + len >= 600) {
                            continue;
                        }
                        split_at(&s, &mut a, ino, start, &mut nodes).unwrap();
                        if rng.below(2) == 0 {
                            shift(&s, &mut a, ino, start, len as i64, &mut nodes).unwrap();
                        } else {
                            let max = 1 + rng.below(4);
                            shift_in_pieces(&s, &mut a, ino, start, len as i64, max, &mut nodes);
                        }
                        let old = std::mem::take(&mut model);
                        for (b, v) in old {
                            model.insert(if b >= start { b + len } else { b }, v);
                        }
                    }
                    _ => {
                        convert(&s, &mut a, ino, start, len, &mut nodes).unwrap();
                        for (_, v) in model.range_mut(start..start + len) {
                            v.1 = false;
                        }
                        assert_merged(&s, ino, start, start + len, "conversion");
                    }
                }
                if step % 20 != 19 {
                    assert_eq!(a.free + model.len() as u64 + nodes as u64, free0);
                    continue;
                }
                for b in 0..650 {
                    let got = match lookup(&s, ino, b).unwrap() {
                        Map::Mapped(e) => Some((e.pblk + (b - e.lblk), e.unwritten)),
                        Map::Hole(n) => {
                            assert!(n >= 1);
                            None
                        }
                    };
                    assert_eq!(got, model.get(&b).copied(), "block {b}");
                }
                assert_eq!(a.free + model.len() as u64 + nodes as u64, free0);
            }
            let mut d = 0;
            let freed = destroy(&s, &mut a, ino, &mut Release::Free, &mut d).unwrap();
            assert_eq!(freed, model.len() as u64);
            assert_eq!(nodes + d, 0);
            assert_eq!(a.free, free0);
        }
    }
}
