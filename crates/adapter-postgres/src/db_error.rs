//! How database failures become the ports' errors: connection trouble is
//! `Unavailable` (retry later), anything else `Unknown`.

use std::fmt;

use vodsnap_ports::{
    BinError, CredentialError, DeleteError, DetailsError, PingError, RegisterError, StoreError,
    WebhookStoreError,
};

/// How many times a transaction is tried when PostgreSQL aborts it for a
/// deadlock or a serialization failure. Such an abort rolls everything
/// back, so trying again is always safe.
pub(crate) const MAX_ATTEMPTS: u32 = 3;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// The database cannot be reached or is not accepting work.
    Unavailable,
    /// The transaction was aborted by a deadlock or serialization failure.
    Retryable,
    /// A bug, corrupt data, or a surprise.
    Unknown,
}

/// A failed database step, classified once, with its context.
pub(crate) struct DbError {
    kind: Kind,
    source: anyhow::Error,
}

impl fmt::Debug for DbError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}: {:#}", self.kind, self.source)
    }
}

impl DbError {
    /// An error found in our own checks (e.g. a stored value that no longer
    /// parses): never a connection problem.
    pub(crate) fn unknown(source: anyhow::Error) -> Self {
        Self {
            kind: Kind::Unknown,
            source,
        }
    }

    pub(crate) fn is_retryable(&self) -> bool {
        self.kind == Kind::Retryable
    }

    /// Whether the database refused a duplicate key (SQLSTATE 23505).
    pub(crate) fn is_unique_violation(&self) -> bool {
        self.source
            .downcast_ref::<sqlx::Error>()
            .and_then(sqlx::Error::as_database_error)
            .is_some_and(|e| e.is_unique_violation())
    }

    fn into_parts(self) -> (bool, anyhow::Error) {
        // Contention that outlived the retries is reported like an outage:
        // nothing was written, and the caller's right move is to retry.
        let unavailable = matches!(self.kind, Kind::Unavailable | Kind::Retryable);
        (unavailable, self.source)
    }
}

fn classify(err: &sqlx::Error) -> Kind {
    match err {
        sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::WorkerCrashed
        | sqlx::Error::BeginFailed => Kind::Unavailable,
        sqlx::Error::Database(db) => match db.code().as_deref() {
            // serialization_failure, deadlock_detected
            Some("40001" | "40P01") => Kind::Retryable,
            // Class 08: connection exceptions; 57P01..57P03: the server is
            // shutting down or starting; 53300: too many connections;
            // 25006: a read-only transaction, i.e. we reached a standby
            // during a failover.
            Some(code)
                if code.starts_with("08")
                    || matches!(code, "57P01" | "57P02" | "57P03" | "53300" | "25006") =>
            {
                Kind::Unavailable
            }
            _ => Kind::Unknown,
        },
        _ => Kind::Unknown,
    }
}

/// `.db("failed to ...")` on a sqlx result: classifies the error and adds
/// the context, like `anyhow::Context` does.
pub(crate) trait DbResultExt<T> {
    fn db(self, context: &'static str) -> Result<T, DbError>;
}

impl<T> DbResultExt<T> for Result<T, sqlx::Error> {
    fn db(self, context: &'static str) -> Result<T, DbError> {
        self.map_err(|err| DbError {
            kind: classify(&err),
            source: anyhow::Error::new(err).context(context),
        })
    }
}

macro_rules! into_port_error {
    ($($port:ty),+) => {
        $(
            impl From<DbError> for $port {
                fn from(err: DbError) -> Self {
                    match err.into_parts() {
                        (true, source) => Self::Unavailable(source),
                        (false, source) => Self::Unknown(source),
                    }
                }
            }
        )+
    };
}

into_port_error!(
    RegisterError,
    StoreError,
    DetailsError,
    DeleteError,
    CredentialError,
    BinError,
    WebhookStoreError
);

impl From<DbError> for PingError {
    fn from(err: DbError) -> Self {
        Self(err.source)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connection_failures_are_unavailable() {
        for err in [
            sqlx::Error::PoolTimedOut,
            sqlx::Error::PoolClosed,
            sqlx::Error::Io(std::io::Error::from(std::io::ErrorKind::ConnectionReset)),
        ] {
            assert_eq!(classify(&err), Kind::Unavailable, "{err}");
        }
    }

    #[test]
    fn other_failures_are_unknown() {
        assert_eq!(classify(&sqlx::Error::RowNotFound), Kind::Unknown);
        assert_eq!(
            classify(&sqlx::Error::Protocol("garbled".into())),
            Kind::Unknown
        );
    }

    #[test]
    fn port_errors_keep_the_context() {
        let err: Result<(), _> = Err(sqlx::Error::PoolTimedOut);
        let port: DeleteError = err.db("failed to begin the delete").unwrap_err().into();
        match port {
            DeleteError::Unavailable(source) => {
                assert_eq!(source.to_string(), "failed to begin the delete");
            }
            other => panic!("unexpected {other:?}"),
        }
    }
}
