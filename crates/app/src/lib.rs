//! vodsnap's application layer: configuration, wiring of the adapters,
//! start-up and shutdown. No rule of the domain lives here.

mod audit_cmd;
mod backends;
pub mod cleanup;
mod cleanup_cmd;
pub mod cli;
mod credentials;
mod demo;
mod demo_image;
mod purges;
mod reconcile_cmd;
pub mod report;
mod serve;
pub(crate) mod telemetry;
mod token;
mod webhooks;
mod webhooks_cmd;

use anyhow::Context;
use cli::{Cli, Command, LogFormat, TokenCommand};

/// Runs one command of the command line.
pub fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Serve(args) => {
            let format = args.log_format;
            let traces = telemetry::init_serve(format, args.otlp_endpoint.as_deref())?;
            let served = runtime()?.block_on(serve::serve(*args));
            // Outside the runtime: the exporter's client blocks.
            if let Some(traces) = traces {
                traces.shutdown();
            }
            match served {
                Err(error) if format == LogFormat::Json => {
                    tracing::error!(error = format!("{error:#}"), "vodsnap failed");
                    Err(error.context(Reported))
                }
                other => other,
            }
        }
        Command::Token(TokenCommand::Issue(args)) => token::issue(&args),
        Command::Migrate(args) => {
            telemetry::init(LogFormat::Text);
            runtime()?.block_on(credentials::migrate(&args))
        }
        Command::Audit(args) => {
            telemetry::init(LogFormat::Text);
            runtime()?.block_on(audit_cmd::run(args))
        }
        Command::Cleanup(command) => {
            telemetry::init(LogFormat::Text);
            runtime()?.block_on(cleanup_cmd::run(command))
        }
        Command::Credentials(command) => {
            telemetry::init(LogFormat::Text);
            runtime()?.block_on(credentials::run(command))
        }
        Command::Webhooks(command) => {
            telemetry::init(LogFormat::Text);
            runtime()?.block_on(webhooks_cmd::run(command))
        }
        Command::Reconcile(args) => {
            telemetry::init(LogFormat::Text);
            runtime()?.block_on(reconcile_cmd::run(*args))
        }
    }
}

/// Marks an error that was already logged, so that `main` prints nothing
/// more (with `--log-format json`, a plain-text line would break the log).
#[derive(Debug, Clone, Copy)]
pub struct Reported;

impl std::fmt::Display for Reported {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("reported in the log")
    }
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("failed to start the async runtime")
}
