//! The platform's side of the product rules, as a sans-IO model: membership tiers, the InMail
//! credit ledger, and certificates for registered advertisers.
//!
//! Credits are counted by the platform, never trusted to a sender's client: the platform signs
//! an [`InMailReceipt`] when it debits a credit (or when both sides are premium), the sender
//! carries it inside the encrypted message, and the recipient's client checks it against the
//! platform's key. A relay-side check that never learns the sender is the next layer.

mod certificate;
mod ledger;

pub use certificate::{AdvertiserCertificate, InMailKind, InMailReceipt, PlatformKey};
pub use ledger::{Ledger, LedgerError, Platform, month_of};

use serde::{Deserialize, Serialize};

/// A member's subscription.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Tier {
    /// No subscription: no InMail credits, no Open Profile.
    Free,
    /// Premium Career: 5 InMail credits a month.
    PremiumCareer,
    /// Premium Business: 15 InMail credits a month.
    PremiumBusiness,
}

impl Tier {
    /// InMail credits granted each month.
    pub fn monthly_inmail_credits(self) -> u32 {
        match self {
            Self::Free => 0,
            Self::PremiumCareer => 5,
            Self::PremiumBusiness => 15,
        }
    }

    /// Whether this is a premium tier.
    pub fn is_premium(self) -> bool {
        self != Self::Free
    }
}

/// What the platform says publicly about a member, as the app learns it from the platform.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Profile {
    /// Subscription tier.
    pub tier: Tier,
    /// Open Profile: anyone may message this member. Only effective for premium members.
    pub open_profile: bool,
}

impl Profile {
    /// A free member's profile.
    pub const FREE: Self = Self {
        tier: Tier::Free,
        open_profile: false,
    };

    /// Whether anyone may message this member without a connection or a credit.
    pub fn accepts_anyone(&self) -> bool {
        self.open_profile && self.tier.is_premium()
    }
}
