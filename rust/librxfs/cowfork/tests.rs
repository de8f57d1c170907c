// SPDX-License-Identifier: GPL-2.0

//! Random reservations, allocations (buffered and direct), conversions,
//! completions and cancels on the CoW fork of a file whose blocks another
//! file shares, against a per-block model of both forks. After each step:
//! the fork is canonical, its allocated blocks are exactly the staging
//! records, both data forks map what the model says, every refcount is
//! the number of mappings, and the free count is exact.

use super::*;
use crate::btree::tests::{new_file, setup, Rng};
use crate::extmap::Map;
use crate::meta::mem::MemStore;
use crate::reflink;
use std::collections::{BTreeMap, HashMap};

const SPAN: u64 = 300;

struct W {
    s: MemStore,
    a: Alloc,
    rc: u64,
    /// The source (0) and the file with the CoW fork (1).
    files: [u64; 2],
    data: [BTreeMap<u64, (u64, bool)>; 2],
    fork: BTreeMap<u64, CowExt>,
    /// The fork, per block: (state, disk block).
    model: BTreeMap<u64, (State, u64)>,
    nodes: i64,
    free0: u64,
    reserved0: u64,
}

impl W {
    fn new(bs: usize) -> W {
        let (s, mut a, rc) = setup(bs, 1 << 14);
        let files = [new_file(&s, &mut a), new_file(&s, &mut a)];
        let free0 = a.free;
        let mut w = W { s, a, rc, files, data: [BTreeMap::new(), BTreeMap::new()], fork: BTreeMap::new(), model: BTreeMap::new(), nodes: 0, free0, reserved0: 0 };
        // The source: SPAN blocks, a third unwritten; the other file clones it.
        let mut at = 0;
        while at < SPAN {
            let (p, l) = w.a.alloc(&w.s, files[0], SPAN - at).unwrap();
            let uw = at % 3 == 1;
            let mut d = 0;
            extmap::insert(&w.s, &mut w.a, files[0], Extent { lblk: at, pblk: p, len: l, unwritten: uw }, &mut d).unwrap();
            w.nodes += d;
            for k in 0..l {
                w.data[0].insert(at + k, (p + k, uw));
            }
            at += l;
        }
        let mut r = reflink::Remapped::default();
        reflink::remap(&w.s, &mut w.a, rc, files[0], 0, files[1], 0, SPAN, &mut r).unwrap();
        w.nodes += r.dst_nodes + r.rc_nodes;
        w.data[1] = w.data[0].clone();
        w.reserved0 = w.a.reserved;
        w
    }

    fn check(&mut self, full: bool) {
        // Canonical fork: no overlap, delalloc neighbours merged, matches
        // the per-block model.
        let exts: Vec<CowExt> = self.fork.values().copied().collect();
        for x in exts.windows(2) {
            assert!(x[0].end() <= x[1].lblk, "overlap {:?}", x);
            assert!(!(x[0].end() == x[1].lblk && x[0].state == State::Delalloc && x[1].state == State::Delalloc), "unmerged delalloc {:?}", x);
        }
        let mut got = BTreeMap::new();
        for e in &exts {
            for k in 0..e.len {
                got.insert(e.lblk + k, (e.state, if e.state == State::Delalloc { 0 } else { e.pblk + k }));
            }
        }
        assert_eq!(got, self.model);
        // Staging records are exactly the fork's allocated blocks.
        let mut staged = Vec::new();
        let mut p = 0;
        while let Some(r) = refcount::next_staged(&self.s, self.rc, p).unwrap() {
            staged.extend(r.pblk..r.end());
            p = r.end();
        }
        let mut want: Vec<u64> = self.model.values().filter(|(st, _)| *st != State::Delalloc).map(|&(_, p)| p).collect();
        want.sort_unstable();
        assert_eq!(staged, want, "staging records");
        // Data forks and refcounts (all of them now and then: slow).
        let mut refs: HashMap<u64, u32> = HashMap::new();
        for f in 0..2 {
            for b in (0..SPAN).filter(|b| full || b % 37 == 0) {
                let got = match extmap::lookup(&self.s, self.files[f], b).unwrap() {
                    Map::Mapped(e) => Some((e.pblk + (b - e.lblk), e.unwritten)),
                    Map::Hole(_) => None,
                };
                assert_eq!(got, self.data[f].get(&b).copied(), "file {} block {}", f, b);
            }
            for &(p, _) in self.data[f].values() {
                *refs.entry(p).or_default() += 1;
            }
        }
        for (&p, &n) in refs.iter().filter(|(p, _)| full || *p % 37 == 0) {
            assert_eq!(refcount::lookup(&self.s, self.rc, p).unwrap().0, n, "refcount of {}", p);
        }
        let delalloc = self.model.values().filter(|(st, _)| *st == State::Delalloc).count() as u64;
        assert_eq!(self.a.reserved, self.reserved0 + delalloc, "reserved blocks");
        assert_eq!(self.a.free as i64, self.free0 as i64 - refs.len() as i64 - want.len() as i64 - self.nodes, "free count");
    }
}

