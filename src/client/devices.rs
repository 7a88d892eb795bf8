//! This client as one device of an account (PROTOCOL.md §12): the account identity and the
//! signed device list it holds, and linking a new device to the account through the relay.
//!
//! A client that never linked is its account's only device: its own identity is the
//! account's and it keeps no list. Showing a link code and handing the account over to the
//! device that answered makes the list; answering a code turns a fresh client into a linked
//! device of the account that showed it.

use rand::CryptoRng;
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use super::handover::AccountCopy;
use super::state::StoredSecret;
use super::{Client, Event, Outgoing, Unsaved};
use crate::access::Credential;
use crate::device::{DeviceList, LinkCode, Linking, PendingLink, SignedDeviceList};
use crate::envelope::MailboxId;
use crate::error::{DecodeError, DeviceError, Error, UsageError};
use crate::identity::{Identity, PublicIdentity};

/// What makes this client one device of an account with others.
pub(super) struct AccountKeys {
    /// The account's identity, when it is not this device's own (a linked device).
    pub(super) account: Option<Identity>,
    /// The account's id in conversations (its first device's mailbox), when not ours.
    pub(super) member: Option<MailboxId>,
    /// Our id in the list.
    pub(super) device: u32,
    /// The account's list as last signed.
    pub(super) list: SignedDeviceList,
}

/// [`AccountKeys`] at rest (the account record, PROTOCOL.md §9.6).
#[derive(Serialize, Deserialize)]
pub(super) struct AccountRecord {
    account: Option<StoredSecret>,
    member: Option<MailboxId>,
    device: u32,
    #[serde(with = "serde_bytes")]
    list: Vec<u8>,
}

impl AccountKeys {
    pub(super) fn to_record(&self) -> AccountRecord {
        AccountRecord {
            account: self
                .account
                .as_ref()
                .map(|a| StoredSecret(a.to_secret_bytes().to_vec())),
            member: self.member,
            device: self.device,
            list: self.list.to_bytes(),
        }
    }

    /// The keys a record holds, checked as a list handed over is: signed by the account,
    /// and naming this device (`me`, with identity `identity`) under its id.
    pub(super) fn from_record(
        record: &AccountRecord,
        me: &MailboxId,
        identity: &PublicIdentity,
    ) -> Result<Self, DecodeError> {
        const INVALID: DecodeError = DecodeError::Invalid {
            what: "account record",
        };
        let account = match &record.account {
            Some(secret) => Some(Identity::from_secret_bytes(&secret.0)?),
            None => None,
        };
        let list = SignedDeviceList::from_bytes(&record.list)?;
        let signer = account.as_ref().map_or(identity, Identity::public);
        let listed = list.verify(signer, None).map_err(|_| INVALID)?;
        let named = listed
            .devices()
            .iter()
            .any(|d| d.id == record.device && d.mailbox == *me && d.identity == *identity);
        // A first device's own identity is the account's and its mailbox the member id: it
        // stores neither apart.
        if !named || (account.is_some() != record.member.is_some()) {
            return Err(INVALID);
        }
        Ok(Self {
            account,
            member: record.member,
            device: record.device,
            list,
        })
    }
}

/// [`Links`] at rest (the links record): a restart within a code's ten minutes keeps it.
#[derive(Serialize, Deserialize)]
pub(super) struct LinksRecord {
    shown: Option<StoredSecret>,
    answered: Option<StoredSecret>,
}

impl Links {
    pub(super) fn to_record(&self) -> Option<LinksRecord> {
        if self.shown.is_none() && self.answered.is_none() {
            return None;
        }
        Some(LinksRecord {
            shown: (self.shown.as_ref()).map(|l| StoredSecret(l.to_saved().to_vec())),
            answered: (self.answered.as_ref()).map(|l| StoredSecret(l.code().to_bytes().to_vec())),
        })
    }
}

/// What [`Client::link_device`] hands back: the list to publish, and the account sealed to
/// the new device.
#[derive(Debug)]
pub struct LinkedDevice {
    /// The new signed device list: `PUT` it to `/v1/directory/{user}/devices`.
    pub list: Vec<u8>,
    /// The handover, addressed to the new device's mailbox.
    pub handover: Outgoing,
}

impl super::outbox::Outbound for LinkedDevice {
    fn outgoing(&self) -> &[Outgoing] {
        core::slice::from_ref(&self.handover)
    }
}

