//! What a conversation encrypts: the content and the access under which it is sent
//! (PROTOCOL.md §10.1). The access travels end to end, so the recipient's client checks the
//! product rules even against a modified sender.

use serde::{Deserialize, Serialize};

use super::content::Content;
use crate::conversation::ConversationId;
use crate::envelope::MailboxId;
use crate::error::DecodeError;
use crate::identity::PublicIdentity;
use crate::platform::{AdvertiserCertificate, InMailKind};
use crate::wire::Wire;

/// Why the sender may send this message.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum Access {
    /// The two are connected (variant 0).
    Connection,
    /// The conversation was opened before (by InMail, Open Profile or a shared group) (1).
    Opened,
    /// The recipient is a premium member with Open Profile on (2).
    OpenProfile,
    /// An InMail: the sender spent a credit token, or a premium token when both are premium
    /// (the relay checked the token) (3).
    InMail(InMailKind),
    /// Both are members of this group (4).
    GroupMember(ConversationId),
    /// A post to a group by one of its admins or managers (5).
    Group,
    /// A multi-recipient message to the sender's connections (6).
    Multi,
    /// A sponsored message from a registered advertiser (7).
    Sponsored(Box<AdvertiserCertificate>),
    /// An answer to everyone in a multi-recipient conversation, by one of its participants
    /// (8).
    Participant,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Post {
    pub(crate) access: Access,
    pub(crate) content: Content,
}

impl Wire for Post {
    const WHAT: &'static str = "post";
    const VERSION: u8 = 1;
}

impl Post {
    pub(crate) fn to_bytes(&self) -> Vec<u8> {
        self.to_wire()
    }

    pub(crate) fn from_bytes(bytes: &[u8]) -> Result<Self, DecodeError> {
        Self::from_wire(bytes)
    }
}

/// What a multi-recipient first message carries (PROTOCOL.md §10.1): its post and, for a
/// conversation every participant may answer in, each recipient member's identity as the
/// opener vouches for it, in member order, and the member of each device it went to that is
/// not its account's first, in device order. A sponsored message lists nobody: its audience
/// neither sees each other nor answers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct FirstPost {
    pub(crate) participants: Vec<(MailboxId, PublicIdentity)>,
    pub(crate) devices: Vec<(MailboxId, MailboxId)>,
    pub(crate) post: Post,
}

/// Version 1: no device other than an account's first.
#[derive(Serialize, Deserialize)]
struct FirstPostV1 {
    participants: Vec<(MailboxId, PublicIdentity)>,
    post: Post,
}

impl Wire for FirstPostV1 {
    const WHAT: &'static str = "first post";
    const VERSION: u8 = 1;
}

/// Version 2, written when some device is not its account's first.
#[derive(Serialize, Deserialize)]
struct FirstPostV2 {
    participants: Vec<(MailboxId, PublicIdentity)>,
    devices: Vec<(MailboxId, MailboxId)>,
    post: Post,
}

impl Wire for FirstPostV2 {
    const WHAT: &'static str = "first post";
    const VERSION: u8 = 2;
}

impl FirstPost {
    pub(crate) fn to_bytes(&self) -> Vec<u8> {
        let (participants, post) = (self.participants.clone(), self.post.clone());
        if self.devices.is_empty() {
            return FirstPostV1 { participants, post }.to_wire();
        }
        let devices = self.devices.clone();
        FirstPostV2 {
            participants,
            devices,
            post,
        }
        .to_wire()
    }

    /// Decodes strictly: participants in increasing member order, devices in increasing
    /// device order, each once, none named as its own member, and version 2 only with some.
    pub(crate) fn from_bytes(bytes: &[u8]) -> Result<Self, DecodeError> {
        let first = match bytes.first() {
            Some(&FirstPostV1::VERSION) => {
                let v1 = FirstPostV1::from_wire(bytes)?;
                Self {
                    participants: v1.participants,
                    devices: Vec::new(),
                    post: v1.post,
                }
            }
            _ => {
                let v2 = FirstPostV2::from_wire(bytes)?;
                if v2.devices.is_empty() {
                    return Err(DecodeError::NonCanonical {
                        what: "first post device list",
                    });
                }
                Self {
                    participants: v2.participants,
                    devices: v2.devices,
                    post: v2.post,
                }
            }
        };
        if !first.participants.windows(2).all(|w| w[0].0 < w[1].0) {
            return Err(DecodeError::NonCanonical {
                what: "first post participant list",
            });
        }
        let increasing = first.devices.windows(2).all(|w| w[0].0 < w[1].0);
        if !increasing || first.devices.iter().any(|(d, m)| d == m) {
            return Err(DecodeError::NonCanonical {
                what: "first post device list",
            });
        }
        Ok(first)
    }

    /// The member device `device` speaks for: the one listed, else the device itself (an
    /// account's first device).
    pub(crate) fn member_of(&self, device: &MailboxId) -> MailboxId {
        self.devices
            .binary_search_by_key(device, |(d, _)| *d)
            .map_or(*device, |i| self.devices[i].1)
    }
}

/// Decodes a first message's post as a receiver does and encodes it again: the hook the fuzz
/// target drives (a first post is otherwise reached only inside an authenticated message).
///
/// # Errors
/// The decoding error a receiver would meet.
#[cfg(feature = "hazmat")]
#[doc(hidden)]
pub fn reencode_first_post(bytes: &[u8]) -> Result<Vec<u8>, DecodeError> {
    Ok(FirstPost::from_bytes(bytes)?.to_bytes())
}

