// SPDX-License-Identifier: GPL-2.0

//! Building rxfs images in user space with librxfs, as the kernel would
//! leave them, and damaging them in precise ways. Shared by the fsck and
//! rxfs-db tests.

#![allow(dead_code)]

use librxfs::alloc::Alloc;
use librxfs::btree::Tree;
use librxfs::dir::{self, Entry};
use librxfs::extmap::{self, Extent};
use librxfs::format::{Superblock, SB_SIZE};
use librxfs::inode::{self, mode, Inode, Ts};
use librxfs::meta::{self, mem::MemStore, Store};
use librxfs::mkfs;
use librxfs::orphan;
use librxfs::xattr;
use std::fs;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};

/// A scratch directory, removed when dropped.
pub struct Scratch(pub PathBuf);

impl Scratch {
    pub fn new(name: &str) -> Scratch {
        static N: AtomicU32 = AtomicU32::new(0);
        let n = N.fetch_add(1, Ordering::Relaxed);
        let dir =
            std::env::temp_dir().join(format!("rxfs-fsck-test-{}-{n}-{name}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }
    pub fn img(&self) -> PathBuf {
        self.0.join("img")
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// A filesystem being built in memory.
pub struct Builder {
    pub s: MemStore,
    pub a: Alloc,
    pub sb: Superblock,
    pub bs: usize,
}

pub fn dt(m: u32) -> u8 {
    ((m & mode::S_IFMT) >> 12) as u8
}

const NOW: Ts = Ts {
    sec: 1_700_000_000,
    nsec: 5,
};

impl Builder {
    pub fn new(bs: usize, blocks: u64) -> Builder {
        let mut uuid = [0u8; 16];
        for (i, b) in uuid.iter_mut().enumerate() {
            *b = (i as u8)
                .wrapping_mul(37)
                .wrapping_add(bs as u8 ^ blocks as u8);
        }
        let sb = Superblock::new(bs as u32, blocks, uuid).unwrap();
        let s = MemStore::new(bs, blocks, sb.fsid());
        let a = mkfs::format(&s, &sb, NOW).unwrap();
        Builder { s, a, sb, bs }
    }

    /// As [`Builder::new`], with reflink (the refcount inode, as mkfs.rxfs
    /// makes it by default).
    pub fn new_reflink(bs: usize, blocks: u64) -> Builder {
        let mut uuid = [0u8; 16];
        for (i, b) in uuid.iter_mut().enumerate() {
            *b = (i as u8).wrapping_mul(41).wrapping_add(bs as u8 ^ blocks as u8);
        }
        let sb = mkfs::with_reflink(Superblock::new(bs as u32, blocks, uuid).unwrap()).unwrap();
        let s = MemStore::new(bs, blocks, sb.fsid());
        let a = mkfs::format(&s, &sb, NOW).unwrap();
        Builder { s, a, sb, bs }
    }

    /// As [`Builder::new`], with extended attributes (as mkfs.rxfs makes
    /// it by default).
    pub fn new_xattr(bs: usize, blocks: u64) -> Builder {
        let mut uuid = [0u8; 16];
        for (i, b) in uuid.iter_mut().enumerate() {
            *b = (i as u8).wrapping_mul(43).wrapping_add(bs as u8 ^ blocks as u8);
        }
        let sb = mkfs::with_xattr(Superblock::new(bs as u32, blocks, uuid).unwrap());
        let s = MemStore::new(bs, blocks, sb.fsid());
        let a = mkfs::format(&s, &sb, NOW).unwrap();
        Builder { s, a, sb, bs }
    }

    /// Gives `ino` an xattr block, allocated near it, holding `attrs`
    /// (namespace, name, value); returns the block. As the kernel's, it is
    /// not counted in the inode's `nblocks`. Whether the filesystem has the
    /// feature is the caller's.
    pub fn set_xattrs(&mut self, ino: u64, attrs: &[(u8, &str, &[u8])]) -> u64 {
        let blk = self.a.alloc_meta(&self.s, ino).unwrap();
        let mut b = self.s.read(blk).unwrap();
        xattr::init_block(&mut b, blk, ino, self.sb.fsid());
        for &(ns, name, value) in attrs {
            xattr::set(&mut b, ns, name.as_bytes(), Some(value), xattr::Mode::Create).unwrap();
        }
        meta::seal(&mut b);
        drop(b);
        self.modify(ino, |i| i.xattr = blk);
        blk
    }

    /// Maps file blocks `lblk..lblk+len` of `ino` to disk blocks
    /// `pblk..pblk+len` that another file already maps (a clone), counting
    /// the data blocks in the inode; the refcount tree is the caller's.
    pub fn share(&mut self, ino: u64, lblk: u64, pblk: u64, len: u64) {
        let mut delta = 0;
        extmap::insert(&self.s, &mut self.a, ino, Extent { lblk, pblk, len, unwritten: false }, &mut delta).unwrap();
        let size = (lblk + len) * self.bs as u64;
        self.modify(ino, |i| {
            i.nblocks = (i.nblocks as i64 + delta + len as i64) as u64;
            i.size = i.size.max(size);
        });
    }

    /// Runs `f` on the refcount tree, charging its node changes to the
    /// refcount inode.
    pub fn refcount(&mut self, f: impl FnOnce(&MemStore, &mut Alloc, u64, &mut i64)) {
        let ino = self.sb.refcount_ino;
        let mut delta = 0;
        f(&self.s, &mut self.a, ino, &mut delta);
        self.modify(ino, |i| i.nblocks = (i.nblocks as i64 + delta) as u64);
    }

    pub fn root(&self) -> u64 {
        self.sb.root_ino
    }

    /// A new inode block near `parent`, not linked anywhere.
    pub fn new_inode(&mut self, m: u32, nlink: u32, parent: u64) -> u64 {
        self.new_inode_with(m, nlink, parent, None)
    }

    fn new_inode_with(&mut self, m: u32, nlink: u32, parent: u64, target: Option<&str>) -> u64 {
        let ino = self.a.alloc_meta(&self.s, parent).unwrap();
        let mut b = self.s.read(ino).unwrap();
        inode::init_block(&mut b, ino, self.sb.fsid());
        let mut i = Inode {
            mode: m,
            nlink,
            generation: self.sb.generation,
            parent: if m & mode::S_IFMT == mode::S_IFDIR {
                parent
            } else {
                0
            },
            atime: NOW,
            mtime: NOW,
            ctime: NOW,
            btime: NOW,
            ..Default::default()
        };
        if let Some(t) = target {
            inode::set_inline_data(&mut b, &mut i, t.as_bytes()).unwrap();
        }
        i.encode(&mut b);
        drop(b);
        self.sb.generation += 1;
        self.sb.inode_count += 1;
        ino
    }

    pub fn modify(&self, ino: u64, f: impl FnOnce(&mut Inode)) -> Inode {
        inode::modify(&self.s, ino, f).unwrap()
    }

    /// Adds an entry without touching the target inode.
    pub fn add_entry(&mut self, d: u64, name: &str, ino: u64, dtype: u8) {
        let mut delta = 0;
        dir::add(
            &self.s,
            &mut self.a,
            d,
            self.sb.hash_seed,
            &Entry {
                ino,
                dtype,
                name: name.as_bytes(),
            },
            &mut delta,
        )
        .unwrap();
        if delta != 0 {
            self.modify(d, |i| i.nblocks = (i.nblocks as i64 + delta) as u64);
        }
    }

    /// Removes an entry without touching the target inode.
    pub fn remove_entry(&mut self, d: u64, name: &str) -> u64 {
        let mut delta = 0;
        let (_, ino, _) = dir::lookup(&self.s, d, self.sb.hash_seed, name.as_bytes())
            .unwrap()
            .expect("entry exists");
        dir::remove(
            &self.s,
            &mut self.a,
            d,
            self.sb.hash_seed,
            name.as_bytes(),
            ino,
            &mut delta,
        )
        .unwrap();
        if delta != 0 {
            self.modify(d, |i| i.nblocks = (i.nblocks as i64 + delta) as u64);
        }
        ino
    }

    pub fn mkdir(&mut self, d: u64, name: &str) -> u64 {
        let ino = self.new_inode(mode::S_IFDIR | 0o755, 2, d);
        self.add_entry(d, name, ino, dt(mode::S_IFDIR));
        self.modify(d, |i| i.nlink += 1);
        ino
    }

    pub fn create(&mut self, d: u64, name: &str, m: u32) -> u64 {
        let ino = self.new_inode(m, 1, d);
        self.add_entry(d, name, ino, dt(m));
        ino
    }

    pub fn file(&mut self, d: u64, name: &str) -> u64 {
        self.create(d, name, mode::S_IFREG | 0o644)
    }

    pub fn link(&mut self, d: u64, name: &str, ino: u64) {
        let m = inode::read(&self.s, ino).unwrap().mode;
        self.add_entry(d, name, ino, dt(m));
        self.modify(ino, |i| i.nlink += 1);
    }

    pub fn symlink(&mut self, d: u64, name: &str, target: &str) -> u64 {
        let ino = self.new_inode_with(mode::S_IFLNK | 0o777, 1, d, Some(target));
        self.add_entry(d, name, ino, dt(mode::S_IFLNK));
        ino
    }

    /// Maps `n` extents of `len` blocks at file blocks `lblk0`, `lblk0 +
    /// stride`, ...; with `stride > len` they cannot merge, so the tree gets
    /// one record each. Returns the data blocks mapped.
    pub fn extents(&mut self, ino: u64, lblk0: u64, n: u64, len: u64, stride: u64) -> u64 {
        let mut delta = 0;
        let mut got = 0;
        for k in 0..n {
            let mut lblk = lblk0 + k * stride;
            let mut want = len;
            while want > 0 {
                let (p, l) = self.a.alloc(&self.s, ino, want).unwrap();
                extmap::insert(
                    &self.s,
                    &mut self.a,
                    ino,
                    Extent {
                        lblk,
                        pblk: p,
                        len: l,
                        unwritten: k % 3 == 1,
                    },
                    &mut delta,
                )
                .unwrap();
                lblk += l;
                want -= l;
                got += l;
            }
        }
        let size = (lblk0 + (n - 1) * stride + len) * self.bs as u64;
        self.modify(ino, |i| {
            i.nblocks = (i.nblocks as i64 + delta + got as i64) as u64;
            i.size = i.size.max(size);
        });
        got
    }

    /// Maps an extent at exactly `pblk` (allocated or not): for damage.
    pub fn raw_extent(&mut self, ino: u64, lblk: u64, pblk: u64, len: u64) {
        let mut delta = 0;
        extmap::insert(
            &self.s,
            &mut self.a,
            ino,
            Extent {
                lblk,
                pblk,
                len,
                unwritten: false,
            },
            &mut delta,
        )
        .unwrap();
        self.modify(ino, |i| {
            i.nblocks = (i.nblocks as i64 + delta + len as i64) as u64
        });
    }

    /// An unlinked, still open file with blocks, on the orphan list.
    pub fn orphan_file(&mut self) -> u64 {
        let ino = self.new_inode(mode::S_IFREG | 0o600, 0, self.root());
        self.extents(ino, 0, 3, 2, 4);
        self.put_orphan(ino);
        ino
    }

    pub fn put_orphan(&mut self, ino: u64) {
        let mut head = self.sb.orphan_head;
        orphan::add(&self.s, &mut head, &mut orphan::NoIndex, ino).unwrap();
        self.sb.orphan_head = head;
    }

    /// The first block node (not the root) of a tree.
    pub fn first_node(&self, t: Tree) -> Option<u64> {
        let mut first = None;
        t.walk(
            &self.s,
            &mut |b, _| {
                if first.is_none() {
                    first = b;
                }
                Ok(())
            },
            &mut |_, _| Ok(()),
        )
        .unwrap();
        first
    }

    /// Writes the superblock's counters and the image file.
    pub fn write(&mut self, path: &Path) {
        self.sb.free_blocks = self.a.free;
        {
            let mut b = self.s.read(0).unwrap();
            self.sb.encode(&mut b).unwrap();
        }
        let f = fs::File::create(path).unwrap();
        f.set_len(self.sb.block_count * self.bs as u64).unwrap();
        for (i, c) in self.s.loaded() {
            let c = c.borrow();
            if !c.is_empty() && c.iter().any(|&x| x != 0) {
                f.write_all_at(&c, i * self.bs as u64).unwrap();
            }
        }
        f.sync_all().unwrap();
    }
}

/// The standard test filesystem: every kind of inode, nested directories,
/// a hard link, a file whose extent tree has block nodes, a directory whose
/// tree has block nodes, and an orphan. Returns the builder and named inodes.
pub struct Std {
    pub b: Builder,
    pub d1: u64,
    pub d2: u64,
    pub f: u64,
    pub big: u64,
    pub bigdir: u64,
    pub sym: u64,
    pub orphan: u64,
}

pub fn standard(bs: usize, blocks: u64) -> Std {
    let mut b = Builder::new(bs, blocks);
    let root = b.root();
    let d1 = b.mkdir(root, "d1");
    let d2 = b.mkdir(d1, "d2");
    let f = b.file(d1, "f");
    b.extents(f, 0, 4, 3, 5);
    b.link(d2, "f-link", f);
    b.link(root, "f-link2", f);
    let big = b.file(root, "big");
    b.extents(big, 0, 200, 1, 2);
    let bigdir = b.mkdir(root, "bigdir");
    for k in 0..60 {
        let n = b.file(bigdir, &format!("entry-with-a-longish-name-{k:03}"));
        if k % 7 == 0 {
            b.extents(n, 0, 1, 1, 1);
        }
    }
    b.mkdir(bigdir, "sub");
    let sym = b.symlink(d1, "sym", "../big");
    b.create(root, "fifo", mode::S_IFIFO | 0o644);
    let dev = b.create(root, "null", mode::S_IFCHR | 0o666);
    b.modify(dev, |i| i.rdev = 0x103);
    b.file(d2, "empty");
    let orphan = b.orphan_file();
    assert!(
        b.first_node(extmap::tree(big)).is_some(),
        "big file's tree has no block node"
    );
    assert!(
        b.first_node(dir::tree(bigdir)).is_some(),
        "big directory's tree has no block node"
    );
    Std {
        b,
        d1,
        d2,
        f,
        big,
        bigdir,
        sym,
        orphan,
    }
}

/// The fsck binary (only the fsck package's own tests have it).
pub const FSCK: &str = match option_env!("CARGO_BIN_EXE_fsck-rxfs") {
    Some(p) => p,
    None => "fsck-rxfs binary not built for this package",
};

pub fn fsck(args: &[&str], img: &Path) -> Output {
    Command::new(FSCK)
        .args(args)
        .arg(img)
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

pub fn code(o: &Output) -> i32 {
    o.status.code().unwrap_or(-1)
}

pub fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// Runs fsck and checks its exit status, showing its output if it differs.
pub fn expect(args: &[&str], img: &Path, want: i32) -> String {
    let o = fsck(args, img);
    let t = text(&o);
    assert_eq!(
        code(&o),
        want,
        "fsck {args:?} exited {}, want {want}:\n{t}",
        code(&o)
    );
    t
}

/// Reads block `blk` of an image.
pub fn read_block(img: &Path, bs: usize, blk: u64) -> Vec<u8> {
    let f = fs::File::open(img).unwrap();
    let mut b = vec![0u8; bs];
    f.read_exact_at(&mut b, blk * bs as u64).unwrap();
    b
}

pub fn write_block(img: &Path, bs: usize, blk: u64, data: &[u8]) {
    let f = fs::OpenOptions::new().write(true).open(img).unwrap();
    f.write_all_at(data, blk * bs as u64).unwrap();
}

/// Flips one byte of a block (the checksum no longer matches).
pub fn flip(img: &Path, bs: usize, blk: u64, off: usize) {
    let mut b = read_block(img, bs, blk);
    b[off] ^= 0x5a;
    write_block(img, bs, blk, &b);
}

/// Changes a metadata block and re-seals its checksum, so only the
/// semantic checks can object.
pub fn patch(img: &Path, bs: usize, blk: u64, f: impl FnOnce(&mut [u8])) {
    let mut b = read_block(img, bs, blk);
    f(&mut b);
    meta::seal(&mut b);
    write_block(img, bs, blk, &b);
}

/// Changes superblock fields and re-encodes it.
pub fn patch_sb(img: &Path, f: impl FnOnce(&mut Superblock)) {
    let mut b = read_block(img, SB_SIZE, 0);
    let mut sb = Superblock::decode(&b).unwrap();
    f(&mut sb);
    sb.encode(&mut b).unwrap();
    write_block(img, SB_SIZE, 0, &b);
}

pub fn sb_of(img: &Path) -> Superblock {
    Superblock::decode(&read_block(img, SB_SIZE, 0)).unwrap()
}

/// Reads inode `ino` of an image.
pub fn inode_of(img: &Path, bs: usize, ino: u64) -> Inode {
    let sb = sb_of(img);
    Inode::decode(&read_block(img, bs, ino), ino, sb.fsid(), sb.block_count).unwrap()
}

/// Whether block `blk` is marked in use in an image's bitmap.
pub fn in_use(img: &Path, bs: usize, blk: u64) -> bool {
    let g = sb_of(img).geometry();
    let bm = read_block(img, bs, g.bitmap_start + blk / g.bits_per_group);
    let i = (blk % g.bits_per_group) as usize;
    bm[meta::HDR_SIZE + i / 8] & (1 << (i % 8)) != 0
}

/// Changes inode fields (re-encoded and re-sealed).
pub fn patch_inode(img: &Path, bs: usize, ino: u64, f: impl FnOnce(&mut Inode)) {
    let sb = sb_of(img);
    let mut b = read_block(img, bs, ino);
    let mut i = Inode::decode(&b, ino, sb.fsid(), sb.block_count).unwrap();
    f(&mut i);
    i.encode(&mut b);
    write_block(img, bs, ino, &b);
}