/// What [`Client::remove_device`] hands back.
#[derive(Debug)]
pub struct RemovedDevice {
    /// The new signed device list: `PUT` it to `/v1/directory/{user}/devices`.
    pub list: Vec<u8>,
    /// The list, sent in each ad-hoc conversation the device was in (PROTOCOL.md §12.6).
    pub notices: Vec<Outgoing>,
}

impl super::outbox::Outbound for RemovedDevice {
    fn outgoing(&self) -> &[Outgoing] {
        &self.notices
    }
}

/// Linking in progress.
#[derive(Default)]
pub(super) struct Links {
    /// A code we showed.
    pub(super) shown: Option<PendingLink>,
    /// A code we answered.
    pub(super) answered: Option<Linking>,
}

impl Client {
    /// The account's public identity: what safety numbers are computed from. A device linked
    /// to an account shares it; its own identity ([`Client::identity`]) sets up its sessions.
    pub fn account_identity(&self) -> &PublicIdentity {
        match self.devices.as_ref().and_then(|d| d.account.as_ref()) {
            Some(account) => account.public(),
            None => self.identity.public(),
        }
    }

    /// The account's id in conversations: its first device's mailbox.
    pub fn member_id(&self) -> &MailboxId {
        match self.devices.as_ref().and_then(|d| d.member.as_ref()) {
            Some(member) => member,
            None => self.mailbox.id(),
        }
    }

    /// The account's signed device list, once it has more than one device.
    pub fn device_list(&self) -> Option<&SignedDeviceList> {
        self.devices.as_ref().map(|d| &d.list)
    }

    /// Whether `mailbox` is this device or another device our account lists.
    pub(super) fn is_own_device(&self, mailbox: &MailboxId) -> bool {
        mailbox == self.mailbox_id()
            || (self.device_list().into_iter()).any(|l| {
                l.unverified()
                    .devices()
                    .iter()
                    .any(|d| d.mailbox == *mailbox)
            })
    }

    /// This device's id in the account's list (1 for an account's first device).
    pub fn device_id(&self) -> u32 {
        self.devices.as_ref().map_or(1, |d| d.device)
    }

    /// A link code for a new device of this account (what a QR code shows): it holds a
    /// one-time secret and can be answered for ten minutes, once. Call
    /// [`Client::access_sync`] next, so the new device may deliver its answer here. A new
    /// code replaces one shown before.
    ///
    /// # Errors
    /// [`UsageError::TooManyRecipients`] when the account has its most devices already.
    pub fn link_code<R: CryptoRng + ?Sized>(
        &mut self,
        rng: &mut R,
        now: u64,
    ) -> Result<Zeroizing<Vec<u8>>, Error> {
        if self.current_list().devices().len() >= crate::device::MAX_DEVICES {
            return Err(UsageError::TooManyRecipients {
                max: crate::device::MAX_DEVICES,
            }
            .into());
        }
        let link = PendingLink::new(rng, *self.mailbox.id(), now);
        let code = link.code().to_bytes();
        self.links.shown = Some(link);
        Ok(code)
    }

