// SPDX-License-Identifier: GPL-2.0

//! One damaged structure at a time: fsck -n must find it (exit 4) without
//! writing, name it, and -y must fix exactly what is safe to fix.

mod common;
use common::*;
use librxfs::btree::Tree;
use librxfs::dir;
use librxfs::extmap::{self, Map};
use librxfs::inode::{mode, FORK_OFF};
use librxfs::meta::HDR_SIZE;
use std::path::Path;

const SIZES: [usize; 3] = [1024, 2048, 4096];

/// Builds the standard image at `bs`, lets `prep` damage it through
/// librxfs and `damage` damage the written image (returning a phrase the
/// report must contain), then checks: -n and the default exit 4 and leave
/// the image as it was; -y exits `y`; after a -y that fixed everything a
/// second check is clean.
fn case(
    bs: usize,
    prep: impl FnOnce(&mut Std),
    damage: impl FnOnce(&Std, &Path) -> String,
    y: i32,
) -> String {
    let sc = Scratch::new("case");
    let img = sc.img();
    let mut st = standard(bs, (8 << 20) / bs as u64);
    prep(&mut st);
    st.b.write(&img);
    let want = damage(&st, &img);
    let before = std::fs::read(&img).unwrap();
    let t = expect(&["-n"], &img, 4);
    // All of the '|'-separated phrases.
    for w in want.split('|') {
        assert!(t.contains(w), "bs {bs}: report lacks '{w}':\n{t}");
    }
    assert!(t.contains(" found, none fixed"), "no summary line:\n{t}");
    assert_eq!(
        before,
        std::fs::read(&img).unwrap(),
        "bs {bs}: fsck -n wrote to the image"
    );
    expect(&[], &img, 4);
    assert_eq!(
        before,
        std::fs::read(&img).unwrap(),
        "bs {bs}: fsck without -y wrote to the image"
    );
    let ty = expect(&["-y"], &img, y);
    if y == 1 {
        assert!(ty.contains("(fixed)"), "{ty}");
        let t2 = expect(&["-n"], &img, 0);
        assert!(t2.contains("clean"), "{t2}");
    } else {
        // What was left stays reported.
        expect(&["-n"], &img, 4);
    }
    t
}

fn none(_: &mut Std) {}

fn data_block(st: &Std, ino: u64) -> u64 {
    match extmap::lookup(&st.b.s, ino, 0).unwrap() {
        Map::Mapped(e) => e.pblk,
        Map::Hole(_) => panic!("no block at 0"),
    }
}

fn bitmap_blk(st: &Std) -> u64 {
    st.b.sb.geometry().bitmap_start
}

#[test]
fn superblock_checksum() {
    for bs in SIZES {
        case(
            bs,
            none,
            |_, img| {
                flip(img, bs, 0, 100);
                "superblock: checksum mismatch".into()
            },
            4,
        );
    }
}

#[test]
fn superblock_field() {
    case(
        4096,
        none,
        |_, img| {
            patch_sb(img, |sb| sb.root_ino = 0);
            "superblock: bad root_ino 0".into()
        },
        4,
    );
    case(
        1024,
        none,
        |_, img| {
            patch_sb(img, |sb| sb.inode_count = 0);
            "bad inode_count".into()
        },
        4,
    );
}

#[test]
fn superblock_magic_is_not_rxfs() {
    let sc = Scratch::new("magic");
    let img = sc.img();
    standard(4096, 2048).b.write(&img);
    flip(&img, 4096, 0, 1);
    let t = expect(&["-n"], &img, 8);
    assert!(t.contains("not an rxfs filesystem"), "{t}");
}

#[test]
fn superblock_free_count() {
    for bs in SIZES {
        case(
            bs,
            none,
            |_, img| {
                patch_sb(img, |sb| sb.free_blocks -= 7);
                "superblock: free block count".into()
            },
            1,
        );
    }
}

