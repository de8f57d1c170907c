// SPDX-License-Identifier: GPL-2.0

//! Delayed-allocation extents of one file: ranges of file blocks that have a
//! space reservation but no disk blocks yet. They exist only in memory (the
//! page cache holds their data) and never overlap an on-disk extent.
//!
//! The ranges live in an ordered map the caller provides ([`RangeStore`]:
//! a kernel `RBTree` in the module, a `BTreeMap` in tests), keyed by first
//! block with the length as value. Adjacent ranges are merged, so the map is
//! canonical: the same set of blocks always gives the same ranges.

use super::error::Error;

/// An ordered map from first block to length, for one file.
pub trait RangeStore {
    /// The range with the greatest start `<= k`.
    fn le(&mut self, k: u64) -> Option<(u64, u64)>;
    /// The range with the least start `>= k`.
    fn ge(&mut self, k: u64) -> Option<(u64, u64)>;
    /// Inserts or replaces the range starting at `k`. May fail only for
    /// lack of memory.
    fn set(&mut self, k: u64, len: u64) -> Result<(), Error>;
    /// Removes the range starting at `k`.
    fn del(&mut self, k: u64);
}

/// The range covering block `b`, as (start, length).
pub fn find<R: RangeStore>(r: &mut R, b: u64) -> Option<(u64, u64)> {
    r.le(b).filter(|&(s, l)| b < s.saturating_add(l))
}

/// The first range that ends after block `b`.
pub fn next<R: RangeStore>(r: &mut R, b: u64) -> Option<(u64, u64)> {
    find(r, b).or_else(|| r.ge(b))
}

/// Adds blocks `start..start+len`, which must not overlap any range, and
/// merges them with contiguous neighbours.
pub fn add<R: RangeStore>(r: &mut R, start: u64, len: u64) -> Result<(), Error> {
    let end = start.checked_add(len).ok_or(Error::BadField { field: "delalloc range", value: start })?;
    if len == 0 {
        return Ok(());
    }
    if next(r, start).is_some_and(|(s, _)| s < end) {
        return Err(Error::BadField { field: "delalloc overlap", value: start });
    }
    let (mut s, mut e) = (start, end);
    let right = r.ge(end).filter(|&(rs, _)| rs == end);
    if let Some((ls, _)) = r.le(start).filter(|&(ls, ll)| ls + ll == start) {
        s = ls;
    }
    if let Some((_, rl)) = right {
        e = end + rl;
    }
    // The one insertion that can fail comes first, before any removal.
    r.set(s, e - s)?;
    if right.is_some() {
        r.del(end);
    }
    Ok(())
}

/// Removes blocks `start..start+len` from whatever ranges cover them;
/// returns how many blocks were removed.
pub fn remove<R: RangeStore>(r: &mut R, start: u64, len: u64) -> Result<u64, Error> {
    let end = start.saturating_add(len);
    let mut removed = 0;
    let mut pos = start;
    while let Some((s, l)) = next(r, pos) {
        if s >= end {
            break;
        }
        let e = s + l;
        let (os, oe) = (s.max(start), e.min(end));
        // Tail first: it is the one step that may allocate.
        if oe < e {
            r.set(oe, e - oe)?;
        }
        if os > s {
            r.set(s, os - s)?;
        } else {
            r.del(s);
        }
        removed += oe - os;
        pos = oe;
    }
    Ok(removed)
}

/// Total blocks in all ranges (for checks and tests).
pub fn total<R: RangeStore>(r: &mut R) -> u64 {
    let mut n = 0;
    let mut pos = 0;
    while let Some((s, l)) = r.ge(pos) {
        n += l;
        pos = s + l;
    }
    n
}

#[cfg(any(test, feature = "std"))]
impl RangeStore for std::collections::BTreeMap<u64, u64> {
    fn le(&mut self, k: u64) -> Option<(u64, u64)> {
        self.range(..=k).next_back().map(|(a, b)| (*a, *b))
    }
    fn ge(&mut self, k: u64) -> Option<(u64, u64)> {
        self.range(k..).next().map(|(a, b)| (*a, *b))
    }
    fn set(&mut self, k: u64, len: u64) -> Result<(), Error> {
        self.insert(k, len);
        Ok(())
    }
    fn del(&mut self, k: u64) {
        self.remove(&k);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::btree::tests::Rng;
    use std::collections::{BTreeMap, BTreeSet};

    fn check(r: &mut BTreeMap<u64, u64>, model: &BTreeSet<u64>) {
        // Canonical: no empty ranges, no two ranges touching.
        let v: Vec<(u64, u64)> = r.iter().map(|(a, b)| (*a, *b)).collect();
        for w in v.windows(2) {
            assert!(w[0].0 + w[0].1 < w[1].0, "ranges {:?} touch or overlap", w);
        }
        for &(_, l) in &v {
            assert!(l > 0);
        }
        for b in 0..300 {
            assert_eq!(find(r, b).is_some(), model.contains(&b), "block {b}");
        }
        assert_eq!(total(r), model.len() as u64);
    }

    /// Random adds over holes and removals against a block-set model.
    #[test]
    fn random_add_remove_match_a_model() {
        let mut rng = Rng(99);
        let mut r = BTreeMap::new();
        let mut model = BTreeSet::new();
        for _ in 0..3000 {
            let start = rng.below(250);
            let len = 1 + rng.below(30);
            if rng.below(2) == 0 {
                // Add the first hole run inside the range, as iomap_begin does.
                let mut s = start;
                while s < start + len && model.contains(&s) {
                    s += 1;
                }
                let mut e = s;
                while e < start + len && !model.contains(&e) {
                    e += 1;
                }
                add(&mut r, s, e - s).unwrap();
                model.extend(s..e);
            } else {
                let n = remove(&mut r, start, len).unwrap();
                let gone: Vec<u64> = model.range(start..start + len).copied().collect();
                assert_eq!(n, gone.len() as u64);
                for b in gone {
                    model.remove(&b);
                }
            }
            check(&mut r, &model);
        }
    }

    #[test]
    fn overlapping_add_is_refused() {
        let mut r = BTreeMap::new();
        add(&mut r, 10, 10).unwrap();
        assert!(add(&mut r, 15, 10).is_err());
        assert!(add(&mut r, 5, 6).is_err());
        add(&mut r, 20, 5).unwrap();
        assert_eq!(r.len(), 1);
        assert_eq!(next(&mut r, 0), Some((10, 15)));
        assert_eq!(next(&mut r, 30), None);
    }
}
