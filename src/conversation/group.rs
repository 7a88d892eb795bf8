//! Group life cycle (PROTOCOL.md §6.5–§6.6): create, join, hand out chains, change members.

use rand::CryptoRng;
use zeroize::Zeroizing;

use super::chain::NextLabels;
use super::distribution::{Change, KeyDistribution, SecretBytes};
use super::roster::{ConversationId, Kind, Member, Role, Roster};
use super::{Conversation, DeviceOf, Early, Epoch};
use crate::crypto::sign::SigningKey;
use crate::envelope::MailboxId;
use crate::error::{CryptoError, DecodeError, Error, UsageError};

/// What [`Conversation::accept_distribution`] did.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Accepted {
    /// A member's chain for the current (or previous) epoch is installed.
    Chain,
    /// An admin's change started this new epoch. The local member has no sender chain in it
    /// yet: call [`Conversation::start_chain`] before sending.
    NewEpoch(u64),
    /// An admin's change removed the local member: it reads nothing sent from now on.
    Removed,
    /// For an epoch not reached yet: kept (bounded by [`MAX_EARLY`], and saved with the
    /// state) and installed when the change that starts its epoch arrives.
    Kept,
}

/// Distributions kept for epochs not reached yet, per conversation, beyond one per current
/// member (the most a change can cause, and what a member who missed one receives before it).
pub const MAX_EARLY: usize = 256;

/// Outgoing pairwise payloads: `(recipient, payload)`.
pub type Handoffs = Vec<(MailboxId, KeyDistribution)>;

fn random32<R: CryptoRng + ?Sized>(rng: &mut R) -> Zeroizing<[u8; 32]> {
    let mut out = Zeroizing::new([0u8; 32]);
    rng.fill_bytes(out.as_mut());
    out
}

impl Conversation {
    /// Creates a group with the local member `me` (an admin) and `others`, and the local
    /// sender chain; returns a welcome for each other member.
    pub fn create<R: CryptoRng + ?Sized>(
        rng: &mut R,
        me: Member,
        others: Vec<Member>,
    ) -> Result<(Self, Handoffs), Error> {
        let (conversation, handoffs) = Self::create_for(rng, Kind::Group, me, me.id, others)?;
        let handoffs = conversation.without_siblings(handoffs);
        Ok((conversation, handoffs))
    }

    /// Opens a one-to-one conversation between the local member `me` (an admin) and `peer`
    /// (its members never change); returns the welcome for `peer`.
    pub fn create_direct<R: CryptoRng + ?Sized>(
        rng: &mut R,
        me: Member,
        peer: Member,
    ) -> Result<(Self, Handoffs), Error> {
        let (conversation, handoffs) = Self::create_for(rng, Kind::Direct, me, me.id, vec![peer])?;
        let handoffs = conversation.without_siblings(handoffs);
        Ok((conversation, handoffs))
    }

    /// A new conversation of `kind` sent from our `device`: its handoffs include one to our
    /// own member, for our other devices.
    pub(crate) fn create_for<R: CryptoRng + ?Sized>(
        rng: &mut R,
        kind: Kind,
        me: Member,
        device: MailboxId,
        others: Vec<Member>,
    ) -> Result<(Self, Handoffs), Error> {
        let mut id = [0u8; 16];
        rng.fill_bytes(&mut id);
        let (chain_key, seed) = (random32(rng), random32(rng));
        Self::create_kind(
            kind,
            ConversationId(id),
            me,
            device,
            others,
            &chain_key,
            &seed,
        )
    }

    /// Handoffs to other members only: what an account with one device sends.
    fn without_siblings(&self, mut handoffs: Handoffs) -> Handoffs {
        handoffs.retain(|(to, _)| *to != self.me);
        handoffs
    }

    /// [`Conversation::create`] with explicit secrets (for vectors).
    #[cfg(feature = "hazmat")]
    pub fn create_with(
        id: ConversationId,
        me: Member,
        others: Vec<Member>,
        chain_key: &[u8; 32],
        signing_seed: &[u8; 32],
    ) -> Result<(Self, Handoffs), Error> {
        let (c, handoffs) =
            Self::create_kind(Kind::Group, id, me, me.id, others, chain_key, signing_seed)?;
        let handoffs = c.without_siblings(handoffs);
        Ok((c, handoffs))
    }

    fn create_kind(
        kind: Kind,
        id: ConversationId,
        me: Member,
        device: MailboxId,
        mut others: Vec<Member>,
        chain_key: &[u8; 32],
        signing_seed: &[u8; 32],
    ) -> Result<(Self, Handoffs), Error> {
        if me.role != Role::Admin {
            return Err(UsageError::NotPermitted.into());
        }
        others.push(me);
        let roster = Roster::checked(kind, others)?;
        let current = Epoch::new(&id, kind, 0, roster);
        let mut conversation = Self {
            id,
            kind,
            me: me.id,
            device,
            current,
            previous: None,
            removed: false,
            early: Vec::new(),
        };
        let welcome = Change::Welcome {
            roster: conversation.current.roster.members().to_vec(),
        };
        let handoffs = conversation.install_own(chain_key, signing_seed, |_| Some(welcome.clone()));
        Ok((conversation, handoffs))
    }

