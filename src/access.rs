//! Delivery credentials: how a relay checks that a sealed sender may deliver to a mailbox
//! without learning who the sender is (PROTOCOL.md §11).
//!
//! Each mailbox registers 16-byte [`AccessKey`]s with the relay and hands them only to those
//! it lets write to it: its **contact key** to connections (and to whoever it opened a
//! conversation with), and one key per group per epoch, derived from a secret only that epoch's
//! members hold. A [`Submission`] carries the envelope with a [`Credential`]: keys for each
//! recipient (or, for first messages to many connections, the XOR of their contact keys), a
//! one-time [`crate::token::Token`] (invitations, InMail, sponsored messages), or nothing at
//! all for a mailbox with Open Profile. The relay learns that *some* holder of a key (or of a
//! token of a kind) delivered, never which one.

use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq;
use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::crypto::kdf;
use crate::envelope::MailboxId;
use crate::error::DecodeError;
use crate::platform::AccountCertificate;
use crate::token::Token;
use crate::wire::Wire;

/// Bytes in an access key.
pub const ACCESS_KEY_LEN: usize = 16;
/// Most keys a mailbox keeps registered besides its contact key (one per group it is in, two
/// while an epoch changes).
pub const MAX_KEYS: usize = 512;
/// Most keys a sender presents for one recipient (a group's current and previous epoch).
pub const MAX_TAGS: usize = 2;

const GROUP_ACCESS_LABEL: &[u8] = b"missive/v1/group-access";
const DEVICE_ACCESS_SALT: &[u8] = b"missive/v1/device-access";

/// A mailbox's access key. Whoever holds it may deliver to that mailbox.
#[derive(Clone, Zeroize, ZeroizeOnDrop, Serialize, Deserialize)]
pub struct AccessKey([u8; ACCESS_KEY_LEN]);

impl AccessKey {
    /// A fresh random key.
    pub fn generate<R: rand::CryptoRng + ?Sized>(rng: &mut R) -> Self {
        let mut key = [0u8; ACCESS_KEY_LEN];
        rng.fill_bytes(&mut key);
        Self(key)
    }

    /// The key from its bytes.
    pub fn from_bytes(bytes: [u8; ACCESS_KEY_LEN]) -> Self {
        Self(bytes)
    }

    /// The key's bytes.
    pub fn as_bytes(&self) -> &[u8; ACCESS_KEY_LEN] {
        &self.0
    }

    /// The key of `member`'s mailbox for a group epoch whose access secret is `secret`:
    /// `HKDF-Expand(secret, "missive/v1/group-access" || mailbox, 16)`. Every member of the
    /// epoch can compute every other member's key; a removed member cannot compute the next
    /// epoch's.
    pub fn for_group_member(secret: &[u8; 32], member: &MailboxId) -> Self {
        let mut key = [0u8; ACCESS_KEY_LEN];
        // 16 bytes is far below HKDF's limit, so the expansion cannot fail.
        let _ = kdf::expand_multi(secret, &[GROUP_ACCESS_LABEL, &member.0], &mut key);
        Self(key)
    }

    /// The contact key device `device` of an account registers, the account's contact key
    /// being this one: the key itself for the account's first device (whose mailbox is the
    /// member id), else `HKDF(salt = "missive/v1/device-access", ikm = key, info = mailbox, 16)`.
    /// Every device's differs, so keys XORed over several devices of one account never
    /// cancel out.
    pub fn for_device(&self, member: &MailboxId, device: &MailboxId) -> Self {
        if member == device {
            return self.clone();
        }
        let prk = kdf::extract(DEVICE_ACCESS_SALT, &self.0);
        Self(*kdf::expand_array::<ACCESS_KEY_LEN>(&prk, &[&device.0]))
    }

    /// XOR of keys: what a sender presents for a whole list of recipients at once.
    pub fn combine<'a>(keys: impl IntoIterator<Item = &'a AccessKey>) -> Self {
        let mut out = [0u8; ACCESS_KEY_LEN];
        for key in keys {
            out.iter_mut().zip(key.0).for_each(|(o, k)| *o ^= k);
        }
        Self(out)
    }
}

impl ConstantTimeEq for AccessKey {
    fn ct_eq(&self, other: &Self) -> subtle::Choice {
        self.0.ct_eq(&other.0)
    }
}

impl PartialEq for AccessKey {
    fn eq(&self, other: &Self) -> bool {
        self.ct_eq(other).into()
    }
}

impl Eq for AccessKey {}

impl core::fmt::Debug for AccessKey {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("AccessKey(..)")
    }
}

