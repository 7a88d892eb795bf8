//! Receiving: one delivery in, the events it produced out. A delivery whose keys have not
//! arrived yet waits (bounded) and is retried after every delivery that produced an event.

use crate::conversation::{Accepted, Conversation, ConversationId, KeyDistribution, Kind};
use crate::envelope::{Delivery, MailboxId};
use crate::error::{CryptoError, Error, UsageError};
use crate::session::{Session, SessionMessage};

use super::content::{Content, MessageRef};
use super::payload::Pairwise;
use super::post::Post;
use super::sealed::{self, SealedContent};
use super::{Client, Contact, Event, MAX_PENDING, MAX_SEEN};

/// How old a typing indicator may be and still be shown, in seconds.
const TYPING_WINDOW: u64 = 30;

/// What one delivery turned out to be.
enum Outcome {
    Events(Vec<Event>),
    /// Its keys may still arrive: keep it.
    Wait,
}

impl Client {
    /// Handles one delivery (the `delivery` field of a `DeliveredEnvelope`). Duplicates are
    /// dropped silently; a message whose keys have not arrived yet is kept and opened later.
    /// `now` is the local Unix time (typing indicators older than 30 s are not shown).
    ///
    /// # Errors
    /// Malformed or forged deliveries. A delivery that fails changes no state.
    pub fn receive_at(&mut self, delivery: &[u8], now: u64) -> Result<Vec<Event>, Error> {
        let parsed = Delivery::from_bytes(delivery)?;
        if parsed.mailbox() != *self.mailbox_id() {
            return Err(UsageError::UnknownRecipient.into());
        }
        if self.seen.contains(&parsed.id()) {
            return Ok(Vec::new());
        }
        let mut events = match self.process(&parsed, now)? {
            Outcome::Events(events) => events,
            Outcome::Wait => {
                if self.pending.len() >= MAX_PENDING {
                    self.pending.pop_front();
                }
                self.pending.push_back(delivery.to_vec());
                return Ok(Vec::new());
            }
        };
        self.remember(&parsed);
        events.extend(self.retry_pending(now));
        Ok(events)
    }

    /// [`Client::receive_at`] for clients that show no typing indicators' age: typing
    /// indicators are taken as current.
    pub fn receive(&mut self, delivery: &[u8]) -> Result<Vec<Event>, Error> {
        self.receive_at(delivery, u64::MAX)
    }

    fn remember(&mut self, delivery: &Delivery) {
        if self.seen.len() >= MAX_SEEN {
            self.seen.pop_front();
        }
        self.seen.push_back(delivery.id());
    }

    /// Opens whatever waited and can be opened now.
    fn retry_pending(&mut self, now: u64) -> Vec<Event> {
        let mut events = Vec::new();
        let mut progress = !self.pending.is_empty();
        while progress {
            progress = false;
            for bytes in core::mem::take(&mut self.pending) {
                let Ok(parsed) = Delivery::from_bytes(&bytes) else {
                    continue;
                };
                match self.process(&parsed, now) {
                    Ok(Outcome::Events(new)) => {
                        self.remember(&parsed);
                        events.extend(new);
                        progress = true;
                    }
                    Ok(Outcome::Wait) => self.pending.push_back(bytes),
                    Err(_) => {} // it will never open: drop it
                }
            }
        }
        events
    }

