//! How a failed command tells the person who ran it what went wrong and
//! what to do: each layer's context once, PostgreSQL's words without
//! sqlx's decorations, a `hint:` line naming the command, flag or variable
//! to look at, and an exit status per kind of failure.

use std::fmt;

/// The exit status of a command that failed for any reason not below.
pub const EXIT_FAILURE: u8 = 1;
/// (clap's own: a command line it could not parse.)
pub const EXIT_USAGE: u8 = 2;
/// `vodsnap reconcile`: storage and database differ (its report says how).
pub const EXIT_DIFFER: u8 = 2;
/// The database's schema is missing, behind this binary, or ahead of it
/// in a way it cannot run against: `vodsnap migrate` (or the newer binary)
/// is the fix, not a retry.
pub const EXIT_SCHEMA: u8 = 3;

/// A failure whose fix is a schema change; its message is the whole story
/// and names the command to run.
#[derive(Debug)]
pub struct SchemaNotReady(pub String);

impl fmt::Display for SchemaNotReady {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for SchemaNotReady {}

/// Context that says what to do about the failure under it, printed as a
/// `hint:` line after the error.
#[derive(Debug)]
pub struct Hint {
    message: String,
    hint: String,
}

impl Hint {
    pub fn new(message: impl Into<String>, hint: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            hint: hint.into(),
        }
    }
}

impl fmt::Display for Hint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Hint {}

/// Attaches a [`Hint`] to a result's error.
pub trait WithHint<T> {
    fn hint(self, message: impl Into<String>, hint: impl Into<String>) -> anyhow::Result<T>;
}

impl<T, E> WithHint<T> for Result<T, E>
where
    Result<T, E>: anyhow::Context<T, E>,
{
    fn hint(self, message: impl Into<String>, hint: impl Into<String>) -> anyhow::Result<T> {
        anyhow::Context::context(self, Hint::new(message, hint))
    }
}

/// Not a failure: `vodsnap reconcile` found storage and database to
/// differ, and has printed its report; the exit status says so.
#[derive(Debug)]
pub struct Differ;

impl fmt::Display for Differ {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("storage and database differ")
    }
}

impl std::error::Error for Differ {}

/// The exit status for `error`.
pub fn exit_status(error: &anyhow::Error) -> u8 {
    if error.downcast_ref::<SchemaNotReady>().is_some() {
        EXIT_SCHEMA
    } else if error.downcast_ref::<Differ>().is_some() {
        EXIT_DIFFER
    } else {
        EXIT_FAILURE
    }
}

/// What a failed command prints on stderr: `error: ` and the chain of
/// contexts, each once, then a `hint: ` line (the outermost hint).
pub fn render(error: &anyhow::Error) -> String {
    let mut layers: Vec<String> = Vec::new();
    for link in error.chain() {
        // A database error's text repeats its source's (and sqlx adds
        // PostgreSQL's source position): its plain message ends the chain.
        if let Some(plain) = vodsnap_adapter_postgres::schema::plain_message_of(link) {
            push_layer(&mut layers, plain);
            break;
        }
        push_layer(&mut layers, link.to_string());
    }
    let mut out = format!("error: {}", layers.join(": "));
    // anyhow finds a context of a given type at any depth of its chain.
    if let Some(hint) = error.downcast_ref::<Hint>() {
        out.push_str("\nhint: ");
        out.push_str(&hint.hint);
    }
    out
}

/// Adds a layer unless the one above already says it: the same words, or
/// the same words and more ("failed to connect to the database at X" over
/// "failed to connect to the database").
/// Storage errors (object_store) repeat their sources the same way.
fn push_layer(layers: &mut Vec<String>, layer: String) {
    let layer = tidy_xml(layer.trim());
    if layer.is_empty() {
        return;
    }
    if let Some(above) = layers.last()
        && above.contains(&layer)
    {
        return;
    }
    layers.push(layer);
}

/// An S3 error body (`<?xml ...?><Error><Code>NoSuchBucket</Code>
/// <Message>The specified bucket does not exist</Message>...</Error>`) as
/// `NoSuchBucket (The specified bucket does not exist)`.
fn tidy_xml(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(start) = rest.find("<?xml") {
        out.push_str(&rest[..start]);
        let body = &rest[start..];
        let end = body
            .find("</Error>")
            .map_or(body.len(), |e| e + "</Error>".len());
        let element = |name: &str| {
            let open = format!("<{name}>");
            let from = body[..end].find(&open)? + open.len();
            let to = body[from..end].find('<')? + from;
            Some(body[from..to].to_owned())
        };
        match (element("Code"), element("Message")) {
            (Some(code), Some(message)) => out.push_str(&format!("{code} ({message})")),
            (Some(code), None) => out.push_str(&code),
            _ => out.push_str("(an XML error body)"),
        }
        rest = &body[end..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use anyhow::{Context as _, anyhow};

    use super::*;

    #[test]
    fn a_repeated_context_is_printed_once() {
        let error = Err::<(), _>(anyhow!("relation \"credentials\" does not exist"))
            .context("failed to list credentials")
            .context("failed to list credentials")
            .unwrap_err();
        assert_eq!(
            render(&error),
            "error: failed to list credentials: relation \"credentials\" does not exist"
        );
    }

    #[test]
    fn a_context_that_an_outer_one_refines_is_dropped() {
        let error = Err::<(), _>(anyhow!("refused"))
            .context("failed to connect to the database")
            .context("failed to connect to the database u@h:5432/d")
            .unwrap_err();
        assert_eq!(
            render(&error),
            "error: failed to connect to the database u@h:5432/d: refused"
        );
    }

    #[test]
    fn an_s3_error_body_is_its_code_and_message() {
        let raw = "404 Not Found: <?xml version=\"1.0\" encoding=\"utf-8\"?>\n<Error><Code>NoSuchBucket</Code><Message>The specified bucket does not exist</Message><BucketName>b</BucketName></Error>";
        assert_eq!(
            tidy_xml(raw),
            "404 Not Found: NoSuchBucket (The specified bucket does not exist)"
        );
    }

    #[test]
    fn a_hint_follows_the_error() {
        let error = Err::<(), _>(anyhow!("bad key"))
            .hint(
                "invalid --credential-keys",
                "make one with `vodsnap credentials keygen`",
            )
            .unwrap_err();
        assert_eq!(
            render(&error),
            "error: invalid --credential-keys: bad key\nhint: make one with `vodsnap credentials keygen`"
        );
        assert_eq!(exit_status(&error), EXIT_FAILURE);
    }

    #[test]
    fn a_schema_failure_has_its_own_exit_status() {
        let error = anyhow::Error::new(SchemaNotReady("run `vodsnap migrate`".into()))
            .context("failed to list credentials");
        assert_eq!(exit_status(&error), EXIT_SCHEMA);
    }
}
