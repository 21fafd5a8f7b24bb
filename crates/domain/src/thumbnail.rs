//! Snapshot parameters (`thumbnail_para`), following Huawei's `Thumbnail` object.

/// How the snapshots of a task were taken.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ThumbnailKind {
    /// One snapshot every `time` seconds.
    Time { time: i64 },
    /// Snapshots at the given seconds.
    Dots { dots: Vec<i64> },
    /// `quantity` snapshots, spread over `quantity_time` seconds if given.
    Quantity {
        quantity: i64,
        quantity_time: Option<i64>,
    },
}

/// The parameters as received, before validation. Every field is optional
/// so that the rules, not the decoder, decide what is missing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ThumbnailParaInput {
    pub kind: Option<String>,
    pub time: Option<i64>,
    pub dots: Option<Vec<i64>>,
    pub quantity: Option<i64>,
    pub quantity_time: Option<i64>,
    pub cover_position: Option<i64>,
    pub format: Option<i64>,
    pub aspect_ratio: Option<i64>,
    pub max_length: Option<i64>,
}

/// Why `thumbnail_para` is not valid. Each message names the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ThumbnailParaError {
    #[error("thumbnail_para.type is required: one of time, dots, quantity")]
    MissingType,
    #[error("thumbnail_para.type must be one of time, dots, quantity")]
    UnknownType,
    #[error("thumbnail_para.time must be between 0 and 100")]
    Time,
    #[error(
        "thumbnail_para.dots is required for type dots and must hold 1 to {MAX_DOTS} offsets >= 0"
    )]
    Dots,
    #[error("thumbnail_para.quantity is required for type quantity and must be between 1 and 10")]
    Quantity,
    #[error("thumbnail_para.quantity_time must be >= 0")]
    QuantityTime,
    #[error("thumbnail_para.{0} does not apply to thumbnail_para.type {1}")]
    NotForType(&'static str, &'static str),
    #[error("thumbnail_para.cover_position must be >= 1")]
    CoverPosition,
    #[error("thumbnail_para.format must be 1 (jpg)")]
    Format,
    #[error("thumbnail_para.aspect_ratio must be 0 or 1")]
    AspectRatio,
    #[error("thumbnail_para.max_length must be > 0")]
    MaxLength,
}

/// Most `dots` one task may name; as many as a task may have snapshots.
pub const MAX_DOTS: usize = 10_000;

/// Validated parameters, defaults filled in, so that two registrations that
/// mean the same compare equal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThumbnailPara {
    kind: ThumbnailKind,
    cover_position: i64,
    format: i64,
    aspect_ratio: i64,
    max_length: Option<i64>,
}

impl ThumbnailPara {
    /// `time` when a `time` kind gives none.
    pub const DEFAULT_TIME: i64 = 12;
    /// `aspect_ratio` when none is given (Huawei's default).
    pub const DEFAULT_ASPECT_RATIO: i64 = 1;