#[test]
fn superblock_inode_count() {
    case(
        2048,
        none,
        |_, img| {
            patch_sb(img, |sb| sb.inode_count += 3);
            "superblock: inode count".into()
        },
        1,
    );
}

#[test]
fn block0_tail() {
    case(
        4096,
        none,
        |_, img| {
            let mut b = read_block(img, 4096, 0);
            b[3000] = 1;
            write_block(img, 4096, 0, &b);
            "block 0 past the superblock is not zero".into()
        },
        1,
    );
}

#[test]
fn summary_count() {
    for bs in SIZES {
        case(
            bs,
            none,
            |_, img| {
                patch(img, bs, 1, |b| b[HDR_SIZE] = b[HDR_SIZE].wrapping_add(1));
                "group 0: summary says".into()
            },
            1,
        );
    }
}

#[test]
fn summary_checksum() {
    for bs in SIZES {
        case(
            bs,
            none,
            |_, img| {
                flip(img, bs, 1, 40);
                "free-space summary block 1: bad checksum".into()
            },
            1,
        );
    }
}

#[test]
fn summary_stray_entry() {
    case(
        4096,
        none,
        |st, img| {
            let g = st.b.sb.geometry();
            assert!(g.groups < g.sums_per_block);
            patch(img, 4096, 1, |b| b[HDR_SIZE + 4 * g.groups as usize] = 9);
            "entries past the last group are not zero".into()
        },
        1,
    );
}

#[test]
fn bitmap_checksum() {
    for bs in SIZES {
        case(
            bs,
            none,
            |st, img| {
                let blk = bitmap_blk(st);
                flip(img, bs, blk, 100);
                format!("free-space bitmap block {blk} (group 0): bad checksum")
            },
            1,
        );
    }
}

#[test]
fn bitmap_header_owner() {
    case(
        1024,
        none,
        |st, img| {
            let blk = bitmap_blk(st);
            patch(img, 1024, blk, |b| b[16] = 7);
            "wrong owner in header".into()
        },
        1,
    );
}

#[test]
fn leaked_block() {
    for bs in SIZES {
        case(
            bs,
            none,
            |st, img| {
                let last = st.b.sb.block_count - 1;
                assert!(!st.b.a.is_used(&st.b.s, last).unwrap());
                let blk = bitmap_blk(st) + last / st.b.sb.geometry().bits_per_group;
                let i = (last % st.b.sb.geometry().bits_per_group) as usize;
                patch(img, bs, blk, |b| b[HDR_SIZE + i / 8] |= 1 << (i % 8));
                format!("block {last}: in use but owned by nothing (leaked)")
            },
            1,
        );
    }
}

#[test]
fn owned_block_marked_free() {
    for bs in SIZES {
        case(
            bs,
            none,
            |st, img| {
                let p = data_block(st, st.f);
                let g = st.b.sb.geometry();
                let i = (p % g.bits_per_group) as usize;
                patch(img, bs, g.bitmap_start + p / g.bits_per_group, |b| {
                    b[HDR_SIZE + i / 8] &= !(1 << (i % 8))
                });
                format!("block {p} (inode {}): in use but marked free", st.f)
            },
            1,
        );
    }
}

#[test]
fn bits_past_the_end() {
    for bs in SIZES {
        case(
            bs,
            none,
            |st, img| {
                let g = st.b.sb.geometry();
                let last = g.groups - 1;
                let i = g.group_len(last) as usize + 3;
                assert!((i as u64) < g.bits_per_group);
                patch(img, bs, g.bitmap_start + last, |b| {
                    b[HDR_SIZE + i / 8] &= !(1 << (i % 8))
                });
                "bits past the end of the filesystem are clear".into()
            },
            1,
        );
    }
}

#[test]
fn inode_checksum() {
    for bs in SIZES {
        case(
            bs,
            none,
            |st, img| {
                flip(img, bs, st.f, 60);
                format!("inode {} (/|): bad checksum", st.f)
            },
            4,
        );
    }
}

