//! The platform: members' tiers, the InMail credit ledger, advertiser registration.

use std::collections::HashMap;

use rand::CryptoRng;

use super::Profile;
use super::certificate::{AdvertiserCertificate, InMailKind, InMailReceipt, PlatformKey};
use crate::crypto::sign::SigningKey;
use crate::envelope::MailboxId;
use crate::identity::PublicIdentity;

/// Why the platform refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum LedgerError {
    /// The member is not registered.
    UnknownMember,
    /// No InMail credits left this month (free members have none).
    NoCredits,
}

impl core::fmt::Display for LedgerError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            Self::UnknownMember => "member is not registered",
            Self::NoCredits => "no InMail credits left this month",
        })
    }
}

impl std::error::Error for LedgerError {}

#[derive(Clone, Copy, Debug)]
struct Account {
    profile: Profile,
    month: u32,
    credits: u32,
}

/// Per-member InMail credits: each month a member has its tier's allowance; unspent credits do
/// not carry over.
#[derive(Clone, Debug, Default)]
pub struct Ledger {
    accounts: HashMap<MailboxId, Account>,
}

impl Ledger {
    /// Registers (or updates) a member.
    pub fn register(&mut self, member: MailboxId, profile: Profile) {
        let month = self.accounts.get(&member).map_or(0, |a| a.month);
        let credits = profile.tier.monthly_inmail_credits();
        self.accounts.insert(
            member,
            Account {
                profile,
                month,
                credits,
            },
        );
    }

    /// A member's public profile.
    pub fn profile(&self, member: &MailboxId) -> Option<Profile> {
        self.accounts.get(member).map(|a| a.profile)
    }

    /// Credits `member` has left in `month`.
    pub fn credits(&self, member: &MailboxId, month: u32) -> Result<u32, LedgerError> {
        let a = self
            .accounts
            .get(member)
            .ok_or(LedgerError::UnknownMember)?;
        Ok(if a.month == month {
            a.credits
        } else {
            a.profile.tier.monthly_inmail_credits()
        })
    }

    /// Decides an InMail from `sender` to `recipient`: free when both are premium, otherwise
    /// one of the sender's credits for `month`.
    fn debit(
        &mut self,
        sender: &MailboxId,
        recipient: &MailboxId,
        month: u32,
    ) -> Result<InMailKind, LedgerError> {
        let recipient_tier = self
            .accounts
            .get(recipient)
            .ok_or(LedgerError::UnknownMember)?
            .profile
            .tier;
        let account = self
            .accounts
            .get_mut(sender)
            .ok_or(LedgerError::UnknownMember)?;
        if account.month != month {
            account.month = month;
            account.credits = account.profile.tier.monthly_inmail_credits();
        }
        if account.profile.tier.is_premium() && recipient_tier.is_premium() {
            return Ok(InMailKind::PremiumToPremium);
        }
        account.credits = account
            .credits
            .checked_sub(1)
            .ok_or(LedgerError::NoCredits)?;
        Ok(InMailKind::Credit)
    }
}

/// The platform: its signing key and its ledger.
pub struct Platform {
    key: SigningKey,
    ledger: Ledger,
    next_serial: u64,
}

impl Platform {
    /// A platform with a fresh signing key.
    pub fn new<R: CryptoRng + ?Sized>(rng: &mut R) -> Self {
        Self {
            key: SigningKey::generate(rng),
            ledger: Ledger::default(),
            next_serial: 1,
        }
    }

    /// The key clients verify receipts and certificates with.
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

    /// Authorises one InMail, debiting a credit unless both sides are premium.
    pub fn authorize_inmail(
        &mut self,
        sender: &MailboxId,
        recipient: &MailboxId,
        month: u32,
    ) -> Result<InMailReceipt, LedgerError> {
        let kind = self.ledger.debit(sender, recipient, month)?;
        let serial = self.next_serial;
        self.next_serial += 1;
        let mut receipt = InMailReceipt {
            sender: *sender,
            recipient: *recipient,
            month,
            serial,
            kind,
            signature: crate::crypto::sign::Signature::from_bytes([0; 64]),
        };
        receipt.signature = self.key.sign(&receipt.signed_bytes());
        Ok(receipt)
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
