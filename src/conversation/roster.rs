//! Members, rosters and the roster hash bound into every key and every associated data
//! (PROTOCOL.md §6.2).

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::envelope::MailboxId;
use crate::error::UsageError;
use crate::identity::PublicIdentity;

/// The most members a conversation has.
pub const MAX_MEMBERS: usize = 10_000;

/// A conversation's random 16-byte id.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Serialize, Deserialize)]
pub struct ConversationId(pub [u8; 16]);

/// What a conversation is.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub enum Kind {
    /// A group: members with identity keys and roles, changed by admins, epoch by epoch.
    Group,
    /// An ad-hoc conversation opened by a multi-recipient first message: members are mailboxes.
    AdHoc,
    /// A one-to-one conversation: exactly two members with identity keys, the one who opened
    /// it an admin; its members never change (postcard variant 2).
    Direct,
}

impl Kind {
    /// Whether members carry identity keys (everything but ad-hoc conversations).
    pub fn has_identities(self) -> bool {
        self != Self::AdHoc
    }
}

/// A member's role.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub enum Role {
    /// May send and read.
    Member,
    /// May also add and remove members.
    Admin,
    /// May post to the group like an admin, but not change its members (postcard variant 2).
    Manager,
}

/// A member: its mailbox (its stable id in the conversation), its role and, in a group, the
/// identity key its pairwise session is authenticated with.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct Member {
    /// Mailbox and stable id.
    pub id: MailboxId,
    /// Role.
    pub role: Role,
    /// Identity key (`None` in ad-hoc conversations, where members are mailboxes).
    pub identity: Option<PublicIdentity>,
}

impl Member {
    /// A group member.
    pub fn new(id: MailboxId, role: Role, identity: PublicIdentity) -> Self {
        Self {
            id,
            role,
            identity: Some(identity),
        }
    }
}

/// Members sorted by id, no duplicate, at most [`MAX_MEMBERS`].
#[derive(Clone, PartialEq, Eq, Debug)]
pub(crate) struct Roster(Vec<Member>);

impl Roster {
    /// Sorts and checks `members`: 2 to [`MAX_MEMBERS`] (exactly 2 in a direct conversation),
    /// distinct ids, identities present except in ad-hoc conversations.
    pub(crate) fn checked(kind: Kind, mut members: Vec<Member>) -> Result<Self, UsageError> {
        members.sort_unstable_by_key(|m| m.id);
        let distinct = members.windows(2).all(|w| w[0].id < w[1].id);
        let identities = members
            .iter()
            .all(|m| m.identity.is_some() == kind.has_identities());
        let most = if kind == Kind::Direct { 2 } else { MAX_MEMBERS };
        if !distinct || !identities || members.len() < 2 || members.len() > most {
            return Err(UsageError::InvalidRoster);
        }
        Ok(Self(members))
    }

    pub(crate) fn members(&self) -> &[Member] {
        &self.0
    }

    pub(crate) fn get(&self, id: &MailboxId) -> Option<&Member> {
        self.0
            .binary_search_by_key(id, |m| m.id)
            .ok()
            .map(|i| &self.0[i])
    }

    /// The roster after removing `removed` and adding `added`, each of which must apply.
    pub(crate) fn changed(
        &self,
        kind: Kind,
        added: &[Member],
        removed: &[MailboxId],
    ) -> Result<Self, UsageError> {
        let known = removed.iter().all(|id| self.get(id).is_some());
        let fresh = added.iter().all(|m| self.get(&m.id).is_none());
        if !known || !fresh || (added.is_empty() && removed.is_empty()) {
            return Err(UsageError::InvalidRoster);
        }
        let kept = self.0.iter().filter(|m| !removed.contains(&m.id));
        let mut members = Vec::with_capacity(self.0.len() + added.len());
        members.extend(kept.chain(added).copied());
        members.sort_unstable_by_key(|m| m.id);
        Self::checked(kind, members)
    }

    /// `SHA-256("missive/v1/roster" || id || kind || be64(epoch) || be32(n) || members)`, each
    /// member `id (16) || role (1) || 0x00`, or `|| 0x01 || X25519 (32) || Ed25519 (32)`.
    pub(crate) fn hash(&self, id: &ConversationId, kind: Kind, epoch: u64) -> [u8; 32] {
        let mut h = Sha256::new();
        h.update(b"missive/v1/roster");
        h.update(id.0);
        h.update([kind_byte(kind)]);
        h.update(epoch.to_be_bytes());
        h.update((self.0.len() as u32).to_be_bytes());
        for m in &self.0 {
            h.update(m.id.0);
            h.update([role_byte(m.role)]);
            match &m.identity {
                None => h.update([0]),
                Some(identity) => {
                    h.update([1]);
                    h.update(identity.dh_key().as_bytes());
                    h.update(identity.verifying_key().as_bytes());
                }
            }
        }
        h.finalize().into()
    }
}

