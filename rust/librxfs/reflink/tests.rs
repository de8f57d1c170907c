// SPDX-License-Identifier: GPL-2.0

//! Random writes, clones (between files and within one), punches and
//! deletes over four files against a model of every file block's disk
//! block; after each step the refcount of every mapped block equals its
//! number of mappings, nothing mapped is free, and the free count is
//! exact.

use super::*;
use crate::btree::tests::{new_file, setup, Rng};
use crate::extmap::Map;
use crate::meta::mem::MemStore;
use std::collections::{BTreeMap, HashMap};

const FILES: usize = 4;
/// Largest file, in blocks.
const SPAN: u64 = 400;

struct World {
    s: MemStore,
    a: Alloc,
    rc: u64,
    files: Vec<u64>,
    /// file index -> file block -> (disk block, unwritten)
    model: Vec<BTreeMap<u64, (u64, bool)>>,
    /// Tree node blocks of every tree (extent trees and the refcount tree).
    nodes: i64,
    free0: u64,
}

impl World {
    fn new(bs: usize) -> World {
        let (s, mut a, rc) = setup(bs, 1 << 14);
        let files = (0..FILES).map(|_| new_file(&s, &mut a)).collect();
        let free0 = a.free;
        World { s, a, rc, files, model: vec![BTreeMap::new(); FILES], nodes: 0, free0 }
    }

    fn check(&self, rng: &mut Rng, full: bool) {
        let mut refs: HashMap<u64, u32> = HashMap::new();
        for m in &self.model {
            for &(p, _) in m.values() {
                *refs.entry(p).or_default() += 1;
            }
        }
        // The free count: what the files map, once each, and every node.
        assert_eq!(self.a.free as i64, self.free0 as i64 - refs.len() as i64 - self.nodes, "free count");
        let probes: Vec<(usize, u64)> = if full {
            (0..FILES).flat_map(|f| (0..SPAN).map(move |b| (f, b))).collect()
        } else {
            (0..40).map(|_| (rng.below(FILES as u64) as usize, rng.below(SPAN))).collect()
        };
        for (f, b) in probes {
            let got = match extmap::lookup(&self.s, self.files[f], b).unwrap() {
                Map::Mapped(e) => Some((e.pblk + (b - e.lblk), e.unwritten)),
                Map::Hole(_) => None,
            };
            assert_eq!(got, self.model[f].get(&b).copied(), "file {} block {}", f, b);
            if let Some((p, _)) = got {
                let (c, _) = refcount::lookup(&self.s, self.rc, p).unwrap();
                assert_eq!(c, refs[&p], "refcount of disk block {}", p);
                if full {
                    assert!(self.a.is_used(&self.s, p).unwrap(), "mapped block {} is free", p);
                }
            }
        }
    }
}

fn run(bs: usize, ops: usize, seed: u64) {
    let mut w = World::new(bs);
    let mut rng = Rng(seed);
    let mut clones = 0;
    for op in 0..ops {
        let f = rng.below(FILES as u64) as usize;
        let lblk = rng.below(SPAN);
        let len = 1 + rng.below((SPAN - lblk).min(60));
        let ino = w.files[f];
        match rng.below(10) {
            0..=2 => {
                // Write into a hole: fresh blocks.
                if w.model[f].range(lblk..lblk + len).next().is_some() {
                    continue;
                }
                let mut at = lblk;
                while at < lblk + len {
                    let (p, l) = w.a.alloc(&w.s, ino, lblk + len - at).unwrap();
                    let uw = rng.below(3) == 0;
                    let mut d = 0;
                    extmap::insert(&w.s, &mut w.a, ino, Extent { lblk: at, pblk: p, len: l, unwritten: uw }, &mut d).unwrap();
                    w.nodes += d;
                    for k in 0..l {
                        w.model[f].insert(at + k, (p + k, uw));
                    }
                    at += l;
                }
            }
            3..=6 => {
                // Clone from another file, or from elsewhere in this one.
                let g = rng.below(FILES as u64) as usize;
                let src_lblk = rng.below(SPAN - len + 1);
                if g == f && src_lblk < lblk + len && lblk < src_lblk + len {
                    let mut r = Remapped::default();
                    assert!(remap(&w.s, &mut w.a, w.rc, ino, src_lblk, ino, lblk, len, &mut r).is_err());
                    assert_eq!(r, Remapped::default(), "a refused remap changed something");
                    continue;
                }
                let mut r = Remapped::default();
                remap(&w.s, &mut w.a, w.rc, w.files[g], src_lblk, ino, lblk, len, &mut r).unwrap();
                w.nodes += r.dst_nodes + r.rc_nodes;
                let before = w.model[f].range(lblk..lblk + len).count() as u64;
                assert_eq!(r.unmapped, before, "op {}", op);
                let src: Vec<(u64, (u64, bool))> = w.model[g].range(src_lblk..src_lblk + len).map(|(&k, &v)| (k, v)).collect();
                let keys: Vec<u64> = w.model[f].range(lblk..lblk + len).map(|(&k, _)| k).collect();
                for k in keys {
                    w.model[f].remove(&k);
                }
                for (k, v) in &src {
                    w.model[f].insert(lblk + (k - src_lblk), *v);
                }
                assert_eq!(r.mapped, src.len() as u64, "op {}", op);
                clones += 1;
            }
            7..=8 => {
                let mut rc_nodes = 0;
                let mut d = 0;
                let mut rel = Release::Refcount { ino: w.rc, nodes: &mut rc_nodes };
                let n = extmap::remove(&w.s, &mut w.a, ino, lblk, len, &mut rel, &mut d).unwrap();
                w.nodes += d + rc_nodes;
                let keys: Vec<u64> = w.model[f].range(lblk..lblk + len).map(|(&k, _)| k).collect();
                assert_eq!(n, keys.len() as u64);
                for k in keys {
                    w.model[f].remove(&k);
                }
            }
            _ => {
                // Delete the file's blocks and tree.
                let mut rc_nodes = 0;
                let mut d = 0;
                let mut rel = Release::Refcount { ino: w.rc, nodes: &mut rc_nodes };
                let n = extmap::destroy(&w.s, &mut w.a, ino, &mut rel, &mut d).unwrap();
                assert_eq!(n, w.model[f].len() as u64);
                w.nodes += d + rc_nodes;
                w.model[f].clear();
            }
        }
        w.check(&mut rng, op % 200 == 199);
    }
    w.check(&mut rng, true);
    assert!(clones > ops / 5, "only {} clones", clones);
}

