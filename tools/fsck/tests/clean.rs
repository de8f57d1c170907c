// SPDX-License-Identifier: GPL-2.0

//! fsck.rxfs on clean filesystems, and its command line.

mod common;
use common::*;

#[test]
fn clean_images_at_every_block_size() {
    for bs in [1024usize, 2048, 4096] {
        let sc = Scratch::new("clean");
        let img = sc.img();
        let mut st = standard(bs, (24 << 20) / bs as u64);
        st.b.write(&img);
        let before = std::fs::read(&img).unwrap();
        let t = expect(&["-n"], &img, 0);
        assert!(t.contains("clean"), "{t}");
        expect(&[], &img, 0);
        expect(&["-f", "-y"], &img, 0);
        let t = expect(&["-nv"], &img, 0);
        assert!(
            t.contains("1 orphans") && t.contains("1 symlinks") && t.contains("walk complete"),
            "{t}"
        );
        assert_eq!(
            before,
            std::fs::read(&img).unwrap(),
            "a clean check changed the image"
        );
    }
}

#[test]
fn fresh_filesystem_is_clean() {
    for bs in [1024usize, 4096] {
        let sc = Scratch::new("fresh");
        let img = sc.img();
        Builder::new(bs, (1 << 20) / bs as u64).write(&img);
        let t = expect(&["-n"], &img, 0);
        assert!(t.contains("clean, 1 inodes"), "{t}");
    }
}

#[test]
fn operational_errors() {
    let sc = Scratch::new("oper");
    let img = sc.img();
    // Missing, a directory, too small, zeroes, another filesystem.
    expect(&["-n"], &sc.0.join("nope"), 8);
    expect(&["-n"], &sc.0, 8);
    std::fs::write(&img, b"RXFS").unwrap();
    expect(&["-n"], &img, 8);
    std::fs::write(&img, vec![0u8; 1 << 20]).unwrap();
    let t = expect(&["-n"], &img, 8);
    assert!(t.contains("not an rxfs filesystem"), "{t}");
    let mut x = vec![0u8; 1 << 20];
    x[..4].copy_from_slice(b"XFSB");
    std::fs::write(&img, &x).unwrap();
    expect(&["-y"], &img, 8);
}

#[test]
fn usage_errors() {
    for args in [&["-n", "-y", "x"][..], &["-q", "x"], &[], &["a", "b"]] {
        let o = std::process::Command::new(FSCK)
            .args(args)
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(16), "{args:?}");
        assert!(String::from_utf8_lossy(&o.stderr).contains("usage"));
    }
}

#[test]
fn image_smaller_than_the_filesystem() {
    let sc = Scratch::new("short");
    let img = sc.img();
    standard(4096, 2048).b.write(&img);
    let f = std::fs::OpenOptions::new().write(true).open(&img).unwrap();
    f.set_len(2047 * 4096).unwrap();
    let t = expect(&["-n"], &img, 4);
    assert!(t.contains("superblock"), "{t}");
}
