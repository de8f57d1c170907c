// SPDX-License-Identifier: GPL-2.0

//! CRC-32C (Castagnoli), the checksum of every rxfs metadata block, as in
//! XFS v5 and ext4. Table-driven, computed at compile time; no allocation.
//!
//! [`crc32c`] is the standard CRC-32C (initial value and final xor
//! `0xffffffff`): `crc32c(b"123456789") == 0xe3069283`.

const POLY: u32 = 0x82f6_3b78; // reflected Castagnoli polynomial

const fn make_tables() -> [[u32; 256]; 8] {
    let mut t = [[0u32; 256]; 8];
    let mut i = 0;
    while i < 256 {
        let mut c = i as u32;
        let mut k = 0;
        while k < 8 {
            c = if c & 1 != 0 { (c >> 1) ^ POLY } else { c >> 1 };
            k += 1;
        }
        t[0][i] = c;
        i += 1;
    }
    let mut j = 1;
    while j < 8 {
        let mut i = 0;
        while i < 256 {
            let prev = t[j - 1][i];
            t[j][i] = (prev >> 8) ^ t[0][(prev & 0xff) as usize];
            i += 1;
        }
        j += 1;
    }
    t
}

static TABLES: [[u32; 256]; 8] = make_tables();

/// Continues a raw (un-inverted) CRC-32C over `data`: slicing-by-8.
pub fn update(mut crc: u32, data: &[u8]) -> u32 {
    let t = &TABLES;
    let mut chunks = data.chunks_exact(8);
    for c in &mut chunks {
        let lo = u32::from_le_bytes([c[0], c[1], c[2], c[3]]) ^ crc;
        let hi = u32::from_le_bytes([c[4], c[5], c[6], c[7]]);
        crc = t[7][(lo & 0xff) as usize]
            ^ t[6][((lo >> 8) & 0xff) as usize]
            ^ t[5][((lo >> 16) & 0xff) as usize]
            ^ t[4][(lo >> 24) as usize]
            ^ t[3][(hi & 0xff) as usize]
            ^ t[2][((hi >> 8) & 0xff) as usize]
            ^ t[1][((hi >> 16) & 0xff) as usize]
            ^ t[0][(hi >> 24) as usize];
    }
    for &b in chunks.remainder() {
        crc = (crc >> 8) ^ t[0][((crc ^ b as u32) & 0xff) as usize];
    }
    crc
}

/// The standard CRC-32C of `data`.
pub fn crc32c(data: &[u8]) -> u32 {
    !update(!0, data)
}

/// CRC-32C of a metadata block whose own checksum is stored at `crc_off`:
/// the four checksum bytes count as zero, as XFS's `xfs_start_cksum_*` does.
/// Returns `None` if the checksum field does not lie inside `buf`.
pub fn block_crc(buf: &[u8], crc_off: usize) -> Option<u32> {
    let end = crc_off.checked_add(4)?;
    let head = buf.get(..crc_off)?;
    let tail = buf.get(end..)?;
    let c = update(!0, head);
    let c = update(c, &[0u8; 4]);
    Some(!update(c, tail))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bitwise(data: &[u8]) -> u32 {
        let mut c = !0u32;
        for &b in data {
            c ^= b as u32;
            for _ in 0..8 {
                c = if c & 1 != 0 { (c >> 1) ^ POLY } else { c >> 1 };
            }
        }
        !c
    }

    #[test]
    fn check_value() {
        assert_eq!(crc32c(b"123456789"), 0xe306_9283);
        assert_eq!(crc32c(b""), 0);
    }

    #[test]
    fn rfc3720_vectors() {
        assert_eq!(crc32c(&[0u8; 32]), 0x8a91_36aa);
        assert_eq!(crc32c(&[0xffu8; 32]), 0x62a8_ab43);
        let inc: Vec<u8> = (0..32).collect();
        assert_eq!(crc32c(&inc), 0x46dd_794e);
    }

    #[test]
    fn sliced_matches_bitwise_at_every_length_and_alignment() {
        let data: Vec<u8> = (0..300u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
        for start in 0..9 {
            for len in 0..(data.len() - start) {
                let s = &data[start..start + len];
                assert_eq!(crc32c(s), bitwise(s), "start {start} len {len}");
            }
        }
    }

    #[test]
    fn block_crc_ignores_its_own_field() {
        let mut b = [7u8; 64];
        let c1 = block_crc(&b, 60).unwrap();
        b[60..64].copy_from_slice(&c1.to_le_bytes());
        assert_eq!(block_crc(&b, 60), Some(c1));
        assert_eq!(block_crc(&b, 62), None);
    }
}
