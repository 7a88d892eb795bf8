//! The client's whole state at rest (PROTOCOL.md §9.6). Encrypt it before writing it anywhere:
//! it holds every secret the user has. The buffer is wiped on drop.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use zeroize::{Zeroize, Zeroizing};

use crate::conversation::{Conversation, ConversationId, FanOut};
use crate::envelope::{EnvelopeId, MailboxId};
use crate::error::DecodeError;
use crate::hpke;
use crate::identity::{Identity, PublicIdentity};
use crate::mailbox::MailboxKey;
use crate::platform::{AdvertiserCertificate, PlatformKey, Profile};
use crate::session::{PrekeyOwner, Session};
use crate::wire::Wire;

use super::access::AccessState;
use super::sessions::PeerSessions;
use super::{Client, Connection, Contact, Settings};

#[derive(Serialize, Deserialize)]
struct ContactState {
    user: Vec<u8>,
    mailbox: MailboxId,
    identity: PublicIdentity,
}

#[derive(Serialize, Deserialize)]
enum ConnectionState {
    Invited,
    InvitedUs(Option<String>),
    Connected,
}

#[derive(Serialize, Deserialize)]
struct SettingsState {
    read_receipts: bool,
    typing_indicators: bool,
    sponsored_messages: bool,
}

#[derive(Serialize, Deserialize)]
struct ClientState {
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
    contacts: Vec<ContactState>,
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

impl Drop for ClientState {
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

impl Wire for ClientState {
    const WHAT: &'static str = "client state";
    const VERSION: u8 = 2;
}

/// Copies a secret buffer into the state, which wipes it on drop.
fn plain(bytes: Zeroizing<Vec<u8>>) -> Vec<u8> {
    bytes.to_vec()
}

impl Client {
    /// Everything, for storage at rest. Encrypt it; the buffer is wiped on drop.
    pub fn to_bytes(&self) -> Zeroizing<Vec<u8>> {
        let s = &self.settings;
        let state = ClientState {
            user: self.user.clone(),
            identity: plain(self.identity.to_secret_bytes()),
            mailbox_seed: *self.mailbox.to_seed(),
            prekeys: plain(self.prekeys.to_bytes()),
            profile: self.profile,
            settings: SettingsState {
                read_receipts: s.read_receipts,
                typing_indicators: s.typing_indicators,
                sponsored_messages: s.sponsored_messages,
            },
            platform: self.platform,
            advertiser: self.advertiser.clone(),
            lead_keys: self
                .lead_keys
                .iter()
                .map(|(id, k)| (*id, *k.to_secret_bytes()))
                .collect(),
            contacts: self
                .contacts
                .values()
                .map(|c| ContactState {
                    user: c.user.clone(),
                    mailbox: c.mailbox,
                    identity: c.identity,
                })
                .collect(),
            profiles: self.profiles.iter().map(|(m, p)| (*m, *p)).collect(),
            connections: self
                .connections
                .iter()
                .filter_map(|(m, c)| Some((*m, connection_state(c)?)))
                .collect(),
            sessions: self
                .sessions
                .iter()
                .flat_map(|(m, peer)| peer.all().iter().map(|s| (*m, plain(s.to_bytes()))))
                .collect(),
            conversations: self
                .conversations
                .values()
                .map(|c| plain(c.to_bytes()))
                .collect(),
            direct: self.direct.iter().map(|(m, c)| (*m, *c)).collect(),
            groups: self.groups.iter().copied().collect(),
            opened: self.opened.iter().copied().collect(),
            access: self.access.clone(),
            fanout: plain(self.fanout.to_bytes()),
            granted: self.granted.iter().copied().collect(),
            seen: self.seen.iter().copied().collect(),
            pending: self.pending.iter().cloned().collect(),
        };
        Zeroizing::new(state.to_wire())
    }

    /// Restores a client written by [`Client::to_bytes`].
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, DecodeError> {
        let s = ClientState::from_wire(bytes)?;
        let mut sessions: HashMap<MailboxId, PeerSessions> = HashMap::new();
        for (mailbox, bytes) in &s.sessions {
            sessions
                .entry(*mailbox)
                .or_default()
                .push_back(Session::from_bytes(bytes)?);
        }
        let mut conversations = HashMap::new();
        for bytes in &s.conversations {
            let c = Conversation::from_bytes(bytes)?;
            conversations.insert(c.id(), c);
        }
        Ok(Self {
            user: s.user.clone(),
            identity: Identity::from_secret_bytes(&s.identity)?,
            mailbox: MailboxKey::from_seed(&s.mailbox_seed),
            prekeys: PrekeyOwner::from_bytes(&s.prekeys)?,
            profile: s.profile,
            settings: Settings {
                read_receipts: s.settings.read_receipts,
                typing_indicators: s.settings.typing_indicators,
                sponsored_messages: s.settings.sponsored_messages,
            },
            platform: s.platform,
            advertiser: s.advertiser.clone(),
            lead_keys: s
                .lead_keys
                .iter()
                .map(|(id, k)| (*id, hpke::KeyPair::from_secret_bytes(k)))
                .collect(),
            contacts: s
                .contacts
                .iter()
                .map(|c| {
                    (
                        c.mailbox,
                        Contact {
                            user: c.user.clone(),
                            mailbox: c.mailbox,
                            identity: c.identity,
                        },
                    )
                })
                .collect(),
            profiles: s.profiles.iter().copied().collect(),
            connections: s
                .connections
                .iter()
                .map(|(m, c)| (*m, connection(c)))
                .collect(),
            sessions,
            conversations,
            direct: s.direct.iter().copied().collect(),
            groups: s.groups.iter().copied().collect(),
            opened: s.opened.iter().copied().collect(),
            access: s.access.clone(),
            fanout: FanOut::from_bytes(&s.fanout)?,
            granted: s.granted.iter().copied().collect(),
            seen: s.seen.iter().copied().collect(),
            pending: s.pending.iter().cloned().collect(),
        })
    }
}

fn connection_state(c: &Connection) -> Option<ConnectionState> {
    match c {
        Connection::None => None,
        Connection::Invited => Some(ConnectionState::Invited),
        Connection::InvitedUs(note) => Some(ConnectionState::InvitedUs(note.clone())),
        Connection::Connected => Some(ConnectionState::Connected),
    }
}

fn connection(c: &ConnectionState) -> Connection {
    match c {
        ConnectionState::Invited => Connection::Invited,
        ConnectionState::InvitedUs(note) => Connection::InvitedUs(note.clone()),
        ConnectionState::Connected => Connection::Connected,
    }
}
