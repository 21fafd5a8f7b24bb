//! vodsnap's application layer: configuration, wiring of the adapters,
//! start-up and shutdown. No rule of the domain lives here.

pub mod cli;
mod demo;
mod serve;
mod telemetry;
mod token;

use cli::{Cli, Command, TokenCommand};

/// Runs one command of the command line.
pub fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Serve(args) => {
            telemetry::init(args.log_format);
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
                .map_err(|e| anyhow::anyhow!("failed to start the async runtime: {e}"))?;
            runtime.block_on(serve::serve(args))
        }
        Command::Token(TokenCommand::Issue(args)) => token::issue(&args),
    }
}
