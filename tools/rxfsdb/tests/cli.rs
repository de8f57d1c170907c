// SPDX-License-Identifier: GPL-2.0

//! rxfs-db as the VM tests use it: locate a structure, damage it, and
//! fsck.rxfs names exactly that block.

#[path = "../../fsck/tests/common/mod.rs"]
mod common;
use common::{flip, standard, Builder, Scratch};
use librxfs::xattr::{NS_SECURITY, NS_USER};
use librxfs::{dir, extmap};
use std::path::Path;
use std::process::{Command, Output};

const DB: &str = env!("CARGO_BIN_EXE_rxfs-db");

fn db(img: &Path, args: &[&str]) -> Output {
    Command::new(DB).arg(img).args(args).output().unwrap()
}

fn located(img: &Path, args: &[&str]) -> (u64, u64) {
    let o = db(img, args);
    let out = String::from_utf8_lossy(&o.stdout).into_owned();
    assert_eq!(
        o.status.code(),
        Some(0),
        "{args:?}: {out}{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let v: Vec<u64> = out.split_whitespace().map(|x| x.parse().unwrap()).collect();
    assert_eq!(v.len(), 2, "{out}");
    (v[0], v[1])
}

#[test]
fn locates_every_kind() {
    for bs in [1024u64, 4096] {
        let sc = Scratch::new("db");
        let img = sc.img();
        let mut st = standard(bs as usize, (8 << 20) / bs);
        st.b.write(&img);
        let geo = st.b.sb.geometry();
        assert_eq!(located(&img, &["locate", "sb"]), (0, 0));
        assert_eq!(located(&img, &["locate", "summary"]), (1, bs));
        assert_eq!(
            located(&img, &["locate", "bitmap"]),
            (geo.bitmap_start, geo.bitmap_start * bs)
        );
        assert_eq!(
            located(&img, &["locate", "orphan"]),
            (st.orphan, st.orphan * bs)
        );
        assert_eq!(located(&img, &["locate", "inode", "/d1/f"]).0, st.f);
        assert_eq!(located(&img, &["locate", "inode", "d1/d2/f-link"]).0, st.f);
        assert_eq!(located(&img, &["locate", "inode", "/"]).0, st.b.root());
        assert_eq!(located(&img, &["locate", "inode", "/d1/d2/.."]).0, st.d1);
        let dn = st.b.first_node(dir::tree(st.bigdir)).unwrap();
        assert_eq!(
            located(&img, &["locate", "dirnode", "/bigdir"]),
            (dn, dn * bs)
        );
        let en = st.b.first_node(extmap::tree(st.big)).unwrap();
        assert_eq!(located(&img, &["locate", "extnode", "/big"]), (en, en * bs));
    }
}

#[test]
fn not_found_is_exit_1() {
    let sc = Scratch::new("db-nf");
    let img = sc.img();
    let mut st = standard(4096, 2048);
    st.b.write(&img);
    for args in [
        &["locate", "dirnode", "/d1"][..],
        &["locate", "extnode", "/d1/f"],
        &["locate", "extnode", "/d1"],
        &["locate", "inode", "/nope"],
        &["locate", "inode", "/d1/f/x"],
        &["ls", "/d1/f"],
    ] {
        let o = db(&img, args);
        assert_eq!(o.status.code(), Some(1), "{args:?}");
        assert!(!o.stderr.is_empty());
    }
    // An empty orphan list.
    let mut b = common::Builder::new(4096, 256);
    b.write(&img);
    assert_eq!(db(&img, &["locate", "orphan"]).status.code(), Some(1));
    assert_eq!(db(&img, &["frob"]).status.code(), Some(2));
    assert_eq!(
        Command::new(DB)
            .arg("/nonexistent")
            .args(["locate", "sb"])
            .output()
            .unwrap()
            .status
            .code(),
        Some(1)
    );
}

#[test]
fn ls_and_stat() {
    let sc = Scratch::new("db-ls");
    let img = sc.img();
    let mut st = standard(2048, 4096);
    st.b.write(&img);
    let o = db(&img, &["ls", "/d1"]);
    let out = String::from_utf8_lossy(&o.stdout);
    let mut lines: Vec<&str> = out.lines().collect();
    lines.sort();
    assert_eq!(
        lines,
        vec![
            format!("d2 {} 4", st.d2),
            format!("f {} 8", st.f),
            format!("sym {} 10", st.sym)
        ]
    );
    assert_eq!(
        String::from_utf8_lossy(&db(&img, &["ls", "/bigdir"]).stdout)
            .lines()
            .count(),
        61
    );
    let o = db(&img, &["stat", "/d1/f"]);
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        out.contains(&format!("ino {}", st.f))
            && out.contains("nlink 3")
            && out.contains("mode 0100644"),
        "{out}"
    );
}

