//! A sponsored message with a call to action, an image banner and a lead form, from a
//! registered advertiser; the lead-form answer is readable by the advertiser alone.
//!
//! `cargo run --example sponsored`

mod common;

use common::{NOW, Stores, certify, deliver, fund, look_up, member};
use missive::client::{CallToAction, Content, Event, ImageRef, LeadField, Sponsored};
use missive::platform::{Platform, Profile};
use missive::token::TokenKind;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut stores = Stores::default();
    let mut platform = Platform::new(&mut rand::rng());
    let mut acme = member(&mut platform, "acme", Profile::FREE);
    acme.set_advertiser_certificate(platform.certify_advertiser(
        "Acme Recruiting",
        acme.mailbox_id(),
        acme.identity(),
    ));
    // The platform registers Acme as an advertiser; the relay issues it sponsored tokens.
    certify(&platform, &mut acme, true);
    fund(&mut acme, TokenKind::Sponsored, 10);
    let mut ana = member(&mut platform, "ana", Profile::FREE);
    let ana_id = look_up(&mut acme, &mut ana)?;
    let form = acme.new_lead_form(
        &mut rand::rng(),
        vec![LeadField {
            name: "email".into(),
            label: "Work email".into(),
            required: true,
        }],
    );
    let ad = Sponsored {
        headline: "Acme is hiring Rust engineers".into(),
        body: "Memory-safe systems, remote-friendly.".into(),
        buttons: vec![CallToAction {
            label: "See roles".into(),
            target: "https://acme.example/jobs".into(),
        }],
        banner: Some(ImageRef {
            reference: "blob:acme-banner".into(),
            sha256: [0; 32],
        }),
        lead_form: Some(form),
    };
    let events = deliver(
        &mut ana,
        &acme
            .send_sponsored(&mut rand::rng(), &[ana_id], &ad, NOW)?
            .save(&mut rand::rng(), stores.of("acme"))?,
    )?;
    for e in &events {
        if let Event::Message {
            content: Content::Sponsored(s),
            access,
            ..
        } = e
        {
            if let missive::client::Access::Sponsored(cert) = access {
                println!(
                    "ana sees \"{}\" from {}, with {} button(s) and a lead form",
                    s.headline,
                    cert.name,
                    s.buttons.len()
                );
            }
            if let Some(form) = &s.lead_form {
                let acme_id = *acme.mailbox_id();
                let answer = ana
                    .answer_lead_form(
                        &mut rand::rng(),
                        &acme_id,
                        form,
                        &[("email", "ana@example.com")],
                        NOW,
                    )?
                    .save(&mut rand::rng(), stores.of("ana"))?;
                deliver(&mut acme, &[answer])?;
            }
        }
    }
    Ok(())
}