#[cfg(test)]
mod tests {
    //! Deterministic vectors for the first post of a multi-recipient message (PROTOCOL.md
    //! §10.1), versions 1 and 2: `vectors/client/first_post.json`, replayed from its inputs by
    //! `vectors/client/verify.py`; `missive::vectors` writes it (`missive vectors write`).
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use serde_json::Value;

    use super::*;
    use crate::identity::Identity;

    const FILE: &str = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/vectors/client/first_post.json"
    );

    /// A public identity from fixed secrets: its 64 bytes (X25519 || Ed25519).
    fn fixed_identity(b: u8) -> (PublicIdentity, String) {
        let mut secret = vec![1u8];
        secret.extend([b; 32]);
        secret.extend([b.wrapping_add(1); 32]);
        let identity = Identity::from_secret_bytes(&secret).unwrap();
        let public = *identity.public();
        (public, hex::encode(&public.to_bytes()[1..]))
    }

    fn vector_cases() -> Vec<(&'static str, FirstPost)> {
        let (ben, cem) = (fixed_identity(0x11), fixed_identity(0x22));
        let post = Post {
            access: Access::Multi,
            content: Content::text("Lunch on Friday?"),
        };
        let participants = vec![(id(0xb0), ben.0), (id(0xc0), cem.0)];
        vec![
            (
                "first devices only (version 1)",
                FirstPost {
                    participants: participants.clone(),
                    devices: Vec::new(),
                    post: post.clone(),
                },
            ),
            (
                "a recipient's second device and the opener's (version 2)",
                FirstPost {
                    participants,
                    devices: vec![(id(0xa1), id(0xa0)), (id(0xb1), id(0xb0))],
                    post,
                },
            ),
        ]
    }

    #[test]
    fn the_vectors_are_what_we_write_and_read_back() {
        // `missive::vectors` writes the file and checks it against its inputs; here each
        // case's wire decodes to the first post these tests name.
        let on_disk: Value = serde_json::from_str(&std::fs::read_to_string(FILE).unwrap()).unwrap();
        for ((name, first), case) in vector_cases()
            .iter()
            .zip(on_disk["cases"].as_array().unwrap())
        {
            let wire = hex::decode(case["wire"].as_str().unwrap()).unwrap();
            assert_eq!(&FirstPost::from_bytes(&wire).unwrap(), first, "{name}");
            let mut long = wire.clone();
            long.push(0);
            assert!(FirstPost::from_bytes(&long).is_err(), "{name}");
            assert!(
                FirstPost::from_bytes(&wire[..wire.len() - 1]).is_err(),
                "{name}"
            );
        }
    }

    fn id(i: u8) -> MailboxId {
        MailboxId([i; 16])
    }

    fn first(devices: Vec<(MailboxId, MailboxId)>) -> FirstPost {
        let identity = *Identity::generate(&mut rand::rng()).public();
        FirstPost {
            participants: vec![(id(1), identity), (id(2), identity)],
            devices,
            post: Post {
                access: Access::Multi,
                content: Content::text("hi"),
            },
        }
    }

    #[test]
    fn version_one_without_devices_two_with_them_and_each_round_trips() {
        let plain = first(Vec::new());
        let bytes = plain.to_bytes();
        assert_eq!(bytes[0], 1);
        assert_eq!(FirstPost::from_bytes(&bytes).unwrap(), plain);
        let with = first(vec![(id(7), id(1)), (id(9), id(2))]);
        let bytes = with.to_bytes();
        assert_eq!(bytes[0], 2);
        assert_eq!(FirstPost::from_bytes(&bytes).unwrap(), with);
        assert_eq!(with.member_of(&id(7)), id(1));
        assert_eq!(with.member_of(&id(9)), id(2));
        assert_eq!(
            with.member_of(&id(2)),
            id(2),
            "a first device is its member"
        );
        assert_eq!(with.member_of(&id(8)), id(8));
    }

    #[test]
    fn a_device_list_out_of_order_naming_itself_or_empty_in_version_two_is_refused() {
        let refused = Err(DecodeError::NonCanonical {
            what: "first post device list",
        });
        let v2 = |devices: Vec<(MailboxId, MailboxId)>| {
            let f = first(Vec::new());
            FirstPostV2 {
                participants: f.participants,
                devices,
                post: f.post,
            }
            .to_wire()
        };
        assert_eq!(FirstPost::from_bytes(&v2(Vec::new())), refused);
        assert_eq!(
            FirstPost::from_bytes(&v2(vec![(id(9), id(1)), (id(7), id(2))])),
            refused
        );
        assert_eq!(
            FirstPost::from_bytes(&v2(vec![(id(7), id(1)), (id(7), id(2))])),
            refused
        );
        assert_eq!(FirstPost::from_bytes(&v2(vec![(id(7), id(7))])), refused);
        assert!(FirstPost::from_bytes(&v2(vec![(id(7), id(1))])).is_ok());
        let mut unsorted = first(Vec::new());
        unsorted.participants.reverse();
        assert_eq!(
            FirstPost::from_bytes(&unsorted.to_bytes()),
            Err(DecodeError::NonCanonical {
                what: "first post participant list"
            })
        );
        let mut other = v2(vec![(id(7), id(1))]);
        other[0] = 3;
        assert_eq!(
            FirstPost::from_bytes(&other),
            Err(DecodeError::UnknownVersion {
                what: "first post",
                got: 3
            })
        );
    }
}
