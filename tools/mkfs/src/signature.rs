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
        // 0x1badface, little-endian.
        ("bfs", 0, &[0xce, 0xfa, 0xad, 0x1b]),
        // 0x28cd3d45 in either byte order, at the start or after a
        // 512-byte boot block (mkfs.cramfs -p).
        ("cramfs", 0, &[0x45, 0x3d, 0xcd, 0x28]),
        ("cramfs", 0, &[0x28, 0xcd, 0x3d, 0x45]),
        ("cramfs", 512, &[0x45, 0x3d, 0xcd, 0x28]),
        // Minix v3: 0x4d5a at byte 24 of the superblock (block 1).
        ("minix", 1024 + 24, &[0x5a, 0x4d]),
    ];
    for &(name, off, magic) in sigs {
        if at(head, off, magic) {
            return Some(name);
        }
    }
    if minix_v1_v2(head) {
        return Some("minix");
    }
    let boot_sig = at(head, 510, &[0x55, 0xaa]);
    if boot_sig && (at(head, 54, b"FAT") || at(head, 82, b"FAT32")) {
        return Some("vfat");
    }
    None
}

/// Minix v1/v2: a two-byte magic at byte 16 of the superblock (block 1),
/// too weak alone, so also as libblkid: inodes and zones counted, zone
/// size a block (`s_log_zone_size` 0).
fn minix_v1_v2(head: &[u8]) -> bool {
    let u16_at = |off: usize| head.get(off..off + 2).map(|b| u16::from_le_bytes([b[0], b[1]]));
    let sb = 1024;
    let magic = matches!(u16_at(sb + 16), Some(0x137f | 0x138f | 0x2468 | 0x2478));
    magic && u16_at(sb).is_some_and(|n| n != 0) && u16_at(sb + 10) == Some(0)
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

    /// What fstests generic/740 makes with the mkfs.* programs a Debian
    /// machine has besides ext* and xfs: bfs, cramfs and minix.
    #[test]
    fn finds_bfs_cramfs_minix() {
        let blank = vec![0u8; PROBE_BYTES];
        let with = |off: usize, bytes: &[u8]| {
            let mut b = blank.clone();
            b[off..off + bytes.len()].copy_from_slice(bytes);
            b
        };
        assert_eq!(probe(&with(0, &0x1badfaceu32.to_le_bytes())), Some("bfs"));
        assert_eq!(probe(&with(0, &0x28cd3d45u32.to_le_bytes())), Some("cramfs"));
        assert_eq!(probe(&with(0, &0x28cd3d45u32.to_be_bytes())), Some("cramfs"));
        assert_eq!(probe(&with(512, &0x28cd3d45u32.to_le_bytes())), Some("cramfs"));
        assert_eq!(probe(&with(1024 + 24, &0x4d5au16.to_le_bytes())), Some("minix"));
        for magic in [0x137fu16, 0x138f, 0x2468, 0x2478] {
            let mut b = with(1024 + 16, &magic.to_le_bytes());
            // The magic alone is not enough: no inodes.
            assert_eq!(probe(&b), None);
            b[1024..1026].copy_from_slice(&672u16.to_le_bytes());
            assert_eq!(probe(&b), Some("minix"));
            // A zone of more than one block is not what mkfs.minix makes.
            b[1034] = 1;
            assert_eq!(probe(&b), None);
        }
    }
}