#[test]
fn model_1k() {
    for seed in 1..=2 {
        run(1024, 1500, seed * 6151);
    }
}

#[test]
fn model_4k() {
    for seed in 1..=2 {
        run(4096, 1500, seed * 3079);
    }
}

#[test]
fn overflowing_ranges_are_refused() {
    let mut w = World::new(4096);
    let mut r = Remapped::default();
    assert_eq!(remap(&w.s, &mut w.a, w.rc, w.files[0], u64::MAX - 2, w.files[1], 0, 5, &mut r), Err(Error::TooBig));
    assert_eq!(remap(&w.s, &mut w.a, w.rc, w.files[0], 0, w.files[1], i64::MAX as u64, 5, &mut r), Err(Error::TooBig));
}

/// Clones that run out of space part-way stop between extents: every
/// refcount still equals the number of mappings of its block, nothing
/// mapped is free and the free count is exact.
#[test]
fn enospc_leaves_counts_exact() {
    let mut w = World::new(1024);
    let mut rng = Rng(77);
    // A fragmented source: 200 one-block extents, every other block.
    for k in 0..200u64 {
        let (p, l) = w.a.alloc(&w.s, w.files[0], 1).unwrap();
        let _ = w.a.alloc(&w.s, p + 1, 1).unwrap(); // a gap no extent merges over
        let mut d = 0;
        extmap::insert(&w.s, &mut w.a, w.files[0], Extent { lblk: 2 * k, pblk: p, len: l, unwritten: false }, &mut d).unwrap();
        w.nodes += d;
        w.model[0].insert(2 * k, (p, false));
    }
    // The gap blocks are used by nothing the model knows: count them out.
    w.free0 = w.a.free + w.model[0].len() as u64 + w.nodes as u64;
    let mut failed = 0;
    for room in 1u64..60 {
        // Leave `room` blocks to ordinary allocations.
        let f = 1 + (room % 3) as usize;
        // Start each clone from an empty destination.
        let (mut rn, mut dn) = (0, 0);
        extmap::destroy(&w.s, &mut w.a, w.files[f], &mut Release::Refcount { ino: w.rc, nodes: &mut rn }, &mut dn).unwrap();
        w.nodes += rn + dn;
        w.model[f].clear();
        w.a.reserved = w.a.free.saturating_sub(w.a.pool + room);
        w.a.budget(crate::alloc::Budget::User);
        let mut r = Remapped::default();
        let res = remap(&w.s, &mut w.a, w.rc, w.files[0], 0, w.files[f], 0, 400, &mut r);
        w.a.reserved = 0;
        w.a.budget(crate::alloc::Budget::User);
        w.nodes += r.dst_nodes + r.rc_nodes;
        if res.is_err() {
            assert!(matches!(res, Err(Error::NoSpace)), "{:?}", res);
            failed += 1;
        }
        // What the destination maps now, block by block.
        w.model[f].clear();
        for b in 0..SPAN {
            if let Map::Mapped(e) = extmap::lookup(&w.s, w.files[f], b).unwrap() {
                w.model[f].insert(b, (e.pblk + (b - e.lblk), e.unwritten));
            }
        }
        w.check(&mut rng, true);
    }
    assert!(failed > 0, "no clone ran out of space");
}

