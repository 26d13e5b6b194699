//! Random bytes straight from the operating system's CSPRNG, fetched a block at a time.
//!
//! A session key needs under 48 random bytes; asking the kernel for them on every key costs a
//! system call (about half a microsecond on the benchmark machine, most of a new session's
//! cost on the memory store). Fetching 4 KiB per call serves 85 keys. Every byte handed out
//! is still the OS generator's own output, used once and zeroed as it leaves the block. A
//! forked child (another process id) throws away the block it inherited, so a parent and its
//! child never hand out the same bytes.

use std::cell::RefCell;

const BLOCK: usize = 4096;

struct Pool {
    bytes: Box<[u8; BLOCK]>,
    /// The first byte not yet handed out.
    next: usize,
    /// The process the block was fetched in.
    pid: u32,
}

thread_local! {
    static POOL: RefCell<Pool> = RefCell::new(Pool {
        bytes: Box::new([0; BLOCK]),
        next: BLOCK,
        pid: 0,
    });
}

/// Fills `dest` with bytes from the OS CSPRNG, through this thread's block.
pub(crate) fn fill(dest: &mut [u8]) -> Result<(), getrandom::Error> {
    if dest.len() > BLOCK {
        return getrandom::fill(dest);
    }
    POOL.with(|pool| {
        let mut pool = pool.borrow_mut();
        let pid = std::process::id();
        if pool.pid != pid || BLOCK - pool.next < dest.len() {
            getrandom::fill(&mut pool.bytes[..])?;
            pool.next = 0;
            pool.pid = pid;
        }
        let range = pool.next..pool.next + dest.len();
        dest.copy_from_slice(&pool.bytes[range.clone()]);
        pool.bytes[range].fill(0);
        pool.next += dest.len();
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    /// Across several blocks, no 16-byte draw repeats and none is all zeros (a byte handed
    /// out twice, or a zeroed byte handed out, would show).
    #[test]
    fn draws_never_repeat_across_blocks() {
        let mut seen = HashSet::new();
        for _ in 0..(4 * super::BLOCK / 16 + 7) {
            let mut b = [0u8; 16];
            super::fill(&mut b).unwrap();
            assert_ne!(b, [0; 16]);
            assert!(seen.insert(b), "a draw repeated");
        }
        let mut odd = [0u8; 48];
        for _ in 0..200 {
            super::fill(&mut odd).unwrap();
            assert!(seen.insert(odd[..16].try_into().unwrap()));
        }
        let mut big = vec![0u8; super::BLOCK + 1];
        super::fill(&mut big).unwrap();
        assert!(big.iter().any(|&b| b != 0));
    }
}
