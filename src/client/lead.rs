//! Lead forms: a recipient's answer is sealed to the advertiser's form key alone
//! (PROTOCOL.md §10.4), so neither the relay nor anyone else who saw the ad can read it, now or
//! once X25519 falls: the form key is an X-Wing key.

use rand::CryptoRng;
use serde::{Deserialize, Serialize};

use super::content::{LeadField, LeadForm};
use super::{Client, Outgoing, Unsaved};
use crate::crypto::xwing;
use crate::envelope::{MailboxId, padding};
use crate::error::{DecodeError, Error, UsageError};
use crate::hpke;
use crate::wire::Wire;

pub(crate) const INFO: &[u8] = b"missive/v1/lead-form";

/// An answer to a lead form, as the advertiser reads it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeadAnswer {
    /// The form answered.
    pub form: [u8; 16],
    /// The answering member's account name.
    pub user: Vec<u8>,
    /// The answering member's mailbox, to reply to.
    pub mailbox: MailboxId,
    /// Field name and answer, in the form's order.
    pub answers: Vec<(String, String)>,
}

impl Wire for LeadAnswer {
    const WHAT: &'static str = "lead answer";
    const VERSION: u8 = 1;
}

/// A form key: 32 secret bytes, an X-Wing seed. A form made before X-Wing published the X25519
/// key of the same bytes, so answers sealed to it with DHKEM still open (the other reading of a
/// key is never published, so it is never sealed to).
#[derive(Clone)]
pub(super) struct LeadKey {
    xwing: xwing::SecretKey,
    classical: hpke::KeyPair,
}

impl LeadKey {
    pub(super) fn from_secret_bytes(bytes: &[u8; 32]) -> Self {
        Self {
            xwing: xwing::SecretKey::from_seed(bytes),
            classical: hpke::KeyPair::from_secret_bytes(bytes),
        }
    }

    pub(super) fn to_secret_bytes(&self) -> zeroize::Zeroizing<[u8; 32]> {
        self.xwing.seed()
    }
}

impl Client {
    /// A new lead form for a sponsored message: its key stays with this (advertiser) client.
    pub fn new_lead_form<R: CryptoRng + ?Sized>(
        &mut self,
        rng: &mut R,
        fields: Vec<LeadField>,
    ) -> LeadForm {
        let mut id = [0u8; 16];
        rng.fill_bytes(&mut id);
        let mut seed = zeroize::Zeroizing::new([0u8; 32]);
        rng.fill_bytes(seed.as_mut());
        let key = LeadKey::from_secret_bytes(&seed);
        let form = LeadForm {
            id,
            fields,
            key: key.xwing.public_key().clone(),
        };
        self.lead_keys.push((id, key));
        form
    }

    /// Answers `form` (from a sponsored message of `advertiser`): the answer is sealed to the
    /// form's key and addressed to the advertiser's mailbox. Every required field must be
    /// answered, and only the form's fields.
    pub fn answer_lead_form<R: CryptoRng + ?Sized>(
        &mut self,
        rng: &mut R,
        advertiser: &MailboxId,
        form: &LeadForm,
        answers: &[(&str, &str)],
        now: u64,
    ) -> Result<Unsaved<'_, Outgoing>, Error> {
        self.outbox_room()?;
        check_answers(&form.fields, answers)?;
        let answer = LeadAnswer {
            form: form.id,
            user: self.user.clone(),
            mailbox: *self.mailbox_id(),
            answers: answers
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        };
        let mut padded = Vec::new();
        padding::pad_into(&answer.to_wire(), &mut padded)?;
        let (enc, ct) = hpke::xwing::seal_base(rng, &form.key, INFO, &form.id, &padded)?;
        let mut body = enc.as_bytes().to_vec();
        body.extend_from_slice(&ct);
        let credential = self.credential(&[*advertiser], None)?;
        let out = super::send::single(advertiser, &body, now, false, credential, None)?;
        Ok(Unsaved::sent(self, out))
    }

    /// Opens a lead answer with one of our form keys, if it is one: sealed over X-Wing, or
    /// with DHKEM to a form made before it.
    pub(super) fn open_lead(&self, body: &[u8]) -> Option<Result<LeadAnswer, Error>> {
        if self.lead_keys.is_empty() {
            return None;
        }
        let xwing = body
            .split_at_checked(xwing::CIPHERTEXT_LEN)
            .and_then(|(enc, ct)| Some((xwing::Ciphertext::from_bytes(enc).ok()?, ct)));
        if let Some((enc, ct)) = xwing {
            let opened = self.lead_keys.iter().find_map(|(id, key)| {
                let padded = hpke::xwing::open_base(&enc, &key.xwing, INFO, id, ct).ok()?;
                Some(open_answer(id, &padded))
            });
            if opened.is_some() {
                return opened;
            }
        }
        let (enc, ct) = body.split_at_checked(32)?;
        let enc = hpke::Enc::from_bytes(enc).ok()?;
        self.lead_keys.iter().find_map(|(id, key)| {
            let padded = hpke::open_base(&enc, &key.classical, INFO, id, ct).ok()?;
            Some(open_answer(id, &padded))
        })
    }
}

