//! The `vodsnap` binary: parses the command line and hands over to the app.

use std::process::ExitCode;

use clap::Parser;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = vodsnap_app::cli::Cli::parse();
    match vodsnap_app::run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            // Already logged (as JSON) when it is `Reported`; `Differ` is
            // no failure: its report is on stdout.
            if error.downcast_ref::<vodsnap_app::Reported>().is_none()
                && error
                    .downcast_ref::<vodsnap_app::report::Differ>()
                    .is_none()
            {
                eprintln!("{}", vodsnap_app::report::render(&error));
            }
            ExitCode::from(vodsnap_app::report::exit_status(&error))
        }
    }
}