    /// Joins a conversation from a welcome that `from` (an admin, per the pairwise session
    /// the bytes arrived in) sent to the local member `me`.
    pub fn join(me: MailboxId, from: MailboxId, welcome: &[u8]) -> Result<Self, Error> {
        Self::join_as(DeviceOf::first(me), DeviceOf::first(from), welcome)
    }

    /// [`Conversation::join`] by our device `me` from a device `from` of an admin (one of
    /// our own other devices too).
    pub(crate) fn join_as(me: DeviceOf, from: DeviceOf, welcome: &[u8]) -> Result<Self, Error> {
        let dist = KeyDistribution::from_bytes(welcome)?;
        let Some(Change::Welcome { roster }) =
            dist.change.as_ref().filter(|_| dist.kind.has_identities())
        else {
            return Err(UsageError::WrongConversation.into());
        };
        let roster =
            Roster::checked(dist.kind, roster.clone()).map_err(|_| CryptoError::RosterMismatch)?;
        // An admin welcomes; so does any of our own other devices, into what we are in.
        let admin = roster
            .get(&from.member)
            .is_some_and(|m| m.role == Role::Admin);
        let sibling = from.member == me.member;
        if dist.sender != from.device || !(admin || sibling) || from.device == me.device {
            return Err(CryptoError::WrongSender.into());
        }
        if roster.get(&me.member).is_none() {
            return Err(UsageError::NotPermitted.into());
        }
        let mut current = Epoch::new(&dist.conversation, dist.kind, dist.epoch, roster);
        if current.roster_hash != dist.roster_hash {
            return Err(CryptoError::RosterMismatch.into());
        }
        current.add_peer(from, Zeroizing::new(dist.chain_key.0), dist.chain_public);
        Ok(Self {
            id: dist.conversation,
            kind: dist.kind,
            me: me.member,
            device: me.device,
            current,
            previous: None,
            removed: false,
            early: Vec::new(),
        })
    }

    /// Starts the local sender chain for the current epoch; returns its key for every other
    /// member. Needed after joining and after every [`Accepted::NewEpoch`].
    pub fn start_chain<R: CryptoRng + ?Sized>(&mut self, rng: &mut R) -> Result<Handoffs, Error> {
        let handoffs = self.start_chain_all(rng)?;
        Ok(self.without_siblings(handoffs))
    }

    /// [`Conversation::start_chain`], with the handoff to our own other devices.
    pub(crate) fn start_chain_all<R: CryptoRng + ?Sized>(
        &mut self,
        rng: &mut R,
    ) -> Result<Handoffs, Error> {
        self.start_chain_from(&random32(rng), &random32(rng))
    }

    /// [`Conversation::start_chain`] with explicit secrets (for vectors).
    #[cfg(feature = "hazmat")]
    pub fn start_chain_with(
        &mut self,
        chain_key: &[u8; 32],
        signing_seed: &[u8; 32],
    ) -> Result<Handoffs, Error> {
        let handoffs = self.start_chain_from(chain_key, signing_seed)?;
        Ok(self.without_siblings(handoffs))
    }

    fn start_chain_from(
        &mut self,
        chain_key: &[u8; 32],
        signing_seed: &[u8; 32],
    ) -> Result<Handoffs, Error> {
        if self.removed {
            return Err(UsageError::NotPermitted.into());
        }
        if self.current.own.is_some() {
            return Err(UsageError::SenderChain.into());
        }
        // Our own other devices get a welcome: one linked since may not hold the
        // conversation yet, and one that does takes it as the chain.
        let (me, roster) = (self.me, self.current.roster.members().to_vec());
        Ok(self.install_own(chain_key, signing_seed, |m| {
            (m.id == me).then(|| Change::Welcome {
                roster: roster.clone(),
            })
        }))
    }

    /// Adds and removes members (the local member must be an admin and stay): a new epoch
    /// with a new local chain. Returns a commit (with the chain) for each member who stays and
    /// a welcome for each new one; removed members get nothing.
    pub fn change<R: CryptoRng + ?Sized>(
        &mut self,
        rng: &mut R,
        added: &[Member],
        removed: &[MailboxId],
    ) -> Result<Handoffs, Error> {
        let handoffs = self.change_all(rng, added, removed)?;
        Ok(self.without_siblings(handoffs))
    }