fn run(bs: usize, ops: usize, seed: u64) {
    let mut w = W::new(bs);
    w.check(true);
    let mut rng = Rng(seed);
    let mut ended = 0;
    for op in 0..ops {
        let start = rng.below(SPAN);
        let len = 1 + rng.below((SPAN - start).min(40));
        let end = start + len;
        let in_fork = w.model.range(start..end).next().is_some();
        match rng.below(13) {
            0..=2 => {
                if in_fork {
                    assert!(reserve(&mut w.fork, start, len).is_err());
                    continue;
                }
                reserve(&mut w.fork, start, len).unwrap();
                w.a.reserved += len;
                for b in start..end {
                    w.model.insert(b, (State::Delalloc, 0));
                }
            }
            3..=4 => {
                let Some(e) = find(&mut w.fork, start).filter(|e| e.state == State::Delalloc) else { continue };
                let max = 1 + rng.below(50);
                let mut n = 0;
                let got = allocate(&mut w.fork, &w.s, &mut w.a, w.rc, &mut n, start, max, w.files[1]).unwrap();
                w.nodes += n;
                assert_eq!(got.lblk, start);
                assert!(got.len <= max && got.end() <= e.end());
                for k in 0..got.len {
                    w.model.insert(start + k, (State::Unwritten, got.pblk + k));
                }
            }
            5 => {
                if find(&mut w.fork, start).is_some() {
                    continue;
                }
                let mut n = 0;
                let got = allocate_direct(&mut w.fork, &w.s, &mut w.a, w.rc, &mut n, start, len, w.files[1]).unwrap();
                w.nodes += n;
                assert!(got.lblk == start && got.len <= len);
                assert!(w.model.range(start..got.end()).next().is_none());
                for k in 0..got.len {
                    w.model.insert(start + k, (State::Unwritten, got.pblk + k));
                }
            }
            6..=7 => {
                let has_delalloc = w.model.range(start..end).any(|(_, (st, _))| *st == State::Delalloc);
                let r = convert(&mut w.fork, start, len);
                if has_delalloc {
                    assert!(r.is_err());
                    continue;
                }
                r.unwrap();
                for (_, v) in w.model.range_mut(start..end) {
                    if v.0 == State::Unwritten {
                        v.0 = State::Real;
                    }
                }
            }
            8..=9 => {
                let mut out = Ended::default();
                end_cow(&mut w.fork, &w.s, &mut w.a, w.rc, w.files[1], start, len, &mut out).unwrap();
                w.nodes += out.data_nodes + out.rc_nodes;
                let real: Vec<(u64, u64)> = w.model.range(start..end).filter(|(_, v)| v.0 == State::Real).map(|(&b, v)| (b, v.1)).collect();
                assert_eq!(out.remapped, real.len() as u64, "op {}", op);
                let unmapped = real.iter().filter(|(b, _)| w.data[1].contains_key(b)).count() as u64;
                assert_eq!(out.unmapped, unmapped, "op {}", op);
                for (b, p) in real {
                    w.model.remove(&b);
                    w.data[1].insert(b, (p, false));
                }
                ended += out.remapped;
            }
            10 => {
                let all = rng.below(2) == 0;
                let mut n = 0;
                let d = cancel(&mut w.fork, &w.s, &mut w.a, w.rc, &mut n, start, len, all).unwrap();
                w.nodes += n;
                let gone: Vec<(u64, State)> = w.model.range(start..end).filter(|(_, v)| all || v.0 != State::Real).map(|(&b, v)| (b, v.0)).collect();
                assert_eq!(d, gone.iter().filter(|(_, st)| *st == State::Delalloc).count() as u64);
                w.a.reserved -= d;
                for (b, _) in gone {
                    w.model.remove(&b);
                }
            }
            11 => {
                let d = punch_delalloc(&mut w.fork, start, len).unwrap();
                let gone: Vec<u64> = w.model.range(start..end).filter(|(_, v)| v.0 == State::Delalloc).map(|(&b, _)| b).collect();
                assert_eq!(d, gone.len() as u64);
                w.a.reserved -= d;
                for b in gone {
                    w.model.remove(&b);
                }
            }
            _ => {
                // Punch the file with the fork (its data fork only).
                let mut rc_nodes = 0;
                let mut d = 0;
                let mut rel = Release::Refcount { ino: w.rc, nodes: &mut rc_nodes };
                extmap::remove(&w.s, &mut w.a, w.files[1], start, len, &mut rel, &mut d).unwrap();
                w.nodes += d + rc_nodes;
                let keys: Vec<u64> = w.data[1].range(start..end).map(|(&k, _)| k).collect();
                for k in keys {
                    w.data[1].remove(&k);
                }
            }
        }
        w.check(op % 50 == 49);
    }
    w.check(true);
    assert!(ended > 50, "only {} blocks remapped", ended);
}

#[test]
fn model_1k() {
    run(1024, 1000, 17);
    run(1024, 1000, 9001);
}

#[test]
fn model_4k() {
    run(4096, 1000, 31);
    run(4096, 1000, 4243);
}

/// The seed race, in the fork: a write's range [A,B) got real blocks and a
/// preallocation beyond it, unwritten, covers [B,C); the completion of a
/// write to [A,C) remaps [A,B) only, never the unwritten preallocation.
#[test]
fn end_cow_skips_unwritten_preallocation() {
    let mut w = W::new(4096);
    let mut n = 0;
    let e = allocate_direct(&mut w.fork, &w.s, &mut w.a, w.rc, &mut n, 10, 32, w.files[1]).unwrap();
    assert_eq!(e.len, 32);
    convert(&mut w.fork, 10, 8).unwrap();
    let mut out = Ended::default();
    end_cow(&mut w.fork, &w.s, &mut w.a, w.rc, w.files[1], 10, 32, &mut out).unwrap();
    assert_eq!(out.remapped, 8);
    assert_eq!(find(&mut w.fork, 18).map(|e| (e.lblk, e.len, e.state)), Some((18, 24, State::Unwritten)));
    // The source file is untouched.
    match extmap::lookup(&w.s, w.files[0], 12).unwrap() {
        Map::Mapped(x) => assert_ne!(x.pblk + (12 - x.lblk), e.pblk + 2),
        Map::Hole(_) => panic!(),
    }
}

