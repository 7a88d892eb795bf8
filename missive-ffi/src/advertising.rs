//! What advertisers and buyers do: sponsored messages with lead forms (the form's key stays
//! in the advertiser's state), answers to them, and InMail credits bought from the platform.

use missive::client;
use missive::platform::{AdvertiserCertificate, CreditPurchase};

use crate::client::{MissiveClient, saved};
use crate::error::{MissiveError, argument};
use crate::events::LeadAnswer;
use crate::types::{Outgoing, array32, mailbox, outgoing};

/// A call-to-action button of a sponsored message.
#[derive(Clone, Debug, PartialEq, Eq, uniffi::Record)]
pub struct Button {
    pub label: String,
    pub target: String,
}

/// An image by reference and SHA-256.
#[derive(Clone, Debug, PartialEq, Eq, uniffi::Record)]
pub struct Image {
    pub reference: String,
    pub sha256: Vec<u8>,
}

/// One field of a lead form.
#[derive(Clone, Debug, PartialEq, Eq, uniffi::Record)]
pub struct LeadField {
    pub name: String,
    pub label: String,
    pub required: bool,
}

/// A lead form (from `MissiveClient.new_lead_form`, or as a sponsored message carries it):
/// answer it with `MissiveClient.answer_lead_form`. `key` is the advertiser's public X-Wing
/// key for this form (1216 bytes), which the answer is sealed to.
#[derive(Clone, Debug, PartialEq, Eq, uniffi::Record)]
pub struct LeadForm {
    pub id: Vec<u8>,
    pub fields: Vec<LeadField>,
    pub key: Vec<u8>,
}

/// An advertiser's sponsored message: headline, body, call-to-action buttons, an image
/// banner and a lead form.
#[derive(Clone, Debug, PartialEq, Eq, uniffi::Record)]
pub struct Sponsored {
    pub headline: String,
    pub body: String,
    pub buttons: Vec<Button>,
    pub banner: Option<Image>,
    pub lead_form: Option<LeadForm>,
}

impl From<&client::Sponsored> for Sponsored {
    fn from(s: &client::Sponsored) -> Self {
        Self {
            headline: s.headline.clone(),
            body: s.body.clone(),
            buttons: (s.buttons.iter())
                .map(|b| Button {
                    label: b.label.clone(),
                    target: b.target.clone(),
                })
                .collect(),
            banner: s.banner.as_ref().map(|b| Image {
                reference: b.reference.clone(),
                sha256: b.sha256.to_vec(),
            }),
            lead_form: s.lead_form.as_ref().map(LeadForm::from),
        }
    }
}

impl TryFrom<&Sponsored> for client::Sponsored {
    type Error = MissiveError;
    fn try_from(s: &Sponsored) -> Result<Self, MissiveError> {
        Ok(Self {
            headline: s.headline.clone(),
            body: s.body.clone(),
            buttons: (s.buttons.iter())
                .map(|b| client::CallToAction {
                    label: b.label.clone(),
                    target: b.target.clone(),
                })
                .collect(),
            banner: (s.banner.as_ref())
                .map(|b| {
                    Ok::<_, MissiveError>(client::ImageRef {
                        reference: b.reference.clone(),
                        sha256: array32(&b.sha256, "a banner's SHA-256")?,
                    })
                })
                .transpose()?,
            lead_form: s.lead_form.as_ref().map(TryInto::try_into).transpose()?,
        })
    }
}

impl From<&client::LeadForm> for LeadForm {
    fn from(f: &client::LeadForm) -> Self {
        Self {
            id: f.id.to_vec(),
            fields: (f.fields.iter())
                .map(|l| LeadField {
                    name: l.name.clone(),
                    label: l.label.clone(),
                    required: l.required,
                })
                .collect(),
            key: f.key.as_bytes().to_vec(),
        }
    }
}

impl TryFrom<&LeadForm> for client::LeadForm {
    type Error = MissiveError;
    fn try_from(f: &LeadForm) -> Result<Self, MissiveError> {
        let id: [u8; 16] = (f.id.as_slice())
            .try_into()
            .map_err(|_| argument(format!("a lead form id is 16 bytes, not {}", f.id.len())))?;
        Ok(Self {
            id,
            fields: f.fields.iter().map(lead_field).collect(),
            key: missive::crypto::xwing::PublicKey::from_bytes(&f.key)?,
        })
    }
}

fn lead_field(l: &LeadField) -> client::LeadField {
    client::LeadField {
        name: l.name.clone(),
        label: l.label.clone(),
        required: l.required,
    }
}

#[uniffi::export]
impl MissiveClient {
    /// Our advertiser certificate from the platform (its postcard bytes): what lets us send
    /// sponsored messages under a verified name.
    pub fn set_advertiser_certificate(&self, certificate: Vec<u8>) -> Result<(), MissiveError> {
        let certificate = AdvertiserCertificate::from_bytes(&certificate)?;
        self.with(|c, store| {
            c.set_advertiser_certificate(certificate);
            Ok(c.save_to(&mut rand::rng(), store.as_mut())?)
        })
    }

    /// A new lead form: its key stays in our state, so only we read its answers
    /// (`Event.Lead`).
    pub fn new_lead_form(&self, fields: Vec<LeadField>) -> Result<LeadForm, MissiveError> {
        let fields = fields.iter().map(lead_field).collect();
        self.with(|c, store| {
            let form = c.new_lead_form(&mut rand::rng(), fields);
            c.save_to(&mut rand::rng(), store.as_mut())?;
            Ok((&form).into())
        })
    }

    /// A sponsored message to an audience of contacts (one sponsored token per envelope of up
    /// to 50); members who switched sponsored messages off do not show it.
    pub fn send_sponsored(
        &self,
        audience: Vec<Vec<u8>>,
        message: Sponsored,
        now: u64,
    ) -> Result<Vec<Outgoing>, MissiveError> {
        let audience = (audience.iter())
            .map(|m| mailbox(m))
            .collect::<Result<Vec<_>, _>>()?;
        let message = (&message).try_into()?;
        self.sends(|c| c.send_sponsored(&mut rand::rng(), &audience, &message, now))
    }

    /// Answers `form` of a sponsored message from `advertiser` (its sender's mailbox): sealed
    /// to the form's key, so only the advertiser reads it. Every required field must be
    /// answered, and only the form's fields.
    pub fn answer_lead_form(
        &self,
        advertiser: Vec<u8>,
        form: LeadForm,
        answers: Vec<LeadAnswer>,
        now: u64,
    ) -> Result<Vec<Outgoing>, MissiveError> {
        let advertiser = mailbox(&advertiser)?;
        let form = (&form).try_into()?;
        let answers: Vec<(&str, &str)> = (answers.iter())
            .map(|a| (a.field.as_str(), a.value.as_str()))
            .collect();
        self.with(|c, store| {
            let sent = c.answer_lead_form(&mut rand::rng(), &advertiser, &form, &answers, now)?;
            Ok(outgoing(std::slice::from_ref(&saved(sent, store)?)))
        })
    }

    /// The body of `POST /v1/tokens` redeeming InMail credits bought from the platform (its
    /// receipt's bytes); hand the answer to `add_tokens`.
    pub fn redeem_credits(&self, purchase: Vec<u8>, now: u64) -> Result<Vec<u8>, MissiveError> {
        let purchase = CreditPurchase::from_bytes(&purchase)?;
        self.with(|c, store| {
            let issue = c.redeem_credits(&mut rand::rng(), &purchase, now)?;
            Ok(saved(issue, store)?.to_bytes())
        })
    }
}
