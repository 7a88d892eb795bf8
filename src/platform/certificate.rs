//! What the platform signs: InMail receipts and advertiser certificates (PROTOCOL.md §10.2).

use serde::{Deserialize, Serialize};

use crate::crypto::sign::{Signature, VerifyingKey};
use crate::envelope::MailboxId;
use crate::error::{CryptoError, DecodeError};
use crate::identity::PublicIdentity;
use crate::wire::{self, Wire};

const RECEIPT_LABEL: &[u8] = b"missive/v1/inmail-receipt";
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

/// The platform's statement that `sender` may open one conversation with `recipient`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct InMailReceipt {
    /// Who may send.
    pub sender: MailboxId,
    /// To whom.
    pub recipient: MailboxId,
    /// Month of issue (months since the Unix epoch).
    pub month: u32,
    /// Unique per issued receipt; recipients refuse a serial they have seen.
    pub serial: u64,
    /// Credit or premium-to-premium.
    pub kind: InMailKind,
    pub(crate) signature: Signature,
}

#[derive(Serialize)]
struct ReceiptBody<'a> {
    sender: &'a MailboxId,
    recipient: &'a MailboxId,
    month: u32,
    serial: u64,
    kind: InMailKind,
}

impl InMailReceipt {
    pub(crate) fn signed_bytes(&self) -> Vec<u8> {
        let mut out = RECEIPT_LABEL.to_vec();
        wire::encode_into(
            &ReceiptBody {
                sender: &self.sender,
                recipient: &self.recipient,
                month: self.month,
                serial: self.serial,
                kind: self.kind,
            },
            &mut out,
        );
        out
    }

    /// Checks the platform's signature.
    pub fn verify(&self, platform: &PlatformKey) -> Result<(), CryptoError> {
        platform.0.verify(&self.signed_bytes(), &self.signature)
    }
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
