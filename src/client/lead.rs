//! Lead forms: a recipient's answer is sealed to the advertiser's form key alone
//! (PROTOCOL.md §10.4), so neither the relay nor anyone else who saw the ad can read it.

use rand::CryptoRng;
use serde::{Deserialize, Serialize};

use super::content::{LeadField, LeadForm};
use super::{Client, Outgoing, Unsaved};
use crate::envelope::{MailboxId, padding};
use crate::error::{DecodeError, Error, UsageError};
use crate::hpke;
use crate::wire::Wire;

const INFO: &[u8] = b"missive/v1/lead-form";

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

impl Client {
    /// A new lead form for a sponsored message: its key stays with this (advertiser) client.
    pub fn new_lead_form<R: CryptoRng + ?Sized>(
        &mut self,
        rng: &mut R,
        fields: Vec<LeadField>,
    ) -> LeadForm {
        let mut id = [0u8; 16];
        rng.fill_bytes(&mut id);
        let key = hpke::KeyPair::generate(rng);
        let form = LeadForm {
            id,
            fields,
            key: *key.public_key(),
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
        let (enc, ct) = hpke::seal_base(rng, &form.key, INFO, &form.id, &padded)?;
        let mut body = enc.as_bytes().to_vec();
        body.extend_from_slice(&ct);
        let credential = self.credential(&[*advertiser], None)?;
        let out = super::send::single(advertiser, &body, now, false, credential, None)?;
        Ok(Unsaved::sent(self, out))
    }

    /// Opens a lead answer with one of our form keys, if it is one.
    pub(super) fn open_lead(&self, body: &[u8]) -> Option<Result<LeadAnswer, Error>> {
        let (enc, ct) = body.split_at_checked(32)?;
        let enc = hpke::Enc::from_bytes(enc).ok()?;
        self.lead_keys.iter().find_map(|(id, key)| {
            let padded = hpke::open_base(&enc, key, INFO, id, ct).ok()?;
            Some(open_answer(id, &padded))
        })
    }
}

fn open_answer(form: &[u8; 16], padded: &[u8]) -> Result<LeadAnswer, Error> {
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
