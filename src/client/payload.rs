//! What travels inside pairwise sessions, and what a conversation message says.

use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use super::access::GroupSecret;
use super::account_sync::Stamp;
use super::state::SettingsState;
use crate::access::AccessKey;
use crate::conversation::ConversationId;
use crate::envelope::MailboxId;
use crate::error::DecodeError;
use crate::wire::Wire;

/// A payload carried by a pairwise session (PROTOCOL.md §9.3). Never seen by the relay.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum Pairwise {
    /// A conversation's key distribution (welcome, sender chain or membership change).
    Distribution(#[serde(with = "serde_bytes")] Vec<u8>),
    /// A fan-out grant, so the receiver can open our multi-recipient first messages.
    Grant(#[serde(with = "serde_bytes")] Vec<u8>),
    /// A connection invitation, with an optional note.
    Invite {
        /// The note shown with the invitation.
        note: Option<String>,
    },
    /// The invitation was accepted: the two are connected.
    Accept,
    /// The invitation was declined.
    Decline,
    /// The inviter withdrew the invitation.
    Withdraw,
    /// The connection was removed.
    Remove,
    /// Our contact key changed (it travels in the sealed header, like with every message).
    KeyUpdate,
    /// A group epoch's access secret, from the admin who started the epoch.
    GroupAccess {
        /// The group.
        group: ConversationId,
        /// The epoch it is for.
        epoch: u64,
        /// The secret every member derives every member's access key from (wiped on drop).
        secret: GroupSecret,
    },
    /// To a member an admin removed from a group: the group's epoch `epoch` goes on without it.
    Removed {
        /// The group.
        group: ConversationId,
        /// The first epoch without the receiver.
        epoch: u64,
    },
    /// To our own other devices: the account's contact key, which this device replaced (each
    /// device registers its own key derived from it, PROTOCOL.md §11.1).
    ContactKey {
        /// The new key.
        key: AccessKey,
        /// When and where it was drawn; the highest stamp wins on every device.
        stamp: Stamp,
        /// The stamp of the key this device held when it drew this one.
        replaces: Stamp,
    },
    /// To our own other devices: this device took a connection step with member `with`, so
    /// each of them stands with `with` as this one does.
    Did {
        /// The other member.
        with: MailboxId,
        /// The step.
        step: Step,
        /// The contact key `with` gave us, if we hold one (a paid invitation that carried it
        /// reached only one of our devices).
        key: Option<AccessKey>,
        /// The stamp of the contact key this device held when it took the step.
        seen: Stamp,
    },
    /// To our own other devices: the account's switches as this device changed them.
    Settings {
        /// The switches.
        settings: SettingsState,
        /// When and where they were changed; the highest stamp wins on every device.
        stamp: Stamp,
    },
}

/// A connection step one of our devices took (PROTOCOL.md §9.3, §12.6).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum Step {
    /// Invited them.
    Invite,
    /// Accepted their invitation (or invited them back).
    Accept,
    /// Declined their invitation.
    Decline,
    /// Withdrew our invitation.
    Withdraw,
    /// Removed the connection.
    Remove,
}

impl Wire for Pairwise {
    const WHAT: &'static str = "pairwise payload";
    const VERSION: u8 = 1;
}

impl Pairwise {
    /// The wire form, in a buffer wiped on drop (distributions carry chain keys).
    pub(crate) fn to_bytes(&self) -> Zeroizing<Vec<u8>> {
        Zeroizing::new(self.to_wire())
    }

    pub(crate) fn from_bytes(bytes: &[u8]) -> Result<Self, DecodeError> {
        Self::from_wire(bytes)
    }
}

/// Decodes a pairwise payload as a receiver does and encodes it again: the hook the fuzz target
/// drives (a payload is otherwise reached only inside an authenticated session).
///
/// # Errors
/// The payloads whose fields are private to the client's state, from their parts (vectors).
#[cfg(feature = "vectors")]
impl Pairwise {
    pub(crate) fn group_access(group: ConversationId, epoch: u64, secret: [u8; 32]) -> Self {
        Self::GroupAccess {
            group,
            epoch,
            secret: GroupSecret::from(Zeroizing::new(secret)),
        }
    }

    pub(crate) fn settings(switches: [bool; 3], stamp: Stamp) -> Self {
        let [read_receipts, typing_indicators, sponsored_messages] = switches;
        Self::Settings {
            settings: SettingsState {
                read_receipts,
                typing_indicators,
                sponsored_messages,
            },
            stamp,
        }
    }
}

/// The decoding error a receiver would meet.
#[cfg(feature = "hazmat")]
#[doc(hidden)]
pub fn reencode_pairwise(bytes: &[u8]) -> Result<Vec<u8>, DecodeError> {
    Ok(Pairwise::from_bytes(bytes)?.to_bytes().to_vec())
}

#[cfg(test)]
mod tests {
    //! Deterministic vectors for every pairwise payload kind (PROTOCOL.md §9.3):
    //! `vectors/client/pairwise.json`, replayed from its inputs by
    //! `vectors/client/verify.py`; `missive::vectors` writes it (`missive vectors write`).
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use serde_json::{Value, json};

    use super::*;
    use crate::client::account_sync::Stamp;
    use crate::client::state::SettingsState;

    const FILE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/vectors/client/pairwise.json");

