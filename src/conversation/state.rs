//! A conversation's state at rest (PROTOCOL.md §6.8): everything needed to carry on after a
//! restart, as one versioned postcard structure. It holds secret keys: store it encrypted.

use serde::{Deserialize, Serialize};
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use super::chain::{NextLabels, ReceiverChain, ReceiverState, SenderChain, SenderState};
use super::distribution::SecretBytes;
use super::roster::{ConversationId, Kind, Member, Roster};
use super::{Conversation, DeviceOf, Epoch, OwnChain, PeerChain, chain_binding};
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
    /// Our device, when it is not the member id (version 3 on).
    device: Option<MailboxId>,
    /// The member of each device in `peers` and `early` that is not its member's id, in
    /// increasing device order (version 3 on).
    devices: Vec<(MailboxId, MailboxId)>,
}

/// A secret byte string (a distribution, which holds a chain key), wiped on drop.
#[derive(Serialize, Deserialize, Zeroize, ZeroizeOnDrop)]
struct SecretBlob(#[serde(with = "serde_bytes")] Vec<u8>);

impl Wire for ConversationState {
    const WHAT: &'static str = "conversation state";
    const VERSION: u8 = 3;
}

/// Version 2 is version 3 without `device` and `devices` (`None` and an empty list, two `0x00`
/// bytes, at the end); version 1 also without `early` (one more). A state with neither is
/// written as version 2, so an account with one device saves exactly as before.
const VERSION_1: u8 = 1;
const VERSION_2: u8 = 2;

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
        me: DeviceOf,
        member_of: &impl Fn(&MailboxId) -> MailboxId,
    ) -> Result<Self, DecodeError> {
        let roster = Roster::checked(kind, s.roster.clone()).map_err(|_| INVALID)?;
        // Stored sorted: a roster in any other order would be saved differently.
        if roster.members() != s.roster.as_slice() || roster.get(&me.member).is_none() {
            return Err(INVALID);
        }
        let mut epoch = Epoch::new(id, kind, s.number, roster);
        if let Some(own) = &s.own {
            let binding = chain_binding(&epoch.roster_hash, &me.device);
            let chain = SenderChain::from_state(&own.chain, binding);
            let signing = SigningKey::from_seed(&Zeroizing::new(own.signing_seed.0));
            epoch.own = Some(OwnChain { chain, signing });
        }
        for p in &s.peers {
            let member = member_of(&p.sender);
            let known = epoch.roster.get(&member).is_some();
            // At most two chains per device, each under its own key (§6.8, §12.6).
            let same: Vec<&PeerChain> = epoch
                .peers
                .iter()
                .filter(|q| q.sender == p.sender)
                .collect();
            let again = same.len() >= 2 || same.iter().any(|q| q.verifying == p.verifying);
            if !known || p.sender == me.device || again {
                return Err(INVALID);
            }
            let binding = chain_binding(&epoch.roster_hash, &p.sender);
            let chain = ReceiverChain::from_state(&p.chain, binding)?;
            epoch.peers.push(PeerChain {
                sender: p.sender,
                member,
                chain,
                verifying: p.verifying,
            });
        }
        epoch.next_labels = NextLabels::rebuild(epoch.peers.iter().map(|p| &p.chain));
        Ok(epoch)
    }
}