#[test]
fn inode_field() {
    case(
        4096,
        none,
        |st, img| {
            patch(img, 4096, st.f, |b| b[36] = 0x80);
            format!("inode {} (/|): unknown flags", st.f)
        },
        4,
    );
    case(
        1024,
        none,
        |st, img| {
            patch(img, 1024, st.d2, |b| {
                b[128..136].copy_from_slice(&0u64.to_le_bytes())
            });
            format!("inode {} (/d1/d2): bad parent", st.d2)
        },
        4,
    );
}

#[test]
fn link_counts() {
    for bs in SIZES {
        case(
            bs,
            none,
            |st, img| {
                patch_inode(img, bs, st.f, |i| i.nlink = 5);
                format!("inode {} (/|): link count 5, should be 3", st.f)
            },
            1,
        );
    }
    case(
        4096,
        none,
        |st, img| {
            patch_inode(img, 4096, st.d1, |i| i.nlink = 2);
            format!("inode {} (/d1): link count 2, should be 3", st.d1)
        },
        1,
    );
    case(
        4096,
        none,
        |st, img| {
            let root = st.b.root();
            patch_inode(img, 4096, root, |i| i.nlink = 9);
            format!("inode {root} (/): link count 9, should be 4")
        },
        1,
    );
}

#[test]
fn block_counts() {
    for bs in SIZES {
        case(
            bs,
            none,
            |st, img| {
                patch_inode(img, bs, st.big, |i| i.nblocks += 1);
                format!("inode {} (/big): block count", st.big)
            },
            1,
        );
    }
    case(
        4096,
        none,
        |st, img| {
            patch_inode(img, 4096, st.bigdir, |i| i.nblocks = 0);
            format!("inode {} (/bigdir): block count 0, found", st.bigdir)
        },
        1,
    );
}

#[test]
fn extent_tree_node() {
    for bs in SIZES {
        case(
            bs,
            none,
            |st, img| {
                let n = st.b.first_node(extmap::tree(st.big)).unwrap();
                flip(img, bs, n, bs - 5);
                format!(
                    "inode {} (/big): extent tree block {n}: bad checksum",
                    st.big
                )
            },
            4,
        );
    }
    case(
        4096,
        none,
        |st, img| {
            let n = st.b.first_node(extmap::tree(st.big)).unwrap();
            // Entry count past the node's capacity.
            patch(img, 4096, n, |b| b[HDR_SIZE + 2] = 0xff);
            format!("extent tree block {n}: bad entry count")
        },
        4,
    );
}

#[test]
fn extent_record() {
    case(
        4096,
        none,
        |st, img| {
            // The root of the small file's map is inline: its first record's
            // length (at FORK_OFF + 8 + 8 + 8) becomes zero.
            patch(img, 4096, st.f, |b| b[FORK_OFF + 24..FORK_OFF + 28].fill(0));
            format!(
                "inode {} (/|): extent at file block 0: extent tree: extent length out of range",
                st.f
            )
        },
        4,
    );
}

#[test]
fn cross_linked_blocks() {
    for bs in SIZES {
        case(
            bs,
            |st| {
                let p = data_block(st, st.f);
                let victim = st.b.file(st.b.root(), "thief");
                st.b.raw_extent(victim, 10, p, 2);
            },
            |st, _| format!("inode {}|(data) already owned by inode ", st.f),
            4,
        );
    }
}

#[test]
fn extent_inside_fixed_metadata() {
    case(
        2048,
        |st| {
            let v = st.b.file(st.b.root(), "meta");
            st.b.raw_extent(v, 0, 1, 2);
        },
        |_, _| "inside the fixed metadata".into(),
        4,
    );
}

#[test]
fn directory_node() {
    for bs in SIZES {
        case(
            bs,
            none,
            |st, img| {
                let n = st.b.first_node(dir::tree(st.bigdir)).unwrap();
                flip(img, bs, n, HDR_SIZE + 20);
                format!(
                    "inode {} (/bigdir): directory block {n}: bad checksum",
                    st.bigdir
                )
            },
            4,
        );
    }
}

