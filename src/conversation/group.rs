//! Group life cycle (PROTOCOL.md §6.5–§6.6): create, join, hand out chains, change members.

use rand::CryptoRng;
use zeroize::Zeroizing;

use super::chain::NextLabels;
use super::distribution::{Change, KeyDistribution, SecretBytes};
use super::roster::{ConversationId, Kind, Member, Role, Roster};
use super::{Conversation, Early, Epoch};
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
        let mut id = [0u8; 16];
        rng.fill_bytes(&mut id);
        let (chain_key, seed) = (random32(rng), random32(rng));
        Self::create_kind(
            Kind::Group,
            ConversationId(id),
            me,
            others,
            &chain_key,
            &seed,
        )
    }

    /// Opens a one-to-one conversation between the local member `me` (an admin) and `peer`
    /// (its members never change); returns the welcome for `peer`.
    pub fn create_direct<R: CryptoRng + ?Sized>(
        rng: &mut R,
        me: Member,
        peer: Member,
    ) -> Result<(Self, Handoffs), Error> {
        let mut id = [0u8; 16];
        rng.fill_bytes(&mut id);
        let (chain_key, seed) = (random32(rng), random32(rng));
        Self::create_kind(
            Kind::Direct,
            ConversationId(id),
            me,
            vec![peer],
            &chain_key,
            &seed,
        )
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
        Self::create_kind(Kind::Group, id, me, others, chain_key, signing_seed)
    }

    fn create_kind(
        kind: Kind,
        id: ConversationId,
        me: Member,
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
        let dist = KeyDistribution::from_bytes(welcome)?;
        let Some(Change::Welcome { roster }) =
            dist.change.as_ref().filter(|_| dist.kind.has_identities())
        else {
            return Err(UsageError::WrongConversation.into());
        };
        let roster =
            Roster::checked(dist.kind, roster.clone()).map_err(|_| CryptoError::RosterMismatch)?;
        let admin = roster.get(&from).is_some_and(|m| m.role == Role::Admin);
        if dist.sender != from || !admin || from == me {
            return Err(CryptoError::WrongSender.into());
        }
        if roster.get(&me).is_none() {
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
            me,
            current,
            previous: None,
            removed: false,
            early: Vec::new(),
        })
    }

    /// Starts the local sender chain for the current epoch; returns its key for every other
    /// member. Needed after joining and after every [`Accepted::NewEpoch`].
    pub fn start_chain<R: CryptoRng + ?Sized>(&mut self, rng: &mut R) -> Result<Handoffs, Error> {
        self.start_chain_from(&random32(rng), &random32(rng))
    }

    /// [`Conversation::start_chain`] with explicit secrets (for vectors).
    #[cfg(feature = "hazmat")]
    pub fn start_chain_with(
        &mut self,
        chain_key: &[u8; 32],
        signing_seed: &[u8; 32],
    ) -> Result<Handoffs, Error> {
        self.start_chain_from(chain_key, signing_seed)
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
        Ok(self.install_own(chain_key, signing_seed, |_| None))
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
        self.change_from(added, removed, chain_key, signing_seed)
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
        let dist = KeyDistribution::from_bytes(bytes)?;
        if dist.conversation != self.id || dist.kind != self.kind {
            return Err(UsageError::WrongConversation.into());
        }
        if dist.sender != from || from == self.me {
            return Err(CryptoError::WrongSender.into());
        }
        if self.removed {
            return Err(UsageError::NotPermitted.into());
        }
        if self.is_early(&dist) {
            return self.keep(from, &dist, bytes);
        }
        let accepted = self.accept_now(&dist)?;
        if let Accepted::NewEpoch(_) = accepted {
            return Ok(self.install_early().unwrap_or(accepted));
        }
        Ok(accepted)
    }

    fn accept_now(&mut self, dist: &KeyDistribution) -> Result<Accepted, Error> {
        match &dist.change {
            None => self.accept_chain(dist),
            Some(Change::Commit { added, removed }) => self.accept_commit(dist, added, removed),
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
    pub(super) fn restore_early(&mut self, bytes: &[u8]) -> Result<(), DecodeError> {
        let invalid = DecodeError::Invalid {
            what: "kept distribution",
        };
        let dist = KeyDistribution::from_bytes(bytes)?;
        let ours = dist.conversation == self.id && dist.kind == self.kind;
        if !ours || self.removed || dist.sender == self.me || !self.is_early(&dist) {
            return Err(invalid);
        }
        self.keep(dist.sender, &dist, bytes)
            .map(|_| ())
            .map_err(|_| invalid)
    }

    fn keep(
        &mut self,
        from: MailboxId,
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
            match self.accept_now(&dist) {
                Ok(Accepted::Removed) => {
                    self.early.clear();
                    return Some(Accepted::Removed);
                }
                Ok(epoch @ Accepted::NewEpoch(_)) => reached = Some(epoch),
                Ok(_) | Err(_) => {}
            }
        }
    }

    fn accept_chain(&mut self, dist: &KeyDistribution) -> Result<Accepted, Error> {
        // A late chain for an earlier epoch only from a member who stayed: a removed member
        // must not start talking in the epoch it was removed from.
        let stayed = self.current.roster.get(&dist.sender).is_some();
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
        if epoch.roster.get(&dist.sender).is_none() {
            return Err(CryptoError::WrongSender.into());
        }

        if epoch.peers.iter().any(|p| p.sender == dist.sender) {
            return Err(CryptoError::Replay.into());
        }
        epoch.add_peer(
            dist.sender,
            Zeroizing::new(dist.chain_key.0),
            dist.chain_public,
        );
        Ok(Accepted::Chain)
    }

    fn accept_commit(
        &mut self,
        dist: &KeyDistribution,
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
            .get(&dist.sender)
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
        epoch.add_peer(
            dist.sender,
            Zeroizing::new(dist.chain_key.0),
            dist.chain_public,
        );
        self.advance(epoch);
        Ok(Accepted::NewEpoch(next))
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
            .retain(|p| self.current.roster.get(&p.sender).is_some());
        old.next_labels = NextLabels::rebuild(old.peers.iter().map(|p| &p.chain));
        self.previous = Some(Box::new(old));
    }

    /// Installs a fresh local chain and returns its distribution to every other member.
    fn install_own(
        &mut self,
        chain_key: &[u8; 32],
        signing_seed: &[u8; 32],
        change: impl Fn(&Member) -> Option<Change>,
    ) -> Handoffs {
        let signing = SigningKey::from_seed(signing_seed);
        let chain_public = *signing.verifying_key();
        self.current
            .set_own(&self.me, Zeroizing::new(*chain_key), signing);
        let others = self
            .current
            .roster
            .members()
            .iter()
            .filter(|m| m.id != self.me);
        // Sized up front: growing would move the chain keys and free the old copies unwiped.
        let mut handoffs = Vec::with_capacity(self.current.roster.members().len());
        handoffs.extend(others.map(|m| {
            let dist = KeyDistribution {
                conversation: self.id,
                kind: self.kind,
                epoch: self.current.number,
                roster_hash: self.current.roster_hash,
                sender: self.me,
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
            from: dist.sender,
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
            from: later.sender,
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