fn kind_byte(kind: Kind) -> u8 {
    match kind {
        Kind::Group => 0,
        Kind::AdHoc => 1,
        Kind::Direct => 2,
    }
}

fn role_byte(role: Role) -> u8 {
    match role {
        Role::Member => 0,
        Role::Admin => 1,
        Role::Manager => 2,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;
    use crate::identity::Identity;

    fn identity() -> PublicIdentity {
        *Identity::generate(&mut rand::rng()).public()
    }

    fn group_member(i: u16) -> Member {
        let mut id = [0u8; 16];
        id[..2].copy_from_slice(&i.to_be_bytes());
        Member::new(MailboxId(id), Role::Member, identity())
    }

    fn adhoc_member(i: u16) -> Member {
        Member {
            identity: None,
            ..group_member(i)
        }
    }

    #[test]
    fn a_roster_is_sorted_and_holds_two_to_the_limit_of_distinct_members() {
        let roster = Roster::checked(Kind::Group, vec![group_member(2), group_member(1)]).unwrap();
        let ids: Vec<MailboxId> = roster.members().iter().map(|m| m.id).collect();
        assert_eq!(ids, [group_member(1).id, group_member(2).id]);
        let refused = Err(UsageError::InvalidRoster);
        let one = group_member(1);
        assert_eq!(Roster::checked(Kind::Group, vec![one]), refused);
        assert_eq!(Roster::checked(Kind::Group, vec![one, one]), refused);
        let same_id = Member {
            role: Role::Admin,
            ..one
        };
        assert_eq!(Roster::checked(Kind::Group, vec![one, same_id]), refused);
        // Identity keys exactly in groups.
        assert_eq!(
            Roster::checked(Kind::Group, vec![one, adhoc_member(2)]),
            refused
        );
        assert_eq!(
            Roster::checked(Kind::AdHoc, vec![adhoc_member(1), group_member(2)]),
            refused
        );
        assert!(Roster::checked(Kind::AdHoc, vec![adhoc_member(1), adhoc_member(2)]).is_ok());
        // A direct conversation: exactly two, with identities.
        assert!(Roster::checked(Kind::Direct, vec![one, group_member(2)]).is_ok());
        let three = vec![one, group_member(2), group_member(3)];
        assert_eq!(Roster::checked(Kind::Direct, three), refused);
        assert_eq!(
            Roster::checked(Kind::Direct, vec![one, adhoc_member(2)]),
            refused
        );
        let n = u16::try_from(MAX_MEMBERS).unwrap();
        let full: Vec<Member> = (0..n).map(adhoc_member).collect();
        assert!(Roster::checked(Kind::AdHoc, full.clone()).is_ok());
        let over = [full, vec![adhoc_member(n)]].concat();
        assert_eq!(Roster::checked(Kind::AdHoc, over), refused);
    }

    #[test]
    fn a_change_must_change_something_that_applies() {
        let roster = Roster::checked(Kind::Group, vec![group_member(1), group_member(2)]).unwrap();
        let refused = Err(UsageError::InvalidRoster);
        assert_eq!(roster.changed(Kind::Group, &[], &[]), refused);
        assert_eq!(
            roster.changed(Kind::Group, &[group_member(1)], &[]),
            refused,
            "already a member"
        );
        assert_eq!(
            roster.changed(Kind::Group, &[], &[group_member(3).id]),
            refused,
            "not a member"
        );
        let added = roster
            .changed(Kind::Group, &[group_member(3)], &[])
            .unwrap();
        assert_eq!(added.members().len(), 3);
        let removed = added
            .changed(Kind::Group, &[], &[group_member(2).id])
            .unwrap();
        let ids: Vec<MailboxId> = removed.members().iter().map(|m| m.id).collect();
        assert_eq!(ids, [group_member(1).id, group_member(3).id]);
        assert_eq!(
            removed.changed(Kind::Group, &[], &[group_member(1).id]),
            refused,
            "one member left"
        );
    }
}