    /// [`Conversation::change`], with the commit for our own other devices.
    pub(crate) fn change_all<R: CryptoRng + ?Sized>(
        &mut self,
        rng: &mut R,
        added: &[Member],
        removed: &[MailboxId],
    ) -> Result<Handoffs, Error> {
        self.change_from(added, removed, &random32(rng), &random32(rng))
    }

    /// [`Conversation::change`] with explicit secrets (for vectors).
    #[cfg(feature = "hazmat")]
    pub fn change_with(
        &mut self,
        added: &[Member],
        removed: &[MailboxId],
        chain_key: &[u8; 32],
        signing_seed: &[u8; 32],
    ) -> Result<Handoffs, Error> {
        let handoffs = self.change_from(added, removed, chain_key, signing_seed)?;
        Ok(self.without_siblings(handoffs))
    }

    fn change_from(
        &mut self,
        added: &[Member],
        removed: &[MailboxId],
        chain_key: &[u8; 32],
        signing_seed: &[u8; 32],
    ) -> Result<Handoffs, Error> {
        let admin = self
            .current
            .roster
            .get(&self.me)
            .is_some_and(|m| m.role == Role::Admin);
        if self.removed || self.kind != Kind::Group || !admin || removed.contains(&self.me) {
            return Err(UsageError::NotPermitted.into());
        }
        let number = self
            .current
            .number
            .checked_add(1)
            .ok_or(UsageError::MessageLimitReached)?;
        // One change, one encoding: both lists in increasing id order, each member once.
        let mut added = added.to_vec();
        added.sort_unstable_by_key(|m| m.id);
        let mut removed = removed.to_vec();
        removed.sort_unstable();
        // A member added twice makes an invalid roster below; one removed twice would not.
        if !removed.windows(2).all(|w| w[0] < w[1]) {
            return Err(UsageError::InvalidRoster.into());
        }
        let roster = self.current.roster.changed(self.kind, &added, &removed)?;
        self.advance(Epoch::new(&self.id, self.kind, number, roster));
        let members = self.current.roster.members().to_vec();
        let new_ids: Vec<MailboxId> = added.iter().map(|m| m.id).collect();
        let new = |m: &Member| new_ids.binary_search(&m.id).is_ok();
        let commit = Change::Commit { added, removed };
        let handoffs = self.install_own(chain_key, signing_seed, |m| {
            Some(if new(m) {
                Change::Welcome {
                    roster: members.clone(),
                }
            } else {
                commit.clone()
            })
        });
        // What was kept for this epoch number came from another admin's change, which ours
        // replaces: it no longer fits and is dropped.
        self.install_early();
        Ok(handoffs)
    }

    /// Accepts a payload that member `from` sent the local member inside their pairwise
    /// session: a chain for an epoch, or a commit that starts the next epoch. One for an epoch
    /// not reached yet is kept ([`Accepted::Kept`]) and installed once the change that starts
    /// its epoch arrives; a commit that arrives then installs what was kept for it, and any
    /// commit kept for the epoch after (the result names the epoch reached). On error the
    /// state is unchanged.
    pub fn accept_distribution(
        &mut self,
        from: MailboxId,
        bytes: &[u8],
    ) -> Result<Accepted, Error> {
        self.accept_from(DeviceOf::first(from), bytes)
    }

    /// [`Conversation::accept_distribution`] from a device `from` of a member (our own
    /// member's other devices too): its chain is bound to the device.
    pub(crate) fn accept_from(&mut self, from: DeviceOf, bytes: &[u8]) -> Result<Accepted, Error> {
        let dist = KeyDistribution::from_bytes(bytes)?;
        if dist.conversation != self.id || dist.kind != self.kind {
            return Err(UsageError::WrongConversation.into());
        }
        if dist.sender != from.device || from.device == self.device {
            return Err(CryptoError::WrongSender.into());
        }
        if self.removed {
            return Err(UsageError::NotPermitted.into());
        }
        if self.is_early(&dist) {
            return self.keep(from, &dist, bytes);
        }
        let accepted = self.accept_now(&dist, from)?;
        if let Accepted::NewEpoch(_) = accepted {
            return Ok(self.install_early().unwrap_or(accepted));
        }
        Ok(accepted)
    }

    fn accept_now(&mut self, dist: &KeyDistribution, from: DeviceOf) -> Result<Accepted, Error> {
        match &dist.change {
            None => self.accept_chain(dist, from),
            Some(Change::Commit { added, removed }) => {
                self.accept_commit(dist, from, added, removed)
            }
            // Our own other device's welcome into what we hold already: its chain.
            Some(Change::Welcome { .. }) if from.member == self.me => self.accept_chain(dist, from),
            Some(Change::Welcome { .. }) => Err(UsageError::WrongConversation.into()),
        }
    }

    /// A chain for a later epoch, or a commit for one after the next: its change has not
    /// arrived yet.
    fn is_early(&self, dist: &KeyDistribution) -> bool {
        let next = self.current.number.saturating_add(1);
        match dist.change {
            None => dist.epoch > self.current.number,
            Some(_) => dist.epoch > next,
        }
    }