/// Blocks whose refcount differs from the number of data-fork mappings
/// the files actually have (read from their trees, not the model).
fn mismatches(w: &World) -> usize {
    let mut refs: HashMap<u64, u32> = HashMap::new();
    for &f in &w.files {
        for b in 0..SPAN {
            if let Map::Mapped(e) = extmap::lookup(&w.s, f, b).unwrap() {
                *refs.entry(e.pblk + (b - e.lblk)).or_default() += 1;
            }
        }
    }
    refs.iter().filter(|(&p, &n)| refcount::lookup(&w.s, w.rc, p).unwrap().0 != n).count()
}

/// File 0 as 200 one-block extents, at every other block (and on every
/// other disk block).
fn fragmented() -> World {
    let mut w = World::new(1024);
    for k in 0..200u64 {
        let (p, l) = w.a.alloc(&w.s, w.files[0], 1).unwrap();
        let _ = w.a.alloc(&w.s, p + 1, 1).unwrap();
        let mut d = 0;
        extmap::insert(&w.s, &mut w.a, w.files[0], Extent { lblk: 2 * k, pblk: p, len: l, unwritten: false }, &mut d).unwrap();
    }
    w
}

/// [`fragmented`] and a full clone of it into file 1.
fn fragmented_and_clone() -> World {
    let mut w = fragmented();
    let mut r = Remapped::default();
    remap(&w.s, &mut w.a, w.rc, w.files[0], 0, w.files[1], 0, SPAN, &mut r).unwrap();
    w
}

/// Unmapping a file whose blocks are shared drops refcounts, which may
/// need tree nodes: out of space part-way, every refcount must still match
/// the mappings left, and the count of blocks unmapped must be exact (the
/// inode's block count follows it; before `remove_counted` a failed
/// remove reported nothing and the inode kept the count of blocks it no
/// longer mapped).
#[test]
fn unmapping_shared_blocks_out_of_space_stays_consistent() {
    let mut failed = 0;
    for room in 0u64..40 {
        let mut w = fragmented_and_clone();
        let mapped = |w: &World| (0..SPAN).filter(|&b| matches!(extmap::lookup(&w.s, w.files[1], b).unwrap(), Map::Mapped(_))).count() as u64;
        let before = mapped(&w);
        w.a.reserved = w.a.free.saturating_sub(room);
        w.a.budget(crate::alloc::Budget::User);
        let (mut rn, mut dn, mut gone) = (0, 0, 0);
        let mut rel = Release::Refcount { ino: w.rc, nodes: &mut rn };
        let res = extmap::remove_counted(&w.s, &mut w.a, w.files[1], 0, SPAN, &mut rel, &mut dn, &mut gone);
        w.a.reserved = 0;
        failed += res.is_err() as u32;
        assert_eq!(mismatches(&w), 0, "room {room}: refcounts differ from mappings");
        assert_eq!(gone, before - mapped(&w), "room {room}: blocks unmapped");
    }
    assert!(failed > 0, "no unmap ran out of space");
}

/// A clone done in pieces of at most a few extents ([`piece`]) maps and
/// counts exactly what one whole remap does, and every piece meets at most
/// that many extents of the source.
#[test]
fn clone_in_pieces_equals_one_clone() {
    let whole = fragmented_and_clone();
    let mut w = fragmented();
    assert_eq!(piece(&w.s, w.files[0], 0, w.files[1], 0, SPAN, 10).unwrap(), 20, "ten one-block extents two apart");
    assert_eq!(piece(&w.s, w.files[0], 1, w.files[1], 0, SPAN, 10).unwrap(), 21, "from a hole");
    assert_eq!(piece(&w.s, w.files[0], 0, w.files[1], 0, 7, 10).unwrap(), 7, "never past len");
    assert_eq!(piece(&w.s, w.files[2], 0, w.files[1], 0, SPAN, 0).unwrap(), SPAN, "no extents: all of it");
    let (mut done, mut pieces, mut total) = (0u64, 0, Remapped::default());
    while done < SPAN {
        let n = piece(&w.s, w.files[0], done, w.files[1], done, SPAN - done, 3).unwrap();
        assert!(n >= 1);
        let met = (done..done + n).filter(|b| b % 2 == 0 && *b < 400).count();
        assert!(met <= 3, "a piece met {} extents", met);
        let mut r = Remapped::default();
        remap(&w.s, &mut w.a, w.rc, w.files[0], done, w.files[1], done, n, &mut r).unwrap();
        total.mapped += r.mapped;
        total.unmapped += r.unmapped;
        done += n;
        pieces += 1;
    }
    assert!(pieces >= 60, "{} pieces", pieces);
    assert_eq!(total.mapped, 200);
    assert_eq!(mismatches(&w), 0);
    for b in 0..SPAN {
        let get = |w: &World| match extmap::lookup(&w.s, w.files[1], b).unwrap() {
            Map::Mapped(e) => Some(e.pblk + (b - e.lblk)),
            Map::Hole(_) => None,
        };
        assert_eq!(get(&w), get(&whole), "block {}", b);
    }
}