impl Conversation {
    /// The member of each device we hold a chain or a kept distribution of, where it is not
    /// the member's id, in increasing device order.
    fn devices(&self) -> Vec<(MailboxId, MailboxId)> {
        let epochs = core::iter::once(&self.current).chain(self.previous.as_deref());
        let chains = epochs.flat_map(|e| e.peers.iter().map(|p| (p.sender, p.member)));
        let kept = self.early.iter().map(|e| (e.from.device, e.from.member));
        let mut devices: Vec<_> = chains.chain(kept).filter(|(d, m)| d != m).collect();
        devices.sort_unstable();
        devices.dedup();
        devices
    }

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
            device: (self.device != self.me).then_some(self.device),
            devices: self.devices(),
        };
        let mut bytes = Zeroizing::new(state.to_wire());
        if state.device.is_none() && state.devices.is_empty() {
            let len = bytes.len() - 2;
            bytes.truncate(len);
            bytes[0] = VERSION_2;
        }
        bytes
    }

    /// Restores a state written by [`Conversation::to_bytes`] (or by version 1), checking its
    /// invariants.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, DecodeError> {
        let older = |body: &[u8], missing: usize| {
            let mut body = Zeroizing::new(body.to_vec());
            let len = body.len() + missing;
            body.resize(len, 0);
            wire::decode_body::<ConversationState>(&body, ConversationState::WHAT)
        };
        let s = match bytes.split_first() {
            Some((&VERSION_1, body)) => older(body, 3)?,
            Some((&VERSION_2, body)) => older(body, 2)?,
            _ => {
                let s = ConversationState::from_wire(bytes)?;
                if s.device.is_none() && s.devices.is_empty() {
                    return Err(INVALID);
                }
                s
            }
        };
        // Our device is written only when it is not the member id; the map is checked whole
        // once the chains that use it are in (below).
        if s.device == Some(s.me) {
            return Err(INVALID);
        }
        let member_of = |device: &MailboxId| {
            (s.devices.binary_search_by_key(device, |(d, _)| *d))
                .map_or(*device, |i| s.devices[i].1)
        };
        let me = DeviceOf {
            member: s.me,
            device: s.device.unwrap_or(s.me),
        };
        let current = Epoch::from_state(&s.current, &s.id, s.kind, me, &member_of)?;
        let previous = match &s.previous {
            Some(p) if p.number < s.current.number && p.own.is_none() => Some(Box::new(
                Epoch::from_state(p, &s.id, s.kind, me, &member_of)?,
            )),
            Some(_) => return Err(INVALID),
            None => None,
        };
        let mut conversation = Self {
            id: s.id,
            kind: s.kind,
            me: s.me,
            device: me.device,
            current,
            previous,
            removed: s.removed,
            early: Vec::with_capacity(s.early.len()),
        };
        for blob in &s.early {
            conversation.restore_early(&blob.0, member_of)?;
        }
        // Saved as it would be saved again: no mapping that nothing uses.
        if conversation.devices() != s.devices {
            return Err(INVALID);
        }
        Ok(conversation)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;
    use crate::conversation::Role;
    use crate::identity::Identity;

    fn member(i: u8, role: Role) -> Member {
        Member::new(
            MailboxId([i; 16]),
            role,
            *Identity::generate(&mut rand::rng()).public(),
        )
    }

    /// Ben's view of a group with Ann (admin), holding Ann's chain.
    fn at_ben() -> Conversation {
        let (ann, ben) = (member(1, Role::Admin), member(2, Role::Member));
        let (_, welcome) = Conversation::create(&mut rand::rng(), ann, vec![ben]).unwrap();
        Conversation::join(ben.id, ann.id, &welcome[0].1.to_bytes()).unwrap()
    }

    fn key(i: u8) -> VerifyingKey {
        *SigningKey::from_seed(&[i; 32]).verifying_key()
    }

    #[test]
    fn a_state_holds_at_most_two_chains_of_a_device_under_distinct_keys_and_none_of_ours() {
        let ann = DeviceOf::first(MailboxId([1; 16]));
        let chain = || Zeroizing::new([7u8; 32]);
        // A second chain of Ann's under another key: kept.
        let mut two = at_ben();
        two.current.add_peer(ann, chain(), key(2));
        let back = Conversation::from_bytes(&two.to_bytes()).unwrap();
        assert_eq!(back.current.peers.len(), 2);
        // A third, or a second under the same key, or a chain of our own device: refused.
        let mut three = at_ben();
        three.current.add_peer(ann, chain(), key(2));
        three.current.add_peer(ann, chain(), key(3));
        let mut same = at_ben();
        let held = same.current.peers[0].verifying;
        same.current.add_peer(ann, chain(), held);
        let mut ours = at_ben();
        ours.current
            .add_peer(DeviceOf::first(MailboxId([2; 16])), chain(), key(4));
        let mut stranger = at_ben();
        stranger
            .current
            .add_peer(DeviceOf::first(MailboxId([9; 16])), chain(), key(5));
        for state in [three, same, ours, stranger] {
            assert_eq!(
                Conversation::from_bytes(&state.to_bytes()).map(|_| ()),
                Err(INVALID)
            );
        }
    }

    #[test]
    fn the_device_map_is_saved_one_way_only() {
        let laptop = DeviceOf {
            member: MailboxId([1; 16]),
            device: MailboxId([8; 16]),
        };
        let mut c = at_ben();
        c.current.add_peer(laptop, Zeroizing::new([7; 32]), key(2));
        let bytes = c.to_bytes();
        assert_eq!(bytes[0], 3);
        let state = |bytes: &[u8]| ConversationState::from_wire(bytes).unwrap();
        assert_eq!(state(&bytes).devices, [(laptop.device, laptop.member)]);
        let changed: [fn(&mut ConversationState); 5] = [
            // An entry no chain uses.
            |s| s.devices.push((MailboxId([9; 16]), MailboxId([1; 16]))),
            // Out of order.
            |s| {
                s.devices
                    .insert(0, (MailboxId([9; 16]), MailboxId([1; 16])))
            },
            // A device mapped to itself.
            |s| s.devices[0].1 = s.devices[0].0,
            // Our device given as our member id.
            |s| s.device = Some(s.me),
            // Neither (version 2 is how that is written).
            |s| s.devices.clear(),
        ];
        for change in changed {
            let mut s = state(&bytes);
            change(&mut s);
            assert_eq!(
                Conversation::from_bytes(&s.to_wire()).map(|_| ()),
                Err(INVALID)
            );
        }
        let back = Conversation::from_bytes(&bytes).unwrap();
        assert_eq!(back.current.peers[1].member, laptop.member);
    }

    #[test]
    fn the_epoch_before_is_older_and_sends_nothing() {
        let (ann, ben) = (member(1, Role::Admin), member(2, Role::Member));
        let rng = &mut rand::rng();
        let (mut at_ann, welcome) = Conversation::create(rng, ann, vec![ben]).unwrap();
        let mut at_ben = Conversation::join(ben.id, ann.id, &welcome[0].1.to_bytes()).unwrap();
        let commit = at_ann.change(rng, &[member(3, Role::Member)], &[]).unwrap();
        let to_ben = &commit.iter().find(|(t, _)| *t == ben.id).unwrap().1;
        at_ben
            .accept_distribution(ann.id, &to_ben.to_bytes())
            .unwrap();
        at_ben.start_chain(rng).unwrap();
        let bytes = at_ben.to_bytes();
        assert!(Conversation::from_bytes(&bytes).is_ok());
        let changed: [fn(&mut ConversationState); 3] = [
            |s| s.previous.as_mut().unwrap().number = s.current.number,
            |s| s.previous.as_mut().unwrap().number = s.current.number + 1,
            |s| s.previous.as_mut().unwrap().own = s.current.own.take(),
        ];
        // A state of one device's account is version 2: read and written as such.
        let mut v3 = bytes.to_vec();
        v3[0] = 3;
        v3.extend([0, 0]);
        let v2 = |s: &ConversationState| {
            let mut out = s.to_wire();
            out.truncate(out.len() - 2);
            out[0] = VERSION_2;
            out
        };
        let unchanged = ConversationState::from_wire(&v3).unwrap();
        assert!(Conversation::from_bytes(&v2(&unchanged)).is_ok());
        for change in changed {
            let mut s = ConversationState::from_wire(&v3).unwrap();
            change(&mut s);
            assert_eq!(Conversation::from_bytes(&v2(&s)).map(|_| ()), Err(INVALID));
        }
    }
}