pub(crate) fn open_answer(form: &[u8; 16], padded: &[u8]) -> Result<LeadAnswer, Error> {
    let answer = LeadAnswer::from_wire(padding::unpad(padded)?)?;
    if answer.form != *form {
        return Err(DecodeError::Invalid {
            what: "lead answer",
        }
        .into());
    }
    Ok(answer)
}

fn check_answers(fields: &[LeadField], answers: &[(&str, &str)]) -> Result<(), Error> {
    let known = answers
        .iter()
        .all(|(k, _)| fields.iter().any(|f| f.name == *k));
    let required = fields
        .iter()
        .filter(|f| f.required)
        .all(|f| answers.iter().any(|(k, v)| *k == f.name && !v.is_empty()));
    if known && required {
        Ok(())
    } else {
        Err(UsageError::NotPermitted.into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sealed_answer(key: &hpke::PublicKey, form: &[u8; 16], user: &[u8]) -> Vec<u8> {
        let answer = LeadAnswer {
            form: *form,
            user: user.to_vec(),
            mailbox: MailboxId([7; 16]),
            answers: vec![("email".into(), "ana@example.com".into())],
        };
        let mut padded = Vec::new();
        padding::pad_into(&answer.to_wire(), &mut padded).unwrap();
        let (enc, ct) = hpke::seal_base(&mut rand::rng(), key, INFO, form, &padded).unwrap();
        [&enc.as_bytes()[..], &ct].concat()
    }

    #[test]
    fn an_answer_sealed_with_dhkem_to_a_form_made_before_x_wing_still_opens() {
        let mut advertiser = Client::new(&mut rand::rng(), b"acme");
        // A form of the version before: its key's 32 bytes published as an X25519 key.
        let secret = [0x42; 32];
        let old = LeadKey::from_secret_bytes(&secret);
        let form = [9; 16];
        advertiser.lead_keys.push((form, old.clone()));
        let body = sealed_answer(old.classical.public_key(), &form, b"ana");
        let answer = advertiser.open_lead(&body).unwrap().unwrap();
        assert_eq!((answer.form, answer.user.as_slice()), (form, &b"ana"[..]));
        // The same bytes stored and loaded are the same key, both ways of reading it.
        assert_eq!(*old.to_secret_bytes(), secret);
        // Sealed to a key this client does not hold: not a lead answer.
        let other = hpke::KeyPair::from_secret_bytes(&[0x43; 32]);
        assert!(
            advertiser
                .open_lead(&sealed_answer(other.public_key(), &form, b"x"))
                .is_none()
        );
        // A client without forms tries nothing.
        let member = Client::new(&mut rand::rng(), b"ana");
        assert!(member.open_lead(&body).is_none());
    }
}
