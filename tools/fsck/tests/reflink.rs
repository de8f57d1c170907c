// SPDX-License-Identifier: GPL-2.0

//! Reflink filesystems: the refcount inode, shared data blocks counted
//! against the refcount tree, CoW staging leftovers.

mod common;
use common::*;
use librxfs::extmap::{self, Map};
use librxfs::refcount;

/// Two files: `a` with 3 extents of 4 blocks; `b` maps `a`'s first extent
/// too. Returns the builder, a, b and the shared extent's first disk block.
fn two_files(bs: usize) -> (Builder, u64, u64, u64) {
    let mut b = Builder::new_reflink(bs, (8 << 20) / bs as u64);
    let root = b.root();
    let fa = b.file(root, "a");
    b.extents(fa, 0, 3, 4, 4);
    let Map::Mapped(e) = extmap::lookup(&b.s, fa, 0).unwrap() else { panic!() };
    let fb = b.file(root, "b");
    b.share(fb, 10, e.pblk, 4);
    (b, fa, fb, e.pblk)
}

fn plus_one(b: &mut Builder, pblk: u64, len: u64) {
    b.refcount(|s, a, ino, d| assert_eq!(refcount::adjust(s, a, ino, pblk, len, 1, d).unwrap(), 0));
}

/// Enough shared records that the refcount tree has block nodes: at 1k, a
/// clone of every other block of a 600-block file.
fn big_tree() -> Builder {
    let mut b = Builder::new_reflink(1024, 8192);
    let root = b.root();
    let fa = b.file(root, "a");
    b.extents(fa, 0, 1, 600, 1);
    let fb = b.file(root, "b");
    for k in 0..300 {
        let Map::Mapped(e) = extmap::lookup(&b.s, fa, 2 * k).unwrap() else { panic!() };
        let p = e.pblk + (2 * k - e.lblk);
        b.share(fb, 2 * k, p, 1);
        plus_one(&mut b, p, 1);
    }
    b
}

#[test]
fn fresh_reflink_filesystem_is_clean() {
    for bs in [1024usize, 4096] {
        let sc = Scratch::new("rl-fresh");
        let img = sc.img();
        Builder::new_reflink(bs, (1 << 20) / bs as u64).write(&img);
        let t = expect(&["-n"], &img, 0);
        // The root directory and the refcount inode.
        assert!(t.contains("clean, 2 inodes"), "{t}");
    }
}

#[test]
fn shared_blocks_with_their_record_are_clean() {
    for bs in [1024usize, 4096] {
        let sc = Scratch::new("rl-shared");
        let img = sc.img();
        let (mut b, _, _, p) = two_files(bs);
        plus_one(&mut b, p, 4);
        b.write(&img);
        expect(&["-n"], &img, 0);
    }
}

#[test]
fn a_big_refcount_tree_is_clean() {
    let sc = Scratch::new("rl-big");
    let img = sc.img();
    let mut b = big_tree();
    assert!(b.first_node(refcount::tree(b.sb.refcount_ino)).is_some(), "the tree stayed in its inode");
    b.write(&img);
    expect(&["-n"], &img, 0);
}

/// A pinned count (refcount::MAX_COUNT, which clones and unmaps no longer
/// change) matches any number of mappings left; a block mapped by no file
/// under a pinned record is still found.
#[test]
fn pinned_counts_are_clean() {
    let sc = Scratch::new("rl-pinned");
    let img = sc.img();
    let (mut b, _, _, p) = two_files(4096);
    b.refcount(|s, a, ino, d| {
        refcount::rebuild(s, a, ino, &[(p, 4, refcount::MAX_COUNT)], d).unwrap();
    });
    b.write(&img);
    expect(&["-n"], &img, 0);
    let (mut b, _, _, p) = two_files(4096);
    let q = p + 100;
    b.refcount(|s, a, ino, d| {
        refcount::rebuild(s, a, ino, &[(p, 4, 2), (q, 1, refcount::MAX_COUNT)], d).unwrap();
    });
    b.write(&img);
    let t = expect(&["-n"], &img, 4);
    assert!(t.contains(&format!("block {q}: refcount tree says {} mapping(s), data forks map it 0 time(s)", refcount::MAX_COUNT)), "{t}");
}

#[test]
fn shared_blocks_without_a_record_are_found() {
    let sc = Scratch::new("rl-norec");
    let img = sc.img();
    let (mut b, _, _, p) = two_files(4096);
    b.write(&img);
    let t = expect(&["-n"], &img, 4);
    assert!(t.contains(&format!("blocks {}-{}: refcount tree says 1 mapping(s), data forks map it 2 time(s)", p, p + 3)), "{t}");
}

#[test]
fn a_wrong_count_is_found() {
    let sc = Scratch::new("rl-count");
    let img = sc.img();
    let (mut b, _, _, p) = two_files(4096);
    plus_one(&mut b, p, 4);
    plus_one(&mut b, p + 1, 2);
    b.write(&img);
    let t = expect(&["-n"], &img, 4);
    assert!(t.contains(&format!("blocks {}-{}: refcount tree says 3 mapping(s), data forks map it 2 time(s)", p + 1, p + 2)), "{t}");
}

#[test]
fn cross_links_on_a_filesystem_without_reflink_are_still_cross_links() {
    let sc = Scratch::new("rl-noreflink");
    let img = sc.img();
    let mut b = Builder::new(4096, 2048);
    let root = b.root();
    let fa = b.file(root, "a");
    b.extents(fa, 0, 1, 4, 4);
    let Map::Mapped(e) = extmap::lookup(&b.s, fa, 0).unwrap() else { panic!() };
    let fb = b.file(root, "b");
    b.share(fb, 0, e.pblk, 4);
    b.write(&img);
    let t = expect(&["-n"], &img, 4);
    assert!(t.contains("already owned by"), "{t}");
}

