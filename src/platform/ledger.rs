//! The platform: members' tiers, account and advertiser certificates.

use std::collections::HashMap;

use rand::CryptoRng;

use super::Profile;
use super::certificate::{AccountCertificate, AdvertiserCertificate, CreditPurchase, PlatformKey};
use crate::crypto::sign::SigningKey;
use crate::envelope::MailboxId;
use crate::identity::PublicIdentity;

/// Why the platform refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum LedgerError {
    /// The member is not registered.
    UnknownMember,
}

impl core::fmt::Display for LedgerError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            Self::UnknownMember => "member is not registered",
        })
    }
}

impl std::error::Error for LedgerError {}

/// Members' profiles as the platform keeps them. Credits are not counted here: the relay
/// issues them as unlinkable tokens against the account certificate the platform signs from
/// this ledger (PROTOCOL.md §11.4).
#[derive(Clone, Debug, Default)]
pub struct Ledger {
    profiles: HashMap<MailboxId, Profile>,
}

impl Ledger {
    /// Registers (or updates) a member.
    pub fn register(&mut self, member: MailboxId, profile: Profile) {
        self.profiles.insert(member, profile);
    }

    /// A member's public profile.
    pub fn profile(&self, member: &MailboxId) -> Option<Profile> {
        self.profiles.get(member).copied()
    }
}

/// The platform: its signing key and its ledger.
pub struct Platform {
    key: SigningKey,
    ledger: Ledger,
}

impl Platform {
    /// A platform with a fresh signing key.
    pub fn new<R: CryptoRng + ?Sized>(rng: &mut R) -> Self {
        Self {
            key: SigningKey::generate(rng),
            ledger: Ledger::default(),
        }
    }

    /// A platform whose signing key is the one `seed` (from [`Platform::to_seed`]) gives,
    /// with an empty ledger.
    pub fn from_seed(seed: &[u8; 32]) -> Self {
        Self {
            key: SigningKey::from_seed(seed),
            ledger: Ledger::default(),
        }
    }

    /// The signing key's seed, to keep the platform's key across restarts. Secret.
    pub fn to_seed(&self) -> zeroize::Zeroizing<[u8; 32]> {
        self.key.to_seed()
    }

    /// The key clients and relays verify certificates with.
    pub fn public_key(&self) -> PlatformKey {
        PlatformKey(*self.key.verifying_key())
    }

    /// The ledger.
    pub fn ledger(&self) -> &Ledger {
        &self.ledger
    }

    /// Registers (or updates) a member's tier and Open Profile setting.
    pub fn register(&mut self, member: MailboxId, profile: Profile) {
        self.ledger.register(member, profile);
    }

    /// Certifies a registered member's account for the relay: its tier from the ledger, and
    /// whether the platform registered it as an advertiser, valid until `expires`.
    pub fn certify_account(
        &self,
        mailbox: &MailboxId,
        advertiser: bool,
        expires: u64,
    ) -> Result<AccountCertificate, LedgerError> {
        let tier = self
            .ledger
            .profile(mailbox)
            .ok_or(LedgerError::UnknownMember)?
            .tier;
        let signature = self.key.sign(&AccountCertificate::signed_bytes(
            mailbox, tier, advertiser, expires,
        ));
        Ok(AccountCertificate {
            mailbox: *mailbox,
            tier,
            advertiser,
            expires,
            signature,
        })
    }

    /// Sells `credits` InMail credits to a registered member (the payment is the platform's
    /// business): a receipt the relay redeems once for that many credit tokens, until
    /// `expires`.
    pub fn sell_credits<R: CryptoRng + ?Sized>(
        &self,
        rng: &mut R,
        mailbox: &MailboxId,
        credits: u32,
        expires: u64,
    ) -> Result<CreditPurchase, LedgerError> {
        self.ledger
            .profile(mailbox)
            .ok_or(LedgerError::UnknownMember)?;
        let mut id = [0u8; 16];
        rng.fill_bytes(&mut id);
        let signature = self.key.sign(&CreditPurchase::signed_bytes(
            &id, mailbox, credits, expires,
        ));
        Ok(CreditPurchase {
            id,
            mailbox: *mailbox,
            credits,
            expires,
            signature,
        })
    }

    /// Certifies a registered advertiser under a verified display name.
    pub fn certify_advertiser(
        &self,
        name: &str,
        mailbox: &MailboxId,
        identity: &PublicIdentity,
    ) -> AdvertiserCertificate {
        let signature = self.key.sign(&AdvertiserCertificate::signed_bytes(
            name, mailbox, identity,
        ));
        AdvertiserCertificate {
            name: name.to_string(),
            mailbox: *mailbox,
            identity: *identity,
            signature,
        }
    }
}

impl core::fmt::Debug for Platform {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Platform")
            .field("key", &self.public_key())
            .finish_non_exhaustive()
    }
}

/// Months since the Unix epoch for a Unix time in seconds (30-day months are not used: this
/// is the calendar month, computed from the civil date).
pub fn month_of(unix_seconds: u64) -> u32 {
    let days = unix_seconds / 86_400;
    // Civil-from-days (H. Hinnant), enough for the year and month.
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    u32::try_from((year - 1970) * 12 + (month - 1)).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calendar_months() {
        assert_eq!(month_of(0), 0);
        assert_eq!(month_of(31 * 86_400 - 1), 0);
        assert_eq!(month_of(31 * 86_400), 1); // 1970-02-01
        assert_eq!(month_of(1_798_761_600), (2027 - 1970) * 12); // 2027-01-01
    }
}