    /// Answers a link code shown by a device of this user's account: the request to submit.
    /// Call [`Client::access_sync`] first, so the account's answer may be delivered here. The
    /// handover arrives as a delivery; [`Event::Linked`] reports it.
    ///
    /// # Errors
    /// [`UsageError::NotPermitted`] for a client that has contacts, connections or
    /// conversations of its own (only a fresh client joins an account);
    /// [`DeviceError::LinkExpired`] for a code past its expiry; a [`DecodeError`] for a code
    /// that does not decode.
    pub fn answer_link<R: CryptoRng + ?Sized>(
        &mut self,
        rng: &mut R,
        code: &[u8],
        now: u64,
    ) -> Result<Unsaved<'_, Outgoing>, Error> {
        self.outbox_room()?;
        if !self.is_fresh()? {
            return Err(UsageError::NotPermitted.into());
        }
        let (linking, request) =
            Linking::answer(rng, code, self.identity.clone(), *self.mailbox.id(), now)?;
        let credential = Credential::Keys(vec![vec![linking.code().access_key()]]);
        let out = super::send::single(
            linking.code().mailbox(),
            &request,
            now,
            false,
            credential,
            None,
        )?;
        self.links.answered = Some(linking);
        Ok(Unsaved::sent(self, out))
    }

    /// Hands the account over to the device that answered our code: signs a list adding it,
    /// seals the account's keys and state to it (its contacts, connections, settings, access
    /// keys and half our unspent tokens, which this device gives up), and returns both.
    ///
    /// # Errors
    /// [`UsageError::NotPermitted`] when no answer was accepted; [`DeviceError::LinkExpired`]
    /// past the code's expiry; the store's, reading members not in memory.
    pub fn link_device<R: CryptoRng + ?Sized>(
        &mut self,
        rng: &mut R,
        now: u64,
    ) -> Result<Unsaved<'_, LinkedDevice>, Error> {
        self.outbox_room()?;
        let link = self.links.shown.as_ref().ok_or(UsageError::NotPermitted)?;
        let new = *link.answered().ok_or(UsageError::NotPermitted)?;
        if now > link.code().expires() {
            return Err(DeviceError::LinkExpired.into());
        }
        let (next, _) = self.current_list().with_device(new.mailbox, new.identity)?;
        self.load_all_peers()?;
        let keep = self.access.tokens.len() - self.access.tokens.len() / 2;
        let given = self.access.tokens[keep..].to_vec();
        let copy = AccountCopy::of(self, given).to_padded()?;
        let signed = next.sign(self.account_key());
        let link = self.links.shown.as_ref().ok_or(UsageError::NotPermitted)?;
        let sealed = link.hand_over(rng, self.account_key(), &signed, &copy)?;
        let credential = Credential::Keys(vec![vec![link.code().access_key()]]);
        let handover = super::send::single(&new.mailbox, &sealed, now, false, credential, None)?;
        let list = signed.to_bytes();
        // Our chains are drawn anew, so the next message in each conversation welcomes the
        // new device (a failure here leaves our chains to be drawn anyway, harmlessly).
        let member = *self.member_id();
        let before = self.current_list();
        self.devices_changed(&member, &before, &next)?;
        // Changed only now that nothing can fail: the code is used up, the list is the new
        // one, and the tokens given away are the new device's alone.
        self.links.shown = None;
        self.set_list(signed);
        self.access.tokens.truncate(keep);
        Ok(Unsaved::sent(self, LinkedDevice { list, handover }))
    }

    /// Removes device `id` from the account (a lost phone): the new signed list, to publish,
    /// and the notices that close the ad-hoc conversations the device is in.
    ///
    /// # Errors
    /// [`UsageError::NotPermitted`] for this device itself; [`DeviceError::UnknownDevice`]
    /// for an id not listed; [`UsageError::OutboxFull`]; the store's.
    pub fn remove_device<R: CryptoRng + ?Sized>(
        &mut self,
        rng: &mut R,
        id: u32,
        now: u64,
    ) -> Result<Unsaved<'_, RemovedDevice>, Error> {
        if id == self.device_id() {
            return Err(UsageError::NotPermitted.into());
        }
        self.outbox_room()?;
        let before = self.current_list();
        let gone = (before.devices().iter())
            .find(|d| d.id == id)
            .map(|d| d.mailbox)
            .ok_or(DeviceError::UnknownDevice)?;
        let next = before.without(id)?;
        let signed = next.sign(self.account_key());
        let list = signed.to_bytes();
        // Before the list changes (while it still names the device, the conversations the
        // notices go in are open): a failure leaves it to be removed again.
        let notices = self.tell_ad_hoc(rng, &gone, &signed, now)?;
        let member = *self.member_id();
        self.devices_changed(&member, &before, &next)?;
        self.set_list(signed);
        Ok(Unsaved::sent(self, RemovedDevice { list, notices }))
    }

    /// Takes a newer list of our account (from the directory, after another device changed
    /// it): what it added and removed. The same list again changes nothing.
    ///
    /// # Errors
    /// As [`SignedDeviceList::verify`] (another account's list, a bad signature, a version
    /// not above ours); [`DeviceError::NotListed`] when it no longer lists this device (we
    /// were removed), which leaves our state as it was; [`UsageError::NotPermitted`] for an
    /// account that never linked a device.
    pub fn update_device_list(
        &mut self,
        list: &[u8],
    ) -> Result<Unsaved<'_, crate::device::Changes>, Error> {
        let changes = self.take_own_list(list)?;
        Ok(Unsaved::new(self, changes))
    }

    /// [`Client::update_device_list`]'s checks and change, without the save.
    pub(super) fn take_own_list(&mut self, list: &[u8]) -> Result<crate::device::Changes, Error> {
        let me = (*self.mailbox.id(), *self.identity.public());
        let account = *self.account_identity();
        let keys = self.devices.as_mut().ok_or(UsageError::NotPermitted)?;
        if keys.list.to_bytes() == list {
            return Ok(crate::device::Changes::default());
        }
        let signed = SignedDeviceList::from_bytes(list)?;
        let current = keys.list.unverified();
        let newer = signed.verify(&account, Some(current.version()))?;
        let listed = newer
            .devices()
            .iter()
            .any(|d| d.id == keys.device && d.mailbox == me.0 && d.identity == me.1);
        if !listed {
            return Err(DeviceError::NotListed.into());
        }
        let changes = current.changes(newer);
        let (current, newer) = (current.clone(), newer.clone());
        // Before the list changes: a failure leaves the same list to be taken again.
        let member = *self.member_id();
        self.devices_changed(&member, &current, &newer)?;
        if let Some(keys) = self.devices.as_mut() {
            keys.list = signed;
        }
        Ok(changes)
    }

    /// The access keys linking registers: while a code we showed or answered is live, its
    /// key, so the other device may deliver to us.
    pub(super) fn link_access_keys(&self, now: u64) -> Vec<crate::access::AccessKey> {
        let live = |expires: u64| now <= expires;
        let shown = self.links.shown.as_ref().map(PendingLink::code);
        let answered = self.links.answered.as_ref().map(Linking::code);
        shown
            .into_iter()
            .chain(answered)
            .filter(|c| live(c.expires()))
            .map(LinkCode::access_key)
            .collect()
    }

    /// A delivery that is a link message for a code we showed or answered: the events it
    /// makes, or `None` when it is not one.
    pub(super) fn link_in(&mut self, body: &[u8], now: u64) -> Result<Option<Vec<Event>>, Error> {
        if let Some(link) = &mut self.links.shown {
            if now > link.code().expires() {
                self.links.shown = None;
            } else if link.answered().is_none() {
                match link.accept(body, now) {
                    Ok(device) => return Ok(Some(vec![Event::LinkAnswered(device)])),
                    Err(e) if not_a_link(&e) => {}
                    Err(e) => return Err(e),
                }
            }
        }
        let Some(linking) = &self.links.answered else {
            return Ok(None);
        };
        let handover = match linking.finish(body) {
            Ok(handover) => handover,
            Err(e) if not_a_link(&e) => return Ok(None),
            Err(e) => return Err(e),
        };
        let copy = AccountCopy::from_padded(&handover.state)?;
        let device = handover.device.id;
        copy.apply(self, handover.account.public())?;
        self.devices = Some(AccountKeys {
            account: Some(handover.account),
            member: Some(copy.member()),
            device,
            list: handover.list,
        });
        self.links.answered = None;
        Ok(Some(vec![Event::Linked { device }]))
    }

    /// Restores the account record read from the store.
    pub(super) fn set_account_record(&mut self, record: &AccountRecord) -> Result<(), DecodeError> {
        let keys = AccountKeys::from_record(record, self.mailbox.id(), self.identity.public())?;
        self.devices = Some(keys);
        Ok(())
    }

    /// Restores the links record read from the store.
    pub(super) fn set_links_record(&mut self, record: &LinksRecord) -> Result<(), DecodeError> {
        if let Some(shown) = &record.shown {
            self.links.shown = Some(PendingLink::from_saved(&shown.0)?);
        }
        if let Some(code) = &record.answered {
            let code = LinkCode::from_bytes(&code.0)?;
            let me = *self.mailbox.id();
            self.links.answered = Some(Linking::resume(code, self.identity.clone(), me));
        }
        Ok(())
    }

    pub(super) fn account_key(&self) -> &Identity {
        self.devices
            .as_ref()
            .and_then(|d| d.account.as_ref())
            .unwrap_or(&self.identity)
    }

    /// The account's list: the one signed last, or this first device alone.
    fn current_list(&self) -> DeviceList {
        match &self.devices {
            Some(d) => d.list.unverified().clone(),
            None => DeviceList::first(*self.mailbox.id(), *self.identity.public()),
        }
    }

    pub(super) fn set_list(&mut self, list: SignedDeviceList) {
        match &mut self.devices {
            Some(d) => d.list = list,
            None => {
                self.devices = Some(AccountKeys {
                    account: None,
                    member: None,
                    device: 1,
                    list,
                });
            }
        }
    }

    /// Nothing of its own yet: no contact, connection or conversation, never linked.
    fn is_fresh(&mut self) -> Result<bool, Error> {
        self.load_everything()?;
        Ok(self.devices.is_none()
            && self.contacts.resident_len() == 0
            && self.connections.resident_len() == 0
            && self.conversations.resident_len() == 0
            && self.groups.iter().next().is_none())
    }
}