    fn process(&mut self, delivery: &Delivery, now: u64) -> Result<Outcome, Error> {
        if delivery.part().is_some() {
            return match self.fanout.open_first(delivery) {
                Ok((conversation, decrypted)) => {
                    let id = conversation.id();
                    self.conversations.insert(id, conversation);
                    let msg = MessageRef {
                        sender: decrypted.sender,
                        epoch: decrypted.epoch,
                        index: decrypted.index,
                    };
                    self.post_in(id, msg, &decrypted.body).map(Outcome::Events)
                }
                Err(Error::Crypto(CryptoError::NoMatchingKey)) => Ok(Outcome::Wait),
                Err(e) => Err(e),
            };
        }
        let body = delivery.body();
        let found = self
            .conversations
            .iter()
            .find(|(_, c)| c.recognises(body))
            .map(|(id, _)| *id);
        if let Some(id) = found {
            let conversation = self
                .conversations
                .get_mut(&id)
                .ok_or(UsageError::WrongConversation)?;
            let decrypted = conversation.decrypt(body)?;
            let msg = MessageRef {
                sender: decrypted.sender,
                epoch: decrypted.epoch,
                index: decrypted.index,
            };
            return self.post_in(id, msg, &decrypted.body).map(Outcome::Events);
        }
        if let Some(lead) = self.open_lead(body) {
            return Ok(Outcome::Events(vec![Event::Lead(lead?)]));
        }
        match sealed::open(&self.identity, self.mailbox.id(), body) {
            Ok(SealedContent::Session {
                sender_user,
                sender_mailbox,
                sender_identity,
                access,
                message,
            }) => {
                let contact = Contact {
                    user: sender_user,
                    mailbox: sender_mailbox,
                    identity: sender_identity,
                };
                let events = self.pairwise_in(&contact, &message)?;
                // Only once the session authenticated the sender is its key taken.
                if let Some(key) = access {
                    self.peer_key(&sender_mailbox, key);
                }
                Ok(Outcome::Events(events))
            }
            Ok(typing @ SealedContent::Typing { .. }) => {
                Ok(Outcome::Events(self.typing_in(&typing, now)))
            }
            // Not sealed to us: a conversation message whose keys are still on their way.
            Err(Error::Crypto(CryptoError::DecryptionFailed)) => Ok(Outcome::Wait),
            Err(e) => Err(e),
        }
    }

    /// A decrypted conversation message: decode, apply the product rules, show.
    fn post_in(
        &mut self,
        conversation: ConversationId,
        id: MessageRef,
        body: &[u8],
    ) -> Result<Vec<Event>, Error> {
        let post = Post::from_bytes(body)?;
        let from = id.sender;
        if let Err(reason) = self.admit(&conversation, &from, &post) {
            // A recipient who switched sponsored messages off gets none, not even a notice.
            if reason == crate::PolicyError::SponsoredOff {
                return Ok(Vec::new());
            }
            return Ok(vec![Event::Refused {
                conversation,
                from,
                reason,
            }]);
        }
        if let Content::Read(up_to) = post.content {
            if !self.settings.read_receipts {
                return Ok(Vec::new());
            }
            return Ok(vec![Event::Read {
                conversation,
                by: from,
                up_to,
            }]);
        }
        Ok(vec![Event::Message {
            conversation,
            id,
            from,
            from_user: self.contacts.get(&from).map(|c| c.user.clone()),
            access: post.access,
            content: post.content,
        }])
    }

    fn typing_in(&self, sealed: &SealedContent, now: u64) -> Vec<Event> {
        let SealedContent::Typing {
            sender_mailbox,
            conversation,
            typing,
            timestamp,
            signature,
        } = sealed
        else {
            return Vec::new();
        };
        let statement =
            sealed::typing_statement(self.mailbox_id(), conversation, *typing, *timestamp);
        let authentic = self
            .contacts
            .get(sender_mailbox)
            .is_some_and(|c| c.identity.verify(&statement, signature).is_ok());
        let member = self.conversations.get(conversation).is_some_and(|c| {
            c.members().iter().any(|m| m.id == *sender_mailbox) || c.kind() == Kind::AdHoc
        });
        let fresh = now == u64::MAX || now.saturating_sub(*timestamp) <= TYPING_WINDOW;
        if !self.settings.typing_indicators || !authentic || !member || !fresh {
            return Vec::new();
        }
        vec![Event::Typing {
            conversation: *conversation,
            from: *sender_mailbox,
            typing: *typing,
        }]
    }

