//! What the platform signs: advertiser and account certificates (PROTOCOL.md §10.2).

use serde::{Deserialize, Serialize};

use crate::crypto::sign::{Signature, VerifyingKey};
use crate::envelope::MailboxId;
use crate::error::{CryptoError, DecodeError};
use crate::identity::PublicIdentity;
use crate::wire::{self, Wire};

const ADVERTISER_LABEL: &[u8] = b"missive/v1/advertiser";

/// The platform's public signing key, which every client is configured with.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlatformKey(pub(crate) VerifyingKey);

impl PlatformKey {
    /// The key from its 32 bytes.
    pub fn from_bytes(bytes: &[u8; 32]) -> Result<Self, DecodeError> {
        VerifyingKey::from_bytes(bytes).map(Self)
    }

    /// The 32-byte encoding.
    pub fn to_bytes(&self) -> [u8; 32] {
        *self.0.as_bytes()
    }
}

/// Why an InMail was allowed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum InMailKind {
    /// The sender spent one credit.
    Credit,
    /// Both sides are premium: free.
    PremiumToPremium,
}

/// The platform's statement that a mailbox and identity belong to a registered advertiser.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AdvertiserCertificate {
    /// The advertiser's display name, as the platform verified it.
    pub name: String,
    /// The advertiser's mailbox.
    pub mailbox: MailboxId,
    /// The advertiser's identity.
    pub identity: PublicIdentity,
    pub(crate) signature: Signature,
}

#[derive(Serialize)]
struct CertificateBody<'a> {
    name: &'a str,
    mailbox: &'a MailboxId,
    identity: &'a PublicIdentity,
}

impl AdvertiserCertificate {
    pub(crate) fn signed_bytes(
        name: &str,
        mailbox: &MailboxId,
        identity: &PublicIdentity,
    ) -> Vec<u8> {
        let mut out = ADVERTISER_LABEL.to_vec();
        wire::encode_into(
            &CertificateBody {
                name,
                mailbox,
                identity,
            },
            &mut out,
        );
        out
    }

    /// Checks the platform's signature.
    pub fn verify(&self, platform: &PlatformKey) -> Result<(), CryptoError> {
        let bytes = Self::signed_bytes(&self.name, &self.mailbox, &self.identity);
        platform.0.verify(&bytes, &self.signature)
    }

    /// The wire form.
    pub fn to_bytes(&self) -> Vec<u8> {
        self.to_wire()
    }

    /// Decodes strictly (the signature is checked by [`AdvertiserCertificate::verify`]).
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, DecodeError> {
        Self::from_wire(bytes)
    }
}

impl Wire for AdvertiserCertificate {
    const WHAT: &'static str = "advertiser certificate";
    const VERSION: u8 = 1;
}

const ACCOUNT_LABEL: &[u8] = b"missive/v1/account";

/// The platform's statement of a mailbox's account: its tier and whether it is a registered
/// advertiser, until `expires`. The relay checks it before issuing tokens and before honouring
/// Open Profile or premium-to-premium InMail for a mailbox.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountCertificate {
    /// The account's mailbox.
    pub mailbox: MailboxId,
    /// Its subscription.
    pub tier: super::Tier,
    /// Whether it is a registered advertiser.
    pub advertiser: bool,
    /// Unix seconds after which it is no longer valid.
    pub expires: u64,
    pub(crate) signature: Signature,
}

#[derive(Serialize)]
struct AccountBody<'a> {
    mailbox: &'a MailboxId,
    tier: super::Tier,
    advertiser: bool,
    expires: u64,
}

impl AccountCertificate {
    pub(crate) fn signed_bytes(
        mailbox: &MailboxId,
        tier: super::Tier,
        advertiser: bool,
        expires: u64,
    ) -> Vec<u8> {
        let mut out = ACCOUNT_LABEL.to_vec();
        let body = AccountBody {
            mailbox,
            tier,
            advertiser,
            expires,
        };
        wire::encode_into(&body, &mut out);
        out
    }

