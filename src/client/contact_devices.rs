//! Contacts' devices (PROTOCOL.md §12.6): a contact's signed device list from the directory,
//! checked against the account identity we know for them, and a pairwise session with each
//! device it lists. Nothing a relay adds to the answer is taken: an unsigned, foreign or older
//! list, or a bundle for a device the list does not name or under another identity, is refused
//! and changes nothing.

use rand::CryptoRng;

use super::sessions::PeerSessions;
use super::{Client, Unsaved};
use crate::device::{Changes, DeviceList, SignedDeviceList};
use crate::envelope::MailboxId;
use crate::error::{DeviceError, Error, UsageError};
use crate::relay_api::DeviceDirectory;
use crate::session::{PrekeyBundle, Session};

impl Client {
    /// Takes contact `member`'s devices from the directory's answer
    /// (`GET /v1/directory/{user}/devices`): verifies the list under the account identity we
    /// know for them and not older than the one we hold, sets up a pairwise session with
    /// each listed device we have none with, and drops the sessions of devices no longer
    /// listed. What changed since the list held before (at first, since the contact's single
    /// device), for "X added a device".
    ///
    /// # Errors
    /// [`UsageError::UnknownRecipient`] for a member who is not a contact; the list's own
    /// refusals ([`DeviceError::WrongAccount`], [`crate::CryptoError::BadSignature`],
    /// [`DeviceError::RolledBack`]); [`DeviceError::NotListed`] for a bundle of a device the
    /// list does not name, or under another identity than the list gives it, and for a list
    /// that names one of our own mailboxes; a bundle that does not decode or verify.
    pub fn add_contact_devices<R: CryptoRng + ?Sized>(
        &mut self,
        rng: &mut R,
        member: &MailboxId,
        found: &DeviceDirectory,
    ) -> Result<Unsaved<'_, Changes>, Error> {
        if member == self.member_id() {
            let changes = self.own_devices(rng, found)?;
            return Ok(Unsaved::new(self, changes));
        }
        self.load_member(member)?;
        let contact = (self.contacts.get(member).cloned()).ok_or(UsageError::UnknownRecipient)?;
        let held = self.peer_devices.get(member).cloned();
        if held.as_ref().is_some_and(|h| h.to_bytes() == found.list) && found.devices.is_empty() {
            return Ok(Unsaved::new(self, Changes::default()));
        }
        let signed = SignedDeviceList::from_bytes(&found.list)?;
        let newer = match &held {
            Some(h) if h.to_bytes() == found.list => h.unverified(),
            Some(h) => signed.verify(&contact.identity, Some(h.unverified().version()))?,
            None => signed.verify(&contact.identity, None)?,
        };
        let before = match &held {
            Some(h) => h.unverified().clone(),
            None => DeviceList::first(*member, contact.identity),
        };
        let changes = before.changes(newer);
        let mine = [*self.mailbox_id(), *self.member_id()];
        if newer.devices().iter().any(|d| mine.contains(&d.mailbox)) {
            return Err(DeviceError::NotListed.into());
        }
        // A device listed again under new keys (same mailbox, new id) gets a new session.
        let rekeyed: Vec<MailboxId> = (changes.removed.iter())
            .filter(|d| newer.by_mailbox(&d.mailbox).is_some())
            .map(|d| d.mailbox)
            .collect();
        let newer = newer.clone();
        let sessions = self.sessions_with(rng, &newer, found, &rekeyed)?;
        self.devices_changed(member, &before, &newer)?;
        for (device, session) in sessions {
            self.sessions.insert(device, PeerSessions::new(session));
        }
        self.peer_devices.insert(*member, signed);
        Ok(Unsaved::new(self, changes))
    }

    /// Our own account's devices from the directory: a newer list is taken as
    /// [`Client::update_device_list`] takes it, and we set up a session with each other
    /// device it lists, dropping those of devices no longer listed.
    fn own_devices<R: CryptoRng + ?Sized>(
        &mut self,
        rng: &mut R,
        found: &DeviceDirectory,
    ) -> Result<Changes, Error> {
        let before = self.device_list().ok_or(UsageError::NotPermitted)?.clone();
        let held = before.unverified().clone();
        let account = *self.account_identity();
        let signed = SignedDeviceList::from_bytes(&found.list)?;
        let newer = if signed.to_bytes() == before.to_bytes() {
            held.clone()
        } else {
            signed.verify(&account, Some(held.version()))?.clone()
        };
        let me = *self.mailbox_id();
        let (mine, rekeyed) = (newer.by_mailbox(&me), Vec::new());
        if mine.is_none_or(|d| d.identity != *self.identity()) {
            return Err(DeviceError::NotListed.into());
        }
        let sessions = self.sessions_with(rng, &newer, found, &rekeyed)?;
        let changes = self.take_own_list(&found.list)?;
        for (device, session) in sessions {
            self.sessions.insert(device, PeerSessions::new(session));
        }
        Ok(changes)
    }

    /// A new session with each device of `list` the directory answered for that we hold
    /// none with (or whose keys changed: `rekeyed`), not with this device. Every bundle is
    /// checked before any session is kept: a refused one changes nothing.
    fn sessions_with<R: CryptoRng + ?Sized>(
        &mut self,
        rng: &mut R,
        list: &DeviceList,
        found: &DeviceDirectory,
        rekeyed: &[MailboxId],
    ) -> Result<Vec<(MailboxId, Session)>, Error> {
        let mut sessions = Vec::new();
        for answer in &found.devices {
            let listed = (list.by_mailbox(&answer.mailbox)).ok_or(DeviceError::NotListed)?;
            let mut bundle = PrekeyBundle::from_bytes(&answer.bundle)?;
            if *bundle.identity() != listed.identity {
                return Err(DeviceError::NotListed.into());
            }
            self.load_sessions(&answer.mailbox)?;
            let kept =
                self.sessions.contains_key(&answer.mailbox) && !rekeyed.contains(&answer.mailbox);
            if answer.mailbox == *self.mailbox_id() || kept {
                continue;
            }
            if let Some(p) = &answer.one_time {
                bundle = bundle.with_one_time(p.id, &p.key)?;
            }
            let session = Session::initiate(rng, &self.identity, &bundle.verify()?)?;
            sessions.push((answer.mailbox, session));
        }
        Ok(sessions)
    }

    /// Contact `member`'s devices as their newest verified list names them (their member id
    /// alone while we hold no list).
    ///
    /// # Errors
    /// The store's, reading the member's record.
    pub fn contact_devices(
        &mut self,
        member: &MailboxId,
    ) -> Result<Vec<crate::device::Device>, Error> {
        self.load_member(member)?;
        if let Some(list) = self.peer_devices.get(member) {
            return Ok(list.unverified().devices().to_vec());
        }
        let contact = (self.contacts.get(member)).ok_or(UsageError::UnknownRecipient)?;
        Ok(DeviceList::first(*member, contact.identity)
            .devices()
            .to_vec())
    }

    /// Whether we hold a pairwise session with `device`.
    ///
    /// # Errors
    /// The store's, reading the device's sessions.
    pub fn has_session_with(&mut self, device: &MailboxId) -> Result<bool, Error> {
        self.load_sessions(device)?;
        Ok(self.sessions.contains_key(device))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::super::Contact;
    use super::super::unsaved::saved;
    use super::*;
    use crate::identity::Identity;
    use crate::relay_api::PrekeyResponse;

    /// `device`'s bundle as the directory hands it out for `mailbox`.
    fn answer(device: &mut Client, mailbox: MailboxId) -> PrekeyResponse {
        let published = saved(device.publish(&mut rand::rng(), 1));
        PrekeyResponse {
            mailbox,
            bundle: published.bundle,
            one_time: published.one_time.into_iter().next(),
        }
    }

    #[test]
    fn a_device_listed_again_under_new_keys_gets_a_new_session() {
        let rng = &mut rand::rng();
        let account = Identity::generate(rng);
        let member = MailboxId([1; 16]);
        let mut bob = Client::new(rng, b"bob");
        bob.contacts.insert(
            member,
            Contact {
                user: b"ann".to_vec(),
                mailbox: member,
                identity: *account.public(),
            },
        );
        let (mut old, mut new) = (Client::new(rng, b"ann"), Client::new(rng, b"ann"));
        let laptop = *old.mailbox_id();
        let (v2, _) = DeviceList::first(member, *account.public())
            .with_device(laptop, *old.identity())
            .unwrap();
        let found = DeviceDirectory {
            list: v2.sign(&account).to_bytes(),
            devices: vec![answer(&mut old, laptop)],
        };
        saved(bob.add_contact_devices(rng, &member, &found));
        let remote = |bob: &Client| {
            let s = &bob.sessions.get(&laptop).unwrap().all()[0];
            *s.remote_identity()
        };
        assert_eq!(remote(&bob), *old.identity());
        // The same mailbox under a new id and new keys.
        let (v4, _) = v2
            .without(2)
            .unwrap()
            .with_device(laptop, *new.identity())
            .unwrap();
        let found = DeviceDirectory {
            list: v4.sign(&account).to_bytes(),
            devices: vec![answer(&mut new, laptop)],
        };
        let changes = saved(bob.add_contact_devices(rng, &member, &found));
        assert_eq!((changes.added.len(), changes.removed.len()), (1, 1));
        assert_eq!(remote(&bob), *new.identity());
    }
}
