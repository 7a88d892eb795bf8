//! The client's whole state at rest (PROTOCOL.md §9.5). Encrypt it before writing it anywhere:
//! it holds every secret the user has. The buffer is wiped on drop.

use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::conversation::{Conversation, ConversationId, FanOut};
use crate::envelope::{EnvelopeId, MailboxId};
use crate::error::DecodeError;
use crate::identity::{Identity, PublicIdentity};
use crate::mailbox::MailboxKey;
use crate::session::{PrekeyOwner, Session};
use crate::wire::Wire;

use super::{Client, Contact};

type Bytes = Zeroizing<Vec<u8>>;

#[derive(Serialize, Deserialize)]
struct ContactState {
    user: Vec<u8>,
    mailbox: MailboxId,
    identity: PublicIdentity,
}

#[derive(Serialize, Deserialize)]
struct ClientState {
    user: Vec<u8>,
    #[serde(with = "serde_bytes")]
    identity: Vec<u8>,
    mailbox_seed: [u8; 32],
    #[serde(with = "serde_bytes")]
    prekeys: Vec<u8>,
    contacts: Vec<ContactState>,
    sessions: Vec<(MailboxId, Vec<u8>)>,
    conversations: Vec<Vec<u8>>,
    direct: Vec<(MailboxId, ConversationId)>,
    #[serde(with = "serde_bytes")]
    fanout: Vec<u8>,
    granted: Vec<MailboxId>,
    seen: Vec<EnvelopeId>,
    pending: Vec<Vec<u8>>,
}

impl Drop for ClientState {
    fn drop(&mut self) {
        use zeroize::Zeroize;
        self.identity.zeroize();
        self.mailbox_seed.zeroize();
        self.prekeys.zeroize();
        self.sessions.iter_mut().for_each(|(_, s)| s.zeroize());
        self.conversations.iter_mut().for_each(Zeroize::zeroize);
        self.fanout.zeroize();
    }
}

impl Wire for ClientState {
    const WHAT: &'static str = "client state";
    const VERSION: u8 = 1;
}

fn plain(bytes: Bytes) -> Vec<u8> {
    // Moved into a state that zeroizes on drop.
    bytes.to_vec()
}

impl Client {
    /// Everything, for storage at rest. Encrypt it; the buffer is wiped on drop.
    pub fn to_bytes(&self) -> Bytes {
        let state = ClientState {
            user: self.user.clone(),
            identity: plain(self.identity.to_secret_bytes()),
            mailbox_seed: *self.mailbox.to_seed(),
            prekeys: plain(self.prekeys.to_bytes()),
            contacts: self
                .contacts
                .values()
                .map(|c| ContactState {
                    user: c.user.clone(),
                    mailbox: c.mailbox,
                    identity: c.identity,
                })
                .collect(),
            sessions: self
                .sessions
                .iter()
                .map(|(m, s)| (*m, plain(s.to_bytes())))
                .collect(),
            conversations: self
                .conversations
                .values()
                .map(|c| plain(c.to_bytes()))
                .collect(),
            direct: self.direct.iter().map(|(m, c)| (*m, *c)).collect(),
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
        let identity = Identity::from_secret_bytes(&s.identity)?;
        let mut sessions = std::collections::HashMap::new();
        for (mailbox, bytes) in &s.sessions {
            sessions.insert(*mailbox, Session::from_bytes(bytes)?);
        }
        let mut conversations = std::collections::HashMap::new();
        for bytes in &s.conversations {
            let c = Conversation::from_bytes(bytes)?;
            conversations.insert(c.id(), c);
        }
        Ok(Self {
            user: s.user.clone(),
            mailbox: MailboxKey::from_seed(&s.mailbox_seed),
            prekeys: PrekeyOwner::from_bytes(&s.prekeys)?,
            identity,
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
            sessions,
            conversations,
            direct: s.direct.iter().copied().collect(),
            fanout: FanOut::from_bytes(&s.fanout)?,
            granted: s.granted.iter().copied().collect(),
            seen: s.seen.iter().copied().collect(),
            pending: s.pending.iter().cloned().collect(),
        })
    }
}
