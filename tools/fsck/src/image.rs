// SPDX-License-Identifier: GPL-2.0

//! Opening a device or image file as an rxfs filesystem: the superblock is
//! read with a plain read (its block size is not known yet), verified, and
//! the rest is reached through a [`MemStore`] that loads blocks on first use.
//! Shared by fsck.rxfs and rxfs-db.

use librxfs::format::{features, Superblock, SB_SIZE};
use librxfs::meta::mem::MemStore;
use librxfs::meta::Store;
use librxfs::Error;
use std::fs::{File, OpenOptions};
use std::io::{Seek, SeekFrom};
use std::os::unix::fs::{FileExt, FileTypeExt, OpenOptionsExt};

/// Why a device could not be opened as an rxfs filesystem.
#[derive(Debug)]
pub enum OpenError {
    /// The device cannot be opened, sized or read.
    Io(String),
    /// No rxfs superblock: wrong magic, or too small to hold one.
    NotRxfs(String),
    /// An rxfs superblock that fails verification (checksum, a field, or a
    /// device smaller than the filesystem).
    BadSuperblock(Error),
    /// Feature bits this code does not know: the filesystem may hold
    /// structures that cannot be checked.
    UnknownFeatures(String),
}

impl std::fmt::Display for OpenError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            OpenError::Io(s) | OpenError::NotRxfs(s) | OpenError::UnknownFeatures(s) => {
                f.write_str(s)
            }
            OpenError::BadSuperblock(e) => write!(f, "superblock: {e}"),
        }
    }
}

/// An open filesystem.
pub struct Image {
    /// The verified superblock.
    pub sb: Superblock,
    /// The block store over the device.
    pub store: MemStore,
    /// Size of the device in bytes.
    pub dev_bytes: u64,
    /// What opening found in the journal, if it needed anything: the
    /// problem to report, and the header that makes the log clean.
    pub log: Option<LogState>,
}

/// A journal that was not clean.
#[derive(Debug, Clone)]
pub struct LogState {
    /// What was wrong ("needs recovery: ...", or a corrupt header).
    pub msg: String,
    /// The log is whole and was replayed: the state of every crash,
    /// which the next mount recovers by itself. Not a problem for a
    /// read-only check (which checks the replayed filesystem); a repair
    /// writes the replayed blocks. False for a corrupt log.
    pub replayed: bool,
    /// The header to write once the replayed blocks are written.
    pub header: librxfs::journal::Header,
}

/// `O_EXCL` on Linux: for a block device, fails with `EBUSY` while the
/// device is mounted or otherwise claimed.
const O_EXCL: i32 = 0o200;

/// Opens `path` (a block device or an image file). `writable` opens it for
/// writing, exclusively if it is a block device, so a mounted filesystem is
/// never repaired under the kernel's feet.
pub fn open(path: &str, writable: bool) -> Result<Image, OpenError> {
    let io = |what: &str, e: std::io::Error| OpenError::Io(format!("cannot {what} {path}: {e}"));
    let md = std::fs::metadata(path).map_err(|e| io("open", e))?;
    let is_blockdev = md.file_type().is_block_device();
    if !is_blockdev && !md.is_file() {
        return Err(OpenError::Io(format!(
            "{path} is not a block device or a regular file"
        )));
    }
    let mut oo = OpenOptions::new();
    oo.read(true);
    if writable {
        oo.write(true);
        if is_blockdev {
            oo.custom_flags(O_EXCL);
        }
    }
    let mut file: File = oo
        .open(path)
        .map_err(|e| io(if writable { "open for writing" } else { "open" }, e))?;
    let dev_bytes = file.seek(SeekFrom::End(0)).map_err(|e| io("size", e))?;
    if dev_bytes < SB_SIZE as u64 {
        return Err(OpenError::NotRxfs(format!(
            "{path} is too small to hold an rxfs filesystem ({dev_bytes} bytes)"
        )));
    }
    let mut head = vec![0u8; SB_SIZE];
    file.read_exact_at(&mut head, 0)
        .map_err(|e| io("read", e))?;
    let sb = match Superblock::decode(&head) {
        Ok(sb) => sb,
        Err(Error::BadMagic { found }) => {
            return Err(OpenError::NotRxfs(format!(
                "{path} is not an rxfs filesystem (magic 0x{found:08x})"
            )))
        }
        Err(Error::ShortBuffer { .. }) => {
            return Err(OpenError::NotRxfs(format!(
                "{path} is too small to hold an rxfs filesystem"
            )))
        }
        Err(e) => return Err(OpenError::BadSuperblock(e)),
    };
    sb.check_device(dev_bytes)
        .map_err(OpenError::BadSuperblock)?;
    let compat = sb.compat & !features::COMPAT_KNOWN;
    let ro = sb.ro_compat & !features::RO_COMPAT_KNOWN;
    if compat != 0 || ro != 0 {
        return Err(OpenError::UnknownFeatures(format!(
            "{path} has features this version does not know (compat 0x{compat:x}, ro_compat 0x{ro:x})"
        )));
    }
    let store = MemStore::open(file, sb.block_size() as usize, sb.block_count, sb.fsid());
    let (sb, log) = match sb.log_geometry() {
        Some(g) => recover(&store, sb, &g)?,
        None => (sb, None),
    };
    Ok(Image {
        sb,
        store,
        dev_bytes,
        log,
    })
}