    /// Applies Huawei's rules and fills in the defaults, so that two inputs
    /// that mean the same give equal values.
    ///
    /// ```
    /// use vodsnap_domain::{ThumbnailKind, ThumbnailPara, ThumbnailParaError, ThumbnailParaInput};
    ///
    /// let para = ThumbnailPara::parse(ThumbnailParaInput {
    ///     kind: Some("time".into()),
    ///     ..Default::default()
    /// })?;
    /// assert_eq!(para.kind(), &ThumbnailKind::Time { time: ThumbnailPara::DEFAULT_TIME });
    /// assert_eq!((para.kind_name(), para.format(), para.aspect_ratio()), ("time", 1, 1));
    ///
    /// let dots_for_time = ThumbnailParaInput {
    ///     kind: Some("time".into()),
    ///     dots: Some(vec![1, 2]),
    ///     ..Default::default()
    /// };
    /// assert_eq!(
    ///     ThumbnailPara::parse(dots_for_time),
    ///     Err(ThumbnailParaError::NotForType("dots", "time"))
    /// );
    /// # Ok::<(), ThumbnailParaError>(())
    /// ```
    pub fn parse(input: ThumbnailParaInput) -> Result<Self, ThumbnailParaError> {
        let kind_name = input
            .kind
            .as_deref()
            .ok_or(ThumbnailParaError::MissingType)?;
        let kind = match kind_name {
            "time" => {
                reject_if(input.dots.is_some(), "dots", "time")?;
                reject_if(input.quantity.is_some(), "quantity", "time")?;
                reject_if(input.quantity_time.is_some(), "quantity_time", "time")?;
                let time = input.time.unwrap_or(Self::DEFAULT_TIME);
                if !(0..=100).contains(&time) {
                    return Err(ThumbnailParaError::Time);
                }
                ThumbnailKind::Time { time }
            }
            "dots" => {
                reject_if(input.time.is_some(), "time", "dots")?;
                reject_if(input.quantity.is_some(), "quantity", "dots")?;
                reject_if(input.quantity_time.is_some(), "quantity_time", "dots")?;
                let dots = input.dots.ok_or(ThumbnailParaError::Dots)?;
                if dots.is_empty() || dots.len() > MAX_DOTS || dots.iter().any(|d| *d < 0) {
                    return Err(ThumbnailParaError::Dots);
                }
                ThumbnailKind::Dots { dots }
            }
            "quantity" => {
                reject_if(input.time.is_some(), "time", "quantity")?;
                reject_if(input.dots.is_some(), "dots", "quantity")?;
                let quantity = input.quantity.ok_or(ThumbnailParaError::Quantity)?;
                if !(1..=10).contains(&quantity) {
                    return Err(ThumbnailParaError::Quantity);
                }
                if input.quantity_time.is_some_and(|t| t < 0) {
                    return Err(ThumbnailParaError::QuantityTime);
                }
                ThumbnailKind::Quantity {
                    quantity,
                    quantity_time: input.quantity_time,
                }
            }
            _ => return Err(ThumbnailParaError::UnknownType),
        };
        let cover_position = input.cover_position.unwrap_or(1);
        if cover_position < 1 {
            return Err(ThumbnailParaError::CoverPosition);
        }
        let format = input.format.unwrap_or(1);
        if format != 1 {
            return Err(ThumbnailParaError::Format);
        }
        let aspect_ratio = input.aspect_ratio.unwrap_or(Self::DEFAULT_ASPECT_RATIO);
        if !(0..=1).contains(&aspect_ratio) {
            return Err(ThumbnailParaError::AspectRatio);
        }
        if input.max_length.is_some_and(|m| m <= 0) {
            return Err(ThumbnailParaError::MaxLength);
        }
        Ok(Self {
            kind,
            cover_position,
            format,
            aspect_ratio,
            max_length: input.max_length,
        })
    }

    /// How the snapshots were taken.
    pub fn kind(&self) -> &ThumbnailKind {
        &self.kind
    }

    /// The wire name of the kind: `time`, `dots` or `quantity`.
    pub fn kind_name(&self) -> &'static str {
        match self.kind {
            ThumbnailKind::Time { .. } => "time",
            ThumbnailKind::Dots { .. } => "dots",
            ThumbnailKind::Quantity { .. } => "quantity",
        }
    }

    /// Which snapshot is the cover (1 for the first).
    pub fn cover_position(&self) -> i64 {
        self.cover_position
    }

    /// The image format: 1, jpg.
    pub fn format(&self) -> i64 {
        self.format
    }

    /// 0 (the source's) or 1 (Huawei's default).
    pub fn aspect_ratio(&self) -> i64 {
        self.aspect_ratio
    }

    /// The longest side in pixels, when given.
    pub fn max_length(&self) -> Option<i64> {
        self.max_length
    }

    /// The parameters back as input, e.g. for a store to persist and parse again.
    pub fn to_input(&self) -> ThumbnailParaInput {
        let mut input = ThumbnailParaInput {
            kind: Some(self.kind_name().to_owned()),
            cover_position: Some(self.cover_position),
            format: Some(self.format),
            aspect_ratio: Some(self.aspect_ratio),
            max_length: self.max_length,
            ..ThumbnailParaInput::default()
        };
        match &self.kind {
            ThumbnailKind::Time { time } => input.time = Some(*time),
            ThumbnailKind::Dots { dots } => input.dots = Some(dots.clone()),
            ThumbnailKind::Quantity {
                quantity,
                quantity_time,
            } => {
                input.quantity = Some(*quantity);
                input.quantity_time = *quantity_time;
            }
        }
        input
    }
}

