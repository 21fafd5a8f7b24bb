//! What an object storage failure says happened: absent objects, and the
//! facts ([`StoreFailure`]) from which the domain decides whose fault a
//! failure is (the store's: retry later without spending an attempt; or
//! the key's).

use std::error::Error as StdError;

use object_store::client::{HttpError, HttpErrorKind};
use vodsnap_domain::StoreFailure;
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

/// What `err`, after object_store's own bounded retries, says happened:
/// the facts the domain judges ([`StoreFailure::blame`]). No judgement
/// here: a status is read as the status, an S3 error code as its code.
pub(crate) fn failure_of(err: &object_store::Error) -> StoreFailure {
    let mut current: Option<&(dyn StdError + 'static)> = Some(err);
    while let Some(error) = current {
        if let Some(http) = error.downcast_ref::<HttpError>() {
            match http.kind() {
                HttpErrorKind::Connect | HttpErrorKind::Request | HttpErrorKind::Interrupted => {
                    return StoreFailure::Unreachable;
                }
                HttpErrorKind::Timeout => return StoreFailure::TimedOut,
                // A transport failure object_store could not name: no
                // answer came (hyper's "operation was canceled" when a
                // pooled connection was closed under it, seen while a
                // proxy in front of the store refused connections).
                HttpErrorKind::Unknown => return StoreFailure::Unreachable,
                // A body that could not be read: read on.
                _ => {}
            }
        }
        if let Some(failure) = response_failure(&error.to_string()) {
            return failure;
        }
        current = error.source();
    }
    StoreFailure::Other
}

/// Reads the status or the S3 error code of object_store's response
/// errors from their message.
///
/// object_store 0.14 keeps the error types that carry them
/// (`client::retry::RequestError`, `aws::client::Error::DeleteFailed`)
/// private, so their stable message prefixes are the only way in. The unit
/// tests below pin those prefixes; the outage tests pin the behaviour end
/// to end against a server that does not answer.
fn response_failure(message: &str) -> Option<StoreFailure> {
    const STATUS: &str = "Server returned non-2xx status code: ";
    // S3 may answer 200 with an `InternalError` or `SlowDown` body; object_store
    // reports only those, after retrying them, under this prefix.
    const ERROR_BODY: &str = "Server returned error response: ";
    // One key's error in a bulk delete's answer.
    const DELETE_FAILED: &str = "DeleteObjects request failed for key ";
    if let Some(body) = message.strip_prefix(ERROR_BODY) {
        return Some(s3_code(body).map_or(StoreFailure::Status(500), StoreFailure::of_s3_code));
    }
    if message.starts_with(DELETE_FAILED) {
        let code = message.rsplit_once("(code: ")?.1.strip_suffix(')')?;
        return Some(StoreFailure::of_s3_code(code));
    }
    let code: u16 = message.strip_prefix(STATUS)?.get(..3)?.parse().ok()?;
    Some(StoreFailure::Status(code))
}

/// The `<Code>` of an S3 error body.
fn s3_code(body: &str) -> Option<&str> {
    let start = body.find("<Code>")? + "<Code>".len();
    let len = body.get(start..)?.find("</Code>")?;
    body.get(start..start + len)
}

/// A failed operation as the port says it: what happened, read from the
/// error, and the error.
pub(crate) fn failure(err: object_store::Error, doing: String) -> ImageStoreError {
    ImageStoreError::new(failure_of(&err), anyhow::Error::new(err).context(doing))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_and_error_codes_are_read_as_they_are() {
        for (message, failure) in [
            (
                "Server returned non-2xx status code: 503 Service Unavailable: <Error/>",
                StoreFailure::Status(503),
            ),
            (
                "Server returned non-2xx status code: 429 Too Many Requests: ",
                StoreFailure::Status(429),
            ),
            (
                "Server returned non-2xx status code: 403 Forbidden: ",
                StoreFailure::Status(403),
            ),
            (
                "Server returned error response: <Error><Code>SlowDown</Code></Error>",
                StoreFailure::Status(503),
            ),
            (
                "Server returned error response: <Error>garbled",
                StoreFailure::Status(500),
            ),
            (
                "DeleteObjects request failed for key p/1.jpg: Access Denied (code: AccessDenied)",
                StoreFailure::Status(403),
            ),
            (
                "DeleteObjects request failed for key p/1.jpg: busy (code: InternalError)",
                StoreFailure::Status(500),
            ),
        ] {
            assert_eq!(response_failure(message), Some(failure), "{message}");
        }
    }

    #[test]
    fn other_messages_say_nothing() {
        assert_eq!(response_failure("Generic S3 error: oops"), None);
        assert_eq!(
            response_failure("Server returned non-2xx status code: "),
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
    fn transport_failures_are_read_by_kind() {
        let transport = |kind| object_store::Error::Generic {
            store: "S3",
            source: Box::new(HttpError::new(kind, std::io::Error::other("no answer"))),
        };
        assert_eq!(
            failure_of(&transport(HttpErrorKind::Connect)),
            StoreFailure::Unreachable
        );
        assert_eq!(
            failure_of(&transport(HttpErrorKind::Unknown)),
            StoreFailure::Unreachable
        );
        assert_eq!(
            failure_of(&transport(HttpErrorKind::Timeout)),
            StoreFailure::TimedOut
        );
        assert_eq!(
            failure_of(&transport(HttpErrorKind::Decode)),
            StoreFailure::Other
        );
    }

    #[test]
    fn local_and_path_errors_are_other_failures() {
        let err = object_store::Error::NotSupported {
            source: "no".into(),
        };
        assert_eq!(failure_of(&err), StoreFailure::Other);
    }
}