    /// A kept distribution from saved state: it must be one this conversation would keep now.
    pub(super) fn restore_early(
        &mut self,
        bytes: &[u8],
        member_of: impl Fn(&MailboxId) -> MailboxId,
    ) -> Result<(), DecodeError> {
        let invalid = DecodeError::Invalid {
            what: "kept distribution",
        };
        let dist = KeyDistribution::from_bytes(bytes)?;
        let ours = dist.conversation == self.id && dist.kind == self.kind;
        if !ours || self.removed || dist.sender == self.device || !self.is_early(&dist) {
            return Err(invalid);
        }
        let from = DeviceOf {
            member: member_of(&dist.sender),
            device: dist.sender,
        };
        self.keep(from, &dist, bytes)
            .map(|_| ())
            .map_err(|_| invalid)
    }

    fn keep(
        &mut self,
        from: DeviceOf,
        dist: &KeyDistribution,
        bytes: &[u8],
    ) -> Result<Accepted, Error> {
        let commit = dist.change.is_some();
        let again = self
            .early
            .iter()
            .any(|e| e.from == from && e.epoch == dist.epoch && e.commit == commit);
        if again {
            return Err(CryptoError::Replay.into());
        }
        if self.early.len() >= self.current.roster.members().len() + MAX_EARLY {
            return Err(UsageError::TooLarge {
                what: "distributions kept for later epochs",
            }
            .into());
        }
        self.early.push(Early {
            from,
            epoch: dist.epoch,
            commit,
            bytes: Zeroizing::new(bytes.to_vec()),
        });
        Ok(Accepted::Kept)
    }

    /// Installs what was kept for the epoch just reached, in epoch order, commits first (a kept
    /// commit moves on to the next epoch, whose kept chains follow). What no longer fits (its
    /// roster or sender is wrong, or its epoch is past) is dropped. Returns the last epoch
    /// reached, or removal.
    fn install_early(&mut self) -> Option<Accepted> {
        let mut reached = None;
        loop {
            let ready = self.early.iter().position(|e| {
                let dist = KeyDistribution::from_bytes(&e.bytes);
                dist.is_ok_and(|d| !self.is_early(&d))
            });
            let Some(at) = ready else {
                return reached;
            };
            let early = self.early.remove(at);
            let Ok(dist) = KeyDistribution::from_bytes(&early.bytes) else {
                continue;
            };
            match self.accept_now(&dist, early.from) {
                Ok(Accepted::Removed) => {
                    self.early.clear();
                    return Some(Accepted::Removed);
                }
                Ok(epoch @ Accepted::NewEpoch(_)) => reached = Some(epoch),
                Ok(_) | Err(_) => {}
            }
        }
    }

    fn accept_chain(&mut self, dist: &KeyDistribution, from: DeviceOf) -> Result<Accepted, Error> {
        // A late chain for an earlier epoch only from a member who stayed: a removed member
        // must not start talking in the epoch it was removed from.
        let stayed = self.current.roster.get(&from.member).is_some();
        if dist.epoch < self.current.number && !stayed {
            return Err(CryptoError::WrongSender.into());
        }
        let epoch = if dist.epoch == self.current.number {
            &mut self.current
        } else {
            match self.previous.as_deref_mut() {
                Some(previous) if previous.number == dist.epoch => previous,
                _ => return Err(CryptoError::Replay.into()),
            }
        };
        if epoch.roster_hash != dist.roster_hash {
            return Err(CryptoError::RosterMismatch.into());
        }
        if epoch.roster.get(&from.member).is_none() {
            return Err(CryptoError::WrongSender.into());
        }
        // A device draws a new chain in an epoch when one of its peers' devices is removed;
        // its chain before stays readable for what is in flight, the one before that goes.
        let same: Vec<usize> = (epoch.peers.iter().enumerate())
            .filter(|(_, p)| p.sender == from.device)
            .map(|(i, _)| i)
            .collect();
        if same
            .iter()
            .any(|&i| epoch.peers[i].verifying == dist.chain_public)
        {
            return Err(CryptoError::Replay.into());
        }
        if let [oldest, _, ..] = same.as_slice() {
            epoch.peers.remove(*oldest);
            epoch.next_labels = NextLabels::rebuild(epoch.peers.iter().map(|p| &p.chain));
        }
        epoch.add_peer(from, Zeroizing::new(dist.chain_key.0), dist.chain_public);
        Ok(Accepted::Chain)
    }

