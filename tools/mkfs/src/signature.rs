// SPDX-License-Identifier: GPL-2.0

//! Recognise filesystem signatures, so mkfs does not destroy a filesystem
//! unless told to with `-f`. A small subset of what libblkid knows.

/// How much of the device's start the probe needs.
pub const PROBE_BYTES: usize = 68 * 1024;

fn at(buf: &[u8], off: usize, magic: &[u8]) -> bool {
    buf.get(off..off + magic.len()) == Some(magic)
}

/// The name of the filesystem whose signature `head` (the device's first
/// bytes) carries, if any.
pub fn probe(head: &[u8]) -> Option<&'static str> {
    let sigs: &[(&'static str, usize, &[u8])] = &[
        ("rxfs", 0, b"RXFS"),
        ("xfs", 0, b"XFSB"),
        ("ext2/ext3/ext4", 1024 + 56, &[0x53, 0xef]),
        ("btrfs", 65536 + 64, b"_BHRfS_M"),
        ("iso9660", 32769, b"CD001"),
        ("swap", 4096 - 10, b"SWAPSPACE2"),
        ("swap", 4096 - 10, b"SWAP-SPACE"),
        ("LUKS", 0, b"LUKS\xba\xbe"),
        ("squashfs", 0, b"hsqs"),
        ("f2fs", 1024, &[0x10, 0x20, 0xf5, 0xf2]),
    ];
    for &(name, off, magic) in sigs {
        if at(head, off, magic) {
            return Some(name);
        }
    }
    let boot_sig = at(head, 510, &[0x55, 0xaa]);
    if boot_sig && (at(head, 54, b"FAT") || at(head, 82, b"FAT32")) {
        return Some("vfat");
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_known_signatures() {
        let mut b = vec![0u8; PROBE_BYTES];
        assert_eq!(probe(&b), None);
        b[1080..1082].copy_from_slice(&[0x53, 0xef]);
        assert_eq!(probe(&b), Some("ext2/ext3/ext4"));
        let mut x = vec![0u8; 512];
        x[..4].copy_from_slice(b"XFSB");
        assert_eq!(probe(&x), Some("xfs"));
        assert_eq!(probe(&[]), None);
    }
}
