// SPDX-License-Identifier: GPL-2.0

//! Extended attributes: an inode's xattr block is owned by it (in the
//! bitmap check and the cross-link check), must verify as its xattr block,
//! and a pointer that does not lead to one is cleared by repair, its block
//! then freed as a leaked block if nothing else owns it.

mod common;
use common::*;
use librxfs::extmap::{self, Map};
use librxfs::format::features;
use librxfs::meta::HDR_SIZE;
use librxfs::xattr::{ENTRIES_OFF, NS_SECURITY, NS_TRUSTED, NS_USER};
use std::path::Path;

/// A filesystem with attributes on the root, a file `/f` with data, a
/// directory `/d`, a symlink `/d/sym` and an orphan; `/d/plain` has none.
struct X {
    b: Builder,
    f: u64,
    d: u64,
    orphan: u64,
    /// `/f`'s xattr block.
    fx: u64,
    /// `/d`'s xattr block.
    dx: u64,
}

/// Xattr blocks in [`image`].
const XATTR_BLOCKS: u64 = 5;

fn image(bs: usize) -> X {
    let mut b = Builder::new_xattr(bs, (4 << 20) / bs as u64);
    let root = b.root();
    let f = b.file(root, "f");
    b.extents(f, 0, 3, 2, 4);
    let fx = b.set_xattrs(
        f,
        &[
            (NS_USER, "mime", b"text/plain"),
            (NS_SECURITY, "selinux", b"system_u:object_r:etc_t:s0\0"),
            (NS_TRUSTED, "t", b""),
        ],
    );
    let d = b.mkdir(root, "d");
    let dx = b.set_xattrs(d, &[(NS_USER, "big", &[7; 300])]);
    b.file(d, "plain");
    let sym = b.symlink(d, "sym", "../f");
    b.set_xattrs(sym, &[(NS_USER, "s", b"1")]);
    b.set_xattrs(root, &[(NS_TRUSTED, "root", b"r")]);
    let orphan = b.orphan_file();
    b.set_xattrs(orphan, &[(NS_USER, "o", b"gone")]);
    X { b, f, d, orphan, fx, dx }
}

fn data_block(x: &X, ino: u64) -> u64 {
    match extmap::lookup(&x.b.s, ino, 0).unwrap() {
        Map::Mapped(e) => e.pblk,
        Map::Hole(_) => panic!("no block at 0"),
    }
}

/// -n (and the default) exit 4 without writing, reporting every phrase of
/// `want`; -y exits `y`; after a -y that fixed everything, -n is clean.
fn check(img: &Path, want: &[String], y: i32) -> String {
    let before = std::fs::read(img).unwrap();
    let t = expect(&["-n"], img, 4);
    for w in want {
        assert!(t.contains(w.as_str()), "report lacks '{w}':\n{t}");
    }
    expect(&[], img, 4);
    assert_eq!(before, std::fs::read(img).unwrap(), "fsck without -y wrote to the image");
    let ty = expect(&["-y"], img, y);
    if y == 1 {
        for w in want {
            assert!(ty.lines().any(|l| l.contains(w.as_str()) && l.ends_with(" (fixed)")), "'{w}' not fixed:\n{ty}");
        }
        let t2 = expect(&["-n"], img, 0);
        assert!(t2.contains("clean"), "{t2}");
    } else {
        expect(&["-n"], img, 4);
    }
    t
}

#[test]
fn files_with_xattrs_are_clean() {
    for bs in [1024usize, 4096] {
        let sc = Scratch::new("xa-clean");
        let img = sc.img();
        let mut x = image(bs);
        x.b.write(&img);
        assert!(in_use(&img, bs, x.fx) && in_use(&img, bs, x.dx));
        let before = std::fs::read(&img).unwrap();
        let t = expect(&["-n"], &img, 0);
        assert!(t.contains("clean"), "{t}");
        expect(&["-y"], &img, 0);
        let t = expect(&["-nv"], &img, 0);
        assert!(t.contains(&format!("{XATTR_BLOCKS} xattr blocks")) && t.contains("walk complete"), "{t}");
        assert_eq!(before, std::fs::read(&img).unwrap(), "a clean check changed the image");
    }
}

/// A fresh filesystem made with the feature, and the root's attributes
/// emptied (an xattr block with no entries is still valid).
#[test]
fn empty_xattr_block_is_clean() {
    let sc = Scratch::new("xa-empty");
    let img = sc.img();
    let mut b = Builder::new_xattr(1024, 1024);
    let root = b.root();
    b.set_xattrs(root, &[]);
    b.write(&img);
    let t = expect(&["-nv"], &img, 0);
    assert!(t.contains("clean, 1 inodes") && t.contains("1 xattr blocks"), "{t}");
}