#[test]
fn directory_node_wrong_owner() {
    case(
        4096,
        none,
        |st, img| {
            let n = st.b.first_node(dir::tree(st.bigdir)).unwrap();
            patch(img, 4096, n, |b| {
                b[16..24].copy_from_slice(&st.d1.to_le_bytes())
            });
            format!("directory block {n}: wrong owner in header")
        },
        4,
    );
}

#[test]
fn entry_type_mismatch() {
    case(
        4096,
        |st| {
            dir::replace(
                &st.b.s,
                st.d1,
                st.b.sb.hash_seed,
                b"f",
                st.f,
                st.f,
                dt(mode::S_IFLNK),
            )
            .unwrap();
        },
        |st, _| format!("entry 'f' has type 10, inode {} has type 8", st.f),
        4,
    );
}

/// Inserts a raw directory entry under `key`.
fn raw_entry(st: &mut Std, d: u64, key: u64, ino: u64, dtype: u8, name: &[u8]) {
    let mut v = [0u8; dir::VAL_SIZE];
    v[..8].copy_from_slice(&ino.to_le_bytes());
    v[8] = dtype;
    v[9] = name.len() as u8;
    v[10..10 + name.len()].copy_from_slice(name);
    let mut t: Tree = dir::tree(d);
    t.insert(&st.b.s, &mut st.b.a, key, &v).unwrap();
    let delta = t.nodes_delta;
    st.b.modify(d, |i| i.nblocks = (i.nblocks as i64 + delta) as u64);
}

#[test]
fn entry_under_the_wrong_hash() {
    case(
        1024,
        |st| {
            let f = st.f;
            let h = dir::hash(st.b.sb.hash_seed, b"stray") ^ 1;
            raw_entry(st, st.d2, h << 32, f, 8, b"stray");
            st.b.modify(f, |i| i.nlink += 1);
        },
        |_, _| "entry 'stray' is filed under the wrong hash".into(),
        4,
    );
}

#[test]
fn entry_with_bad_inode_number() {
    case(
        4096,
        |st| {
            let bc = st.b.sb.block_count;
            raw_entry(st, st.d2, 5 << 32, bc + 10, 8, b"far");
        },
        |st, _| {
            format!("inode {} (/d1/d2): entry with key 0x500000000: directory: entry inode number out of range", st.d2)
        },
        4,
    );
}

#[test]
fn entry_naming_a_data_block() {
    case(
        4096,
        |st| {
            let p = data_block(st, st.big);
            let r = st.b.root();
            st.b.add_entry(r, "bogus", p, 8);
        },
        |st, _| format!("inode {} (/bogus): bad magic", data_block(st, st.big)),
        4,
    );
}

#[test]
fn wrong_parent() {
    case(
        4096,
        none,
        |st, img| {
            let d1 = st.d1;
            patch_inode(img, 4096, st.d2, |i| i.parent = d1 + 1);
            format!(
                "inode {} (/d1/d2): parent is {}, but the directory is in {d1}",
                st.d2,
                d1 + 1
            )
        },
        4,
    );
}

#[test]
fn directory_reachable_twice() {
    case(
        4096,
        |st| {
            let (r, d2) = (st.b.root(), st.d2);
            st.b.add_entry(r, "d2-again", d2, 4);
        },
        |_, _| "directory reachable twice: as |/d1/d2|/d2-again".into(),
        4,
    );
}

#[test]
fn orphan_list_cycle() {
    case(
        4096,
        |st| {
            let o2 = st.b.orphan_file();
            assert_eq!(st.b.sb.orphan_head, o2);
        },
        |st, img| {
            let o2 = st.b.sb.orphan_head;
            patch_inode(img, 4096, st.orphan, |i| i.next_orphan = o2);
            format!("orphan list: cycle back to inode {o2}")
        },
        4,
    );
}

