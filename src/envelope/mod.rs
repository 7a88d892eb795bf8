//! The relay-facing envelope: recipient mailboxes, an expiry and a padded ciphertext
//! (PROTOCOL.md §7).
//!
//! An [`Envelope`] is what leaves a client. It names up to [`MAX_RECIPIENTS`] mailboxes (a
//! first message up to [`MAX_KEYED_RECIPIENTS`]); the
//! sender is nowhere in it (its identity and signature are inside the encryption). A relay
//! calls [`split`] to turn one envelope into one [`Delivery`] per mailbox, storing the shared
//! body once; it can read none of it. A client hands a received [`Delivery`] to
//! `Conversation::decrypt` (plain) or `FanOut::open_first` (keyed).

pub mod padding;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::{DecodeError, Error, UsageError};
use crate::wire::Wire;

/// The most mailboxes one plain envelope names.
pub const MAX_RECIPIENTS: usize = 50;
/// The most mailboxes one keyed (first-message) envelope names: every device of up to 50
/// members and of the sender, at most 8 each (`(50 + 1) × 8`), so a first message is one
/// envelope however its recipients' devices are counted (PROTOCOL.md §6.7, §12.6).
pub const MAX_KEYED_RECIPIENTS: usize = (MAX_RECIPIENTS + 1) * 8;
/// The largest ciphertext an envelope carries: a padded [`padding::MAX_BODY`] plus headers.
pub const MAX_CIPHERTEXT: usize = 2 << 20;
/// Bytes each recipient adds to a keyed (first-message) envelope: mailbox, label, wrapped seed.
pub const KEYED_RECIPIENT_LEN: usize = 16 + 8 + 32;

/// A relay mailbox address, and a member's stable id inside a conversation.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct MailboxId(pub [u8; 16]);

impl core::fmt::Debug for MailboxId {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "MailboxId(")?;
        self.0.iter().try_for_each(|b| write!(f, "{b:02x}"))?;
        write!(f, ")")
    }
}

/// An envelope's id: what relays and clients deduplicate by (at-least-once delivery).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Serialize, Deserialize)]
pub struct EnvelopeId(pub [u8; 16]);

/// One recipient's key-delivery part of a first message: a label it finds its key by, and the
/// conversation seed wrapped under that key. Opaque to the relay.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct KeyPart {
    /// Pseudorandom 8-byte label of the recipient's fan-out key.
    pub label: [u8; 8],
    /// The 32-byte conversation seed XORed with that key.
    pub wrapped: [u8; 32],
}

#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
struct KeyedRecipient {
    mailbox: MailboxId,
    part: KeyPart,
}

#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
enum Recipients {
    Plain(Vec<MailboxId>),
    Keyed(Vec<KeyedRecipient>),
}

/// What a client hands the relay. Wire: `0x01 || postcard(expiry, recipients, body)`.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct Envelope {
    expiry: u64,
    recipients: Recipients,
    #[serde(with = "serde_bytes")]
    body: Vec<u8>,
}

impl Wire for Envelope {
    const WHAT: &'static str = "envelope";
    const VERSION: u8 = 1;
}

impl Envelope {
    /// Envelopes carrying `body` (a conversation message) to `recipients`, at most
    /// [`MAX_RECIPIENTS`] per envelope, mailboxes sorted. `expiry` is in Unix seconds.
    pub fn to_mailboxes(
        expiry: u64,
        recipients: &[MailboxId],
        body: &[u8],
    ) -> Result<Vec<Self>, Error> {
        let mut sorted = recipients.to_vec();
        sorted.sort_unstable();
        sorted.dedup();
        if sorted.len() != recipients.len() || sorted.is_empty() {
            return Err(UsageError::InvalidRoster.into());
        }
        check_body(body).map_err(|_| UsageError::TooLarge {
            what: "envelope body",
        })?;
        Ok(sorted
            .chunks(MAX_RECIPIENTS)
            .map(|chunk| Self {
                expiry,
                recipients: Recipients::Plain(chunk.to_vec()),
                body: body.to_vec(),
            })
            .collect())
    }