    fn accept_commit(
        &mut self,
        dist: &KeyDistribution,
        from: DeviceOf,
        added: &[Member],
        removed: &[MailboxId],
    ) -> Result<Accepted, Error> {
        let next = self
            .current
            .number
            .checked_add(1)
            .ok_or(UsageError::MessageLimitReached)?;
        if dist.epoch != next {
            return Err(CryptoError::Replay.into());
        }
        let admin = self
            .current
            .roster
            .get(&from.member)
            .is_some_and(|m| m.role == Role::Admin);
        if !admin {
            return Err(CryptoError::WrongSender.into());
        }
        let roster = self
            .current
            .roster
            .changed(self.kind, added, removed)
            .map_err(|_| CryptoError::RosterMismatch)?;
        let mut epoch = Epoch::new(&self.id, self.kind, next, roster);
        if epoch.roster_hash != dist.roster_hash {
            return Err(CryptoError::RosterMismatch.into());
        }
        if epoch.roster.get(&self.me).is_none() {
            self.leave();
            return Ok(Accepted::Removed);
        }
        epoch.add_peer(from, Zeroizing::new(dist.chain_key.0), dist.chain_public);
        self.advance(epoch);
        Ok(Accepted::NewEpoch(next))
    }

    /// Devices removed from their account's list (PROTOCOL.md §12.6): their chains and what
    /// was kept from them go, and so does our own chain, which they may hold: the next
    /// message draws a new one, handed only to the devices listed now. An ad-hoc
    /// conversation's chains all come from its seed and cannot be drawn anew: it stays as
    /// it is, and the client closes it instead (its roster still names the removed device).
    pub(crate) fn drop_devices(&mut self, gone: &[MailboxId]) {
        if self.kind == Kind::AdHoc {
            return;
        }
        let epochs = core::iter::once(&mut self.current).chain(self.previous.as_deref_mut());
        for epoch in epochs {
            let held = epoch.peers.len();
            epoch.peers.retain(|p| !gone.contains(&p.sender));
            // Rebuilt only when a chain went: it derives every chain's next labels.
            if epoch.peers.len() < held {
                epoch.next_labels = NextLabels::rebuild(epoch.peers.iter().map(|p| &p.chain));
            }
        }
        self.early.retain(|e| !gone.contains(&e.from.device));
        self.current.own = None;
    }

    /// Our sender chain is drawn anew at our next message, and handed out then to every
    /// device listed: some did not get this one (a paid send under a one-mailbox token reaches
    /// one device per member).
    pub(crate) fn redraw_own_chain(&mut self) {
        self.current.own = None;
    }

    /// The local member was removed by a change it will not receive (an admin told it so): it
    /// sends nothing from now on, and keeps only what it needs to read messages already in
    /// flight.
    pub fn leave(&mut self) {
        self.removed = true;
        self.current.own = None;
        self.early.clear();
    }

    /// Makes `epoch` current; the old one becomes receive-only, keeping only the chains of
    /// members who stay (a removed member cannot keep talking in the old epoch), and the one
    /// before it is deleted.
    fn advance(&mut self, epoch: Epoch) {
        let mut old = core::mem::replace(&mut self.current, epoch);
        old.own = None;
        old.peers
            .retain(|p| self.current.roster.get(&p.member).is_some());
        old.next_labels = NextLabels::rebuild(old.peers.iter().map(|p| &p.chain));
        self.previous = Some(Box::new(old));
    }

    /// Installs a fresh local chain and returns its distribution to every other member, and
    /// to our own member (for our other devices) last.
    fn install_own(
        &mut self,
        chain_key: &[u8; 32],
        signing_seed: &[u8; 32],
        change: impl Fn(&Member) -> Option<Change>,
    ) -> Handoffs {
        let signing = SigningKey::from_seed(signing_seed);
        let chain_public = *signing.verifying_key();
        self.current
            .set_own(&self.device, Zeroizing::new(*chain_key), signing);
        let me = self.current.roster.get(&self.me).copied();
        let others = (self.current.roster.members().iter())
            .filter(|m| m.id != self.me)
            .chain(me.as_ref());
        // Sized up front: growing would move the chain keys and free the old copies unwiped.
        let mut handoffs = Vec::with_capacity(self.current.roster.members().len());
        handoffs.extend(others.map(|m| {
            let dist = KeyDistribution {
                conversation: self.id,
                kind: self.kind,
                epoch: self.current.number,
                roster_hash: self.current.roster_hash,
                sender: self.device,
                change: change(m),
                chain_key: SecretBytes(*chain_key),
                chain_public,
            };
            (m.id, dist)
        }));
        handoffs
    }
}

#[cfg(test)]
mod tests_support {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;
    use crate::identity::Identity;

    pub(super) fn member(i: u8, role: Role) -> Member {
        let identity = Identity::generate(&mut rand::rng());
        Member::new(MailboxId([i; 16]), role, *identity.public())
    }

