// SPDX-License-Identifier: GPL-2.0

//! Damage every metadata block in turn, with and without a valid checksum,
//! and hold fsck to its promises: no panic; -n finds every checksum error
//! and never writes; -y never makes things worse than "left uncorrected",
//! and when it says everything was fixed, a second check is clean.

mod common;
use common::*;
use fsck_rxfs::{run, Opts};
use librxfs::format::features;
use librxfs::meta::{self, HDR_SIZE};
use librxfs::xattr::{NS_SECURITY, NS_USER};
use std::path::Path;

struct Rng(u64);
impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n as u64) as usize
    }
}

fn fsck_in_process(img: &Path, repair: bool) -> (u8, String) {
    let o = Opts {
        repair,
        verbose: false,
        force: false,
        device: img.to_str().unwrap().into(),
    };
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let code = run(&o, &mut out, &mut err);
    (
        code,
        format!(
            "{}{}",
            String::from_utf8_lossy(&out),
            String::from_utf8_lossy(&err)
        ),
    )
}

/// `xattrs`: with the feature, and attributes on some inodes.
fn fuzz(bs: usize, blocks: u64, seed: u64, xattrs: bool) {
    let sc = Scratch::new("fuzz");
    let img = sc.img();
    let mut st = standard(bs, blocks);
    if xattrs {
        st.b.sb.incompat |= features::INCOMPAT_XATTR;
        let root = st.b.root();
        for ino in [root, st.d1, st.f, st.big, st.bigdir, st.sym, st.orphan] {
            st.b.set_xattrs(ino, &[(NS_USER, "a", b"value"), (NS_USER, "b", &[3; 40]), (NS_SECURITY, "c", b"")]);
        }
    }
    st.b.write(&img);
    let pristine = std::fs::read(&img).unwrap();
    let magics = [
        meta::MAGIC_INODE,
        meta::MAGIC_EXTENT,
        meta::MAGIC_DIR,
        meta::MAGIC_BITMAP,
        meta::MAGIC_SUMMARY,
        meta::MAGIC_XATTR,
    ];
    let metablocks: Vec<u64> = (1..blocks)
        .filter(|&b| magics.contains(&meta::magic_of(&pristine[b as usize * bs..][..bs])))
        .collect();
    assert!(
        metablocks.len() > 60,
        "only {} metadata blocks",
        metablocks.len()
    );
    let mut rng = Rng(seed);
    let (mut fixed, mut left, mut harmless) = (0, 0, 0);
    for (n, &b) in metablocks.iter().enumerate() {
        for sealed in [false, true, true] {
            let mut blk = pristine[b as usize * bs..][..bs].to_vec();
            let magic = meta::magic_of(&blk);
            // Where the interesting fields are.
            let span = if magic == meta::MAGIC_INODE {
                320
            } else if magic == meta::MAGIC_SUMMARY {
                HDR_SIZE + 16
            } else {
                160
            };
            let off = if sealed {
                rng.below(span)
            } else {
                rng.below(bs)
            };
            blk[off] ^= 1 << rng.below(8);
            if sealed {
                meta::seal(&mut blk);
            }
            if blk == pristine[b as usize * bs..][..bs] {
                continue;
            }
            write_block(&img, bs, b, &blk);
            let damaged = std::fs::read(&img).unwrap();
            let what = format!(
                "bs {bs} block {b} (magic {magic:08x}) byte {off} sealed {sealed} (trial {n})"
            );
            let (c, t) = fsck_in_process(&img, false);
            assert!(
                c == 4 || (sealed && c == 0),
                "{what}: fsck -n exited {c}:\n{t}"
            );
            assert!(
                damaged == std::fs::read(&img).unwrap(),
                "{what}: fsck -n wrote"
            );
            let (cy, ty) = fsck_in_process(&img, true);
            match (c, cy) {
                (0, 0) => {
                    harmless += 1;
                    if std::env::var("FUZZ_SHOW").is_ok() {
                        eprintln!("harmless: {what}");
                    }
                }
                (4, 1) => {
                    let (c2, t2) = fsck_in_process(&img, false);
                    assert_eq!(
                        c2, 0,
                        "{what}: -y said all fixed:\n{ty}\nbut a second check says:\n{t2}"
                    );
                    fixed += 1;
                }
                (4, 4) => left += 1,
                _ => panic!("{what}: fsck -n exited {c}, -y exited {cy}:\n{t}\n{ty}"),
            }
            std::fs::write(&img, &pristine).unwrap();
        }
    }
    eprintln!(
        "bs {bs}: {} blocks damaged 3 ways: {fixed} fixed, {left} left, {harmless} harmless",
        metablocks.len()
    );
    assert!(fixed > 0 && left > 0);
}

#[test]
fn fuzz_1k() {
    fuzz(1024, 4096, 0x9e37_79b9_7f4a_7c15, false);
}

#[test]
fn fuzz_4k() {
    fuzz(4096, 1024, 0x2545_f491_4f6c_dd1d, false);
}

#[test]
fn fuzz_2k_xattr() {
    fuzz(2048, 2048, 0x853c_49e6_748f_ea9b, true);
}