/// Damages `/f`'s xattr block with `damage` (which returns why it no
/// longer verifies); the pointer is reported, and the block as leaked;
/// -y clears the pointer and frees the block.
fn bad_block(bs: usize, damage: impl FnOnce(&X, &Path) -> &'static str) {
    let sc = Scratch::new("xa-bad");
    let img = sc.img();
    let mut x = image(bs);
    x.b.write(&img);
    let why = damage(&x, &img);
    let free0 = sb_of(&img).free_blocks;
    let (f, fx) = (x.f, x.fx);
    check(
        &img,
        &[
            format!("fsck.rxfs: inode {f} (/f): xattr block {fx}: {why}"),
            format!("fsck.rxfs: block {fx}: in use but owned by nothing (leaked)"),
        ],
        1,
    );
    assert_eq!(inode_of(&img, bs, f).xattr, 0);
    assert!(!in_use(&img, bs, fx), "the xattr block was not freed");
    assert_eq!(sb_of(&img).free_blocks, free0 + 1);
    // The other attributes are untouched.
    assert_eq!(inode_of(&img, bs, x.d).xattr, x.dx);
}

#[test]
fn xattr_block_bad_magic() {
    for bs in [1024usize, 2048, 4096] {
        bad_block(bs, |x, img| {
            patch(img, bs, x.fx, |b| b[0] ^= 1);
            "bad magic"
        });
    }
}

#[test]
fn xattr_block_bad_checksum() {
    bad_block(1024, |x, img| {
        flip(img, 1024, x.fx, ENTRIES_OFF + 5);
        "bad checksum"
    });
}

#[test]
fn xattr_block_wrong_owner() {
    bad_block(4096, |x, img| {
        let d = x.d;
        patch(img, 4096, x.fx, |b| b[16..24].copy_from_slice(&d.to_le_bytes()));
        "wrong owner in header"
    });
}

#[test]
fn xattr_block_damaged_entries() {
    // The first entry's namespace.
    bad_block(1024, |x, img| {
        patch(img, 1024, x.fx, |b| b[ENTRIES_OFF] = 9);
        "unknown namespace"
    });
    // One entry more than there are.
    bad_block(2048, |x, img| {
        patch(img, 2048, x.fx, |b| b[32] += 1);
        "entry runs past the entries"
    });
    // The entries' byte count past the block.
    bad_block(4096, |x, img| {
        patch(img, 4096, x.fx, |b| b[34..36].copy_from_slice(&5000u16.to_le_bytes()));
        "entries run past the block"
    });
    // Two entries swapped: sorted (user 1, trusted 2, security 3), so the
    // first one's namespace made the last one's repeats it.
    bad_block(1024, |x, img| {
        patch(img, 1024, x.fx, |b| b[ENTRIES_OFF] = NS_SECURITY);
        "entries out of order or repeated"
    });
    // A stray byte after the entries.
    bad_block(1024, |x, img| {
        patch(img, 1024, x.fx, |b| b[1023] = 1);
        "bytes after the entries not zero"
    });
}

#[test]
fn xattr_block_marked_free() {
    for bs in [1024usize, 4096] {
        let sc = Scratch::new("xa-markfree");
        let img = sc.img();
        let mut x = image(bs);
        x.b.write(&img);
        let (f, fx) = (x.f, x.fx);
        let g = x.b.sb.geometry();
        let i = (fx % g.bits_per_group) as usize;
        patch(&img, bs, g.bitmap_start + fx / g.bits_per_group, |b| b[HDR_SIZE + i / 8] &= !(1 << (i % 8)));
        check(&img, &[format!("block {fx} (inode {f}): in use but marked free")], 1);
        assert!(in_use(&img, bs, fx));
        assert_eq!(inode_of(&img, bs, f).xattr, fx);
    }
}

/// A valid xattr block that another file also maps as data: a cross-link,
/// which repair cannot settle (as any other).
#[test]
fn xattr_block_cross_linked_with_data() {
    for bs in [1024usize, 4096] {
        let sc = Scratch::new("xa-xlink");
        let img = sc.img();
        let mut x = image(bs);
        let root = x.b.root();
        let thief = x.b.file(root, "thief");
        let fx = x.fx;
        x.b.raw_extent(thief, 0, fx, 1);
        x.b.write(&img);
        let f = x.f;
        check(&img, &[format!("inode {f} (/f): block {fx} (xattr block) already owned by inode {thief}")], 4);
        assert_eq!(inode_of(&img, bs, f).xattr, fx);
    }
}

/// Two inodes naming the same xattr block: it verifies as one's, so the
/// other's pointer is what is wrong (whichever is found first: the blocks
/// that verify are claimed before any pointer is found wrong).
#[test]
fn xattr_block_named_by_two_inodes() {
    let sc = Scratch::new("xa-two");
    let img = sc.img();
    let mut x = image(2048);
    x.b.write(&img);
    let (f, fx, d, dx) = (x.f, x.fx, x.d, x.dx);
    patch_inode(&img, 2048, d, |i| i.xattr = fx);
    check(
        &img,
        &[
            format!("inode {d} (/d): xattr block {fx}: wrong owner in header; already owned by inode {f}"),
            format!("block {dx}: in use but owned by nothing (leaked)"),
        ],
        1,
    );
    assert_eq!(inode_of(&img, 2048, f).xattr, fx);
    assert_eq!(inode_of(&img, 2048, d).xattr, 0);
    assert!(in_use(&img, 2048, fx) && !in_use(&img, 2048, dx));
}