/// A failure that says the bytes were not a link message for our code at all.
fn not_a_link(e: &Error) -> bool {
    matches!(
        e,
        Error::Device(DeviceError::LinkRefused) | Error::Decode(_)
    )
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;

    fn record(
        account: Option<&Identity>,
        member: Option<MailboxId>,
        device: u32,
        list: &SignedDeviceList,
    ) -> AccountRecord {
        AccountRecord {
            account: account.map(|a| StoredSecret(a.to_secret_bytes().to_vec())),
            member,
            device,
            list: list.to_bytes(),
        }
    }

    /// An account's first device (`first`) and a second device (`second`, id 2).
    fn two() -> (Identity, MailboxId, Identity, MailboxId, SignedDeviceList) {
        let rng = &mut rand::rng();
        let (first, second) = (Identity::generate(rng), Identity::generate(rng));
        let (m1, m2) = (MailboxId([1; 16]), MailboxId([2; 16]));
        let (list, _) = DeviceList::first(m1, *first.public())
            .with_device(m2, *second.public())
            .unwrap();
        let signed = list.sign(&first);
        (first, m1, second, m2, signed)
    }

    #[test]
    fn an_account_record_loads_only_if_its_list_names_this_device_as_it_is() {
        let (first, m1, second, m2, list) = two();
        let (p1, p2) = (*first.public(), *second.public());
        // The first device keeps neither the account nor the member id apart.
        assert!(AccountKeys::from_record(&record(None, None, 1, &list), &m1, &p1).is_ok());
        let linked = record(Some(&first), Some(m1), 2, &list);
        let keys = AccountKeys::from_record(&linked, &m2, &p2).unwrap();
        assert_eq!((keys.device, keys.member), (2, Some(m1)));
        let invalid = Err(DecodeError::Invalid {
            what: "account record",
        });
        let load = |r: &AccountRecord, m: &MailboxId, p: &PublicIdentity| {
            AccountKeys::from_record(r, m, p).map(|_| ())
        };
        // Another id, another mailbox, another identity: not this device.
        assert_eq!(
            load(&record(Some(&first), Some(m1), 1, &list), &m2, &p2),
            invalid
        );
        assert_eq!(load(&linked, &MailboxId([3; 16]), &p2), invalid);
        assert_eq!(load(&linked, &m2, &p1), invalid);
        // The account and the member id are kept together or not at all.
        assert_eq!(
            load(&record(Some(&first), None, 2, &list), &m2, &p2),
            invalid
        );
        assert_eq!(load(&record(None, Some(m1), 1, &list), &m1, &p1), invalid);
        // A list the account did not sign.
        let stranger = Identity::generate(&mut rand::rng());
        let forged = record(Some(&stranger), Some(m1), 2, &list);
        assert_eq!(load(&forged, &m2, &p2), invalid);
        assert_eq!(load(&record(None, None, 2, &list), &m2, &p2), invalid);
    }

    #[test]
    fn a_newer_list_is_taken_only_if_it_names_this_device_as_it_is() {
        let rng = &mut rand::rng();
        let phone = Client::new(rng, b"ann");
        let mut laptop = Client::new(rng, b"ann");
        let account = phone.identity.clone();
        let (m1, p1) = (*phone.mailbox_id(), *phone.identity());
        let (m2, p2) = (*laptop.mailbox_id(), *laptop.identity());
        let (v2, _) = DeviceList::first(m1, p1).with_device(m2, p2).unwrap();
        laptop.devices = Some(AccountKeys {
            account: Some(account.clone()),
            member: Some(m1),
            device: 2,
            list: v2.sign(&account),
        });
        let update = |laptop: &mut Client, list: &DeviceList| {
            let bytes = list.sign(&account).to_bytes();
            laptop
                .update_device_list(&bytes)
                .map(|u| u.client().device_id())
        };
        let not_listed = Err(Error::Device(DeviceError::NotListed));
        // Our identity again, under another id and mailbox, after ours was removed.
        let v3 = v2.without(2).unwrap();
        let (v4, _) = v3.with_device(MailboxId([9; 16]), p2).unwrap();
        assert_eq!(update(&mut laptop, &v4), not_listed);
        // Our mailbox under another id.
        let (v4, _) = v3.with_device(m2, p2).unwrap();
        assert_eq!(update(&mut laptop, &v4), not_listed);
        // Our mailbox and id with another identity cannot be made: ids are never given twice.
        // Listed as we are: taken.
        let other = Identity::generate(rng);
        let (v3, _) = v2.with_device(MailboxId([8; 16]), *other.public()).unwrap();
        assert_eq!(update(&mut laptop, &v3), Ok(2));
        assert_eq!(laptop.device_list().unwrap().unverified().version(), 3);
    }

    use super::super::unsaved::saved;

    /// `to`'s delivery of a link message `body`.
    fn delivery(to: &Client, body: &[u8]) -> Vec<u8> {
        let credential = Credential::Open;
        let out = super::super::send::single(to.mailbox_id(), body, 0, false, credential, None);
        let envelope = crate::envelope::Envelope::from_bytes(&out.unwrap().envelope).unwrap();
        envelope.split().remove(0).to_bytes()
    }

    #[test]
    fn a_link_message_that_opens_but_does_not_check_out_is_an_error_not_unrecognised() {
        use crate::device::link_forged as forged;
        let rng = &mut rand::rng();
        let mut phone = Client::new(rng, b"ann");
        let laptop = Client::new(rng, b"ann");
        let code = phone.link_code(rng, 0).unwrap();
        // An answer whose proof another key made.
        let stranger = Identity::generate(rng);
        let (_, request) = forged::answer_signed_by(
            &code,
            laptop.identity.clone(),
            *laptop.mailbox_id(),
            &stranger,
        );
        assert_eq!(
            phone.receive(&delivery(&phone, &request), 0),
            Err(crate::CryptoError::BadSignature.into())
        );
        // A genuine answer, then a handover whose list does not name the new device.
        let mut laptop = laptop;
        let request = saved(laptop.answer_link(rng, &code, 0));
        let request = crate::envelope::Envelope::from_bytes(&request.envelope).unwrap();
        let request = request.body().to_vec();
        let events = phone.receive(&delivery(&phone, &request), 0).unwrap();
        assert!(matches!(events.as_slice(), [Event::LinkAnswered(_)]));
        let alone = DeviceList::first(*phone.mailbox_id(), *phone.identity()).sign(&phone.identity);
        let link = phone.links.shown.as_ref().unwrap();
        let handover = forged::hand_over_unchecked(link, &phone.identity, &alone, 1);
        assert_eq!(
            laptop.receive(&delivery(&laptop, &handover), 0),
            Err(DeviceError::NotListed.into())
        );
        assert_eq!(laptop.device_list(), None);
    }

    #[test]
    fn a_device_of_an_account_answers_no_code() {
        let rng = &mut rand::rng();
        let mut phone = Client::new(rng, b"ann");
        let mut laptop = Client::new(rng, b"ann");
        let code = phone.link_code(rng, 0).unwrap();
        let request = saved(laptop.answer_link(rng, &code, 0));
        let request = crate::envelope::Envelope::from_bytes(&request.envelope).unwrap();
        phone.receive(&delivery(&phone, request.body()), 0).unwrap();
        let linked = saved(phone.link_device(rng, 0));
        let handover = crate::envelope::Envelope::from_bytes(&linked.handover.envelope).unwrap();
        let handover = handover.body().to_vec();
        laptop.receive(&delivery(&laptop, &handover), 0).unwrap();
        // Neither has a contact, yet each is a device of an account already.
        let mut other = Client::new(rng, b"bo");
        let code = other.link_code(rng, 0).unwrap();
        for device in [&mut phone, &mut laptop] {
            assert_eq!(
                device.answer_link(rng, &code, 0).err(),
                Some(UsageError::NotPermitted.into())
            );
        }
    }
}
