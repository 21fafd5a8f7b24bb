//! One delivery of an event to a webhook: where it stands, and which
//! answer of the receiver counts as delivered.
//!
//! vodsnap's own service uses this module (the crate's README, "The public
//! types, for other services"): public for vodsnap's crates, with no
//! promise of stability to other services.

/// Where one delivery stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryState {
    /// Not sent yet, or due for a retry after a failure.
    Pending,
    /// The receiver answered 2xx.
    Delivered,
    /// Every attempt failed; waits for a redelivery.
    Parked,
}

impl DeliveryState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Delivered => "delivered",
            Self::Parked => "parked",
        }
    }
}

/// Whether a receiver's answer counts as delivered: any 2xx.
pub fn is_delivered(status: u16) -> bool {
    (200..300).contains(&status)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_2xx_is_delivered() {
        assert!(is_delivered(200) && is_delivered(204) && is_delivered(299));
        assert!(!is_delivered(199) && !is_delivered(301) && !is_delivered(500));
    }
}
