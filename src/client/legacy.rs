//! Client states saved by version 2 (PROTOCOL.md §9.6), read once. Version 2 wrote its maps and
//! sets in hash order, a different order on every save, so its strict decoder refused most
//! states with two or more contacts. They are read here without the canonical-order check,
//! every invariant of the current form is checked as usual, and the next save writes them in
//! the current form.

use serde::{Deserialize, Serialize};
use zeroize::Zeroize;

use crate::conversation::{Conversation, ConversationId};
use crate::envelope::{EnvelopeId, MailboxId};
use crate::error::DecodeError;
use crate::identity::PublicIdentity;
use crate::platform::{AdvertiserCertificate, PlatformKey, Profile};
use crate::wire;

use super::access::AccessState;
use super::sessions::MAX_PER_PEER;
use super::state::{ClientState, ConnectionState, ContactState, SettingsState, StoredSecret};

/// The version byte of the states read here.
pub(super) const VERSION: u8 = 2;

const WHAT: &str = "client state (version 2)";

#[derive(Serialize, Deserialize)]
struct ContactV2 {
    user: Vec<u8>,
    mailbox: MailboxId,
    identity: PublicIdentity,
}

/// The version 2 layout. Its access state has the current layout: its sets and maps were
/// written as sequences in hash order, which the current sorted types read in any order.
#[derive(Serialize, Deserialize)]
struct ClientStateV2 {
    user: Vec<u8>,
    #[serde(with = "serde_bytes")]
    identity: Vec<u8>,
    mailbox_seed: [u8; 32],
    #[serde(with = "serde_bytes")]
    prekeys: Vec<u8>,
    profile: Profile,
    settings: SettingsState,
    platform: Option<PlatformKey>,
    advertiser: Option<AdvertiserCertificate>,
    lead_keys: Vec<([u8; 16], [u8; 32])>,
    contacts: Vec<ContactV2>,
    profiles: Vec<(MailboxId, Profile)>,
    connections: Vec<(MailboxId, ConnectionState)>,
    sessions: Vec<(MailboxId, Vec<u8>)>,
    conversations: Vec<Vec<u8>>,
    direct: Vec<(MailboxId, ConversationId)>,
    groups: Vec<ConversationId>,
    opened: Vec<ConversationId>,
    access: AccessState,
    #[serde(with = "serde_bytes")]
    fanout: Vec<u8>,
    granted: Vec<MailboxId>,
    seen: Vec<EnvelopeId>,
    pending: Vec<Vec<u8>>,
}

impl Drop for ClientStateV2 {
    fn drop(&mut self) {
        self.identity.zeroize();
        self.mailbox_seed.zeroize();
        self.prekeys.zeroize();
        self.lead_keys.iter_mut().for_each(|(_, k)| k.zeroize());
        self.sessions.iter_mut().for_each(|(_, s)| s.zeroize());
        self.conversations.iter_mut().for_each(Zeroize::zeroize);
        self.fanout.zeroize();
    }
}