    /// Member 1's view of a group of 0 (admin), 1 and 2, and a chain for epoch 1 from 2.
    pub(super) fn kept() -> (Conversation, KeyDistribution) {
        let mut rng = rand::rng();
        let others = vec![member(1, Role::Member), member(2, Role::Member)];
        let (_, welcomes) = Conversation::create(&mut rng, member(0, Role::Admin), others).unwrap();
        let welcome = &welcomes.iter().find(|(to, _)| to.0 == [1; 16]).unwrap().1;
        let one = Conversation::join(MailboxId([1; 16]), MailboxId([0; 16]), &welcome.to_bytes())
            .unwrap();
        let later = KeyDistribution {
            conversation: one.id,
            kind: one.kind,
            epoch: 1,
            roster_hash: [0; 32],
            sender: MailboxId([2; 16]),
            change: None,
            chain_key: SecretBytes([5; 32]),
            chain_public: *SigningKey::from_seed(&[6; 32]).verifying_key(),
        };
        (one, later)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::tests_support::kept;
    use super::*;

    /// What a saved state holding `dist` as kept loads as.
    fn restored(mut c: Conversation, dist: &KeyDistribution) -> Result<Conversation, DecodeError> {
        c.early.push(Early {
            from: DeviceOf::first(dist.sender),
            epoch: dist.epoch,
            commit: dist.change.is_some(),
            bytes: dist.to_bytes(),
        });
        Conversation::from_bytes(&c.to_bytes())
    }

    #[test]
    fn a_saved_state_keeps_only_what_it_would_keep_now() {
        let invalid = Err(DecodeError::Invalid {
            what: "kept distribution",
        });
        let (c, later) = kept();
        let back = restored(Conversation::from_bytes(&c.to_bytes()).unwrap(), &later).unwrap();
        assert_eq!(back.early.len(), 1);
        let variants: [fn(&mut KeyDistribution); 5] = [
            |d| d.conversation = ConversationId([9; 16]),
            |d| d.kind = Kind::AdHoc,
            |d| d.sender = MailboxId([1; 16]),
            |d| d.epoch = 0,
            |d| {
                d.change = Some(Change::Commit {
                    added: vec![],
                    removed: vec![MailboxId([0; 16])],
                })
            },
        ];
        for change in variants {
            let mut dist = later.clone();
            change(&mut dist);
            let c = Conversation::from_bytes(&c.to_bytes()).unwrap();
            assert_eq!(restored(c, &dist).map(|_| ()), invalid);
        }
        // Nothing is kept by a member who was removed.
        let mut gone = Conversation::from_bytes(&c.to_bytes()).unwrap();
        gone.removed = true;
        assert_eq!(restored(gone, &later).map(|_| ()), invalid);
        // Nor the same distribution twice.
        let mut twice = Conversation::from_bytes(&c.to_bytes()).unwrap();
        twice.early.push(Early {
            from: DeviceOf::first(later.sender),
            epoch: 1,
            commit: false,
            bytes: later.to_bytes(),
        });
        assert_eq!(restored(twice, &later).map(|_| ()), invalid);
    }
}

#[cfg(test)]
mod bounds {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::tests_support::kept;
    use super::*;

    #[test]
    fn what_is_kept_for_later_epochs_is_bounded() {
        let (mut c, later) = kept();
        let bound = c.members().len() + MAX_EARLY;
        for epoch in 1..=bound as u64 {
            let dist = KeyDistribution {
                epoch,
                ..later.clone()
            };
            assert_eq!(
                c.accept_distribution(dist.sender, &dist.to_bytes()),
                Ok(Accepted::Kept),
                "epoch {epoch}"
            );
        }
        let one_more = KeyDistribution {
            epoch: bound as u64 + 1,
            ..later
        };
        let before = c.to_bytes();
        assert!(matches!(
            c.accept_distribution(one_more.sender, &one_more.to_bytes()),
            Err(Error::Usage(UsageError::TooLarge { .. }))
        ));
        assert!(*c.to_bytes() == *before);
    }
}

#[cfg(test)]
mod devices {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::tests_support::member;
    use super::*;

    fn handoff(handoffs: &Handoffs, to: MailboxId) -> Zeroizing<Vec<u8>> {
        handoffs
            .iter()
            .find(|(t, _)| *t == to)
            .unwrap()
            .1
            .to_bytes()
    }

