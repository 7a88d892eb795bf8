//! Delivery credentials, the client's side (PROTOCOL.md §11): our contact key and who holds
//! it, the contact keys others gave us, each group epoch's access secret, our tokens, and the
//! credential every outgoing envelope carries so the relay lets it through without learning
//! who sent it.

use rand::CryptoRng;
use serde::{Deserialize, Serialize};
use zeroize::{Zeroize, ZeroizeOnDrop};

use super::payload::Pairwise;
use super::tracked::{TrackedMap, TrackedSet};
use super::wallet::{Batch, SavedRequest};
use super::{Client, Outgoing, Unsaved};
use crate::access::{AccessKey, AccessUpdate, Credential, MAX_TAGS, MailboxSettings, MemberToken};
use crate::conversation::{ConversationId, DeviceOf};
use crate::envelope::MailboxId;
use crate::error::{Error, PolicyError, UsageError};
use crate::platform::AccountCertificate;
use crate::token::Token;

/// A group epoch's access secret (PROTOCOL.md §11.1).
#[derive(Clone, PartialEq, Eq, Zeroize, ZeroizeOnDrop, Serialize, Deserialize)]
pub(crate) struct GroupSecret(pub(super) [u8; 32]);

impl From<zeroize::Zeroizing<[u8; 32]>> for GroupSecret {
    fn from(secret: zeroize::Zeroizing<[u8; 32]>) -> Self {
        Self(*secret)
    }
}

impl core::fmt::Debug for GroupSecret {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("GroupSecret(..)")
    }
}

/// What we know of a group's access: its epoch's secret, and the one before with who was in
/// it, so members who have not caught up yet are still reached.
#[derive(Clone, Serialize, Deserialize)]
pub(super) struct GroupAccess {
    epoch: u64,
    secret: GroupSecret,
    members: Vec<MailboxId>,
    previous: Option<(GroupSecret, Vec<MailboxId>)>,
}

impl GroupAccess {
    /// The keys a device of `member` registers: this epoch's if the member is in it, the
    /// previous epoch's if it was in that.
    fn keys(&self, to: &DeviceOf) -> Vec<AccessKey> {
        let mut keys = Vec::new();
        if self.members.contains(&to.member) {
            keys.push(AccessKey::for_group_member(&self.secret.0, &to.device));
        }
        if let Some((secret, members)) = &self.previous
            && members.contains(&to.member)
        {
            keys.push(AccessKey::for_group_member(&secret.0, &to.device));
        }
        keys
    }
}

/// What the relay has been told about our mailbox.
#[derive(Clone, Default, Serialize, Deserialize)]
pub(super) struct Registered {
    contact: Option<AccessKey>,
    keys: Vec<AccessKey>,
    settings: Option<MailboxSettings>,
}

/// Every access secret a client holds.
#[derive(Clone, Serialize, Deserialize)]
pub(super) struct AccessState {
    pub(super) contact: AccessKey,
    /// Who we gave our contact key to.
    pub(super) holders: TrackedSet<MailboxId>,
    /// Someone who held our contact key must no longer: replace it.
    pub(super) rotate: bool,
    /// Contact keys others gave us.
    pub(super) peers: TrackedMap<MailboxId, AccessKey>,
    pub(super) groups: TrackedMap<ConversationId, GroupAccess>,
    pub(super) registered: Registered,
    pub(super) tokens: Vec<Token>,
    /// Token requests sent and not answered yet, saved so a crash loses no tokens the relay
    /// has already counted against the account.
    pub(super) pending: Vec<SavedRequest>,
    pub(super) account: Option<AccountCertificate>,
    #[serde(skip)]
    pub(super) batch: Batch,
}

impl AccessState {
    /// Everything but what is kept per member or per group (their own records).
    pub(super) fn without_members(&self) -> Self {
        Self {
            contact: self.contact.clone(),
            holders: TrackedSet::default(),
            rotate: self.rotate,
            peers: TrackedMap::default(),
            groups: TrackedMap::default(),
            registered: self.registered.clone(),
            tokens: self.tokens.clone(),
            pending: self.pending.clone(),
            account: self.account.clone(),
            batch: Batch::default(),
        }
    }