/// Replays a dirty journal into the store's memory (written to the device
/// only by a repair), so that the check sees the filesystem as mount would
/// leave it; the superblock is decoded again if the log held it.
fn recover(store: &MemStore, sb: Superblock, g: &librxfs::journal::Geometry) -> Result<(Superblock, Option<LogState>), OpenError> {
    use librxfs::journal;
    let (mut a, mut b) = (vec![0u8; g.block_size], vec![0u8; g.block_size]);
    let r = match &store.file {
        Some(file) => journal::recover_from(&mut LogReader::new(file, g.block_size), store, g, &mut a, &mut b),
        None => journal::recover(store, g, &mut a, &mut b),
    };
    match r {
        Ok(r) if r.replayed == 0 => Ok((sb, None)),
        Ok(r) => {
            let t = r.found.last.map_or(0, |t| t.seq);
            let msg = format!("log: needs recovery: transaction {t}, {} blocks", r.replayed);
            let blk0 = store.read(0).map_err(|e| OpenError::Io(format!("cannot read block 0: {e}")))?;
            let sb = Superblock::decode(&blk0).map_err(OpenError::BadSuperblock)?;
            drop(blk0);
            Ok((sb, Some(LogState { msg, replayed: true, header: r.restart(g) })))
        }
        Err(Error::Io(e)) => Err(OpenError::Io(format!("cannot read the log: error {e}"))),
        Err(e) => {
            let seq = journal::max_seq(store, g).wrapping_add(1);
            // A damaged header, or a committed transaction that does not
            // verify: -y starts the log afresh past every sequence number
            // in it, keeping the home blocks as they are.
            let msg = format!("log: {e}; the log is discarded by a repair");
            Ok((sb, Some(LogState { msg, replayed: false, header: journal::Header { seq, pos: 1 } })))
        }
    }
}

/// Reads log blocks straight from the device a window at a time: a mount
/// scan reads up to half the log, which neither a read per block nor
/// keeping it all in the store would do well. Nothing is dirty in the store
/// when the log is recovered, so the device holds what the store would.
struct LogReader<'a> {
    file: &'a File,
    bs: usize,
    win: Vec<u8>,
    first: u64,
    n: u64,
}

impl<'a> LogReader<'a> {
    const WINDOW: usize = 1 << 20;

    fn new(file: &'a File, bs: usize) -> Self {
        LogReader { file, bs, win: Vec::new(), first: 0, n: 0 }
    }
}

impl librxfs::journal::LogDev for LogReader<'_> {
    fn read(&mut self, blk: u64, buf: &mut [u8]) -> Result<(), Error> {
        let io = |e: std::io::Error| Error::Io(e.raw_os_error().unwrap_or(5));
        if !(self.first..self.first + self.n).contains(&blk) {
            let per = (Self::WINDOW / self.bs).max(1);
            self.win.resize(per * self.bs, 0);
            let got = read_at_most(self.file, &mut self.win, blk * self.bs as u64).map_err(io)?;
            self.first = blk;
            self.n = (got / self.bs) as u64;
            if self.n == 0 {
                return Err(Error::Io(5));
            }
        }
        let o = (blk - self.first) as usize * self.bs;
        let src = self.win.get(o..o + buf.len()).ok_or(Error::ShortBuffer { need: buf.len(), have: 0 })?;
        buf.copy_from_slice(src);
        Ok(())
    }
}

/// Reads into `buf` from `pos` until it is full or the file ends.
fn read_at_most(f: &File, buf: &mut [u8], pos: u64) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match f.read_at(&mut buf[n..], pos + n as u64) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

/// Drops a block's cached bytes so that memory stays bounded on a large
/// filesystem; the next read loads it again. Dirty blocks are kept.
pub fn evict(s: &MemStore, blk: u64) {
    if s.dirtied.borrow().contains(&blk) {
        return;
    }
    if let Some(c) = s.cell(blk) {
        if let Ok(mut v) = c.try_borrow_mut() {
            *v = Vec::new();
        }
    }
}