    /// A keyed envelope; `parts` sorted and at most [`MAX_KEYED_RECIPIENTS`] (checked by the
    /// caller).
    pub(crate) fn keyed(expiry: u64, parts: Vec<(MailboxId, KeyPart)>, body: Vec<u8>) -> Self {
        let list = parts
            .into_iter()
            .map(|(mailbox, part)| KeyedRecipient { mailbox, part })
            .collect();
        Self {
            expiry,
            recipients: Recipients::Keyed(list),
            body,
        }
    }

    /// The wire form.
    pub fn to_bytes(&self) -> Vec<u8> {
        self.to_wire()
    }

    /// Decodes strictly: canonical postcard, 1 to 50 recipients (408 for a keyed envelope) in
    /// increasing order, no duplicate, a non-empty body of at most [`MAX_CIPHERTEXT`] bytes.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, DecodeError> {
        let envelope = Self::from_wire(bytes)?;
        let max = match envelope.recipients {
            Recipients::Plain(_) => MAX_RECIPIENTS,
            Recipients::Keyed(_) => MAX_KEYED_RECIPIENTS,
        };
        check_mailboxes(&envelope.mailboxes(), max, "envelope recipient list")?;
        check_body(&envelope.body)?;
        Ok(envelope)
    }

    /// The id: the first 16 bytes of `SHA-256("missive/v1/envelope-id" || wire bytes)`.
    pub fn id(&self) -> EnvelopeId {
        let digest = Sha256::new()
            .chain_update(b"missive/v1/envelope-id")
            .chain_update(self.to_wire())
            .finalize();
        let mut id = [0u8; 16];
        id.copy_from_slice(&digest[..16]);
        EnvelopeId(id)
    }

    /// Expiry, Unix seconds.
    pub fn expiry(&self) -> u64 {
        self.expiry
    }

    /// The recipient mailboxes, in order.
    pub fn mailboxes(&self) -> Vec<MailboxId> {
        match &self.recipients {
            Recipients::Plain(list) => list.clone(),
            Recipients::Keyed(list) => list.iter().map(|r| r.mailbox).collect(),
        }
    }

    /// The shared ciphertext.
    pub fn body(&self) -> &[u8] {
        &self.body
    }

    /// Whether it is a first message (each recipient has a key part).
    pub fn is_keyed(&self) -> bool {
        matches!(self.recipients, Recipients::Keyed(_))
    }

    /// Each recipient mailbox with its key part (none for a plain envelope), in order. With
    /// [`Envelope::cohort`] and [`Envelope::body`] this is what a relay stores: the body once,
    /// a part per mailbox, and [`Delivery::new`] to reassemble.
    pub fn parts(&self) -> Vec<(MailboxId, Option<KeyPart>)> {
        match &self.recipients {
            Recipients::Plain(list) => list.iter().map(|m| (*m, None)).collect(),
            Recipients::Keyed(list) => list.iter().map(|r| (r.mailbox, Some(r.part))).collect(),
        }
    }

    /// Every recipient of a first message (the ad-hoc conversation's roster); empty for a plain
    /// envelope.
    pub fn cohort(&self) -> Vec<MailboxId> {
        match &self.recipients {
            Recipients::Plain(_) => Vec::new(),
            Recipients::Keyed(_) => self.mailboxes(),
        }
    }

    /// One delivery per mailbox. Each names its envelope id; a keyed envelope's deliveries carry
    /// the recipient's own key part and the whole recipient list (the conversation's roster).
    pub fn split(&self) -> Vec<Delivery> {
        let id = self.id();
        let cohort = self.cohort();
        self.parts()
            .into_iter()
            .map(|(mailbox, part)| Delivery {
                id,
                expiry: self.expiry,
                mailbox,
                part,
                cohort: cohort.clone(),
                body: self.body.clone(),
            })
            .collect()
    }
}

/// Decodes an envelope and splits it: the pure function a relay calls. It never panics.
pub fn split(envelope: &[u8]) -> Result<Vec<Delivery>, DecodeError> {
    Ok(Envelope::from_bytes(envelope)?.split())
}

/// What the relay hands one mailbox. Wire: `0x01 || postcard(id, expiry, mailbox, part,
/// cohort, body)`.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct Delivery {
    id: EnvelopeId,
    expiry: u64,
    mailbox: MailboxId,
    part: Option<KeyPart>,
    cohort: Vec<MailboxId>,
    #[serde(with = "serde_bytes")]
    body: Vec<u8>,
}

