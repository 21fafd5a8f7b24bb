//! What kind of image a snapshot is, for the `Content-Type` it is served
//! with.
//!
//! vodsnap's own service uses this module (the crate's README, "The public
//! types, for other services"): public for vodsnap's crates, with no
//! promise of stability to other services.

/// The image formats snapshots come in. Anything else is served as
/// `application/octet-stream` (with `nosniff`, so no browser renders it
/// as something active).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImageFormat {
    Jpeg,
    Png,
    Webp,
    Gif,
    Other,
}

impl ImageFormat {
    /// The format of the image stored under `key` with these `bytes`: the
    /// bytes' signature decides; the key's extension only when the bytes
    /// have none we know. A producer that names a PNG `0.jpg` still gets
    /// `image/png`, which is what a browser needs to draw it.
    pub fn of(key: &str, bytes: &[u8]) -> Self {
        match Self::sniff(bytes) {
            Self::Other => Self::by_extension(key),
            known => known,
        }
    }

    /// The media type to send.
    pub const fn media_type(self) -> &'static str {
        match self {
            Self::Jpeg => "image/jpeg",
            Self::Png => "image/png",
            Self::Webp => "image/webp",
            Self::Gif => "image/gif",
            Self::Other => "application/octet-stream",
        }
    }

    fn sniff(bytes: &[u8]) -> Self {
        if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
            Self::Jpeg
        } else if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
            Self::Png
        } else if bytes.len() >= 12 && bytes.starts_with(b"RIFF") && &bytes[8..12] == b"WEBP" {
            Self::Webp
        } else if bytes.starts_with(b"GIF87a") || bytes.starts_with(b"GIF89a") {
            Self::Gif
        } else {
            Self::Other
        }
    }

    fn by_extension(key: &str) -> Self {
        let name = key.rsplit('/').next().unwrap_or(key);
        let Some((_, extension)) = name.rsplit_once('.') else {
            return Self::Other;
        };
        match extension.to_ascii_lowercase().as_str() {
            "jpg" | "jpeg" => Self::Jpeg,
            "png" => Self::Png,
            "webp" => Self::Webp,
            "gif" => Self::Gif,
            _ => Self::Other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn the_bytes_decide_before_the_name() {
        let png = b"\x89PNG\r\n\x1a\n....";
        assert_eq!(ImageFormat::of("p/0.jpg", png), ImageFormat::Png);
        assert_eq!(
            ImageFormat::of("p/0.png", &[0xFF, 0xD8, 0xFF, 0xE0]),
            ImageFormat::Jpeg
        );
        assert_eq!(
            ImageFormat::of("p/0", b"RIFF\0\0\0\0WEBPVP8 "),
            ImageFormat::Webp
        );
        assert_eq!(ImageFormat::of("p/0", b"GIF89a.."), ImageFormat::Gif);
    }

    #[test]
    fn the_name_decides_unknown_bytes() {
        assert_eq!(ImageFormat::of("p/a.JPEG", b"?"), ImageFormat::Jpeg);
        assert_eq!(ImageFormat::of("p/a.webp", b""), ImageFormat::Webp);
        assert_eq!(ImageFormat::of("p.jpg/a", b""), ImageFormat::Other);
        assert_eq!(ImageFormat::of("p/a.svg", b"<svg/>"), ImageFormat::Other);
    }

    #[test]
    fn other_is_never_served_as_an_image() {
        assert_eq!(ImageFormat::Other.media_type(), "application/octet-stream");
    }

    proptest! {
        /// Whatever the bytes, the answer is one of the known media types.
        #[test]
        fn every_input_has_a_media_type(key in ".{0,20}", bytes in proptest::collection::vec(any::<u8>(), 0..32)) {
            let media = ImageFormat::of(&key, &bytes).media_type();
            prop_assert!(media.starts_with("image/") || media == "application/octet-stream");
        }
    }
}