/// Reads a version 2 state into the current form.
pub(super) fn read(bytes: &[u8]) -> Result<ClientState, DecodeError> {
    let body = bytes
        .get(1..)
        .ok_or(DecodeError::Truncated { what: WHAT })?;
    let mut old: ClientStateV2 = wire::decode_lenient(body, WHAT)?;
    let mut sessions = std::collections::BTreeMap::<MailboxId, Vec<StoredSecret>>::new();
    // Version 2 wrote each peer's sessions in order, the one it sends with first.
    for (mailbox, session) in old.sessions.iter_mut() {
        let peer = sessions.entry(*mailbox).or_default();
        if peer.len() < MAX_PER_PEER {
            peer.push(StoredSecret(core::mem::take(session)));
        }
    }
    let mut conversations = std::collections::BTreeMap::new();
    for saved in old.conversations.iter_mut() {
        let id = Conversation::from_bytes(saved)?.id();
        conversations.insert(id, StoredSecret(core::mem::take(saved)));
    }
    let state = ClientState {
        user: core::mem::take(&mut old.user),
        identity: core::mem::take(&mut old.identity),
        mailbox_seed: old.mailbox_seed,
        prekeys: core::mem::take(&mut old.prekeys),
        profile: old.profile,
        settings: SettingsState {
            read_receipts: old.settings.read_receipts,
            typing_indicators: old.settings.typing_indicators,
            sponsored_messages: old.settings.sponsored_messages,
        },
        platform: old.platform,
        advertiser: old.advertiser.take(),
        lead_keys: old.lead_keys.clone(),
        contacts: old
            .contacts
            .iter()
            .map(|c| {
                let contact = ContactState {
                    user: c.user.clone(),
                    identity: c.identity,
                };
                (c.mailbox, contact)
            })
            .collect(),
        profiles: old.profiles.iter().copied().collect(),
        connections: old.connections.iter().cloned().collect(),
        sessions,
        conversations,
        direct: old.direct.iter().copied().collect(),
        groups: old.groups.iter().copied().collect(),
        opened: old.opened.iter().copied().collect(),
        access: old.access.clone(),
        fanout: core::mem::take(&mut old.fanout),
        granted: old.granted.iter().copied().collect(),
        seen: core::mem::take(&mut old.seen),
        pending: core::mem::take(&mut old.pending),
        retries: Vec::new(),
    };
    Ok(state)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;

    /// Ana's state in the fixture, as version 2 wrote it.
    fn ana() -> Vec<u8> {
        let text = include_str!("../../tests/fixtures/client_state_v2.json");
        let at = text.find("\"state\": \"").unwrap() + 10;
        let end = at + text[at..].find('"').unwrap();
        let hex = &text[at..end];
        (0..hex.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
            .collect()
    }

    #[test]
    fn the_fixture_is_in_hash_order_as_version_2_wrote_it() {
        let bytes = ana();
        let old: ClientStateV2 = wire::decode_lenient(&bytes[1..], WHAT).unwrap();
        let contacts: Vec<MailboxId> = old.contacts.iter().map(|c| c.mailbox).collect();
        assert_eq!(contacts.len(), 5);
        assert!(
            contacts.windows(2).any(|w| w[0] > w[1]),
            "the fixture should hold a map out of order, as version 2 wrote most of them"
        );
        // So version 2's own strict decoder refused it.
        assert!(wire::decode_body::<ClientStateV2>(&bytes[1..], WHAT).is_err());
    }

    #[test]
    fn a_peer_with_more_sessions_than_are_kept_keeps_the_first() {
        let bytes = ana();
        let mut old: ClientStateV2 = wire::decode_lenient(&bytes[1..], WHAT).unwrap();
        let (peer, first) = old.sessions[0].clone();
        let others = old.sessions.iter().filter(|(m, _)| *m == peer).count();
        assert_eq!(others, 1);
        for i in 0..MAX_PER_PEER {
            old.sessions.push((peer, vec![u8::try_from(i).unwrap(); 8]));
        }
        let mut again = vec![VERSION];
        again.extend(postcard::to_allocvec(&old).unwrap());
        let state = read(&again).unwrap();
        let kept = &state.sessions[&peer];
        assert_eq!(kept.len(), MAX_PER_PEER);
        assert!(
            kept[0].0 == first,
            "the one version 2 sent with stays first"
        );
    }

    #[test]
    fn a_truncated_or_extended_version_2_state_is_refused() {
        let bytes = ana();
        assert!(matches!(
            read(&bytes[..bytes.len() - 1]),
            Err(DecodeError::Truncated { .. })
        ));
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(matches!(
            read(&longer),
            Err(DecodeError::TrailingBytes { .. })
        ));
        assert!(read(&bytes).is_ok());
        assert!(matches!(
            read(&[VERSION]),
            Err(DecodeError::Truncated { .. })
        ));
    }
}
