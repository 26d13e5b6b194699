//! Repeats `signing::dumps` or `signing::loads` of the benches' 4 KiB object (compressed) N
//! times, for instruction counts that do not depend on a noisy machine:
//!
//! ```sh
//! cargo build --release --example payload_loop
//! valgrind --tool=callgrind target/release/examples/payload_loop loads 2000
//! ```
//! Divide the total by N (setup is under 1 % at 2,000). `valgrind` hides the CPU's SHA
//! extensions from `sha2`, so the HMAC share is larger here than on the hardware.

#[path = "../benches/common/mod.rs"]
#[allow(unused_imports)]
mod common;

use std::hint::black_box;

use tessera::signing::{self, SecretKeys};

#[derive(Clone, Copy, clap::ValueEnum)]
enum Operation {
    Dumps,
    Loads,
}

#[derive(clap::Parser)]
struct Args {
    #[arg(value_enum)]
    operation: Operation,
    /// How many calls.
    #[arg(default_value_t = 2000)]
    count: usize,
}

fn main() -> Result<(), signing::SigningError> {
    let args = <Args as clap::Parser>::parse();
    let keys = SecretKeys::new(common::SECRET_KEY);
    let big = common::big_obj();
    let dumped = signing::dumps_at(&big, &keys, "", true, common::NOW)?;
    for _ in 0..args.count {
        match args.operation {
            Operation::Dumps => {
                black_box(signing::dumps_at(
                    black_box(&big),
                    &keys,
                    "",
                    true,
                    common::NOW,
                )?);
            }
            Operation::Loads => {
                black_box(signing::loads_at(
                    black_box(&dumped),
                    &keys,
                    "",
                    None,
                    common::NOW,
                )?);
            }
        }
    }
    Ok(())
}
