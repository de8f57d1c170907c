// SPDX-License-Identifier: GPL-2.0

//! fsck.rxfs: check an rxfs filesystem, and repair what is safe to repair.
//! The binary is `src/main.rs`.
//!
//! ```text
//! fsck.rxfs [-n] [-y] [-f] [-v] DEVICE
//! ```
//!
//! `-n` checks read-only and never writes (the default); `-y` (or `-p`,
//! `-a`) repairs what it safely can; `-f` is accepted for e2fsck's sake (the
//! check is always full); `-v` prints counts. Exit status as e2fsck's:
//! 0 clean, 1 problems found and all fixed, 4 problems left uncorrected
//! (even if others were fixed), 8 operational error (cannot open or read,
//! not rxfs, unknown features), 16 usage error.
//!
//! Problems are printed one a line on standard output, each naming the
//! structure and block (`fsck.rxfs: inode 1234 (/d/f): bad checksum`), with
//! ` (fixed)` when `-y` repaired it, then one summary line. Operational
//! errors go to standard error.

pub mod check;
pub mod image;

use std::io::Write;

/// Usage line.
pub const USAGE: &str = "usage: fsck.rxfs [-n] [-y] [-f] [-v] DEVICE";

/// No problems.
pub const EXIT_OK: u8 = 0;
/// Problems found, all fixed.
pub const EXIT_FIXED: u8 = 1;
/// Problems left uncorrected.
pub const EXIT_UNCORRECTED: u8 = 4;
/// Operational error.
pub const EXIT_OPERATIONAL: u8 = 8;
/// Usage error.
pub const EXIT_USAGE: u8 = 16;

/// Command-line options.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Opts {
    /// Repair (`-y`); otherwise read-only.
    pub repair: bool,
    /// Print counts (`-v`).
    pub verbose: bool,
    /// `-f`: accepted, the check is always full.
    pub force: bool,
    /// The device or image file.
    pub device: String,
}

/// Parses the arguments (without the program name). Options may be
/// clustered (`-fn`). An empty error string means help was asked for.
pub fn parse_args(args: &[String]) -> Result<Opts, String> {
    let mut no = false;
    let mut yes = false;
    let mut o = Opts {
        repair: false,
        verbose: false,
        force: false,
        device: String::new(),
    };
    let mut pos = Vec::new();
    for a in args {
        if a == "-h" || a == "--help" {
            return Err(String::new());
        }
        match a.strip_prefix('-') {
            Some(flags) if !flags.is_empty() => {
                for c in flags.chars() {
                    match c {
                        'n' => no = true,
                        'y' | 'p' | 'a' => yes = true,
                        'f' => o.force = true,
                        'v' => o.verbose = true,
                        _ => return Err(format!("unknown option '-{c}'")),
                    }
                }
            }
            _ => pos.push(a.clone()),
        }
    }
    if no && yes {
        return Err("only one of -n and -y may be given".into());
    }
    match pos.len() {
        0 => return Err("no device given".into()),
        1 => {}
        _ => return Err("too many arguments".into()),
    }
    o.repair = yes;
    o.device = pos.remove(0);
    Ok(o)
}

