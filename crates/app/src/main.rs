//! The `vodsnap` binary: parses the command line and hands over to the app.

use std::process::ExitCode;

use clap::Parser;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = vodsnap_app::cli::Cli::parse();
    match vodsnap_app::run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) if error.is::<vodsnap_app::Reported>() => ExitCode::FAILURE,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}