/// A filesystem with 6 blocks of CoW staging left over; and their first.
fn six_staged() -> (Builder, u64) {
    let mut b = Builder::new_reflink(4096, 2048);
    let ino = b.sb.refcount_ino;
    let (p, l) = b.a.alloc(&b.s, ino, 6).unwrap();
    b.refcount(|s, a, ino, d| refcount::stage(s, a, ino, p, l, d).unwrap());
    (b, p)
}

#[test]
fn cow_staging_leftovers_are_owned_and_reported() {
    let sc = Scratch::new("rl-staging");
    let img = sc.img();
    let (mut b, p) = six_staged();
    b.write(&img);
    // Owned (no leak, no cross-link), but left over: what a crash leaves,
    // which mount frees. -n notes it and exits 0; -y frees them.
    let t = expect(&["-n"], &img, 0);
    assert!(t.contains("6 blocks of CoW staging left over from a crash (the next mount recovers this)"), "{t}");
    assert!(!t.contains("leaked") && !t.contains("already owned"), "{t}");
    // Staging over a file's data is a cross-link.
    let root = b.root();
    let f = b.file(root, "f");
    b.share(f, 0, p, 2);
    b.write(&img);
    let t = expect(&["-n"], &img, 4);
    assert!(t.contains("already owned by"), "{t}");
}

#[test]
fn repair_frees_cow_staging_leftovers() {
    let sc = Scratch::new("rl-staging-y");
    let img = sc.img();
    six_staged().0.write(&img);
    let t = expect(&["-y"], &img, 1);
    assert!(t.contains("6 blocks of CoW staging left over from a crash (fixed)"), "{t}");
    let t = expect(&["-n", "-v"], &img, 0);
    assert!(!t.contains("left over") && t.contains("clean"), "{t}");
}

#[test]
fn a_damaged_refcount_inode_or_node_is_found() {
    // The inode: a flipped byte breaks its checksum.
    let sc = Scratch::new("rl-dmg-ino");
    let img = sc.img();
    let mut b = Builder::new_reflink(4096, 2048);
    b.write(&img);
    flip(&img, 4096, b.sb.refcount_ino, 100);
    let t = expect(&["-n"], &img, 4);
    assert!(t.contains("refcount inode"), "{t}");
    // A tree node: the records under it are lost, so shared blocks no
    // longer match and the check is incomplete.
    let sc = Scratch::new("rl-dmg-node");
    let img = sc.img();
    let mut b = big_tree();
    let node = b.first_node(refcount::tree(b.sb.refcount_ino)).unwrap();
    b.write(&img);
    flip(&img, 1024, node, 200);
    let t = expect(&["-n"], &img, 4);
    assert!(t.contains("refcount tree"), "{t}");
}

/// The number after "blocks" in fsck's summary line ("N/M blocks").
fn used_blocks(t: &str) -> u64 {
    let i = t.rfind(" blocks").expect("summary line");
    let head = &t[..i];
    let used = head.rsplit(' ').next().unwrap().split('/').next().unwrap();
    used.parse().unwrap()
}

#[test]
fn wrong_counts_missing_records_and_staging_are_repaired() {
    for bs in [1024usize, 4096] {
        let sc = Scratch::new("rl-repair");
        let img = sc.img();
        // What the repaired image must use: the same files, counted right.
        let (mut r, _, _, p) = two_files(bs);
        plus_one(&mut r, p, 4);
        r.write(&img);
        let want = used_blocks(&expect(&["-n"], &img, 0));
        let (mut b, _, _, p) = two_files(bs);
        // A count too high on part of the shared extent, none at all on
        // the rest of it ...
        plus_one(&mut b, p, 2);
        plus_one(&mut b, p + 1, 1);
        // ... a record for blocks nobody shares ...
        let (q, _) = b.a.alloc(&b.s, p + 100, 3).unwrap();
        plus_one(&mut b, q, 3);
        // ... and staging leftovers.
        let ino = b.sb.refcount_ino;
        let (sp, sl) = b.a.alloc(&b.s, ino, 7).unwrap();
        b.refcount(|s, a, ino, d| refcount::stage(s, a, ino, sp, sl, d).unwrap());
        b.write(&img);
        let before = expect(&["-n"], &img, 4);
        assert!(before.contains("refcount tree says"), "{before}");
        let t = expect(&["-y"], &img, 1);
        assert!(t.contains("all fixed"), "{t}");
        let after = expect(&["-n"], &img, 0);
        // The staging blocks and the stray record's blocks (owned by
        // nothing once the record is gone) are free again.
        assert_eq!(used_blocks(&after), want, "{after}");
    }
}

#[test]
fn a_big_refcount_tree_with_wrong_counts_is_rebuilt() {
    let sc = Scratch::new("rl-rebuild");
    let img = sc.img();
    let mut b = big_tree();
    // Every third shared block gets a count too many.
    let ino = b.sb.refcount_ino;
    let recs: Vec<u64> = {
        let mut v = Vec::new();
        let mut at = 0;
        while let Some((s, l)) = refcount::find_shared(&b.s, ino, at, u64::MAX / 2).unwrap() {
            v.push(s);
            at = s + l;
        }
        v
    };
    for p in recs.iter().step_by(3) {
        plus_one(&mut b, *p, 1);
    }
    b.write(&img);
    expect(&["-n"], &img, 4);
    expect(&["-y"], &img, 1);
    expect(&["-n"], &img, 0);
}
