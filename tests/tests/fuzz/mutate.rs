//! The mutation engine: a seeded random generator and byte / text mutations of seed inputs
//! (bit flips, interesting integers, truncations, deletions, duplications, splices with other
//! seeds, dictionary tokens, decimal numbers swapped for extreme ones), plus fix-ups that keep a
//! mutated file past its format's checksums (PNG chunk CRCs, tar header sums, gzip, length
//! fields) so the mutations reach the parsers behind them.

use std::io::{Read, Write};

/// SplitMix64: small, fast and the same on every platform (runs are reproducible from a seed).
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed ^ 0x9E37_79B9_7F4A_7C15)
    }

    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (0 when `n` is 0).
    pub fn below(&mut self, n: usize) -> usize {
        if n == 0 { 0 } else { (self.next() % n as u64) as usize }
    }

    pub fn chance(&mut self, p: f64) -> bool {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64 <= p
    }

    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

const INTERESTING_8: [u8; 9] = [0, 1, 2, 0x7F, 0x80, 0xFE, 0xFF, 16, 32];
const INTERESTING_64: [u64; 16] = [
    0,
    1,
    2,
    0x7F,
    0xFF,
    0x7FFF,
    0xFFFF,
    0x1_0000,
    0x7FFF_FFFF,
    0x8000_0000,
    0xFFFF_FFFF,
    0x1_0000_0000,
    0x7FFF_FFFF_FFFF_FFFF,
    0x8000_0000_0000_0000,
    u64::MAX,
    100_000,
];

/// Decimal texts that break careless parsers: zero, negatives, the edges of every integer
/// width, floats that overflow or are not numbers.
pub const INTERESTING_NUMBERS: [&str; 30] = [
    "0", "1", "-1", "2", "3", "8", "16", "31", "255", "256", "65535", "65536", "2147483647", "2147483648",
    "4294967295", "4294967296", "9007199254740993", "9223372036854775807", "9223372036854775808",
    "18446744073709551615", "18446744073709551616", "100000000000000000000000000000", "1e308", "1e309", "-0",
    "0.5", "1e-45", "NaN", "inf", "-1e30",
];

/// Mutates `input` with 1 to 8 random byte-level operations; `pool` (other seeds) feeds
/// splices, `dict` (format tokens) feeds insertions.
pub fn bytes(rng: &mut Rng, input: &[u8], pool: &[Vec<u8>], dict: &[&[u8]], max_len: usize) -> Vec<u8> {
    let mut out = input.to_vec();
    let ops = if rng.chance(0.2) { 1 + rng.below(16) } else { 1 + rng.below(4) };
    for _ in 0..ops {
        mutate_once(rng, &mut out, pool, dict);
    }
    out.truncate(max_len);
    out
}

fn range(rng: &mut Rng, len: usize) -> (usize, usize) {
    let start = rng.below(len + 1);
    let max = if rng.chance(0.8) { 16.min(len - start) } else { len - start };
    (start, start + rng.below(max + 1))
}

fn mutate_once(rng: &mut Rng, out: &mut Vec<u8>, pool: &[Vec<u8>], dict: &[&[u8]]) {
    let len = out.len();
    match rng.below(15) {
        0 if len > 0 => {
            let i = rng.below(len);
            out[i] ^= 1 << rng.below(8);
        }
        1 if len > 0 => {
            let i = rng.below(len);
            out[i] = rng.next() as u8;
        }
        2 if len > 0 => {
            let i = rng.below(len);
            out[i] = *rng.pick(&INTERESTING_8);
        }
        3..=5 if len > 0 => {
            // An interesting 2-, 4- or 8-byte integer, little- or big-endian.
            let width = [2, 4, 8][rng.below(3)];
            let v = *rng.pick(&INTERESTING_64);
            let v = if rng.chance(0.3) { v.wrapping_sub(1 + rng.below(2) as u64) } else { v };
            let bytes = if rng.chance(0.5) { v.to_le_bytes() } else { v.to_be_bytes() };
            let bytes: Vec<u8> = if bytes[0] == 0 && width < 8 && rng.chance(0.5) { bytes[8 - width..].to_vec() } else { bytes[..width].to_vec() };
            let i = rng.below(len);
            for (k, b) in bytes.iter().enumerate() {
                if let Some(slot) = out.get_mut(i + k) {
                    *slot = *b;
                }
            }
        }
        6 if len > 0 => {
            let (a, b) = range(rng, len);
            out.drain(a..b);
        }
        7 => {
            let at = rng.below(len + 1);
            let n = 1 + rng.below(16);
            let fill: Vec<u8> = (0..n).map(|_| rng.next() as u8).collect();
            out.splice(at..at, fill);
        }
        8 if len > 0 => {
            // Duplicate a block (repeated chunks, doubled headers).
            let (a, b) = range(rng, len);
            let block = out[a..b].to_vec();
            let at = rng.below(len + 1);
            out.splice(at..at, block);
        }
        9 if len > 0 => out.truncate(rng.below(len)),
        10 if !pool.is_empty() => {
            // Splice: our prefix, another seed's suffix.
            let other = rng.pick(pool);
            let cut = rng.below(len + 1);
            let from = rng.below(other.len() + 1);
            out.truncate(cut);
            out.extend_from_slice(&other[from..]);
        }
        11 if !dict.is_empty() => {
            let token = *rng.pick(dict);
            let at = rng.below(len + 1);
            if rng.chance(0.5) || at + token.len() > len {
                out.splice(at..at, token.iter().copied());
            } else {
                out[at..at + token.len()].copy_from_slice(token);
            }
        }
        12 => {
            // A decimal number becomes an extreme one.
            let runs = number_runs(out);
            if runs.is_empty() {
                return;
            }
            let (a, b) = *rng.pick(&runs);
            let n = *rng.pick(&INTERESTING_NUMBERS);
            out.splice(a..b, n.bytes());
        }
        13 if len > 0 => {
            // Small arithmetic on one byte (lengths and counts off by a little).
            let i = rng.below(len);
            let delta = 1 + rng.below(16) as u8;
            out[i] = if rng.chance(0.5) { out[i].wrapping_add(delta) } else { out[i].wrapping_sub(delta) };
        }
        14 if !pool.is_empty() && len > 0 => {
            // Overwrite a block with a block of another seed.
            let other = rng.pick(pool);
            let (a, b) = range(rng, other.len());
            let at = rng.below(len);
            for (k, &v) in other[a..b].iter().enumerate() {
                if let Some(slot) = out.get_mut(at + k) {
                    *slot = v;
                }
            }
        }
        _ => {}
    }
}

