//! Finding the end of a run of plain string text, eight bytes at a time: both the writer
//! and the parser spend most of their time copying such runs.

const ONES: u64 = 0x0101_0101_0101_0101;
const HIGH_BITS: u64 = 0x8080_8080_8080_8080;

/// The high bit of each byte of `word` that is below `n` (`n` ≤ 128). A byte above one that
/// matched may be flagged too; callers look again byte by byte.
const fn bytes_below(word: u64, n: u8) -> u64 {
    word.wrapping_sub(ONES * n as u64) & !word & HIGH_BITS
}

/// The high bit of each byte of `word` equal to `b` (with the same caveat).
const fn bytes_equal(word: u64, b: u8) -> u64 {
    bytes_below(word ^ (ONES * b as u64), 1)
}

/// How many bytes at the start of `bytes` are printable-or-space ASCII other than `"` and
/// `\`, with DEL (0x7f) also stopping the run when `stop_at_del` (Python's `ensure_ascii`
/// escapes it; its parser takes it as it is). `table` says the same per byte, and decides.
pub(super) fn plain_run(bytes: &[u8], stop_at_del: bool, table: &[bool; 256]) -> usize {
    let mut chunks = bytes.chunks_exact(8);
    let mut done = 0;
    for chunk in &mut chunks {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        let word = u64::from_le_bytes(word);
        let mut stops = bytes_below(word, 0x20)
            | (word & HIGH_BITS)
            | bytes_equal(word, b'"')
            | bytes_equal(word, b'\\');
        if stop_at_del {
            stops |= bytes_equal(word, 0x7f);
        }
        if stops != 0 {
            break;
        }
        done += 8;
    }
    done + bytes[done..]
        .iter()
        .position(|&b| table[usize::from(b)])
        .unwrap_or(bytes.len() - done)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The word-at-a-time scan stops exactly where the byte table does, for every byte value
    /// at every position of a run.
    #[test]
    fn stops_where_the_table_says() {
        let mut table = [true; 256];
        for b in 0x20..0x80u8 {
            table[usize::from(b)] = b == b'"' || b == b'\\' || b == 0x7f;
        }
        let mut del_free = table;
        del_free[0x7f] = false;
        for len in 0..20 {
            for at in 0..len {
                for stop in 0..=255u8 {
                    let mut bytes = vec![b'a'; len];
                    bytes[at] = stop;
                    for (stop_at_del, table) in [(true, &table), (false, &del_free)] {
                        let expected = bytes
                            .iter()
                            .position(|&b| table[usize::from(b)])
                            .unwrap_or(len);
                        assert_eq!(plain_run(&bytes, stop_at_del, table), expected);
                    }
                }
            }
        }
    }
}