#[test]
fn orphan_list_linked_inode() {
    for bs in SIZES {
        case(
            bs,
            |st| {
                let f = st.f;
                st.b.put_orphan(f);
            },
            |st, _| format!("inode {} (/|): on the orphan list with 3 links", st.f),
            4,
        );
    }
}

#[test]
fn orphan_list_bad_inode() {
    case(
        4096,
        none,
        |st, img| {
            flip(img, 4096, st.orphan, 200);
            format!("inode {} (orphan): bad checksum", st.orphan)
        },
        4,
    );
}

#[test]
fn orphan_pointer_off_the_list() {
    case(
        4096,
        none,
        |st, img| {
            let o = st.orphan;
            patch_inode(img, 4096, st.sym, |i| i.next_orphan = o);
            format!(
                "inode {} (/d1/sym): orphan list pointer {o} set, but not on the orphan list",
                st.sym
            )
        },
        4,
    );
}

#[test]
fn leaked_unlinked_inode_is_freed() {
    for bs in SIZES {
        let sc = Scratch::new("lost-orphan");
        let img = sc.img();
        let mut st = standard(bs, (8 << 20) / bs as u64);
        st.b.write(&img);
        let sb0 = sb_of(&img);
        patch_sb(&img, |sb| sb.orphan_head = 0);
        let t = expect(&["-n"], &img, 4);
        assert!(
            t.contains(&format!(
                "inode {}: unlinked inode not on the orphan list (leaked)",
                st.orphan
            )),
            "{t}"
        );
        // The orphan's inode and its 6 data blocks come back.
        expect(&["-y"], &img, 1);
        expect(&["-n"], &img, 0);
        let sb1 = sb_of(&img);
        assert_eq!(sb1.free_blocks, sb0.free_blocks + 7);
        assert_eq!(sb1.inode_count, sb0.inode_count - 1);
    }
}

#[test]
fn unreachable_linked_inode_is_kept() {
    let t = case(
        4096,
        |st| {
            let d2 = st.d2;
            st.b.remove_entry(d2, "empty");
        },
        |_, _| "not reachable from the root and not on the orphan list (1 links)".into(),
        4,
    );
    assert!(!t.contains("leaked)"), "{t}");
}

#[test]
fn unreadable_directory_blocks_freeing() {
    // A bad directory node hides inodes: their blocks look leaked, but
    // repair must not free them.
    let sc = Scratch::new("nofree");
    let img = sc.img();
    let mut st = standard(4096, 2048);
    st.b.write(&img);
    let n = st.b.first_node(dir::tree(st.bigdir)).unwrap();
    flip(&img, 4096, n, 77);
    let sb0 = sb_of(&img);
    let t = expect(&["-y"], &img, 4);
    assert!(t.contains("walk") || t.contains("bad checksum"), "{t}");
    assert_eq!(
        sb_of(&img).free_blocks,
        sb0.free_blocks,
        "repair freed blocks after an incomplete walk:\n{t}"
    );
}

#[test]
fn symlink_target() {
    case(
        4096,
        none,
        |st, img| {
            patch(img, 4096, st.sym, |b| {
                b[126..128].copy_from_slice(&4000u16.to_le_bytes())
            });
            format!(
                "inode {} (/d1/sym): inline data length out of range",
                st.sym
            )
        },
        4,
    );
    case(
        1024,
        none,
        |st, img| {
            patch(img, 1024, st.sym, |b| b[FORK_OFF + 1] = 0);
            format!(
                "inode {} (/d1/sym): symlink target contains a NUL byte",
                st.sym
            )
        },
        4,
    );
}

#[test]
fn root_not_a_directory() {
    case(
        4096,
        none,
        |st, img| {
            let f = st.f;
            patch_sb(img, |sb| sb.root_ino = f);
            format!("inode {f} (/): the root inode is not a directory")
        },
        4,
    );
}