impl Wire for Delivery {
    const WHAT: &'static str = "delivery";
    const VERSION: u8 = 1;
}

impl Delivery {
    /// The wire form.
    pub fn to_bytes(&self) -> Vec<u8> {
        self.to_wire()
    }

    /// Reassembles a delivery from what a relay stored: the envelope's id and expiry, the
    /// shared body (and, for a first message, the mailbox list) once, and this mailbox's part.
    /// Checks the same rules as [`Delivery::from_bytes`].
    pub fn new(
        id: EnvelopeId,
        expiry: u64,
        mailbox: MailboxId,
        part: Option<KeyPart>,
        cohort: Vec<MailboxId>,
        body: Vec<u8>,
    ) -> Result<Self, DecodeError> {
        let delivery = Self {
            id,
            expiry,
            mailbox,
            part,
            cohort,
            body,
        };
        delivery.check()?;
        Ok(delivery)
    }

    /// Decodes strictly. A keyed delivery's cohort is 1 to 408 mailboxes in increasing order
    /// that include its own; a plain delivery has none.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, DecodeError> {
        let delivery = Self::from_wire(bytes)?;
        delivery.check()?;
        Ok(delivery)
    }

    fn check(&self) -> Result<(), DecodeError> {
        let invalid = DecodeError::Invalid { what: Self::WHAT };
        match self.part {
            Some(_) => {
                check_mailboxes(&self.cohort, MAX_KEYED_RECIPIENTS, Self::WHAT)?;
                if self.cohort.binary_search(&self.mailbox).is_err() {
                    return Err(invalid);
                }
            }
            None if !self.cohort.is_empty() => return Err(invalid),
            None => {}
        }
        check_body(&self.body)
    }

    /// The envelope's id, for deduplication.
    pub fn id(&self) -> EnvelopeId {
        self.id
    }
    /// Expiry, Unix seconds.
    pub fn expiry(&self) -> u64 {
        self.expiry
    }
    /// The mailbox this delivery is for.
    pub fn mailbox(&self) -> MailboxId {
        self.mailbox
    }
    /// This recipient's key part, for a first message.
    pub fn part(&self) -> Option<&KeyPart> {
        self.part.as_ref()
    }
    /// Every recipient of a first message (empty for a plain delivery).
    pub fn cohort(&self) -> &[MailboxId] {
        &self.cohort
    }
    /// The shared ciphertext.
    pub fn body(&self) -> &[u8] {
        &self.body
    }
}

fn check_mailboxes(list: &[MailboxId], max: usize, what: &'static str) -> Result<(), DecodeError> {
    let ordered = list.windows(2).all(|w| w[0] < w[1]);
    if list.is_empty() || list.len() > max || !ordered {
        return Err(DecodeError::Invalid { what });
    }
    Ok(())
}