fn reject_if(
    present: bool,
    field: &'static str,
    kind: &'static str,
) -> Result<(), ThumbnailParaError> {
    if present {
        Err(ThumbnailParaError::NotForType(field, kind))
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn input(kind: &str) -> ThumbnailParaInput {
        ThumbnailParaInput {
            kind: Some(kind.to_owned()),
            ..ThumbnailParaInput::default()
        }
    }

    #[test]
    fn type_is_required_and_known() {
        assert_eq!(
            ThumbnailPara::parse(ThumbnailParaInput::default()),
            Err(ThumbnailParaError::MissingType)
        );
        assert_eq!(
            ThumbnailPara::parse(input("gif")),
            Err(ThumbnailParaError::UnknownType)
        );
    }

    #[test]
    fn time_defaults_to_12_and_stays_in_0_to_100() {
        let p = ThumbnailPara::parse(input("time")).unwrap();
        assert_eq!(p.kind(), &ThumbnailKind::Time { time: 12 });
        for (t, ok) in [(0, true), (100, true), (101, false), (-1, false)] {
            let r = ThumbnailPara::parse(ThumbnailParaInput {
                time: Some(t),
                ..input("time")
            });
            assert_eq!(r.is_ok(), ok, "time {t}");
        }
    }

    #[test]
    fn dots_are_required_non_empty_and_non_negative() {
        assert_eq!(
            ThumbnailPara::parse(input("dots")),
            Err(ThumbnailParaError::Dots)
        );
        let with = |d: Vec<i64>| ThumbnailParaInput {
            dots: Some(d),
            ..input("dots")
        };
        assert_eq!(
            ThumbnailPara::parse(with(vec![])),
            Err(ThumbnailParaError::Dots)
        );
        assert_eq!(
            ThumbnailPara::parse(with(vec![-1])),
            Err(ThumbnailParaError::Dots)
        );
        assert!(ThumbnailPara::parse(with(vec![0, 5])).is_ok());
    }

    #[test]
    fn quantity_is_required_in_1_to_10() {
        assert_eq!(
            ThumbnailPara::parse(input("quantity")),
            Err(ThumbnailParaError::Quantity)
        );
        let with = |q| ThumbnailParaInput {
            quantity: Some(q),
            ..input("quantity")
        };
        assert_eq!(
            ThumbnailPara::parse(with(0)),
            Err(ThumbnailParaError::Quantity)
        );
        assert_eq!(
            ThumbnailPara::parse(with(11)),
            Err(ThumbnailParaError::Quantity)
        );
        assert!(ThumbnailPara::parse(with(10)).is_ok());
        let neg = ThumbnailParaInput {
            quantity_time: Some(-1),
            ..with(3)
        };
        assert_eq!(
            ThumbnailPara::parse(neg),
            Err(ThumbnailParaError::QuantityTime)
        );
    }

    #[test]
    fn fields_of_another_type_are_refused() {
        let r = ThumbnailPara::parse(ThumbnailParaInput {
            dots: Some(vec![1]),
            ..input("time")
        });
        assert_eq!(r, Err(ThumbnailParaError::NotForType("dots", "time")));
    }

    #[test]
    fn common_fields() {
        let base = input("time");
        let bad = [
            (
                ThumbnailParaInput {
                    cover_position: Some(0),
                    ..base.clone()
                },
                ThumbnailParaError::CoverPosition,
            ),
            (
                ThumbnailParaInput {
                    format: Some(2),
                    ..base.clone()
                },
                ThumbnailParaError::Format,
            ),
            (
                ThumbnailParaInput {
                    aspect_ratio: Some(2),
                    ..base.clone()
                },
                ThumbnailParaError::AspectRatio,
            ),
            (
                ThumbnailParaInput {
                    max_length: Some(0),
                    ..base.clone()
                },
                ThumbnailParaError::MaxLength,
            ),
        ];
        for (i, e) in bad {
            assert_eq!(ThumbnailPara::parse(i), Err(e));
        }
    }

    #[test]
    fn defaults_make_equivalent_inputs_equal() {
        let explicit = ThumbnailParaInput {
            time: Some(12),
            cover_position: Some(1),
            format: Some(1),
            aspect_ratio: Some(1),
            ..input("time")
        };
        assert_eq!(
            ThumbnailPara::parse(explicit).unwrap(),
            ThumbnailPara::parse(input("time")).unwrap()
        );
    }

    #[test]
    fn to_input_round_trips() {
        let p = ThumbnailPara::parse(ThumbnailParaInput {
            quantity: Some(3),
            quantity_time: Some(7),
            max_length: Some(480),
            ..input("quantity")
        })
        .unwrap();
        assert_eq!(ThumbnailPara::parse(p.to_input()).unwrap(), p);
    }

    proptest! {
        #[test]
        fn no_input_makes_parse_panic(
            kind in proptest::option::of("time|dots|quantity|[a-z]{0,5}"),
            time in proptest::option::of(any::<i64>()),
            dots in proptest::option::of(proptest::collection::vec(any::<i64>(), 0..4)),
            quantity in proptest::option::of(any::<i64>()),
            cover in proptest::option::of(any::<i64>()),
        ) {
            let i = ThumbnailParaInput { kind, time, dots, quantity, cover_position: cover, ..Default::default() };
            if let Ok(p) = ThumbnailPara::parse(i) {
                prop_assert_eq!(ThumbnailPara::parse(p.to_input()).unwrap(), p);
            }
        }
    }
}