    /// Ann (admin) on her phone (her member id) and her laptop, and Ben: each device sends on
    /// its own chain, bound to the device and read as Ann's.
    #[test]
    fn each_device_of_a_member_sends_on_its_own_chain_and_reads_the_others() {
        let rng = &mut rand::rng();
        let (ann, ben) = (member(1, Role::Admin), member(2, Role::Member));
        let phone = DeviceOf::first(ann.id);
        let laptop = DeviceOf {
            member: ann.id,
            device: MailboxId([9; 16]),
        };
        let (mut at_phone, handoffs) =
            Conversation::create_for(rng, Kind::Group, ann, phone.device, vec![ben]).unwrap();
        // The phone's own member gets the welcome last, for the laptop; Ben gets his.
        assert_eq!(handoffs.last().unwrap().0, ann.id);
        let mut at_laptop =
            Conversation::join_as(laptop, phone, &handoff(&handoffs, ann.id)).unwrap();
        let mut at_ben = Conversation::join(ben.id, ann.id, &handoff(&handoffs, ben.id)).unwrap();
        // A device may not take its own chain as another's.
        assert_eq!(
            Conversation::join_as(phone, phone, &handoff(&handoffs, ann.id)).map(|_| ()),
            Err(CryptoError::WrongSender.into())
        );

        // A welcome or chain is the device's that drew it, whoever hands it on.
        let elsewhere = DeviceOf {
            member: ann.id,
            device: MailboxId([8; 16]),
        };
        assert_eq!(
            Conversation::join_as(laptop, elsewhere, &handoff(&handoffs, ann.id)).map(|_| ()),
            Err(CryptoError::WrongSender.into())
        );
        let from_laptop = at_laptop.start_chain_all(rng).unwrap();
        assert_eq!(from_laptop.len(), 2, "to Ben and to Ann's other devices");
        assert_eq!(
            Conversation::from_bytes(&at_ben.to_bytes())
                .unwrap()
                .accept_from(elsewhere, &handoff(&from_laptop, ben.id)),
            Err(CryptoError::WrongSender.into())
        );
        at_ben
            .accept_from(laptop, &handoff(&from_laptop, ben.id))
            .unwrap();
        at_phone
            .accept_from(laptop, &handoff(&from_laptop, ann.id))
            .unwrap();
        // Claimed for a member who is not in the roster, the same chain is refused.
        let mut ben_copy = Conversation::from_bytes(&at_ben.to_bytes()).unwrap();
        let outsider = DeviceOf {
            member: MailboxId([7; 16]),
            device: laptop.device,
        };
        let mut fresh = Conversation::join(ben.id, ann.id, &handoff(&handoffs, ben.id)).unwrap();
        assert_eq!(
            fresh.accept_from(outsider, &handoff(&from_laptop, ben.id)),
            Err(CryptoError::WrongSender.into())
        );

        let message = at_laptop.encrypt(b"from the laptop").unwrap();
        for reader in [&mut at_ben, &mut at_phone, &mut ben_copy] {
            let read = reader.decrypt(&message).unwrap();
            assert_eq!((read.sender, read.device), (ann.id, laptop.device));
            assert_eq!(read.body, b"from the laptop");
        }
        let message = at_phone.encrypt(b"from the phone").unwrap();
        let read = at_laptop.decrypt(&message).unwrap();
        assert_eq!((read.sender, read.device), (ann.id, ann.id));

        // Saved and loaded, each keeps whose device is whose.
        let again = at_laptop.encrypt(b"again").unwrap();
        let mut ben_back = Conversation::from_bytes(&at_ben.to_bytes()).unwrap();
        assert_eq!(ben_back.decrypt(&again).unwrap().sender, ann.id);
        let mut laptop_back = Conversation::from_bytes(&at_laptop.to_bytes()).unwrap();
        assert_eq!(laptop_back.device(), laptop.device);
        let read = at_ben.decrypt(&laptop_back.encrypt(b"after a restart").unwrap());
        assert_eq!(read.unwrap().device, laptop.device);
        // A state of one device's account is written as before (version 2).
        assert_eq!(
            Conversation::create(rng, ann, vec![ben])
                .unwrap()
                .0
                .to_bytes()[0],
            2
        );
        assert_eq!(at_laptop.to_bytes()[0], 3);
    }
}

#[cfg(test)]
mod rekeyed {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::tests_support::member;
    use super::*;

    /// A device's new chain in an epoch is taken beside the one before; an older one goes, and
    /// a chain taken twice is a replay.
    #[test]
    fn a_device_keeps_its_chain_before_a_new_one_and_no_older() {
        let rng = &mut rand::rng();
        let (ann, ben) = (member(1, Role::Admin), member(2, Role::Member));
        let (mut at_ann, welcome) = Conversation::create(rng, ann, vec![ben]).unwrap();
        let mut at_ben = Conversation::join(ben.id, ann.id, &welcome[0].1.to_bytes()).unwrap();
        let mut chains = Vec::new();
        let mut messages = Vec::new();
        for i in 0..3u8 {
            // A device of a member was removed: Ben's chain goes, the next is new.
            at_ben.drop_devices(&[MailboxId([9; 16])]);
            assert!(!at_ben.has_sender_chain());
            let handoff = at_ben.start_chain(rng).unwrap().remove(0).1;
            chains.push(handoff.to_bytes());
            assert_eq!(
                at_ann.accept_distribution(ben.id, &chains[usize::from(i)]),
                Ok(Accepted::Chain)
            );
            messages.push(at_ben.encrypt(&[i]).unwrap());
            // The same chain again is a replay.
            assert_eq!(
                at_ann.accept_distribution(ben.id, &chains[usize::from(i)]),
                Err(CryptoError::Replay.into())
            );
        }
        // The first chain was dropped for the third; the second is still read.
        let mut back = Conversation::from_bytes(&at_ann.to_bytes()).unwrap();
        assert_eq!(
            back.decrypt(&messages[0]).map(|_| ()),
            Err(CryptoError::NoMatchingKey.into())
        );
        assert_eq!(back.decrypt(&messages[1]).unwrap().body, [1]);
        assert_eq!(back.decrypt(&messages[2]).unwrap().body, [2]);
    }
}

#[cfg(test)]
mod late {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::tests_support::member;
    use super::*;

