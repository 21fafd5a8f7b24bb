//! The `--storage URL` forms: where snapshot images live.
//!
//! Parsing never echoes the input back: an operator who pastes keys into the
//! URL (`s3://AK:SK@bucket`) must not find them in a log line.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

/// Where the image store keeps its objects. Only a valid location can exist:
/// an absolute directory, a plausible bucket name, or memory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StorageUrl {
    /// `file:///abs/dir`: objects are files under this absolute directory.
    File(PathBuf),
    /// `s3://bucket`: an S3-compatible bucket; endpoint, region and keys come
    /// from the `AWS_*` environment variables, never from the URL.
    S3 { bucket: String },
    /// `memory://`: nothing outlives the process (demo and tests).
    Memory,
}

/// Why a `--storage` value is not a storage URL. The messages describe the
/// rule and never quote the value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StorageUrlError {
    #[error("storage URL must be file:///absolute/dir, s3://bucket or memory://")]
    Scheme,
    #[error(
        "file: storage URL must name an absolute directory, as in file:///var/lib/vodsnap/images"
    )]
    RelativeFile,
    #[error("file: storage URL is not a valid file URL")]
    InvalidFile,
    #[error(
        "s3: storage URL must not carry credentials; set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY instead"
    )]
    CredentialsInUrl,
    #[error(
        "s3: storage URL must be s3://bucket: a bucket name of 3 to 63 letters, digits, '.', '-' or '_', and no path"
    )]
    Bucket,
    #[error("memory: storage URL must be exactly memory://")]
    Memory,
}

impl FromStr for StorageUrl {
    type Err = StorageUrlError;

    fn from_str(raw: &str) -> Result<Self, Self::Err> {
        if let Some(rest) = raw.strip_prefix("file://") {
            return parse_file(rest, raw);
        }
        if let Some(rest) = raw.strip_prefix("s3://") {
            return parse_s3(rest);
        }
        if let Some(rest) = raw.strip_prefix("memory://") {
            return if rest.is_empty() || rest == "/" {
                Ok(Self::Memory)
            } else {
                Err(StorageUrlError::Memory)
            };
        }
        Err(StorageUrlError::Scheme)
    }
}

/// `rest` is what follows `file://`: it must be an absolute path, so that a
/// typo like `file://images` (a host named `images`) is refused rather than
/// read as some directory relative to wherever the service happens to start.
fn parse_file(rest: &str, raw: &str) -> Result<StorageUrl, StorageUrlError> {
    if !rest.starts_with('/') {
        return Err(StorageUrlError::RelativeFile);
    }
    // The url crate undoes percent-encoding (`my%20images`) the way every
    // other file URL reader does.
    let url = url::Url::parse(raw).map_err(|_| StorageUrlError::InvalidFile)?;
    if url.query().is_some() || url.fragment().is_some() {
        return Err(StorageUrlError::InvalidFile);
    }
    let path = url
        .to_file_path()
        .map_err(|()| StorageUrlError::InvalidFile)?;
    if !path.is_absolute() {
        return Err(StorageUrlError::RelativeFile);
    }
    Ok(StorageUrl::File(path))
}

fn parse_s3(rest: &str) -> Result<StorageUrl, StorageUrlError> {
    if rest.contains('@') {
        return Err(StorageUrlError::CredentialsInUrl);
    }
    let bucket = rest.strip_suffix('/').unwrap_or(rest);
    // The common ground of AWS, OBS and MinIO bucket rules; anything else
    // (a path, a port, a query) is a mistake better caught at startup.
    let plausible = (3..=63).contains(&bucket.len())
        && bucket
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'));
    if !plausible {
        return Err(StorageUrlError::Bucket);
    }
    Ok(StorageUrl::S3 {
        bucket: bucket.to_owned(),
    })
}

impl fmt::Display for StorageUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::File(dir) => match url::Url::from_directory_path(dir) {
                // Without the trailing slash the directory form adds, so it
                // reads as the operator wrote it.
                Ok(url) => {
                    let url = url.as_str();
                    let root = url.len() <= "file:///".len();
                    f.write_str(if root { url } else { url.trim_end_matches('/') })
                }
                Err(()) => write!(f, "file://{}", dir.display()),
            },
            Self::S3 { bucket } => write!(f, "s3://{bucket}"),
            Self::Memory => f.write_str("memory://"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(raw: &str) -> Result<StorageUrl, StorageUrlError> {
        raw.parse()
    }

    #[test]
    fn file_urls_name_an_absolute_directory() {
        assert_eq!(
            parse("file:///var/lib/vodsnap/images"),
            Ok(StorageUrl::File(PathBuf::from("/var/lib/vodsnap/images")))
        );
        assert_eq!(
            parse("file:///srv/my%20images/"),
            Ok(StorageUrl::File(PathBuf::from("/srv/my images/")))
        );
    }

    #[test]
    fn relative_file_urls_are_refused() {
        assert_eq!(parse("file://images"), Err(StorageUrlError::RelativeFile));
        assert_eq!(parse("file://./images"), Err(StorageUrlError::RelativeFile));
        assert_eq!(parse("file://"), Err(StorageUrlError::RelativeFile));
        assert_eq!(parse("file:images"), Err(StorageUrlError::Scheme));
    }

    #[test]
    fn s3_urls_name_a_bucket_only() {
        assert_eq!(
            parse("s3://vod-snapshots"),
            Ok(StorageUrl::S3 {
                bucket: "vod-snapshots".into()
            })
        );
        assert_eq!(
            parse("s3://vod.snapshots_1/"),
            Ok(StorageUrl::S3 {
                bucket: "vod.snapshots_1".into()
            })
        );
        assert_eq!(parse("s3://"), Err(StorageUrlError::Bucket));
        assert_eq!(parse("s3://ab"), Err(StorageUrlError::Bucket));
        assert_eq!(parse("s3://bucket/prefix"), Err(StorageUrlError::Bucket));
        assert_eq!(parse("s3://bucket:9000"), Err(StorageUrlError::Bucket));
    }

    #[test]
    fn s3_errors_never_echo_credentials() {
        let err = parse("s3://AKIDEXAMPLE:wJalrXUtnFEMI@bucket").unwrap_err();
        assert_eq!(err, StorageUrlError::CredentialsInUrl);
        let message = err.to_string();
        assert!(!message.contains("AKIDEXAMPLE"));
        assert!(!message.contains("wJalrXUtnFEMI"));
    }

    #[test]
    fn memory_url_is_exact() {
        assert_eq!(parse("memory://"), Ok(StorageUrl::Memory));
        assert_eq!(parse("memory://x"), Err(StorageUrlError::Memory));
    }

    #[test]
    fn other_schemes_are_refused() {
        for raw in ["", "/var/lib/images", "http://host/bucket", "S3://bucket"] {
            assert_eq!(parse(raw), Err(StorageUrlError::Scheme), "{raw}");
        }
    }

    #[test]
    fn display_gives_the_url_back() {
        for raw in ["file:///var/lib/vodsnap/images", "s3://bucket", "memory://"] {
            assert_eq!(parse(raw).unwrap().to_string(), raw);
        }
        assert_eq!(
            parse("file:///srv/my%20images").unwrap().to_string(),
            "file:///srv/my%20images"
        );
    }
}