    /// Decrypts a sealed session message, checking that the session is the claimed sender's.
    fn pairwise_in(&mut self, contact: &Contact, message: &[u8]) -> Result<Vec<Event>, Error> {
        let message = SessionMessage::from_bytes(message)?;
        let from = contact.mailbox;
        let mut events = Vec::new();
        let plaintext = match self.sessions.get_mut(&from) {
            Some(peer) if peer.accept(&message) => {
                if peer
                    .all()
                    .iter()
                    .any(|s| s.remote_identity() != &contact.identity)
                {
                    return Err(CryptoError::WrongSender.into());
                }
                peer.decrypt(&message)?
            }
            _ => {
                if message.prekey_identity() != Some(&contact.identity) {
                    return Err(CryptoError::WrongSender.into());
                }
                self.check_contact(contact)?;
                let (session, plaintext) =
                    Session::respond(&self.identity, &mut self.prekeys, &message)?;
                match self.sessions.get_mut(&from) {
                    // Both sides started a session at once: keep ours too, theirs is newer.
                    Some(peer) => peer.push_front(session),
                    None => {
                        self.sessions
                            .insert(from, super::sessions::PeerSessions::new(session));
                    }
                }
                if self.contacts.insert(from, contact.clone()).is_none() {
                    events.push(Event::NewContact(contact.clone()));
                }
                plaintext
            }
        };
        events.extend(self.apply(&from, &Pairwise::from_bytes(&plaintext)?)?);
        Ok(events)
    }

    fn apply(&mut self, from: &MailboxId, payload: &Pairwise) -> Result<Vec<Event>, Error> {
        match payload {
            Pairwise::Grant(bytes) => {
                self.fanout.accept_grant(*from, bytes)?;
                Ok(Vec::new())
            }
            Pairwise::Distribution(bytes) => self.distribution(from, bytes),
            Pairwise::GroupAccess {
                group,
                epoch,
                secret,
            } => {
                self.group_access_in(from, group, *epoch, secret)?;
                Ok(Vec::new())
            }
            Pairwise::KeyUpdate => Ok(Vec::new()),
            other => Ok(self.connection_in(from, other)),
        }
    }

    fn distribution(&mut self, from: &MailboxId, bytes: &[u8]) -> Result<Vec<Event>, Error> {
        let id = KeyDistribution::from_bytes(bytes)?.conversation();
        if let Some(conversation) = self.conversations.get_mut(&id) {
            return match conversation.accept_distribution(*from, bytes)? {
                Accepted::Chain | Accepted::NewEpoch(_) | Accepted::Removed => Ok(Vec::new()),
            };
        }
        let conversation = Conversation::join(*self.mailbox_id(), *from, bytes)?;
        self.check_roster(&conversation, from)?;
        if conversation.members().len() == 2 && !self.direct.contains_key(from) {
            self.direct.insert(*from, id);
        } else {
            self.groups.insert(id);
        }
        self.conversations.insert(id, conversation);
        Ok(vec![Event::Joined(id)])
    }

