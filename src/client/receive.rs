//! Receiving: one delivery in, the events it produced out. A delivery whose keys have not
//! arrived yet waits (bounded) and is retried after every pairwise payload.

use crate::conversation::{Accepted, Conversation, KeyDistribution};
use crate::envelope::{Delivery, MailboxId};
use crate::error::{CryptoError, Error, UsageError};
use crate::session::{Session, SessionMessage};

use super::payload::{Content, Pairwise};
use super::sealed::{self, SealedContent};
use super::{Client, Contact, Event, MAX_PENDING, MAX_SEEN};

/// What one delivery turned out to be.
enum Outcome {
    Events(Vec<Event>),
    /// Its keys may still arrive: keep it.
    Wait,
}

impl Client {
    /// Handles one delivery (the `delivery` field of a `DeliveredEnvelope`). Duplicates are
    /// dropped silently; a message whose keys have not arrived yet is kept and opened later.
    ///
    /// # Errors
    /// Malformed or forged deliveries. State is unchanged by a delivery that fails.
    pub fn receive(&mut self, delivery: &[u8]) -> Result<Vec<Event>, Error> {
        let parsed = Delivery::from_bytes(delivery)?;
        if parsed.mailbox() != *self.mailbox_id() {
            return Err(UsageError::UnknownRecipient.into());
        }
        if self.seen.contains(&parsed.id()) {
            return Ok(Vec::new());
        }
        let mut events = match self.process(&parsed)? {
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
        if !events.is_empty() {
            events.extend(self.retry_pending());
        }
        Ok(events)
    }

    fn remember(&mut self, delivery: &Delivery) {
        if self.seen.len() >= MAX_SEEN {
            self.seen.pop_front();
        }
        self.seen.push_back(delivery.id());
    }

    /// Opens whatever waited and can be opened now.
    fn retry_pending(&mut self) -> Vec<Event> {
        let mut events = Vec::new();
        let mut progress = true;
        while progress {
            progress = false;
            for bytes in core::mem::take(&mut self.pending) {
                let Ok(parsed) = Delivery::from_bytes(&bytes) else {
                    continue;
                };
                match self.process(&parsed) {
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

    fn process(&mut self, delivery: &Delivery) -> Result<Outcome, Error> {
        if delivery.part().is_some() {
            return match self.fanout.open_first(delivery) {
                Ok((conversation, decrypted)) => {
                    let id = conversation.id();
                    self.conversations.insert(id, conversation);
                    Ok(Outcome::Events(vec![self.message_event(
                        id,
                        decrypted.sender,
                        &decrypted.body,
                    )?]))
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
            return Ok(Outcome::Events(vec![self.message_event(
                id,
                decrypted.sender,
                &decrypted.body,
            )?]));
        }
        match sealed::open(&self.identity, self.mailbox.id(), body) {
            Ok(content) => self.pairwise_in(&content).map(Outcome::Events),
            // Not sealed to us: a conversation message whose keys are still on their way.
            Err(Error::Crypto(CryptoError::DecryptionFailed)) => Ok(Outcome::Wait),
            Err(e) => Err(e),
        }
    }

    fn message_event(
        &self,
        conversation: crate::conversation::ConversationId,
        from: MailboxId,
        body: &[u8],
    ) -> Result<Event, Error> {
        Ok(Event::Message {
            conversation,
            from,
            from_user: self.contacts.get(&from).map(|c| c.user.clone()),
            content: Content::from_bytes(body)?,
        })
    }

    /// Decrypts a sealed session message, checking that the session is the claimed sender's.
    fn pairwise_in(&mut self, sealed: &SealedContent) -> Result<Vec<Event>, Error> {
        let message = SessionMessage::from_bytes(&sealed.message)?;
        let from = sealed.sender_mailbox;
        let contact = Contact {
            user: sealed.sender_user.clone(),
            mailbox: from,
            identity: sealed.sender_identity,
        };
        let mut events = Vec::new();
        let plaintext = match self.sessions.get_mut(&from) {
            Some(session) if session.accepts(&message) => {
                if session.remote_identity() != &sealed.sender_identity {
                    return Err(CryptoError::WrongSender.into());
                }
                session.decrypt(&message)?
            }
            _ => {
                if message.prekey_identity() != Some(&sealed.sender_identity) {
                    return Err(CryptoError::WrongSender.into());
                }
                self.check_contact(&contact)?;
                let (session, plaintext) =
                    Session::respond(&self.identity, &mut self.prekeys, &message)?;
                self.sessions.insert(from, session);
                if self.contacts.insert(from, contact.clone()).is_none() {
                    events.push(Event::NewContact(contact));
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
        if conversation.members().len() == 2 {
            self.direct.insert(*from, id);
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

    fn connect(a: &mut Client, b: &mut Client) -> MailboxId {
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
        let mut content = sealed::open(&bob.identity, &bob_id, delivery.body()).unwrap();
        content.sender_user = claimed.user.clone();
        content.sender_mailbox = *claimed.mailbox_id();
        content.sender_identity = *claimed.identity();
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
            .send(&mut rng, &bob_id, &Content::text("I am alice"), 0)
            .unwrap();
        // A prekey message under Mallory's identity, claiming Alice's: refused, nothing changes.
        let first = forged(&bob, &alice, &out[0]);
        assert_eq!(bob.receive(&first), Err(CryptoError::WrongSender.into()));
        assert!(bob.contacts.is_empty() && bob.sessions.is_empty());

        // Once Bob and Alice have a session, a later message claiming Alice fails to decrypt.
        let alice_id = *alice.mailbox_id();
        let hello = alice
            .send(&mut rng, &bob_id, &Content::text("hello"), 0)
            .unwrap();
        for o in &hello {
            for d in Envelope::from_bytes(&o.envelope).unwrap().split() {
                bob.receive(&d.to_bytes()).unwrap();
            }
        }
        let bob_state = bob.to_bytes();
        // A grant is Mallory's next pairwise (sealed) message to Bob.
        let (_, later) = mallory
            .send_multi(&mut rng, &[bob_id], &Content::text("still alice"), 0)
            .unwrap();
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
