//! The platform's side of the product rules, as a sans-IO model: membership tiers, and the
//! certificates it signs for accounts and registered advertisers.
//!
//! Credits are never trusted to a sender's client, nor counted where the sender is known: the
//! platform certifies an account's tier ([`AccountCertificate`]), the relay issues that many
//! unlinkable one-time tokens a month against it, and an InMail spends one (PROTOCOL.md §11).

mod certificate;
mod ledger;

pub use certificate::{
    AccountCertificate, AdvertiserCertificate, CreditPurchase, InMailKind, PlatformKey,
};
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

/// Invitations every member may send a month.
pub const MONTHLY_INVITATIONS: u32 = 100;
/// Premium-to-premium messages a premium member may open a month (free, but not unlimited).
pub const MONTHLY_PREMIUM_MESSAGES: u32 = 1000;
/// Sponsored envelopes a registered advertiser may send a month.
pub const MONTHLY_SPONSORED: u32 = 100_000;

/// How many tokens of `kind` the relay issues an account each month.
pub fn monthly_tokens(kind: crate::token::TokenKind, account: &AccountCertificate) -> u32 {
    use crate::token::TokenKind;
    match kind {
        TokenKind::Invite => MONTHLY_INVITATIONS,
        TokenKind::Credit => account.tier.monthly_inmail_credits(),
        TokenKind::Premium if account.tier.is_premium() => MONTHLY_PREMIUM_MESSAGES,
        TokenKind::Sponsored if account.advertiser => MONTHLY_SPONSORED,
        TokenKind::Premium | TokenKind::Sponsored => 0,
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