#[test]
fn damage_what_it_locates() {
    let sc = Scratch::new("db-dmg");
    let img = sc.img();
    let mut st = standard(4096, 2048);
    st.b.write(&img);
    let pristine = std::fs::read(&img).unwrap();
    for (args, what) in [
        (&["locate", "inode", "/d1/d2"][..], "bad checksum"),
        (&["locate", "dirnode", "/bigdir"], "directory block"),
        (&["locate", "extnode", "/big"], "extent tree block"),
        (&["locate", "bitmap"], "free-space bitmap block"),
        (&["locate", "summary"], "free-space summary block"),
        (&["locate", "orphan"], "(orphan): bad checksum"),
    ] {
        std::fs::write(&img, &pristine).unwrap();
        let (blk, off) = located(&img, args);
        assert_eq!(off, blk * 4096);
        flip(&img, 4096, blk, 300);
        let o = fsck_rxfs::Opts {
            repair: false,
            verbose: false,
            force: false,
            device: img.to_str().unwrap().into(),
        };
        let mut out = Vec::new();
        let code = fsck_rxfs::run(&o, &mut out, &mut std::io::stderr());
        let t = String::from_utf8_lossy(&out);
        assert_eq!(code, 4, "{args:?}: {t}");
        assert!(
            t.contains(what) && t.contains(&blk.to_string()),
            "{args:?}: {t}"
        );
    }
}

#[test]
fn xattr_block_and_entries() {
    let sc = Scratch::new("db-xattr");
    let img = sc.img();
    let mut b = Builder::new_xattr(1024, 2048);
    let root = b.root();
    let f = b.file(root, "f");
    let fx = b.set_xattrs(f, &[(NS_USER, "mime", b"text"), (NS_SECURITY, "s", b"")]);
    b.file(root, "plain");
    b.write(&img);
    assert_eq!(located(&img, &["locate", "xattr", "/f"]), (fx, fx * 1024));
    let o = db(&img, &["stat", "/f"]);
    assert!(String::from_utf8_lossy(&o.stdout).contains(&format!("xattr {fx}\n")));
    let o = db(&img, &["xattrs", "/f"]);
    assert_eq!(o.status.code(), Some(0));
    assert_eq!(String::from_utf8_lossy(&o.stdout), "user.mime 4 74657874\nsecurity.s 0\n");
    for args in [&["locate", "xattr", "/plain"][..], &["xattrs", "/plain"]] {
        let o = db(&img, args);
        assert_eq!(o.status.code(), Some(1), "{args:?}");
        assert!(String::from_utf8_lossy(&o.stderr).contains("has no extended attributes"));
    }
    // Damaged, as located: fsck names the block, and xattrs refuses it.
    flip(&img, 1024, fx, 40);
    assert_eq!(db(&img, &["xattrs", "/f"]).status.code(), Some(1));
    let o = fsck_rxfs::Opts { repair: false, verbose: false, force: false, device: img.to_str().unwrap().into() };
    let mut out = Vec::new();
    assert_eq!(fsck_rxfs::run(&o, &mut out, &mut std::io::stderr()), 4);
    let t = String::from_utf8_lossy(&out);
    assert!(t.contains(&format!("inode {f} (/f): xattr block {fx}: bad checksum")), "{t}");
}
