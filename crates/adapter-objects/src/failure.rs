//! Which object storage failures are passing (the storage is down or busy:
//! retry later) and which are not (a bug, a refusal, a misconfiguration).

use std::error::Error as StdError;

use object_store::client::{HttpError, HttpErrorKind};
use vodsnap_ports::ImageStoreError;

/// Whether `err` says there is no object at the location. Besides
/// `NotFound`, a directory store reports a key below a file (`ENOTDIR`) or a
/// key naming a directory (`EISDIR`) as errors, where S3 simply has no such
/// object; the port wants one answer from every backend.
pub(crate) fn is_absent(err: &object_store::Error) -> bool {
    if matches!(err, object_store::Error::NotFound { .. }) {
        return true;
    }
    let mut current: Option<&(dyn StdError + 'static)> = Some(err);
    while let Some(error) = current {
        // A transport failure may wrap an io::Error; it never means absence.
        if error.is::<HttpError>() {
            return false;
        }
        if let Some(io) = error.downcast_ref::<std::io::Error>() {
            return matches!(
                io.kind(),
                std::io::ErrorKind::NotFound
                    | std::io::ErrorKind::NotADirectory
                    | std::io::ErrorKind::IsADirectory
            );
        }
        current = error.source();
    }
    false
}

/// Whether `err`, after object_store's own bounded retries, still means the
/// storage could not be reached or answered with a passing failure.
pub(crate) fn is_passing(err: &object_store::Error) -> bool {
    let mut current: Option<&(dyn StdError + 'static)> = Some(err);
    while let Some(error) = current {
        if let Some(http) = error.downcast_ref::<HttpError>() {
            return matches!(
                http.kind(),
                HttpErrorKind::Connect
                    | HttpErrorKind::Request
                    | HttpErrorKind::Timeout
                    | HttpErrorKind::Interrupted
            );
        }
        if let Some(passing) = passing_response(&error.to_string()) {
            return passing;
        }
        current = error.source();
    }
    false
}

/// Reads the status of object_store's response errors from their message.
///
/// object_store 0.14 keeps the error type that carries the status
/// (`client::retry::RequestError`) private, and its own classifier for
/// `RetryPolicy` is private too, so its stable message prefixes are the only
/// way in. The unit tests below pin those prefixes; the outage tests pin the
/// behaviour end to end against a server answering 503.
fn passing_response(message: &str) -> Option<bool> {
    const STATUS: &str = "Server returned non-2xx status code: ";
    // S3 may answer 200 with an `InternalError` or `SlowDown` body; object_store
    // reports only those, after retrying them, under this prefix.
    const ERROR_BODY: &str = "Server returned error response: ";
    if message.starts_with(ERROR_BODY) {
        return Some(true);
    }
    let code: u16 = message.strip_prefix(STATUS)?.get(..3)?.parse().ok()?;
    Some(code >= 500 || code == 408 || code == 429)
}

/// Sorts a failed operation into the port's two cases.
pub(crate) fn failure(err: object_store::Error, doing: String) -> ImageStoreError {
    if is_passing(&err) {
        ImageStoreError::Unavailable(anyhow::Error::new(err).context(doing))
    } else {
        ImageStoreError::Unknown(anyhow::Error::new(err).context(doing))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_errors_and_throttling_are_passing() {
        for message in [
            "Server returned non-2xx status code: 503 Service Unavailable: <Error/>",
            "Server returned non-2xx status code: 500 Internal Server Error: ",
            "Server returned non-2xx status code: 429 Too Many Requests: ",
            "Server returned error response: <Error><Code>SlowDown</Code></Error>",
        ] {
            assert_eq!(passing_response(message), Some(true), "{message}");
        }
    }

    #[test]
    fn client_errors_are_not_passing() {
        for message in [
            "Server returned non-2xx status code: 400 Bad Request: ",
            "Server returned non-2xx status code: 403 Forbidden: ",
        ] {
            assert_eq!(passing_response(message), Some(false), "{message}");
        }
    }

    #[test]
    fn other_messages_say_nothing() {
        assert_eq!(passing_response("Generic S3 error: oops"), None);
        assert_eq!(
            passing_response("Server returned non-2xx status code: "),
            None
        );
    }

    #[test]
    fn not_found_and_wrong_kind_of_entry_are_absent() {
        let not_found = object_store::Error::NotFound {
            path: "a".into(),
            source: "gone".into(),
        };
        assert!(is_absent(&not_found));
        let under_a_file = object_store::Error::Generic {
            store: "LocalFileSystem",
            source: Box::new(std::io::Error::from(std::io::ErrorKind::NotADirectory)),
        };
        assert!(is_absent(&under_a_file));
        let denied = object_store::Error::Generic {
            store: "LocalFileSystem",
            source: Box::new(std::io::Error::from(std::io::ErrorKind::PermissionDenied)),
        };
        assert!(!is_absent(&denied));
    }

    #[test]
    fn local_and_path_errors_are_not_passing() {
        let err = object_store::Error::NotSupported {
            source: "no".into(),
        };
        assert!(!is_passing(&err));
    }
}