/// Checks (and with `-y` repairs) the filesystem; writes the report to
/// `out` and operational errors to `err`. Returns the exit status.
pub fn run(o: &Opts, out: &mut dyn Write, err: &mut dyn Write) -> u8 {
    let dev = &o.device;
    let img = match image::open(dev, o.repair) {
        Ok(i) => i,
        Err(image::OpenError::BadSuperblock(e)) => {
            let _ = writeln!(out, "fsck.rxfs: superblock: {e}");
            let _ = writeln!(out, "fsck.rxfs: {dev}: 1 problem found, none fixed (bad superblock, nothing else checked)");
            return EXIT_UNCORRECTED;
        }
        Err(e) => {
            let _ = writeln!(err, "fsck.rxfs: {e}");
            return EXIT_OPERATIONAL;
        }
    };
    let (mut report, repair) = check::Checker::new(&img.store, &img.sb).run();
    if let Some(l) = &img.log {
        // First, as the first thing wrong; fixed by writing the replayed
        // blocks and a clean header (the rest of the repair writes them).
        // A crash's log, whole, is what the next mount replays: the check
        // saw the filesystem as that mount will leave it (as e2fsck -n
        // and xfs_repair -n, it is no error; unlike them the check saw
        // the replayed blocks, not the stale home ones).
        report.problems.insert(0, check::Problem { msg: l.msg.clone(), fix: check::Fix::Always, fixed: false, recovers: l.replayed });
        if o.repair {
            if let Some(g) = img.sb.log_geometry() {
                if let Err(e) = librxfs::journal::put_header(&img.store, &g, l.header) {
                    let _ = writeln!(err, "fsck.rxfs: {dev}: cannot write the log header: {e}");
                    return EXIT_OPERATIONAL;
                }
            }
        }
    }
    if !o.repair {
        // Read-only, what a mount recovers is noted, not counted.
        for p in report.problems.iter().filter(|p| p.recovers) {
            let _ = writeln!(out, "fsck.rxfs: {dev}: {} (the next mount recovers this)", p.msg);
        }
        report.problems.retain(|p| !p.recovers);
    }
    let mut free = report.stats.free_blocks;
    if o.repair && !report.problems.is_empty() {
        match repair.apply(&img.store, &mut report.problems) {
            Ok(f) => free = f.or(free),
            Err(e) => {
                for p in &mut report.problems {
                    p.fixed = false;
                }
                print_problems(out, &report.problems);
                let _ = writeln!(err, "fsck.rxfs: {dev}: {e}");
                return EXIT_OPERATIONAL;
            }
        }
    }
    print_problems(out, &report.problems);
    let st = &report.stats;
    if o.verbose {
        let _ = writeln!(
            out,
            "fsck.rxfs: {dev}: {} directories, {} regular files, {} symlinks, {} special files, {} orphans, {} unreachable",
            st.dirs, st.files, st.symlinks, st.special, st.orphans, st.leaked_inodes
        );
        let _ = writeln!(
            out,
            "fsck.rxfs: {dev}: {} data blocks, {} tree node blocks, {} xattr blocks, {} fixed metadata blocks; walk {}",
            st.data_blocks,
            st.node_blocks,
            st.xattr_blocks,
            img.sb.meta_blocks,
            if report.complete { "complete" } else { "incomplete" }
        );
    }
    let total = img.sb.block_count;
    let used = free.map_or("?".to_string(), |f| (total - f.min(total)).to_string());
    let n = report.problems.len();
    let problems = if n == 1 {
        "1 problem".to_string()
    } else {
        format!("{n} problems")
    };
    let fixed = report.problems.iter().filter(|p| p.fixed).count();
    if n == 0 {
        let _ = writeln!(
            out,
            "fsck.rxfs: {dev}: clean, {} inodes, {used}/{total} blocks",
            st.inodes
        );
        EXIT_OK
    } else if !o.repair {
        let _ = writeln!(
            out,
            "fsck.rxfs: {dev}: {problems} found, none fixed (checked read-only)"
        );
        EXIT_UNCORRECTED
    } else if fixed == n {
        let _ = writeln!(
            out,
            "fsck.rxfs: {dev}: {problems} found, all fixed; {} inodes, {used}/{total} blocks",
            st.inodes
        );
        EXIT_FIXED
    } else {
        let _ = writeln!(
            out,
            "fsck.rxfs: {dev}: {problems} found, {fixed} fixed, {} left uncorrected",
            n - fixed
        );
        EXIT_UNCORRECTED
    }
}

fn print_problems(out: &mut dyn Write, ps: &[check::Problem]) {
    for p in ps {
        let _ = writeln!(
            out,
            "fsck.rxfs: {}{}",
            p.msg,
            if p.fixed { " (fixed)" } else { "" }
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &str) -> Vec<String> {
        s.split_whitespace().map(String::from).collect()
    }

    #[test]
    fn parses_options() {
        let o = parse_args(&args("-n dev")).unwrap();
        assert!(!o.repair && !o.verbose && o.device == "dev");
        let o = parse_args(&args("-y -f -v dev")).unwrap();
        assert!(o.repair && o.verbose && o.force);
        assert!(parse_args(&args("-fy dev")).unwrap().repair);
        assert!(!parse_args(&args("dev")).unwrap().repair);
        assert!(parse_args(&args("-p dev")).unwrap().repair);
    }

    #[test]
    fn rejects_bad_arguments() {
        for a in ["", "-n -y dev", "-ny dev", "-x dev", "a b", "-n"] {
            assert!(parse_args(&args(a)).is_err(), "accepted '{a}'");
        }
        assert_eq!(parse_args(&args("-h")).unwrap_err(), "");
    }
}