/// Byte ranges of the runs of ASCII digits (with an optional leading '-', and '.' inside).
fn number_runs(bytes: &[u8]) -> Vec<(usize, usize)> {
    let mut runs = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i].is_ascii_digit() {
            let start = if i > 0 && bytes[i - 1] == b'-' { i - 1 } else { i };
            let mut end = i;
            while end < bytes.len() && (bytes[end].is_ascii_digit() || bytes[end] == b'.') {
                end += 1;
            }
            runs.push((start, end));
            i = end;
        } else {
            i += 1;
        }
    }
    runs
}

/// CRC-32 (IEEE), as PNG chunks and gzip use it (flate2's).
pub fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = flate2::Crc::new();
    crc.update(bytes);
    crc.sum()
}

/// Recomputes the CRC of every whole chunk of a PNG stream (a mutated chunk then reaches the
/// decoder instead of failing its checksum).
pub fn fix_png_crcs(bytes: &mut [u8]) {
    if !bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        return;
    }
    let mut at = 8;
    while at + 12 <= bytes.len() {
        let len = u32::from_be_bytes(bytes[at..at + 4].try_into().unwrap()) as usize;
        let Some(end) = at.checked_add(8).and_then(|e| e.checked_add(len)) else { return };
        if end + 4 > bytes.len() {
            return;
        }
        let crc = crc32(&bytes[at + 4..end]);
        bytes[end..end + 4].copy_from_slice(&crc.to_be_bytes());
        at = end + 4;
    }
}

/// Recomputes the checksum of every 512-byte block that looks like a tar header.
pub fn fix_tar_checksums(bytes: &mut [u8]) {
    for block in bytes.chunks_exact_mut(512) {
        if &block[257..262] != b"ustar" {
            continue;
        }
        block[148..156].fill(b' ');
        let sum: u32 = block.iter().map(|&b| b as u32).sum();
        let text = format!("{sum:06o}\0 ");
        block[148..156].copy_from_slice(text.as_bytes());
    }
}

pub fn gunzip(bytes: &[u8], max: u64) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(bytes).take(max).read_to_end(&mut out).ok()?;
    Some(out)
}

pub fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    enc.write_all(bytes).unwrap();
    enc.finish().unwrap()
}

/// Several files in one fuzz input: `[u32 LE length][bytes]` per part (what the mutators of
/// multi-file targets keep intact).
pub fn join_parts(parts: &[Vec<u8>]) -> Vec<u8> {
    let mut out = Vec::new();
    for p in parts {
        out.extend((p.len() as u32).to_le_bytes());
        out.extend_from_slice(p);
    }
    out
}

/// The parts of a [`join_parts`] input (a damaged frame ends the list).
pub fn split_parts(mut bytes: &[u8]) -> Vec<Vec<u8>> {
    let mut parts = Vec::new();
    while bytes.len() >= 4 {
        let n = (u32::from_le_bytes(bytes[..4].try_into().unwrap()) as usize).min(bytes.len() - 4);
        parts.push(bytes[4..4 + n].to_vec());
        bytes = &bytes[4 + n..];
    }
    parts
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn png_crcs_are_recomputed() {
        // The IEND chunk: length 0, type IEND, CRC AE 42 60 82.
        let mut png = b"\x89PNG\r\n\x1a\n\0\0\0\0IEND\0\0\0\0".to_vec();
        fix_png_crcs(&mut png);
        assert_eq!(&png[16..], &[0xAE, 0x42, 0x60, 0x82]);
    }

    #[test]
    fn parts_round_trip() {
        let parts = vec![b"abc".to_vec(), vec![], vec![7; 300]];
        assert_eq!(split_parts(&join_parts(&parts)), parts);
    }
}
