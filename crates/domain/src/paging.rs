//! Paging windows, with the ranges each endpoint allows.

/// Why an offset or limit is out of range.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PageError {
    #[error("offset must be between 0 and {max}, got {got}")]
    Offset { max: i64, got: i64 },
    #[error("limit must be between 1 and {max}, got {got}")]
    Limit { max: i64, got: i64 },
}

impl PageError {
    /// The query parameter that is out of range.
    pub fn field(&self) -> &'static str {
        match self {
            Self::Offset { .. } => "offset",
            Self::Limit { .. } => "limit",
        }
    }
}

fn window(
    offset: Option<i64>,
    limit: Option<i64>,
    max_offset: i64,
    max_limit: i64,
    default_limit: i64,
) -> Result<(u32, u32), PageError> {
    let offset = offset.unwrap_or(0);
    let limit = limit.unwrap_or(default_limit);
    if !(0..=max_offset).contains(&offset) {
        return Err(PageError::Offset {
            max: max_offset,
            got: offset,
        });
    }
    if !(1..=max_limit).contains(&limit) {
        return Err(PageError::Limit {
            max: max_limit,
            got: limit,
        });
    }
    // Both are range-checked above, far below u32::MAX.
    Ok((
        u32::try_from(offset).unwrap_or(0),
        u32::try_from(limit).unwrap_or(1),
    ))
}

macro_rules! page {
    ($(#[$doc:meta])* $name:ident, max_offset = $mo:expr, max_limit = $ml:expr, default_limit = $dl:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub struct $name {
            offset: u32,
            limit: u32,
        }

        impl $name {
            /// The largest offset accepted.
            pub const MAX_OFFSET: i64 = $mo;
            /// The largest limit accepted.
            pub const MAX_LIMIT: i64 = $ml;
            /// The limit when none is given.
            pub const DEFAULT_LIMIT: i64 = $dl;

            /// A page from the query's `offset` and `limit`, either absent.
            pub fn new(offset: Option<i64>, limit: Option<i64>) -> Result<Self, PageError> {
                let (offset, limit) = window(offset, limit, $mo, $ml, $dl)?;
                Ok(Self { offset, limit })
            }

            /// How many items to skip.
            pub fn offset(&self) -> u32 {
                self.offset
            }

            /// How many items at most.
            pub fn limit(&self) -> u32 {
                self.limit
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self { offset: 0, limit: $dl }
            }
        }
    };
}

page!(
    /// A page of the task result list: offset 0..=20000, limit 1..=100 (10).
    ///
    /// ```
    /// use vodsnap_domain::{ListPage, PageError};
    ///
    /// let page = ListPage::new(Some(20), None)?;
    /// assert_eq!((page.offset(), page.limit()), (20, 10));
    /// assert_eq!(ListPage::new(None, Some(101)), Err(PageError::Limit { max: 100, got: 101 }));
    /// # Ok::<(), PageError>(())
    /// ```
    ListPage,
    max_offset = 20_000,
    max_limit = 100,
    default_limit = 10
);
page!(
    /// A page of one task's snapshots: offset 0..=20480, limit 1..=100 (20).
    ///
    /// ```
    /// use vodsnap_domain::{DetailsPage, PageError};
    ///
    /// assert_eq!(DetailsPage::new(None, None)?.limit(), 20);
    /// assert_eq!(DetailsPage::new(Some(-1), None).map_err(|e| e.field()), Err("offset"));
    /// # Ok::<(), PageError>(())
    /// ```
    DetailsPage,
    max_offset = 20_480,
    max_limit = 100,
    default_limit = 20
);

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn defaults() {
        assert_eq!(ListPage::new(None, None).unwrap(), ListPage::default());
        assert_eq!(ListPage::default().limit(), 10);
        assert_eq!(DetailsPage::default().limit(), 20);
    }

    #[test]
    fn list_bounds() {
        assert!(ListPage::new(Some(20_000), Some(100)).is_ok());
        assert_eq!(
            ListPage::new(Some(20_001), None).unwrap_err().field(),
            "offset"
        );
        assert_eq!(ListPage::new(Some(-1), None).unwrap_err().field(), "offset");
        assert_eq!(ListPage::new(None, Some(0)).unwrap_err().field(), "limit");
        assert_eq!(ListPage::new(None, Some(101)).unwrap_err().field(), "limit");
    }

    #[test]
    fn details_bounds() {
        assert!(DetailsPage::new(Some(20_480), Some(100)).is_ok());
        assert_eq!(
            DetailsPage::new(Some(20_481), None).unwrap_err().field(),
            "offset"
        );
        assert_eq!(
            DetailsPage::new(None, Some(101)).unwrap_err().field(),
            "limit"
        );
    }

    proptest! {
        #[test]
        fn accepted_pages_are_in_range(o in any::<i64>(), l in any::<i64>()) {
            if let Ok(p) = ListPage::new(Some(o), Some(l)) {
                prop_assert!(i64::from(p.offset()) == o && i64::from(p.limit()) == l);
                prop_assert!((1..=100).contains(&l) && (0..=20_000).contains(&o));
            }
        }
    }
}
