//! `missive vectors`: replay a folder of vector files against this implementation, or write
//! ours (feature `vectors`).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Subcommand;
use missive::vectors::{self, Outcome};

#[derive(Debug, Subcommand)]
pub(crate) enum Action {
    /// Replay every `*.json` under DIR: one line per file (ok, skip or FAIL and why); exits 1
    /// if any file fails.
    Check {
        /// The folder of vector files (ours: `vectors`).
        dir: PathBuf,
    },
    /// Write our vector files under DIR, as this build computes them.
    Write {
        /// Where to write (ours: `vectors`).
        dir: PathBuf,
    },
}

pub(crate) fn run(action: &Action) -> ExitCode {
    match action {
        Action::Check { dir } => match vectors::check_dir(dir) {
            Err(e) => {
                eprintln!("error: {}: {e}", dir.display());
                ExitCode::FAILURE
            }
            Ok(reports) => {
                let mut failed = 0;
                for report in &reports {
                    println!("{report}");
                    failed += usize::from(matches!(report.outcome, Outcome::Failed(_)));
                }
                let passed = reports
                    .iter()
                    .filter(|r| matches!(r.outcome, Outcome::Passed { .. }))
                    .count();
                println!(
                    "{} files: {passed} checked, {failed} failed, {} skipped",
                    reports.len(),
                    reports.len() - passed - failed
                );
                if failed == 0 && !reports.is_empty() {
                    ExitCode::SUCCESS
                } else {
                    ExitCode::FAILURE
                }
            }
        },
        Action::Write { dir } => match vectors::write_dir(dir) {
            Ok(written) => {
                for path in written {
                    println!("wrote {}", path.display());
                }
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("error: {}: {e}", dir.display());
                ExitCode::FAILURE
            }
        },
    }
}