    /// The form the platform hands a member: the postcard struct, as it is embedded in token
    /// requests and access updates (no version byte of its own).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        wire::encode_into(self, &mut out);
        out
    }

    /// Decodes [`AccountCertificate::to_bytes`] strictly (the signature is checked by
    /// [`AccountCertificate::verify`]).
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, DecodeError> {
        wire::decode_body(bytes, "account certificate")
    }

    /// Checks the platform's signature and that it has not expired at `now`.
    pub fn verify(&self, platform: &PlatformKey, now: u64) -> Result<(), CryptoError> {
        let bytes = Self::signed_bytes(&self.mailbox, self.tier, self.advertiser, self.expires);
        platform.0.verify(&bytes, &self.signature)?;
        if now > self.expires {
            return Err(CryptoError::Expired);
        }
        Ok(())
    }
}

const PURCHASE_LABEL: &[u8] = b"missive/v1/credit-purchase";

/// The platform's receipt for InMail credits a member bought: `credits` credit tokens the relay
/// issues to `mailbox` on top of its monthly ones, once, until `expires`. The tokens are issued
/// blind like the monthly ones, so spending them is just as unlinkable to the purchase.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreditPurchase {
    /// The purchase's random id: the relay redeems each once.
    pub id: [u8; 16],
    /// The buyer's mailbox.
    pub mailbox: MailboxId,
    /// How many credit tokens it pays for.
    pub credits: u32,
    /// Unix seconds after which it can no longer be redeemed.
    pub expires: u64,
    pub(crate) signature: Signature,
}

#[derive(Serialize)]
struct PurchaseBody<'a> {
    id: &'a [u8; 16],
    mailbox: &'a MailboxId,
    credits: u32,
    expires: u64,
}

impl CreditPurchase {
    pub(crate) fn signed_bytes(
        id: &[u8; 16],
        mailbox: &MailboxId,
        credits: u32,
        expires: u64,
    ) -> Vec<u8> {
        let mut out = PURCHASE_LABEL.to_vec();
        let body = PurchaseBody {
            id,
            mailbox,
            credits,
            expires,
        };
        wire::encode_into(&body, &mut out);
        out
    }

    /// The wire form (what the platform hands the buyer).
    pub fn to_bytes(&self) -> Vec<u8> {
        self.to_wire()
    }

    /// Decodes strictly (the signature is checked by [`CreditPurchase::verify`]).
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, DecodeError> {
        Self::from_wire(bytes)
    }

    /// Checks the platform's signature and that it has not expired at `now`.
    pub fn verify(&self, platform: &PlatformKey, now: u64) -> Result<(), CryptoError> {
        let bytes = Self::signed_bytes(&self.id, &self.mailbox, self.credits, self.expires);
        platform.0.verify(&bytes, &self.signature)?;
        if now > self.expires {
            return Err(CryptoError::Expired);
        }
        Ok(())
    }
}

impl Wire for CreditPurchase {
    const WHAT: &'static str = "credit purchase";
    const VERSION: u8 = 1;
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::super::{Platform, Profile, Tier};
    use super::*;

    /// What the platform hands a member decodes to the same certificate, still verifying; the
    /// bytes are the struct as token requests embed it, and nothing else decodes.
    #[test]
    fn an_account_certificate_standing_alone_round_trips_strictly() {
        let mut platform = Platform::from_seed(&[7; 32]);
        let member = MailboxId([9; 16]);
        let profile = Profile {
            tier: Tier::PremiumBusiness,
            open_profile: true,
        };
        platform.register(member, profile);
        let certificate = platform.certify_account(&member, true, 1_000).unwrap();
        let bytes = certificate.to_bytes();
        // mailbox (16) || tier (1) || advertiser (1) || expires (2-byte varint) || signature (64)
        assert_eq!(bytes.len(), 16 + 1 + 1 + 2 + 64);
        assert_eq!((&bytes[..16], bytes[16], bytes[17]), (&[9u8; 16][..], 2, 1));
        let decoded = AccountCertificate::from_bytes(&bytes).unwrap();
        assert_eq!(decoded, certificate);
        assert_eq!(decoded.verify(&platform.public_key(), 1_000), Ok(()));
        let mut trailing = bytes.clone();
        trailing.push(0);
        assert!(AccountCertificate::from_bytes(&trailing).is_err());
        assert!(AccountCertificate::from_bytes(&bytes[..bytes.len() - 1]).is_err());
    }
}
