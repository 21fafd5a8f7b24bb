//! `vodsnap token issue`.

use anyhow::Context;
use vodsnap_adapter_http::auth::HmacTokenAuthority;
use vodsnap_domain::ProjectId;
use vodsnap_ports::{Clock, SystemClock, TokenAuthority};

use crate::cli::TokenIssueArgs;

/// Prints only the token on stdout, so that scripts can capture it.
pub fn issue(args: &TokenIssueArgs) -> anyhow::Result<()> {
    let key = args.token_key.as_ref().context(
        "token issue needs the servers' key: --token-key or VODSNAP_TOKEN_KEY \
         (a server started without one makes a random key that no one else knows)",
    )?;
    let project = ProjectId::parse(&args.project).context("invalid --project")?;
    let tokens = HmacTokenAuthority::new(key).context("invalid --token-key")?;
    let token = tokens.issue(&project, &args.subject, args.ttl, SystemClock.now());
    println!("{}", token.expose());
    Ok(())
}