/// What a sender presents to deliver an envelope.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub enum Credential {
    /// The XOR of every recipient's contact key (16 bytes for up to 50 connections) (0).
    Contacts(AccessKey),
    /// For each recipient, in the envelope's order, one or two keys it has registered (1).
    Keys(Vec<Vec<AccessKey>>),
    /// A one-time token: an invitation, an InMail credit, a premium-to-premium message or a
    /// sponsored message (2).
    Token(Token),
    /// Nothing: the one recipient has Open Profile on (3).
    Open,
    /// One token for every device of one account: an invitation, an InMail credit or a
    /// premium-to-premium message to a member on several devices (4).
    Member(MemberToken),
}

/// A token paying for one account, whichever of its devices an envelope reaches: the relay
/// admits it for the mailboxes the account's stored device list names, and counts every
/// envelope it pays for against the account, not the mailbox (PROTOCOL.md §11.2).
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct MemberToken {
    /// The token spent.
    pub token: Token,
    /// The account's name in the directory, whose device list the relay checks.
    #[serde(with = "serde_bytes")]
    pub user: Vec<u8>,
}

/// `POST /v1/envelopes` and `/v1/ephemeral`: an encoded envelope and its credential.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct Submission {
    /// How the sender may deliver to the envelope's recipients.
    pub credential: Credential,
    /// The encoded [`crate::envelope::Envelope`].
    #[serde(with = "serde_bytes")]
    pub envelope: Vec<u8>,
}

/// A mailbox's switches the relay enforces.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct MailboxSettings {
    /// Open Profile: deliveries without a credential are accepted (rate-limited). Only
    /// honoured while `account` shows a premium tier.
    pub open_profile: bool,
    /// Sponsored messages are accepted.
    pub sponsored: bool,
    /// The platform's certificate of this mailbox's account (tier, advertiser), if any.
    pub account: Option<AccountCertificate>,
}

impl Default for MailboxSettings {
    fn default() -> Self {
        Self {
            open_profile: false,
            sponsored: true,
            account: None,
        }
    }
}

/// `PUT /v1/mailbox/access` (authenticated by the mailbox): changes the keys and switches the
/// relay holds for it.
#[derive(Clone, PartialEq, Eq, Debug, Default, Serialize, Deserialize)]
pub struct AccessUpdate {
    /// A new contact key, replacing the old one (revoking it).
    pub contact: Option<AccessKey>,
    /// Keys to add (a group epoch's).
    pub add: Vec<AccessKey>,
    /// Keys to drop (a group epoch that ended).
    pub remove: Vec<AccessKey>,
    /// New switches, when they change.
    pub settings: Option<MailboxSettings>,
}

impl AccessUpdate {
    /// Whether it changes nothing.
    pub fn is_empty(&self) -> bool {
        self.contact.is_none()
            && self.add.is_empty()
            && self.remove.is_empty()
            && self.settings.is_none()
    }
}

macro_rules! wire_type {
    ($($ty:ident => $what:literal),* $(,)?) => {$(
        impl Wire for $ty {
            const WHAT: &'static str = $what;
            const VERSION: u8 = 1;
        }
        impl $ty {
            /// The wire form.
            pub fn to_bytes(&self) -> Vec<u8> {
                self.to_wire()
            }
        }
    )*};
}

wire_type! {
    Submission => "submission",
    AccessUpdate => "access update",
}

impl Submission {
    /// Decodes strictly: a credential's key lists hold 1 to [`MAX_TAGS`] keys each.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, DecodeError> {
        let submission = Self::from_wire(bytes)?;
        if let Credential::Keys(lists) = &submission.credential
            && lists.iter().any(|l| l.is_empty() || l.len() > MAX_TAGS)
        {
            return Err(DecodeError::Invalid {
                what: "credential key list",
            });
        }
        Ok(submission)
    }
}

impl AccessUpdate {
    /// Decodes strictly: each list in increasing byte order without repeats (a set has one
    /// encoding). How many keys a mailbox may keep ([`MAX_KEYS`]) is the relay's check, which
    /// answers `too_many_keys`; the request's size bounds what is decoded.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, DecodeError> {
        let update = Self::from_wire(bytes)?;
        let increasing =
            |keys: &[AccessKey]| keys.windows(2).all(|w| w[0].as_bytes() < w[1].as_bytes());
        if !increasing(&update.add) || !increasing(&update.remove) {
            return Err(DecodeError::NonCanonical {
                what: "access update key list",
            });
        }
        Ok(update)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;

