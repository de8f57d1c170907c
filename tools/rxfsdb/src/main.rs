// SPDX-License-Identifier: GPL-2.0

//! The rxfs-db command; the work is in the library.

use rxfs_db::{parse_args, run, USAGE};
use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (dev, cmd) = match parse_args(&args) {
        Ok(x) => x,
        Err(e) => {
            eprintln!("rxfs-db: {e}");
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    ExitCode::from(run(
        &dev,
        &cmd,
        &mut std::io::stdout().lock(),
        &mut std::io::stderr().lock(),
    ))
}