    /// Everything in memory, as a whole state to be filled with the records not loaded.
    pub(super) fn in_memory(&self) -> Self {
        Self {
            holders: self.holders.resident().copied().collect(),
            peers: self
                .peers
                .resident()
                .map(|(k, v)| (*k, v.clone()))
                .collect(),
            groups: self
                .groups
                .resident()
                .map(|(k, v)| (*k, v.clone()))
                .collect(),
            ..self.without_members()
        }
    }

    pub(super) fn new<R: CryptoRng + ?Sized>(rng: &mut R) -> Self {
        Self {
            contact: AccessKey::generate(rng),
            holders: TrackedSet::default(),
            rotate: false,
            peers: TrackedMap::default(),
            groups: TrackedMap::default(),
            registered: Registered::default(),
            tokens: Vec::new(),
            pending: Vec::new(),
            account: None,
            batch: Batch::default(),
        }
    }
}

/// What [`Client::access_sync`] asks the app to do, in this order: `PUT /v1/mailbox/access`
/// with `update`, then submit `notices` (our new contact key, to those who keep it).
#[derive(Debug, Default)]
pub struct AccessSync {
    /// The change to register, if anything changed.
    pub update: Option<AccessUpdate>,
    /// Envelopes to send once the update is registered.
    pub notices: Vec<Outgoing>,
}