fn check_body(body: &[u8]) -> Result<(), DecodeError> {
    if body.is_empty() || body.len() > MAX_CIPHERTEXT {
        return Err(DecodeError::Invalid {
            what: "envelope body",
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mb(n: u8) -> MailboxId {
        MailboxId([n; 16])
    }

    #[test]
    fn keyed_bytes_per_recipient() {
        let parts = |n: u8| {
            (1..=n)
                .map(|i| {
                    (
                        mb(i),
                        KeyPart {
                            label: [i; 8],
                            wrapped: [i; 32],
                        },
                    )
                })
                .collect()
        };
        let one = Envelope::keyed(9, parts(1), vec![1; 300]).to_bytes().len();
        let fifty = Envelope::keyed(9, parts(50), vec![1; 300]).to_bytes().len();
        assert_eq!(fifty - one, 49 * KEYED_RECIPIENT_LEN);
    }

    #[test]
    fn strict_order_and_limits() {
        let e = Envelope::to_mailboxes(5, &[mb(2), mb(1)], b"x").unwrap();
        assert_eq!(e.len(), 1);
        let bytes = e[0].to_bytes();
        assert_eq!(Envelope::from_bytes(&bytes).unwrap(), e[0]);
        let mut swapped = bytes.clone();
        swapped[4..20].copy_from_slice(&[2; 16]);
        swapped[20..36].copy_from_slice(&[1; 16]);
        assert!(Envelope::from_bytes(&swapped).is_err());
        let mut trailing = bytes;
        trailing.push(0);
        assert_eq!(
            Envelope::from_bytes(&trailing),
            Err(DecodeError::TrailingBytes { what: "envelope" })
        );
        let many: Vec<_> = (0..=100u8).map(mb).collect();
        assert_eq!(Envelope::to_mailboxes(5, &many, b"x").unwrap().len(), 3);
        assert!(Envelope::to_mailboxes(5, &[mb(1), mb(1)], b"x").is_err());
    }

    fn wide(n: usize) -> Vec<MailboxId> {
        (0..n)
            .map(|i| {
                let mut id = [0u8; 16];
                id[..8].copy_from_slice(&(i as u64).to_be_bytes());
                MailboxId(id)
            })
            .collect()
    }

    #[test]
    fn a_first_message_names_every_device_of_fifty_one_members_a_plain_one_fifty() {
        assert_eq!(MAX_KEYED_RECIPIENTS, 51 * crate::device::MAX_DEVICES);
        let keyed = |n| {
            let parts = wide(n).into_iter().map(|m| {
                let part = KeyPart {
                    label: [1; 8],
                    wrapped: [2; 32],
                };
                (m, part)
            });
            Envelope::keyed(9, parts.collect(), vec![1; 10]).to_bytes()
        };
        let most = Envelope::from_bytes(&keyed(MAX_KEYED_RECIPIENTS)).unwrap();
        let deliveries = most.split();
        assert_eq!(deliveries.len(), 408);
        let again = Delivery::from_bytes(&deliveries[407].to_bytes()).unwrap();
        assert_eq!(again.cohort().len(), 408);
        let refused = Err(DecodeError::Invalid {
            what: "envelope recipient list",
        });
        assert_eq!(Envelope::from_bytes(&keyed(409)), refused);
        let plain = |n| {
            Envelope {
                expiry: 9,
                recipients: Recipients::Plain(wide(n)),
                body: vec![1; 10],
            }
            .to_bytes()
        };
        assert!(Envelope::from_bytes(&plain(50)).is_ok());
        assert_eq!(Envelope::from_bytes(&plain(51)), refused);
    }

    #[test]
    fn a_delivery_names_its_whole_cohort_only_when_keyed() {
        let part = KeyPart {
            label: [1; 8],
            wrapped: [2; 32],
        };
        let delivery = |part: Option<KeyPart>, cohort: Vec<MailboxId>| {
            Delivery {
                id: EnvelopeId([3; 16]),
                expiry: 9,
                mailbox: wide(1)[0],
                part,
                cohort,
                body: vec![1; 10],
            }
            .to_bytes()
        };
        let refused = Err(DecodeError::Invalid { what: "delivery" });
        assert!(Delivery::from_bytes(&delivery(Some(part), wide(408))).is_ok());
        assert!(Delivery::from_bytes(&delivery(None, Vec::new())).is_ok());
        assert_eq!(
            Delivery::from_bytes(&delivery(Some(part), wide(409))),
            refused
        );
        let without_its_own = wide(3)[1..].to_vec();
        assert_eq!(
            Delivery::from_bytes(&delivery(Some(part), without_its_own)),
            refused
        );
        assert_eq!(Delivery::from_bytes(&delivery(None, wide(2))), refused);
        let mut backwards = wide(3);
        backwards.reverse();
        assert_eq!(
            Delivery::from_bytes(&delivery(Some(part), backwards)),
            refused
        );
        let mut twice = wide(3);
        twice.insert(1, twice[1]);
        assert_eq!(Delivery::from_bytes(&delivery(Some(part), twice)), refused);
    }

    #[test]
    fn an_envelope_names_each_mailbox_once() {
        let part = KeyPart {
            label: [1; 8],
            wrapped: [2; 32],
        };
        let mut parts: Vec<(MailboxId, KeyPart)> = wide(3).into_iter().map(|m| (m, part)).collect();
        parts.insert(1, parts[1]);
        let bytes = Envelope::keyed(9, parts, vec![1; 10]).to_bytes();
        assert_eq!(
            Envelope::from_bytes(&bytes),
            Err(DecodeError::Invalid {
                what: "envelope recipient list"
            })
        );
    }
}
