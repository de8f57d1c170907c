// SPDX-License-Identifier: GPL-2.0

//! The mkfs.rxfs command; the work is in the library.

use mkfs_rxfs::{parse_args, run, USAGE};
use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let o = match parse_args(&args) {
        Ok(o) => o,
        Err(e) => {
            if !e.is_empty() {
                eprintln!("mkfs.rxfs: {e}");
            }
            eprintln!("{USAGE}");
            return ExitCode::from(1);
        }
    };
    match run(&o) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("mkfs.rxfs: {e}");
            ExitCode::from(1)
        }
    }
}