impl Client {
    /// What to tell the relay, and whom to hand a new contact key: call it after receiving and
    /// after changes (connections, groups, settings). Replaces the contact key when someone who
    /// held it no longer may.
    pub fn access_sync<R: CryptoRng + ?Sized>(
        &mut self,
        rng: &mut R,
        now: u64,
    ) -> Result<Unsaved<'_, AccessSync>, Error> {
        let mut notices = Vec::new();
        if self.access.rotate {
            self.access.contact = AccessKey::generate(rng);
            self.access.rotate = false;
            let (stamp, replaces) = self.stamp_new_key(now);
            notices.extend(self.notify_holders(rng, now)?);
            // Our other devices register keys derived from the same one.
            let (own, key) = (*self.member_id(), self.access.contact.clone());
            let payload = Pairwise::ContactKey {
                key,
                stamp,
                replaces,
            };
            notices.extend(self.pairwise(rng, &own, &payload, now)?);
        } else if self.account_sync.renotify {
            self.account_sync.renotify = false;
            notices.extend(self.notify_holders(rng, now)?);
        }
        notices.extend(self.share_settings(rng, now)?);
        let desired = self.desired_registration(now)?;
        let update = self.registration_change(&desired);
        self.access.registered = desired;
        let sync = AccessSync {
            update: (!update.is_empty()).then_some(update),
            notices,
        };
        Ok(Unsaved::new(self, sync))
    }

    /// A `KeyUpdate` to everyone who holds our contact key, which its sealed header carries.
    fn notify_holders<R: CryptoRng + ?Sized>(
        &mut self,
        rng: &mut R,
        now: u64,
    ) -> Result<Vec<Outgoing>, Error> {
        self.load_all_peers()?;
        let holders: Vec<MailboxId> = self.access.holders.resident().copied().collect();
        let mut notices = Vec::new();
        for holder in holders {
            // A holder we cannot reach (we hold no key of theirs) learns the new key the
            // next time we write to them.
            match self.pairwise(rng, &holder, &Pairwise::KeyUpdate, now) {
                Ok(out) => notices.extend(out),
                Err(Error::Policy(PolicyError::NoCredential)) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(notices)
    }

    /// Forgets what the relay was told, so the next [`Client::access_sync`] registers
    /// everything again (after a failed `PUT`, or with a new relay).
    pub fn reset_access_registration(&mut self) {
        self.access.registered = Registered::default();
    }

    fn desired_registration(&mut self, now: u64) -> Result<Registered, Error> {
        let ids = self.access_ids();
        for id in &ids {
            self.load_conversation(id)?;
        }
        let mut keys: Vec<AccessKey> = ids
            .iter()
            .filter(|id| self.conversations.get(id).is_some_and(|c| !c.is_removed()))
            .filter_map(|id| self.access.groups.get(id))
            .map(|g| AccessKey::for_group_member(&g.secret.0, self.mailbox_id()))
            .collect();
        keys.extend(self.link_access_keys(now));
        keys.sort_unstable_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
        Ok(Registered {
            contact: Some((self.access.contact).for_device(self.member_id(), self.mailbox_id())),
            keys,
            settings: Some(MailboxSettings {
                open_profile: self.profile.open_profile,
                sponsored: self.settings.sponsored_messages,
                account: self.access.account.clone(),
            }),
        })
    }

    fn registration_change(&self, desired: &Registered) -> AccessUpdate {
        let old = &self.access.registered;
        AccessUpdate {
            contact: (old.contact != desired.contact)
                .then(|| desired.contact.clone())
                .flatten(),
            add: (desired.keys.iter())
                .filter(|k| !old.keys.contains(k))
                .cloned()
                .collect(),
            remove: (old.keys.iter())
                .filter(|k| !desired.keys.contains(k))
                .cloned()
                .collect(),
            settings: (old.settings != desired.settings)
                .then(|| desired.settings.clone())
                .flatten(),
        }
    }

    /// Gives `peer` our contact key with everything we send them from now on.
    pub(super) fn open_to(&mut self, peer: &MailboxId) {
        self.access.holders.insert(*peer);
    }

    /// Runs a send that gives `peer` our contact key; if it fails, they are not given it.
    pub(super) fn opening_to<T>(
        &mut self,
        peer: &MailboxId,
        send: impl FnOnce(&mut Self) -> Result<T, Error>,
    ) -> Result<T, Error> {
        let held = self.access.holders.contains(peer);
        self.open_to(peer);
        let result = send(self);
        if result.is_err() && !held {
            self.access.holders.remove(peer);
        }
        result
    }

    /// `peer` may no longer hold our contact key: it is replaced at the next sync.
    pub(super) fn close_to(&mut self, peer: &MailboxId) {
        if self.access.holders.remove(peer) {
            self.access.rotate = true;
        }
    }

    /// Our contact key, for a sealed message to `to`, if they hold it.
    pub(super) fn key_for(&self, to: &MailboxId) -> Option<AccessKey> {
        self.access
            .holders
            .contains(to)
            .then(|| self.access.contact.clone())
    }

    /// A peer's contact key arrived (in a sealed message from them).
    pub(super) fn peer_key(&mut self, from: &MailboxId, key: AccessKey) {
        self.access.peers.insert(*from, key);
    }

    /// The credential for an envelope to `to`, sent within conversation `within` (if any):
    /// keys each recipient gave out where we have them all, else a token of the current send's
    /// kind, else nothing for a lone Open Profile recipient.
    pub(super) fn credential(
        &mut self,
        to: &[MailboxId],
        within: Option<&ConversationId>,
    ) -> Result<Credential, Error> {
        let to: Vec<DeviceOf> = to.iter().map(|m| DeviceOf::first(*m)).collect();
        self.credential_to(&to, within)
    }

    /// [`Client::credential`] for devices of members: each device registered its own keys
    /// (PROTOCOL.md §11.1, §12.6).
    pub(super) fn credential_to(
        &mut self,
        addressees: &[DeviceOf],
        within: Option<&ConversationId>,
    ) -> Result<Credential, Error> {
        let to: Vec<MailboxId> = addressees.iter().map(|a| a.device).collect();
        let to = to.as_slice();
        // Our own other devices hold our contact key: nothing is paid to reach them.
        let own = addressees.iter().all(|a| a.member == *self.member_id());
        if self.paid_send()
            && !own
            && let Some(paid) = self.token_credential(addressees, to)?
        {
            return Ok(paid);
        }
        let mut lists: Vec<Vec<AccessKey>> = Vec::with_capacity(to.len());
        for a in addressees {
            lists.push(self.keys_for(a, within)?);
        }
        if lists.iter().all(|l| !l.is_empty()) {
            let contacts_only = within.is_none_or(|id| !self.access.groups.contains_key(id))
                && addressees.iter().zip(&lists).all(|(a, l)| {
                    l.len() == 1 && self.contact_key_of(a).is_some_and(|k| k == l[0])
                });
            return Ok(if contacts_only {
                Credential::Contacts(AccessKey::combine(lists.iter().map(|l| &l[0])))
            } else {
                Credential::Keys(lists)
            });
        }
        if let Some(paid) = self.token_credential(addressees, to)? {
            return Ok(paid);
        }
        let open = matches!(addressees, [one] if self.profiles.get(&one.member).is_some_and(|p| p.accepts_anyone()));
        if open {
            return Ok(Credential::Open);
        }
        Err(PolicyError::NoCredential.into())
    }

    /// A token of the current send's kind for `addressees` (`None` outside a send): one for
    /// every device of a member paid for as an account (`Member`, PROTOCOL.md §11.2), else
    /// one for these mailboxes.
    fn token_credential(
        &mut self,
        addressees: &[DeviceOf],
        to: &[MailboxId],
    ) -> Result<Option<Credential>, Error> {
        if let [first, rest @ ..] = addressees
            && rest.iter().all(|a| a.member == first.member)
            && let Some(user) = self.paid_as_account(&first.member)?
        {
            let token = self.batch_token(&[first.member])?;
            return Ok(token.map(|token| Credential::Member(MemberToken { token, user })));
        }
        Ok(self.batch_token(to)?.map(Credential::Token))
    }

    /// The contact key device `to` registered, where we hold its member's: derived for the
    /// device from the account's (§11.1); our own account's for our other devices.
    fn contact_key_of(&self, to: &DeviceOf) -> Option<AccessKey> {
        let account = if to.member == *self.member_id() {
            Some(&self.access.contact)
        } else {
            self.access.peers.get(&to.member)
        };
        account.map(|k| k.for_device(&to.member, &to.device))
    }

    /// Up to [`MAX_TAGS`] keys device `to` registered that we know: its keys for the group
    /// we send in, then its contact key, else its keys for any group we share.
    pub(super) fn keys_for(
        &mut self,
        to: &DeviceOf,
        within: Option<&ConversationId>,
    ) -> Result<Vec<AccessKey>, Error> {
        let member = &to.member;
        self.load_peer(member)?;
        if let Some(id) = within {
            self.load_conversation(id)?;
        }
        let group_keys = |id: &ConversationId| {
            self.access
                .groups
                .get(id)
                .map(|g| g.keys(to))
                .unwrap_or_default()
        };
        let mut keys = within.map(group_keys).unwrap_or_default();
        keys.extend(self.contact_key_of(to));
        if keys.is_empty()
            && let Some(shared) = self.shared_group(member)?
        {
            keys = self
                .access
                .groups
                .get(&shared)
                .map(|g| g.keys(to))
                .unwrap_or_default();
        }
        keys.truncate(MAX_TAGS);
        Ok(keys)
    }

    /// A new epoch's access secret from the group's admin (or our own, as admin).
    pub(super) fn group_access_in(
        &mut self,
        from: &MailboxId,
        group: &ConversationId,
        epoch: u64,
        secret: &GroupSecret,
    ) -> Result<(), Error> {
        let conversation = self
            .conversations
            .get(group)
            .ok_or(UsageError::WrongConversation)?;
        let from_admin = conversation
            .members()
            .iter()
            .any(|m| m.id == *from && m.role == crate::conversation::Role::Admin);
        if !from_admin || conversation.epoch() != epoch {
            return Err(PolicyError::NotGroupMember.into());
        }
        self.set_group_secret(group, epoch, secret.clone());
        Ok(())
    }

    /// Installs `secret` for the group's current epoch and roster, keeping the previous
    /// epoch's with who was in it.
    pub(super) fn set_group_secret(
        &mut self,
        group: &ConversationId,
        epoch: u64,
        secret: GroupSecret,
    ) {
        let members = self
            .conversations
            .get(group)
            .map(|c| c.members().iter().map(|m| m.id).collect())
            .unwrap_or_default();
        let previous = self
            .access
            .groups
            .remove(group)
            .filter(|old| old.epoch < epoch)
            .map(|old| (old.secret.clone(), old.members.clone()));
        self.access.groups.insert(
            *group,
            GroupAccess {
                epoch,
                secret,
                members,
                previous,
            },
        );
    }

    /// As a group's admin: a fresh secret for the group's current epoch, and the payloads
    /// that give it to every other member. The caller installs it once they are sent.
    pub(super) fn new_group_secret<R: CryptoRng + ?Sized>(
        &self,
        rng: &mut R,
        group: &ConversationId,
    ) -> Result<(GroupSecret, Vec<(MailboxId, Pairwise)>), Error> {
        let conversation = self
            .conversations
            .get(group)
            .ok_or(UsageError::WrongConversation)?;
        let epoch = conversation.epoch();
        let mut secret = GroupSecret([0; 32]);
        rng.fill_bytes(&mut secret.0);
        let handoffs = conversation
            .recipients()
            .into_iter()
            .map(|m| {
                let payload = Pairwise::GroupAccess {
                    group: *group,
                    epoch,
                    secret: secret.clone(),
                };
                (m, payload)
            })
            .collect();
        Ok((secret, handoffs))
    }
}
