//! The `tessera` command-line tool: Django's signing and cookies from the shell, the demo site,
//! `migrate` and `clearsessions` (see [`tessera_cli::cli`]).
#![forbid(unsafe_code)]

use std::process::ExitCode;

use clap::Parser as _;
use tessera_cli::cli;

fn main() -> ExitCode {
    let args = match cli::Cli::try_parse() {
        Ok(args) => args,
        Err(e) => return cli::exit::usage_error(&e),
    };
    if args.command.prints_nothing() {
        cli::exit::finish_silent(cli::run(args))
    } else {
        cli::exit::finish(cli::run(args))
    }
}