/// A pointer to a block of another structure: reported with its owner;
/// repair clears the pointer, and the structure keeps its block.
#[test]
fn xattr_pointer_to_another_structure() {
    for bs in [1024usize, 4096] {
        let sc = Scratch::new("xa-other");
        let img = sc.img();
        let mut x = image(bs);
        let data = data_block(&x, x.f);
        x.b.write(&img);
        let (f, fx, d) = (x.f, x.fx, x.d);
        let cases: [(u64, String); 4] = [
            (d, format!("bad magic; already owned by inode {d}")),
            (data, format!("bad magic; already owned by inode {f}")),
            (x.dx, format!("wrong owner in header; already owned by inode {d}")),
            (1, "bad magic; already owned by the fixed metadata".into()),
        ];
        let pristine = std::fs::read(&img).unwrap();
        for (target, why) in cases {
            std::fs::write(&img, &pristine).unwrap();
            patch_inode(&img, bs, f, |i| i.xattr = target);
            check(
                &img,
                &[
                    format!("inode {f} (/f): xattr block {target}: {why}"),
                    format!("block {fx}: in use but owned by nothing (leaked)"),
                ],
                1,
            );
            assert_eq!(inode_of(&img, bs, f).xattr, 0);
            assert!(in_use(&img, bs, target) && !in_use(&img, bs, fx));
        }
    }
}

/// An xattr pointer on a filesystem without the feature: the pointer is
/// wrong whatever it points at.
#[test]
fn xattr_without_the_feature() {
    // Made without it.
    let sc = Scratch::new("xa-nofeat");
    let img = sc.img();
    let mut b = Builder::new(1024, 2048);
    let root = b.root();
    let f = b.file(root, "f");
    let fx = b.set_xattrs(f, &[(NS_USER, "a", b"b")]);
    b.write(&img);
    assert!(!sb_of(&img).has_xattr());
    let free0 = sb_of(&img).free_blocks;
    check(
        &img,
        &[
            format!("inode {f} (/f): xattr block {fx}: set, but the filesystem does not have extended attributes"),
            format!("block {fx}: in use but owned by nothing (leaked)"),
        ],
        1,
    );
    assert_eq!(inode_of(&img, 1024, f).xattr, 0);
    assert_eq!(sb_of(&img).free_blocks, free0 + 1);

    // The feature bit cleared under every attribute.
    let sc = Scratch::new("xa-nofeat2");
    let img = sc.img();
    let mut x = image(4096);
    x.b.write(&img);
    let free0 = sb_of(&img).free_blocks;
    patch_sb(&img, |sb| sb.incompat &= !features::INCOMPAT_XATTR);
    let t = check(&img, &[format!("inode {} (/f): xattr block {}: set, but", x.f, x.fx)], 1);
    assert_eq!(t.matches("does not have extended attributes").count() as u64, XATTR_BLOCKS, "{t}");
    assert_eq!(sb_of(&img).free_blocks, free0 + XATTR_BLOCKS);
}

/// An unlinked inode on no list is freed with its xattr block; an orphan's
/// xattr block is checked as any other.
#[test]
fn leaked_inode_frees_its_xattr_block() {
    for bs in [1024usize, 4096] {
        let sc = Scratch::new("xa-leak");
        let img = sc.img();
        let mut x = image(bs);
        x.b.write(&img);
        let o = x.orphan;
        let ox = inode_of(&img, bs, o).xattr;
        assert_ne!(ox, 0);
        let sb0 = sb_of(&img);
        patch_sb(&img, |sb| sb.orphan_head = 0);
        check(&img, &[format!("inode {o}: unlinked inode not on the orphan list (leaked)")], 1);
        // The inode, its 6 data blocks and its xattr block.
        let sb1 = sb_of(&img);
        assert_eq!(sb1.free_blocks, sb0.free_blocks + 8);
        assert_eq!(sb1.inode_count, sb0.inode_count - 1);
        assert!(!in_use(&img, bs, ox));
    }
    // A damaged orphan's xattr block.
    let sc = Scratch::new("xa-orphan");
    let img = sc.img();
    let mut x = image(1024);
    x.b.write(&img);
    let o = x.orphan;
    let ox = inode_of(&img, 1024, o).xattr;
    flip(&img, 1024, ox, 100);
    check(&img, &[format!("inode {o} (orphan): xattr block {ox}: bad checksum")], 1);
}
