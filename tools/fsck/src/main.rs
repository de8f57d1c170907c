// SPDX-License-Identifier: GPL-2.0

//! The fsck.rxfs command; the work is in the library.

use fsck_rxfs::{parse_args, run, EXIT_USAGE, USAGE};
use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let o = match parse_args(&args) {
        Ok(o) => o,
        Err(e) => {
            if !e.is_empty() {
                eprintln!("fsck.rxfs: {e}");
            }
            eprintln!("{USAGE}");
            return ExitCode::from(if e.is_empty() { 0 } else { EXIT_USAGE });
        }
    };
    let code = run(
        &o,
        &mut std::io::stdout().lock(),
        &mut std::io::stderr().lock(),
    );
    ExitCode::from(code)
}
