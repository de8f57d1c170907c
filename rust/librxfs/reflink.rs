// SPDX-License-Identifier: GPL-2.0

//! Reflink in the data fork: sharing a range of one file's blocks with
//! another file (or another range of the same file), as XFS's
//! `xfs_reflink_remap_blocks`.
//!
//! A remap first unmaps the destination range (each disk range losing one
//! mapping in the refcount tree, freed if it was the last), then maps every
//! source extent of the range at the same offset in the destination, in
//! the same state (an unwritten extent is shared unwritten), and adds one
//! mapping to the refcount of its blocks. Holes in the source stay holes in
//! the destination. Copy-on-write, which keeps a write to a shared block
//! from reaching the other owners, is the kernel's (the CoW fork).

use super::alloc::Alloc;
use super::error::Error;
use super::extmap::{self, Extent, Release};
use super::meta::Store;
use super::refcount;

/// What a remap did, for the inodes' block counts.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Remapped {
    /// Destination blocks unmapped first.
    pub unmapped: u64,
    /// Destination blocks mapped to the source's blocks.
    pub mapped: u64,
    /// Change in the destination's extent-tree node blocks.
    pub dst_nodes: i64,
    /// Change in the refcount tree's node blocks (the refcount inode's).
    pub rc_nodes: i64,
}

/// Shares file blocks `src_lblk..src_lblk+len` of `src` into `dst` at
/// `dst_lblk`, on a filesystem whose refcount inode is `rc`. Within one file
/// the two ranges must not overlap (as `generic_remap_file_range_prep`
/// requires). On an error part-way, the counts say what was done.
#[allow(clippy::too_many_arguments)]
pub fn remap<S: Store>(
    s: &S,
    a: &mut Alloc,
    rc: u64,
    src: u64,
    src_lblk: u64,
    dst: u64,
    dst_lblk: u64,
    len: u64,
    out: &mut Remapped,
) -> Result<(), Error> {
    // The largest file, in blocks.
    let max = super::inode::max_file_blocks(s.block_size().trailing_zeros());
    let (src_end, dst_end) = match (src_lblk.checked_add(len), dst_lblk.checked_add(len)) {
        (Some(a), Some(b)) if a <= max && b <= max => (a, b),
        _ => return Err(Error::TooBig),
    };
    if src == dst && src_lblk < dst_end && dst_lblk < src_end {
        return Err(Error::BadField { field: "remap range overlaps its source", value: dst_lblk });
    }
    let mut rel = Release::Refcount { ino: rc, nodes: &mut out.rc_nodes };
    extmap::remove_counted(s, a, dst, dst_lblk, len, &mut rel, &mut out.dst_nodes, &mut out.unmapped)?;
    let mut pos = src_lblk;
    while pos < src_end {
        let Some(e) = extmap::next_extent(s, src, pos)? else { break };
        if e.lblk >= src_end {
            break;
        }
        let os = e.lblk.max(pos);
        let oe = e.end().min(src_end);
        let piece = Extent { lblk: dst_lblk + (os - src_lblk), pblk: e.pblk + (os - e.lblk), len: oe - os, unwritten: e.unwritten };
        // Room for both changes of this piece first: out of space, the
        // clone stops between pieces, every refcount matching its mappings.
        let room = extmap::tree(dst).insert_worst(s)?.saturating_add(refcount::adjust_worst(s, rc, piece.len)?);
        a.reserve_meta(room)?;
        // The refcount first: should the insert still fail (an I/O error),
        // the blocks have one mapping too many (fsck finds it; nothing is
        // freed while in use), never one too few.
        refcount::adjust(s, a, rc, piece.pblk, piece.len, 1, &mut out.rc_nodes)?;
        extmap::insert(s, a, dst, piece, &mut out.dst_nodes)?;
        out.mapped += piece.len;
        pos = oe;
    }
    Ok(())
}

/// How many blocks (at most `len`, at least one) from `src_lblk` of `src`
/// and `dst_lblk` of `dst` one [`remap`] may take so that it meets at most
/// `max` extents of either file. A clone of a fragmented file is done in
/// such pieces, each its own metadata change, so that no change outgrows a
/// journal transaction (XFS remaps one extent per transaction); between
/// pieces every refcount matches its mappings.
pub fn piece<S: Store>(s: &S, src: u64, src_lblk: u64, dst: u64, dst_lblk: u64, len: u64, max: u64) -> Result<u64, Error> {
    let n = within(s, src, src_lblk, len, max)?;
    within(s, dst, dst_lblk, n, max)
}

/// The length (at most `len`, at least one) from `lblk` of `ino` that
/// meets at most `max` extents.
fn within<S: Store>(s: &S, ino: u64, lblk: u64, len: u64, max: u64) -> Result<u64, Error> {
    let end = lblk.saturating_add(len);
    let (mut pos, mut n) = (lblk, 0u64);
    while pos < end {
        let Some(e) = extmap::next_extent(s, ino, pos)? else { break };
        if e.lblk >= end {
            break;
        }
        if n >= max.max(1) {
            // An earlier extent ended at or before this one: e.lblk > lblk.
            return Ok(e.lblk.saturating_sub(lblk).max(1));
        }
        n += 1;
        let next = e.lblk.saturating_add(e.len);
        if next <= pos {
            break;
        }
        pos = next;
    }
    Ok(len.max(1))
}

#[cfg(test)]
mod tests;