    #[test]
    fn a_device_key_is_the_hkdf_of_the_account_key_over_its_mailbox() {
        let key = AccessKey::from_bytes([7; 16]);
        let (member, device) = (MailboxId([1; 16]), MailboxId([2; 16]));
        assert_eq!(key.for_device(&member, &member), key);
        let derived = key.for_device(&member, &device);
        let prk = kdf::extract(b"missive/v1/device-access", &[7; 16]);
        assert_eq!(derived.0, *kdf::expand_array::<16>(&prk, &[&[2; 16]]));
        assert_ne!(derived, key.for_device(&member, &MailboxId([3; 16])));
        assert_ne!(
            derived,
            AccessKey::from_bytes([8; 16]).for_device(&member, &device)
        );
    }

    #[test]
    fn xor_of_keys_is_order_free_and_self_inverse() {
        let mut rng = rand::rng();
        let (a, b) = (AccessKey::generate(&mut rng), AccessKey::generate(&mut rng));
        assert_eq!(AccessKey::combine([&a, &b]), AccessKey::combine([&b, &a]));
        assert_eq!(AccessKey::combine([&a, &b, &b]), a);
        assert_ne!(AccessKey::combine([&a, &b]), a);
    }

    #[test]
    fn group_keys_differ_per_member_and_per_secret() {
        let (m1, m2) = (MailboxId([1; 16]), MailboxId([2; 16]));
        let k = |s: u8, m: &MailboxId| AccessKey::for_group_member(&[s; 32], m);
        assert_ne!(k(1, &m1), k(1, &m2));
        assert_ne!(k(1, &m1), k(2, &m1));
        assert_eq!(k(1, &m1), k(1, &m1));
    }

    #[test]
    fn debug_never_shows_a_key() {
        let key = AccessKey::from_bytes([0xab; 16]);
        assert_eq!(format!("{key:?}"), "AccessKey(..)");
        let c = Credential::Contacts(key);
        assert!(!format!("{c:?}").contains("171"));
    }

    #[test]
    fn submissions_decode_strictly() {
        let key = || AccessKey::from_bytes([7; 16]);
        let ok = Submission {
            credential: Credential::Keys(vec![vec![key(), key()]]),
            envelope: vec![1, 2, 3],
        };
        assert_eq!(Submission::from_bytes(&ok.to_bytes()).unwrap(), ok);
        let mut trailing = ok.to_bytes();
        trailing.push(0);
        assert!(Submission::from_bytes(&trailing).is_err());
        for bad in [vec![], vec![key(), key(), key()]] {
            let s = Submission {
                credential: Credential::Keys(vec![bad]),
                envelope: vec![1],
            };
            assert!(Submission::from_bytes(&s.to_bytes()).is_err());
        }
    }

    #[test]
    fn an_update_lists_each_set_in_one_order() {
        let keys = |n: usize| -> Vec<AccessKey> {
            (0..n)
                .map(|i| {
                    let mut k = [0u8; 16];
                    k[..8].copy_from_slice(&(i as u64).to_be_bytes());
                    AccessKey::from_bytes(k)
                })
                .collect()
        };
        let large = AccessUpdate {
            add: keys(MAX_KEYS + 1),
            remove: keys(MAX_KEYS + 1),
            ..AccessUpdate::default()
        };
        assert_eq!(AccessUpdate::from_bytes(&large.to_bytes()).unwrap(), large);
        let unordered = Err(DecodeError::NonCanonical {
            what: "access update key list",
        });
        let (a, b) = (keys(2)[0].clone(), keys(2)[1].clone());
        for list in [vec![b.clone(), a.clone()], vec![a.clone(), a.clone()]] {
            for update in [
                AccessUpdate {
                    add: list.clone(),
                    ..AccessUpdate::default()
                },
                AccessUpdate {
                    remove: list.clone(),
                    ..AccessUpdate::default()
                },
            ] {
                assert_eq!(AccessUpdate::from_bytes(&update.to_bytes()), unordered);
            }
        }
    }

    #[test]
    fn an_update_is_empty_only_when_it_changes_nothing() {
        assert!(AccessUpdate::default().is_empty());
        let key = || AccessKey::from_bytes([3; 16]);
        let changes = [
            AccessUpdate {
                contact: Some(key()),
                ..AccessUpdate::default()
            },
            AccessUpdate {
                add: vec![key()],
                ..AccessUpdate::default()
            },
            AccessUpdate {
                remove: vec![key()],
                ..AccessUpdate::default()
            },
            AccessUpdate {
                settings: Some(MailboxSettings::default()),
                ..AccessUpdate::default()
            },
        ];
        for change in changes {
            assert!(!change.is_empty(), "{change:?}");
        }
    }
}