    /// The roster's identities for us and for the admin who welcomed us must be the ones our
    /// sessions are authenticated with, or the roster lies about who is in it.
    fn check_roster(&self, conversation: &Conversation, from: &MailboxId) -> Result<(), Error> {
        let identity_of = |id: &MailboxId| {
            conversation
                .members()
                .iter()
                .find(|m| m.id == *id)
                .and_then(|m| m.identity)
        };
        let sender_ok = self.contacts.get(from).map(|c| c.identity) == identity_of(from);
        let me_ok = identity_of(self.mailbox_id()) == Some(*self.identity.public());
        if sender_ok && me_ok {
            Ok(())
        } else {
            Err(CryptoError::RosterMismatch.into())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::Outgoing;
    use crate::envelope::Envelope;
    use crate::relay_api::PrekeyResponse;

    /// Invitation tokens for `c`, from a platform and issuer of its own.
    fn fund(c: &mut Client) {
        let mut platform = crate::platform::Platform::new(&mut rand::rng());
        platform.register(*c.mailbox_id(), crate::platform::Profile::FREE);
        let account = platform
            .certify_account(c.mailbox_id(), false, u64::MAX)
            .unwrap();
        c.set_account(account);
        let issuer = crate::token::Issuer::generate(&mut rand::rng());
        let kind = crate::token::TokenKind::Invite;
        let issue = c.request_tokens(&mut rand::rng(), kind, 4, 0).unwrap();
        let issued = crate::relay_api::TokenIssued {
            key: issuer.public_key(kind, issue.request.period).unwrap(),
            response: issuer.issue(&mut rand::rng(), &issue.request).unwrap(),
        };
        c.add_tokens(&issued).unwrap();
    }

    fn connect(a: &mut Client, b: &mut Client) -> MailboxId {
        fund(a);
        let published = b.publish(&mut rand::rng(), 1).unwrap();
        let response = PrekeyResponse {
            mailbox: *b.mailbox_id(),
            bundle: published.bundle,
            one_time: published.one_time.into_iter().next(),
        };
        a.add_contact(&mut rand::rng(), b.user(), &response)
            .unwrap()
    }

    /// Mallory's own sealed message to Bob, re-sealed claiming to come from `claimed`.
    fn forged(bob: &Client, claimed: &Client, out: &Outgoing) -> Vec<u8> {
        let envelope = Envelope::from_bytes(&out.envelope).unwrap();
        let bob_id = *bob.mailbox_id();
        let delivery = &envelope.split()[0];
        let SealedContent::Session { message, .. } =
            sealed::open(&bob.identity, &bob_id, delivery.body()).unwrap()
        else {
            panic!("not a session message")
        };
        let content = SealedContent::Session {
            sender_user: claimed.user.clone(),
            sender_mailbox: *claimed.mailbox_id(),
            sender_identity: *claimed.identity(),
            access: None,
            message,
        };
        let body =
            sealed::seal(&mut rand::rng(), bob.identity().dh_key(), &bob_id, &content).unwrap();
        let env = Envelope::to_mailboxes(u64::MAX, &[bob_id], &body).unwrap();
        env[0].split()[0].to_bytes()
    }

    #[test]
    fn a_sealed_claim_of_another_identity_is_refused() {
        let mut rng = rand::rng();
        let (mut alice, mut bob, mut mallory) = (
            Client::new(&mut rng, b"alice"),
            Client::new(&mut rng, b"bob"),
            Client::new(&mut rng, b"mallory"),
        );
        let bob_id = connect(&mut mallory, &mut bob);
        connect(&mut alice, &mut bob);
        let out = mallory
            .invite(&mut rng, &bob_id, Some("I am alice"), 0)
            .unwrap();
        // A prekey message under Mallory's identity, claiming Alice's: refused, nothing changes.
        let first = forged(&bob, &alice, &out[0]);
        assert_eq!(bob.receive(&first), Err(CryptoError::WrongSender.into()));
        assert!(bob.contacts.is_empty() && bob.sessions.is_empty());

        // Once Bob and Alice have a session, a later message claiming Alice fails to decrypt.
        let alice_id = *alice.mailbox_id();
        let hello = alice.invite(&mut rng, &bob_id, None, 0).unwrap();
        for o in &hello {
            for d in Envelope::from_bytes(&o.envelope).unwrap().split() {
                bob.receive(&d.to_bytes()).unwrap();
            }
        }
        let bob_state = bob.to_bytes();
        // Withdrawing is Mallory's next pairwise (sealed) message to Bob.
        let later = mallory.withdraw(&mut rng, &bob_id, 0).unwrap();
        let second = forged(&bob, &alice, &later[0]);
        assert!(bob.receive(&second).is_err());
        assert_eq!(
            *bob.to_bytes(),
            *bob_state,
            "a refused delivery changes nothing"
        );
        assert_eq!(
            bob.contact(&alice_id).map(|c| c.identity),
            Some(*alice.identity())
        );
    }
}