    fn stamp(time: u64, device: u8) -> Stamp {
        Stamp {
            time,
            device: MailboxId([device; 16]),
        }
    }

    fn hex16(b: u8) -> String {
        hex::encode([b; 16])
    }

    /// Each kind, its inputs as the JSON gives them, and the value.
    fn cases() -> Vec<(&'static str, Value, Pairwise)> {
        vec![
            (
                "distribution",
                json!({ "bytes": "0102ff" }),
                Pairwise::Distribution(vec![1, 2, 0xff]),
            ),
            (
                "grant",
                json!({ "bytes": "0a0b" }),
                Pairwise::Grant(vec![0x0a, 0x0b]),
            ),
            (
                "invite",
                json!({ "note": "Let's connect" }),
                Pairwise::Invite {
                    note: Some("Let's connect".into()),
                },
            ),
            (
                "invite",
                json!({ "note": null }),
                Pairwise::Invite { note: None },
            ),
            ("accept", json!({}), Pairwise::Accept),
            ("decline", json!({}), Pairwise::Decline),
            ("withdraw", json!({}), Pairwise::Withdraw),
            ("remove", json!({}), Pairwise::Remove),
            ("key_update", json!({}), Pairwise::KeyUpdate),
            (
                "group_access",
                json!({ "group": hex16(0xc1), "epoch": 300, "secret": hex::encode([0x5e; 32]) }),
                Pairwise::GroupAccess {
                    group: ConversationId([0xc1; 16]),
                    epoch: 300,
                    secret: GroupSecret([0x5e; 32]),
                },
            ),
            (
                "removed",
                json!({ "group": hex16(0xc1), "epoch": 2 }),
                Pairwise::Removed {
                    group: ConversationId([0xc1; 16]),
                    epoch: 2,
                },
            ),
            (
                "contact_key",
                json!({
                    "key": hex16(0x4b),
                    "stamp": { "time": 1_800_000_060u64, "device": hex16(0xd2) },
                    "replaces": { "time": 1_800_000_000u64, "device": hex16(0xd1) },
                }),
                Pairwise::ContactKey {
                    key: AccessKey::from_bytes([0x4b; 16]),
                    stamp: stamp(1_800_000_060, 0xd2),
                    replaces: stamp(1_800_000_000, 0xd1),
                },
            ),
            (
                "did",
                json!({
                    "with": hex16(0xb0),
                    "step": 4,
                    "key": hex16(0x4c),
                    "seen": { "time": 0, "device": hex16(0) },
                }),
                Pairwise::Did {
                    with: MailboxId([0xb0; 16]),
                    step: Step::Remove,
                    key: Some(AccessKey::from_bytes([0x4c; 16])),
                    seen: stamp(0, 0),
                },
            ),
            (
                "did",
                json!({
                    "with": hex16(0xb0),
                    "step": 0,
                    "key": null,
                    "seen": { "time": 1_800_000_000u64, "device": hex16(0xd1) },
                }),
                Pairwise::Did {
                    with: MailboxId([0xb0; 16]),
                    step: Step::Invite,
                    key: None,
                    seen: stamp(1_800_000_000, 0xd1),
                },
            ),
            (
                "settings",
                json!({
                    "read_receipts": false,
                    "typing_indicators": true,
                    "sponsored_messages": false,
                    "stamp": { "time": 1_800_000_061u64, "device": hex16(0xd2) },
                }),
                Pairwise::Settings {
                    settings: SettingsState {
                        read_receipts: false,
                        typing_indicators: true,
                        sponsored_messages: false,
                    },
                    stamp: stamp(1_800_000_061, 0xd2),
                },
            ),
        ]
    }

    #[test]
    fn every_payload_kind_matches_the_vectors_and_decodes_to_its_inputs() {
        // `missive::vectors` writes the file and checks it against its inputs; here each
        // case's wire decodes to the value these tests name.
        let on_disk: Value = serde_json::from_str(&std::fs::read_to_string(FILE).unwrap()).unwrap();
        for ((kind, _, value), case) in cases().iter().zip(on_disk["cases"].as_array().unwrap()) {
            let wire = hex::decode(case["wire"].as_str().unwrap()).unwrap();
            assert_eq!(&Pairwise::from_bytes(&wire).unwrap(), value, "{kind}");
            // A byte too many, one too few, or another version: refused.
            let mut long = wire.clone();
            long.push(0);
            assert!(Pairwise::from_bytes(&long).is_err(), "{kind}");
            assert!(
                Pairwise::from_bytes(&wire[..wire.len() - 1]).is_err(),
                "{kind}"
            );
            let mut other = wire.clone();
            other[0] = 2;
            assert!(Pairwise::from_bytes(&other).is_err(), "{kind}");
        }
        // A variant past the last, a step past the last, a boolean that is not 0 or 1.
        assert!(Pairwise::from_bytes(&[1, 13]).is_err());
        let mut did = hex::decode(on_disk["cases"][12]["wire"].as_str().unwrap()).unwrap();
        assert_eq!(did[1], 11);
        did[18] = 5;
        assert!(Pairwise::from_bytes(&did).is_err());
        let mut settings = hex::decode(on_disk["cases"][14]["wire"].as_str().unwrap()).unwrap();
        assert_eq!(settings[1], 12);
        settings[2] = 2;
        assert!(Pairwise::from_bytes(&settings).is_err());
    }
}