    /// A chain for the epoch before arrives after the change: taken from a member who stayed,
    /// refused from one the change removed.
    #[test]
    fn a_late_chain_is_taken_only_from_a_member_who_stayed() {
        let rng = &mut rand::rng();
        let (ann, ben) = (member(1, Role::Admin), member(2, Role::Member));
        let (cy, dan) = (member(3, Role::Member), member(4, Role::Member));
        let (mut at_ann, welcomes) = Conversation::create(rng, ann, vec![ben, cy, dan]).unwrap();
        let welcome = |to: MailboxId| {
            welcomes
                .iter()
                .find(|(t, _)| *t == to)
                .unwrap()
                .1
                .to_bytes()
        };
        let mut at_ben = Conversation::join(ben.id, ann.id, &welcome(ben.id)).unwrap();
        let mut at_cy = Conversation::join(cy.id, ann.id, &welcome(cy.id)).unwrap();
        let mut at_dan = Conversation::join(dan.id, ann.id, &welcome(dan.id)).unwrap();
        let from_cy = at_cy.start_chain(rng).unwrap();
        let from_dan = at_dan.start_chain(rng).unwrap();
        let to_ben = |h: &Handoffs| h.iter().find(|(t, _)| *t == ben.id).unwrap().1.to_bytes();
        // Ann removes Dan; Ben takes the commit before Cy's and Dan's epoch-0 chains.
        let commits = at_ann.change(rng, &[], &[dan.id]).unwrap();
        assert_eq!(
            at_ben.accept_distribution(ann.id, &to_ben(&commits)),
            Ok(Accepted::NewEpoch(1))
        );
        assert_eq!(
            at_ben.accept_distribution(dan.id, &to_ben(&from_dan)),
            Err(CryptoError::WrongSender.into())
        );
        // Two changes on, the epoch-0 chain is neither current nor the epoch before: a replay.
        let mut two_on = Conversation::from_bytes(&at_ben.to_bytes()).unwrap();
        let eve = member(5, Role::Member);
        let commits = at_ann.change(rng, &[eve], &[]).unwrap();
        assert_eq!(
            two_on.accept_distribution(ann.id, &to_ben(&commits)),
            Ok(Accepted::NewEpoch(2))
        );
        assert_eq!(
            two_on.accept_distribution(cy.id, &to_ben(&from_cy)),
            Err(CryptoError::Replay.into())
        );
        assert_eq!(
            at_ben.accept_distribution(cy.id, &to_ben(&from_cy)),
            Ok(Accepted::Chain)
        );
    }

    #[test]
    fn a_distribution_for_another_conversation_is_refused() {
        let rng = &mut rand::rng();
        let (ann, ben) = (member(1, Role::Admin), member(2, Role::Member));
        let cy = member(3, Role::Member);
        let (_, first) = Conversation::create(rng, ann, vec![ben, cy]).unwrap();
        let (_, second) = Conversation::create(rng, ann, vec![ben, cy]).unwrap();
        let to =
            |h: &Handoffs, m: &Member| h.iter().find(|(t, _)| *t == m.id).unwrap().1.to_bytes();
        let mut at_ben = Conversation::join(ben.id, ann.id, &to(&first, &ben)).unwrap();
        let mut at_cy_second = Conversation::join(cy.id, ann.id, &to(&second, &cy)).unwrap();
        // Cy's chain in the second group, handed to Ben as if for the first.
        let chain = at_cy_second.start_chain(rng).unwrap();
        assert_eq!(
            at_ben.accept_distribution(cy.id, &to(&chain, &ben)),
            Err(UsageError::WrongConversation.into())
        );
    }

    #[test]
    fn what_was_kept_from_a_removed_device_goes_with_it() {
        let (mut c, later) = tests_support::kept();
        let from = DeviceOf::first(later.sender);
        assert_eq!(c.accept_from(from, &later.to_bytes()), Ok(Accepted::Kept));
        c.drop_devices(&[MailboxId([9; 16])]);
        assert_eq!(c.early.len(), 1);
        c.drop_devices(&[later.sender]);
        assert!(c.early.is_empty());
    }
}
