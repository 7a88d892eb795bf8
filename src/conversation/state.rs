//! A conversation's state at rest (PROTOCOL.md §6.8): everything needed to carry on after a
//! restart, as one versioned postcard structure. It holds secret keys: store it encrypted.

use serde::{Deserialize, Serialize};
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use super::chain::{NextLabels, ReceiverChain, ReceiverState, SenderChain, SenderState};
use super::distribution::SecretBytes;
use super::roster::{ConversationId, Kind, Member, Roster};
use super::{Conversation, Epoch, OwnChain, PeerChain, chain_binding};
use crate::crypto::sign::{SigningKey, VerifyingKey};
use crate::envelope::MailboxId;
use crate::error::DecodeError;
use crate::wire::{self, Wire};

const INVALID: DecodeError = DecodeError::Invalid {
    what: "conversation state",
};

#[derive(Serialize, Deserialize)]
struct OwnState {
    chain: SenderState,
    signing_seed: SecretBytes,
}

#[derive(Serialize, Deserialize)]
struct PeerState {
    sender: MailboxId,
    verifying: VerifyingKey,
    chain: ReceiverState,
}

#[derive(Serialize, Deserialize)]
struct EpochState {
    number: u64,
    roster: Vec<Member>,
    own: Option<OwnState>,
    peers: Vec<PeerState>,
}

#[derive(Serialize, Deserialize)]
struct ConversationState {
    id: ConversationId,
    kind: Kind,
    me: MailboxId,
    removed: bool,
    current: EpochState,
    previous: Option<EpochState>,
    /// Distributions kept for epochs not reached yet (version 2 on), in arrival order.
    early: Vec<SecretBlob>,
}

/// A secret byte string (a distribution, which holds a chain key), wiped on drop.
#[derive(Serialize, Deserialize, Zeroize, ZeroizeOnDrop)]
struct SecretBlob(#[serde(with = "serde_bytes")] Vec<u8>);

impl Wire for ConversationState {
    const WHAT: &'static str = "conversation state";
    const VERSION: u8 = 2;
}

/// Version 1 is version 2 without the kept distributions (an empty list, one `0x00` byte, at
/// the end).
const VERSION_1: u8 = 1;

impl Epoch {
    fn to_state(&self) -> EpochState {
        let own = self.own.as_ref().map(|o| OwnState {
            chain: o.chain.to_state(),
            signing_seed: SecretBytes(*o.signing.to_seed()),
        });
        let peers = self.peers.iter().map(|p| PeerState {
            sender: p.sender,
            verifying: p.verifying,
            chain: p.chain.to_state(),
        });
        let roster = self.roster.members().to_vec();
        EpochState {
            number: self.number,
            roster,
            own,
            peers: peers.collect(),
        }
    }

    fn from_state(
        s: &EpochState,
        id: &ConversationId,
        kind: Kind,
        me: &MailboxId,
    ) -> Result<Self, DecodeError> {
        let roster = Roster::checked(kind, s.roster.clone()).map_err(|_| INVALID)?;
        // Stored sorted: a roster in any other order would be saved differently.
        if roster.members() != s.roster.as_slice() || roster.get(me).is_none() {
            return Err(INVALID);
        }
        let mut epoch = Epoch::new(id, kind, s.number, roster);
        if let Some(own) = &s.own {
            let chain = SenderChain::from_state(&own.chain, chain_binding(&epoch.roster_hash, me));
            let signing = SigningKey::from_seed(&Zeroizing::new(own.signing_seed.0));
            epoch.own = Some(OwnChain { chain, signing });
        }
        for p in &s.peers {
            let known = epoch.roster.get(&p.sender).is_some();
            if !known || p.sender == *me || epoch.peers.iter().any(|q| q.sender == p.sender) {
                return Err(INVALID);
            }
            let binding = chain_binding(&epoch.roster_hash, &p.sender);
            let chain = ReceiverChain::from_state(&p.chain, binding)?;
            epoch.peers.push(PeerChain {
                sender: p.sender,
                chain,
                verifying: p.verifying,
            });
        }
        epoch.next_labels = NextLabels::rebuild(epoch.peers.iter().map(|p| &p.chain));
        Ok(epoch)
    }
}

impl Conversation {
    /// The whole state, for storage at rest (encrypt it; the buffer is zeroized on drop).
    pub fn to_bytes(&self) -> Zeroizing<Vec<u8>> {
        let state = ConversationState {
            id: self.id,
            kind: self.kind,
            me: self.me,
            removed: self.removed,
            current: self.current.to_state(),
            previous: self.previous.as_ref().map(|p| p.to_state()),
            early: self
                .early
                .iter()
                .map(|e| SecretBlob(e.bytes.to_vec()))
                .collect(),
        };
        Zeroizing::new(state.to_wire())
    }

    /// Restores a state written by [`Conversation::to_bytes`] (or by version 1), checking its
    /// invariants.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, DecodeError> {
        let s = match bytes.split_first() {
            Some((&VERSION_1, body)) => {
                let mut body = Zeroizing::new(body.to_vec());
                body.push(0);
                wire::decode_body(&body, ConversationState::WHAT)?
            }
            _ => ConversationState::from_wire(bytes)?,
        };
        let current = Epoch::from_state(&s.current, &s.id, s.kind, &s.me)?;
        let previous = match &s.previous {
            Some(p) if p.number < s.current.number && p.own.is_none() => {
                Some(Box::new(Epoch::from_state(p, &s.id, s.kind, &s.me)?))
            }
            Some(_) => return Err(INVALID),
            None => None,
        };
        let mut conversation = Self {
            id: s.id,
            kind: s.kind,
            me: s.me,
            current,
            previous,
            removed: s.removed,
            early: Vec::with_capacity(s.early.len()),
        };
        for blob in &s.early {
            conversation.restore_early(&blob.0)?;
        }
        Ok(conversation)
    }
}
