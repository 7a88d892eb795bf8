//! Every product rule and limit through the public API, positive and negative: connections,
//! direct messages, Open Profile, InMail credits, sponsored messages and lead forms, groups with
//! roles and mentions, multi-recipient messages, read receipts and typing indicators.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::saved::Saved;
use common::users::{
    CAREER, NOW, certify, connect, contact, deliver, fund, member, refusals, texts,
};
use missive::PolicyError;
use missive::access::Credential;
use missive::client::{
    Access, CallToAction, Client, Connection, Content, Event, LeadField, Settings, Sponsored, Text,
    Waiting,
};
use missive::conversation::Role;
use missive::envelope::MailboxId;
use missive::platform::{InMailKind, LedgerError, Platform, Profile, Tier, monthly_tokens};
use missive::token::TokenKind;
use missive::{Error, UsageError};

const BUSINESS: Profile = Profile {
    tier: Tier::PremiumBusiness,
    open_profile: false,
};
const OPEN: Profile = Profile {
    tier: Tier::PremiumBusiness,
    open_profile: true,
};

fn rng() -> rand::rngs::ThreadRng {
    rand::rng()
}

fn policy<T: core::fmt::Debug>(r: Result<T, Error>) -> PolicyError {
    match r {
        Err(Error::Policy(p)) => p,
        other => panic!("expected a policy refusal, got {other:?}"),
    }
}

fn world() -> (Platform, Client, Client) {
    let mut p = Platform::new(&mut rng());
    let a = member(&mut p, "ana", Profile::FREE);
    let b = member(&mut p, "ben", Profile::FREE);
    (p, a, b)
}

// ---- Connections and direct messages ----

#[test]
fn direct_messages_need_an_accepted_connection() {
    let (_, mut ana, mut ben) = world();
    let ben_id = contact(&mut ana, &mut ben);
    assert_eq!(
        policy(
            ana.send(&mut rng(), &ben_id, &Content::text("hi"), NOW)
                .saved()
        ),
        PolicyError::NotConnected
    );
    let invite = ana
        .invite(&mut rng(), &ben_id, Some("We met at RustConf"), NOW)
        .saved()
        .unwrap();
    let events = deliver(&mut ben, &invite);
    let ana_id = *ana.mailbox_id();
    assert!(events.contains(&Event::Invitation {
        from: ana_id,
        note: Some("We met at RustConf".into())
    }));
    assert_eq!(
        ben.connection(&ana_id).unwrap(),
        Connection::InvitedUs(Some("We met at RustConf".into()))
    );
    assert_eq!(
        policy(
            ana.send(&mut rng(), &ben_id, &Content::text("hi"), NOW)
                .saved()
        ),
        PolicyError::NotConnected,
        "pending is not connected"
    );
    let accept = ben.accept(&mut rng(), &ana_id, NOW).saved().unwrap();
    assert_eq!(deliver(&mut ana, &accept), vec![Event::Connected(ben_id)]);
    let out = ana
        .send(&mut rng(), &ben_id, &Content::text("hi"), NOW)
        .saved()
        .unwrap();
    assert_eq!(texts(&deliver(&mut ben, &out)), ["hi"]);
    let reply = ben
        .send(&mut rng(), &ana_id, &Content::text("hello"), NOW)
        .saved()
        .unwrap();
    assert_eq!(texts(&deliver(&mut ana, &reply)), ["hello"]);
}

#[test]
fn declined_withdrawn_and_removed_connections() {
    let (_, mut ana, mut ben) = world();
    let ben_id = contact(&mut ana, &mut ben);
    let ana_id = *ana.mailbox_id();
    // Declined.
    deliver(
        &mut ben,
        &ana.invite(&mut rng(), &ben_id, None, NOW).saved().unwrap(),
    );
    assert_eq!(
        deliver(
            &mut ana,
            &ben.decline(&mut rng(), &ana_id, NOW).saved().unwrap()
        ),
        vec![Event::Declined(ben_id)]
    );
    assert_eq!(ana.connection(&ben_id).unwrap(), Connection::None);
    assert_eq!(
        policy(ben.accept(&mut rng(), &ana_id, NOW).saved()),
        PolicyError::NoInvitation
    );
    // Withdrawn.
    deliver(
        &mut ben,
        &ana.invite(&mut rng(), &ben_id, None, NOW).saved().unwrap(),
    );
    assert_eq!(
        deliver(
            &mut ben,
            &ana.withdraw(&mut rng(), &ben_id, NOW).saved().unwrap()
        ),
        vec![Event::Withdrawn(ana_id)]
    );
    assert_eq!(
        policy(ben.accept(&mut rng(), &ana_id, NOW).saved()),
        PolicyError::NoInvitation
    );
    assert_eq!(
        policy(ana.withdraw(&mut rng(), &ben_id, NOW).saved()),
        PolicyError::NoInvitation
    );
    // Connected, then removed.
    connect(&mut ana, &mut ben);
    assert_eq!(
        policy(ana.invite(&mut rng(), &ben_id, None, NOW).saved()),
        PolicyError::AlreadyConnected
    );
    let removal = ben
        .remove_connection(&mut rng(), &ana_id, NOW)
        .saved()
        .unwrap();
    // Before the removal arrives, Ana's client still believes they are connected: Ben refuses.
    let stale = ana
        .send(&mut rng(), &ben_id, &Content::text("still there?"), NOW)
        .saved()
        .unwrap();
    let events = deliver(&mut ben, &stale);
    assert!(texts(&events).is_empty());
    assert_eq!(refusals(&events), [PolicyError::NotConnected]);
    assert_eq!(
        deliver(&mut ana, &removal),
        vec![Event::Disconnected(*ben.mailbox_id())]
    );
    assert_eq!(
        policy(
            ana.send(&mut rng(), &ben_id, &Content::text("hi"), NOW)
                .saved()
        ),
        PolicyError::NotConnected
    );
    assert_eq!(
        policy(
            ben.send(&mut rng(), &ana_id, &Content::text("hi"), NOW)
                .saved()
        ),
        PolicyError::NotConnected
    );
}

#[test]
fn mutual_invitations_connect_and_notes_are_bounded() {
    let (_, mut ana, mut ben) = world();
    let ben_id = contact(&mut ana, &mut ben);
    let ana_id = contact(&mut ben, &mut ana);
    let long = "x".repeat(missive::client::MAX_NOTE + 1);
    assert_eq!(
        ana.invite(&mut rng(), &ben_id, Some(&long), NOW)
            .saved()
            .unwrap_err(),
        Error::Usage(UsageError::TooLarge {
            what: "invitation note"
        })
    );
    let a = ana.invite(&mut rng(), &ben_id, None, NOW).saved().unwrap();
    let b = ben.invite(&mut rng(), &ana_id, None, NOW).saved().unwrap();
    assert_eq!(deliver(&mut ana, &b), vec![Event::Connected(ben_id)]);
    assert_eq!(deliver(&mut ben, &a), vec![Event::Connected(ana_id)]);
    assert!(
        ana.send(&mut rng(), &ben_id, &Content::text("hi"), NOW)
            .saved()
            .is_ok()
    );
}

// ---- Open Profile ----

#[test]
fn anyone_may_message_a_premium_member_with_open_profile() {
    let mut p = Platform::new(&mut rng());
    let mut ana = member(&mut p, "ana", Profile::FREE);
    let mut chloe = member(&mut p, "chloe", OPEN);
    let chloe_id = contact(&mut ana, &mut chloe);
    assert_eq!(
        policy(
            ana.send(&mut rng(), &chloe_id, &Content::text("hi"), NOW)
                .saved()
        ),
        PolicyError::NotConnected,
        "profile unknown"
    );
    ana.set_contact_profile(chloe_id, OPEN).unwrap();
    let out = ana
        .send(&mut rng(), &chloe_id, &Content::text("hi"), NOW)
        .saved()
        .unwrap();
    let events = deliver(&mut chloe, &out);
    assert!(events.iter().any(|e| matches!(
        e,
        Event::Message {
            access: Access::OpenProfile,
            ..
        }
    )));
    // The conversation is open now: Chloe may answer, Ana may go on.
    let ana_id = *ana.mailbox_id();
    assert_eq!(
        texts(&deliver(
            &mut ana,
            &chloe
                .send(&mut rng(), &ana_id, &Content::text("hello"), NOW)
                .saved()
                .unwrap()
        )),
        ["hello"]
    );
    assert_eq!(
        texts(&deliver(
            &mut chloe,
            &ana.send(&mut rng(), &chloe_id, &Content::text("again"), NOW)
                .saved()
                .unwrap()
        )),
        ["again"]
    );
}

#[test]
fn open_profile_needs_premium_and_the_switch_on_the_recipients_side() {
    let mut p = Platform::new(&mut rng());
    let mut ana = member(&mut p, "ana", Profile::FREE);
    // A free member who set the switch: it has no effect.
    let mut dan = member(
        &mut p,
        "dan",
        Profile {
            tier: Tier::Free,
            open_profile: true,
        },
    );
    let dan_id = contact(&mut ana, &mut dan);
    ana.set_contact_profile(
        dan_id,
        Profile {
            tier: Tier::Free,
            open_profile: true,
        },
    )
    .unwrap();
    assert_eq!(
        policy(
            ana.send(&mut rng(), &dan_id, &Content::text("hi"), NOW)
                .saved()
        ),
        PolicyError::NotConnected
    );
    // A sender whose idea of the profile is wrong (or a modified client) is refused by the recipient.
    let mut eve = member(&mut p, "eve", BUSINESS);
    let eve_id = contact(&mut ana, &mut eve);
    ana.set_contact_profile(eve_id, OPEN).unwrap();
    let events = deliver(
        &mut eve,
        &ana.send(&mut rng(), &eve_id, &Content::text("hi"), NOW)
            .saved()
            .unwrap(),
    );
    assert!(texts(&events).is_empty());
    assert_eq!(refusals(&events), [PolicyError::NotOpenProfile]);
}

// ---- InMail ----

#[test]
fn the_relay_issues_5_and_15_credits_a_month_and_none_to_free_members() {
    let p = Platform::new(&mut rng());
    let mut quotas = Vec::new();
    for (i, profile) in [Profile::FREE, CAREER, BUSINESS].into_iter().enumerate() {
        let mut p = Platform::new(&mut rng());
        let mailbox = MailboxId([i as u8; 16]);
        p.register(mailbox, profile);
        let account = p.certify_account(&mailbox, false, NOW).unwrap();
        quotas.push(
            [TokenKind::Credit, TokenKind::Premium, TokenKind::Sponsored]
                .map(|k| monthly_tokens(k, &account)),
        );
    }
    assert_eq!(quotas[0], [0, 0, 0]);
    assert_eq!(quotas[1][0], 5);
    assert_eq!(quotas[2][0], 15);
    assert!(quotas[1][1] > 0 && quotas[2][1] > 0);
    // Only registered advertisers get sponsored tokens; everyone gets invitations.
    let mut p2 = p;
    p2.register(MailboxId([9; 16]), Profile::FREE);
    let advertiser = p2.certify_account(&MailboxId([9; 16]), true, NOW).unwrap();
    assert!(monthly_tokens(TokenKind::Sponsored, &advertiser) > 0);
    assert!(monthly_tokens(TokenKind::Invite, &advertiser) > 0);
    assert_eq!(
        p2.certify_account(&MailboxId([8; 16]), false, NOW)
            .unwrap_err(),
        LedgerError::UnknownMember
    );
}

#[test]
fn inmail_spends_one_credit_token_and_opens_a_conversation() {
    let mut p = Platform::new(&mut rng());
    let mut ben = member(&mut p, "ben", CAREER);
    let mut dan = member(&mut p, "dan", Profile::FREE);
    let dan_id = contact(&mut ben, &mut dan);
    let ben_id = *ben.mailbox_id();
    assert_eq!(ben.tokens(TokenKind::Credit), 5);
    let out = ben
        .send_inmail(&mut rng(), &dan_id, &Content::text("a role?"), NOW)
        .saved()
        .unwrap();
    // Every envelope of the send carries the same credit token, so the relay takes one.
    let tokens: Vec<_> = out.iter().map(|o| o.credential.clone()).collect();
    assert!(matches!(&tokens[0], Credential::Token(t) if t.kind == TokenKind::Credit));
    assert!(tokens.iter().all(|t| *t == tokens[0]));
    assert_eq!(ben.tokens(TokenKind::Credit), 4);
    let events = deliver(&mut dan, &out);
    assert!(events.iter().any(|e| matches!(
        e,
        Event::Message {
            access: Access::InMail(InMailKind::Credit),
            ..
        }
    )));
    // Both may continue in the conversation the InMail opened, without more credits: Ben's
    // contact key came with the InMail, Dan's with his reply.
    let reply = dan
        .send(&mut rng(), &ben_id, &Content::text("tell me more"), NOW)
        .saved()
        .unwrap();
    assert!(
        reply
            .iter()
            .all(|o| matches!(o.credential, Credential::Contacts(_)))
    );
    assert_eq!(texts(&deliver(&mut ben, &reply)), ["tell me more"]);
    let more = ben
        .send(&mut rng(), &dan_id, &Content::text("sure"), NOW)
        .saved()
        .unwrap();
    assert!(
        more.iter()
            .all(|o| matches!(o.credential, Credential::Contacts(_)))
    );
    assert_eq!(texts(&deliver(&mut dan, &more)), ["sure"]);
    assert_eq!(ben.tokens(TokenKind::Credit), 4);
    // An InMail is paid even to someone whose key Ben holds: what Dan is shown as paid was.
    let paid = ben
        .send_inmail(&mut rng(), &dan_id, &Content::text("one more"), NOW)
        .saved()
        .unwrap();
    assert!(
        paid.iter()
            .all(|o| matches!(&o.credential, Credential::Token(t) if t.kind == TokenKind::Credit))
    );
    assert_eq!(ben.tokens(TokenKind::Credit), 3);
}

#[test]
fn without_a_credit_token_inmail_fails_and_changes_nothing() {
    let mut p = Platform::new(&mut rng());
    let mut ana = member(&mut p, "ana", Profile::FREE);
    let mut dan = member(&mut p, "dan", Profile::FREE);
    let dan_id = contact(&mut ana, &mut dan);
    assert_eq!(ana.tokens(TokenKind::Credit), 0);
    assert_eq!(
        policy(
            ana.send_inmail(&mut rng(), &dan_id, &Content::text("hi"), NOW)
                .saved()
        ),
        PolicyError::NoToken
    );
    assert_eq!(ana.direct_conversation(&dan_id).unwrap(), None);
    // A Career member who spent all five is refused the sixth.
    let mut ben = member(&mut p, "ben", CAREER);
    for i in 0..5 {
        let mut target = member(&mut p, &format!("t{i}"), Profile::FREE);
        let id = contact(&mut ben, &mut target);
        ben.send_inmail(&mut rng(), &id, &Content::text("hi"), NOW)
            .saved()
            .unwrap();
    }
    let dan_at_ben = contact(&mut ben, &mut dan);
    assert_eq!(
        policy(
            ben.send_inmail(&mut rng(), &dan_at_ben, &Content::text("hi"), NOW)
                .saved()
        ),
        PolicyError::NoToken
    );
}

#[test]
fn a_token_request_survives_a_restart_and_a_foreign_answer_changes_nothing() {
    let mut p = Platform::new(&mut rng());
    let mut ben = member(&mut p, "ben", Profile::FREE);
    let mut eve = member(&mut p, "eve", Profile::FREE);
    let before = ben.tokens(TokenKind::Invite);
    let issue = ben
        .request_tokens(&mut rng(), TokenKind::Invite, 3, NOW)
        .saved()
        .unwrap();
    // The client stops here; the relay has counted the three tokens and answers later.
    let mut ben = Client::from_bytes(&ben.to_bytes().unwrap()).unwrap();
    let issuer = common::users::issuer();
    let answer = |request: &missive::token::TokenRequest| missive::relay_api::TokenIssued {
        key: issuer.public_key(request.kind, request.period).unwrap(),
        response: issuer.issue(&mut rng(), request).unwrap(),
    };
    // An answer to Eve's request (same size) does not finish Ben's.
    let foreign = eve
        .request_tokens(&mut rng(), TokenKind::Invite, 3, NOW)
        .saved()
        .unwrap();
    assert!(ben.add_tokens(&answer(&foreign.request)).is_err());
    assert_eq!(ben.tokens(TokenKind::Invite), before);
    assert_eq!(ben.add_tokens(&answer(&issue.request)).unwrap(), 3);
    assert_eq!(ben.tokens(TokenKind::Invite), before + 3);
    // Answered once, it is not open any more.
    assert!(ben.add_tokens(&answer(&issue.request)).is_err());
}

#[test]
fn premium_to_premium_inmail_spends_a_premium_token_not_a_credit() {
    let mut p = Platform::new(&mut rng());
    let mut ben = member(&mut p, "ben", CAREER);
    let mut chloe = member(&mut p, "chloe", BUSINESS);
    let chloe_id = contact(&mut ben, &mut chloe);
    ben.set_contact_profile(chloe_id, BUSINESS).unwrap();
    let premium = ben.tokens(TokenKind::Premium);
    let out = ben
        .send_inmail(&mut rng(), &chloe_id, &Content::text("partnership?"), NOW)
        .saved()
        .unwrap();
    assert!(matches!(&out[0].credential, Credential::Token(t) if t.kind == TokenKind::Premium));
    assert_eq!(ben.tokens(TokenKind::Credit), 5);
    assert_eq!(ben.tokens(TokenKind::Premium), premium - 1);
    let events = deliver(&mut chloe, &out);
    assert!(events.iter().any(|e| matches!(
        e,
        Event::Message {
            access: Access::InMail(InMailKind::PremiumToPremium),
            ..
        }
    )));
    // A premium claim to a free member (the sender believed a stale profile) is refused.
    let mut dan = member(&mut p, "dan", Profile::FREE);
    let dan_id = contact(&mut ben, &mut dan);
    ben.set_contact_profile(dan_id, BUSINESS).unwrap();
    let out = ben
        .send_inmail(&mut rng(), &dan_id, &Content::text("hi"), NOW)
        .saved()
        .unwrap();
    assert_eq!(
        refusals(&deliver(&mut dan, &out)),
        [PolicyError::NotConnected]
    );
}

// ---- Sponsored messages ----

/// Certifies `c` as a registered advertiser and gives it sponsored tokens.
/// A platform and Acme Recruiting, a certified advertiser with sponsored tokens.
fn acme() -> (Platform, Client) {
    let mut p = Platform::new(&mut rng());
    let mut acme = member(&mut p, "acme", Profile::FREE);
    acme.set_advertiser_certificate(p.certify_advertiser(
        "Acme Recruiting",
        acme.mailbox_id(),
        acme.identity(),
    ));
    advertise(&p, &mut acme);
    (p, acme)
}

fn advertise(p: &Platform, c: &mut Client) {
    certify(p, c, true);
    fund(c, TokenKind::Sponsored, 100);
}

fn ad(form: Option<missive::client::LeadForm>) -> Sponsored {
    Sponsored {
        headline: "We are hiring".into(),
        body: "Rust roles".into(),
        buttons: vec![CallToAction {
            label: "Apply".into(),
            target: "https://acme.example".into(),
        }],
        banner: None,
        lead_form: form,
    }
}

#[test]
fn sponsored_messages_reach_their_audience_with_a_verifiable_advertiser() {
    let (mut p, mut acme) = acme();
    let mut audience: Vec<Client> = ["ana", "ben", "chloe"]
        .iter()
        .map(|n| member(&mut p, n, Profile::FREE))
        .collect();
    let mut outsider = member(&mut p, "eve", Profile::FREE);
    let ids: Vec<MailboxId> = audience.iter_mut().map(|c| contact(&mut acme, c)).collect();
    contact(&mut acme, &mut outsider);
    audience[2].set_settings(Settings {
        sponsored_messages: false,
        ..Settings::default()
    });
    let out = acme
        .send_sponsored(&mut rng(), &ids, &ad(None), NOW)
        .saved()
        .unwrap();
    for c in &mut audience[..2] {
        let events = deliver(c, &out);
        let shown: Vec<_> = events
            .iter()
            .filter_map(|e| match e {
                Event::Message {
                    access: Access::Sponsored(cert),
                    content: Content::Sponsored(s),
                    ..
                } => Some((cert.name.clone(), s.headline.clone())),
                _ => None,
            })
            .collect();
        assert_eq!(
            shown,
            [("Acme Recruiting".to_string(), "We are hiring".to_string())]
        );
    }
    let shown = |events: &[Event]| {
        events
            .iter()
            .any(|e| matches!(e, Event::Message { .. } | Event::Refused { .. }))
    };
    assert!(
        !shown(&deliver(&mut audience[2], &out)),
        "opted out: nothing, not even a notice"
    );
    assert!(
        deliver(&mut outsider, &out).is_empty(),
        "not in the audience"
    );
}

/// Acme, an advertiser the platform certified, with no tokens yet.
fn certified_advertiser(p: &mut Platform) -> Client {
    let mut acme = member(p, "acme", Profile::FREE);
    acme.set_advertiser_certificate(p.certify_advertiser(
        "Acme Recruiting",
        acme.mailbox_id(),
        acme.identity(),
    ));
    certify(p, &mut acme, true);
    acme
}

/// A sponsored message to more than 50 goes out one first message per 50. When the second
/// fails (its one recipient is no contact), the first chunk's conversation, grants and
/// tokens are undone too.
#[test]
fn a_sponsored_send_that_fails_after_its_first_fifty_leaves_nothing() {
    let mut p = Platform::new(&mut rng());
    let mut acme = certified_advertiser(&mut p);
    fund(&mut acme, TokenKind::Sponsored, 100);
    fund(&mut acme, TokenKind::Sponsored, 100);
    let mut ids: Vec<MailboxId> = (0..50)
        .map(|i| {
            let mut c = member(&mut p, &format!("m{i}"), Profile::FREE);
            contact(&mut acme, &mut c)
        })
        .collect();
    ids.push(MailboxId([0x5a; 16]));
    let before = acme.to_bytes().unwrap();
    assert!(
        acme.send_sponsored(&mut rng(), &ids, &ad(None), NOW)
            .saved()
            .is_err()
    );
    assert!(
        *acme.to_bytes().unwrap() == *before,
        "the failed send changed nothing"
    );
}

#[test]
fn a_sponsored_send_that_fails_partway_leaves_nothing_half_sent() {
    let mut p = Platform::new(&mut rng());
    let mut acme = certified_advertiser(&mut p);
    // One token: enough for Ana's grant, not for Ben's.
    fund(&mut acme, TokenKind::Sponsored, 1);
    let mut audience: Vec<Client> = ["ana", "ben"]
        .iter()
        .map(|n| member(&mut p, n, Profile::FREE))
        .collect();
    let ids: Vec<MailboxId> = audience.iter_mut().map(|c| contact(&mut acme, c)).collect();
    let before = acme.to_bytes().unwrap();
    assert_eq!(
        policy(
            acme.send_sponsored(&mut rng(), &ids, &ad(None), NOW)
                .saved()
        ),
        PolicyError::NoToken
    );
    assert!(
        *acme.to_bytes().unwrap() == *before,
        "the failed send changed nothing"
    );
    // With tokens, the same audience reads it: Ana's grant goes out now.
    fund(&mut acme, TokenKind::Sponsored, 10);
    let out = acme
        .send_sponsored(&mut rng(), &ids, &ad(None), NOW)
        .saved()
        .unwrap();
    for c in &mut audience {
        let events = deliver(c, &out);
        assert!(
            events.iter().any(|e| matches!(
                e,
                Event::Message {
                    access: Access::Sponsored(_),
                    ..
                }
            )),
            "{events:?}"
        );
    }
}

#[test]
fn only_certified_advertisers_send_sponsored_messages() {
    let mut p = Platform::new(&mut rng());
    let mut rogue_platform = Platform::new(&mut rng());
    let mut ana = member(&mut p, "ana", Profile::FREE);
    let mut mallory = member(&mut p, "mallory", Profile::FREE);
    let ana_id = contact(&mut mallory, &mut ana);
    assert_eq!(
        policy(
            mallory
                .send_sponsored(&mut rng(), &[ana_id], &ad(None), NOW)
                .saved()
        ),
        PolicyError::NotAdvertiser
    );
    // A certificate from another key, or one issued to someone else, is refused by recipients
    // (Mallory is a registered advertiser, so the relay would take her envelopes).
    advertise(&p, &mut mallory);
    let mut acme = member(&mut p, "acme", Profile::FREE);
    let stolen = p.certify_advertiser("Acme", acme.mailbox_id(), acme.identity());
    for cert in [
        rogue_platform.certify_advertiser("Mallory Ads", mallory.mailbox_id(), mallory.identity()),
        stolen,
    ] {
        mallory.set_advertiser_certificate(cert);
        let events = deliver(
            &mut ana,
            &mallory
                .send_sponsored(&mut rng(), &[ana_id], &ad(None), NOW)
                .saved()
                .unwrap(),
        );
        assert_eq!(refusals(&events), [PolicyError::NotAdvertiser]);
    }
    let _ = (&mut acme, &mut rogue_platform);
}

#[test]
fn lead_form_answers_reach_the_advertiser_alone() {
    let mut p = Platform::new(&mut rng());
    let mut acme = member(&mut p, "acme", Profile::FREE);
    acme.set_advertiser_certificate(p.certify_advertiser(
        "Acme",
        acme.mailbox_id(),
        acme.identity(),
    ));
    advertise(&p, &mut acme);
    let mut ana = member(&mut p, "ana", Profile::FREE);
    let mut rival = member(&mut p, "rival", Profile::FREE);
    let fields = vec![
        LeadField {
            name: "email".into(),
            label: "Email".into(),
            required: true,
        },
        LeadField {
            name: "phone".into(),
            label: "Phone".into(),
            required: false,
        },
    ];
    let form = acme.new_lead_form(&mut rng(), fields.clone());
    let _rival_form = rival.new_lead_form(&mut rng(), fields);
    let ana_id = contact(&mut acme, &mut ana);
    let events = deliver(
        &mut ana,
        &acme
            .send_sponsored(&mut rng(), &[ana_id], &ad(Some(form.clone())), NOW)
            .saved()
            .unwrap(),
    );
    let received_form = events
        .iter()
        .find_map(|e| match e {
            Event::Message {
                content: Content::Sponsored(s),
                ..
            } => s.lead_form.clone(),
            _ => None,
        })
        .unwrap();
    assert_eq!(received_form, form);
    let acme_id = *acme.mailbox_id();
    assert_eq!(
        ana.answer_lead_form(&mut rng(), &acme_id, &form, &[("phone", "1")], NOW)
            .saved()
            .unwrap_err(),
        Error::Usage(UsageError::NotPermitted),
        "email is required"
    );
    assert!(
        ana.answer_lead_form(
            &mut rng(),
            &acme_id,
            &form,
            &[("email", "a@b"), ("salary", "1")],
            NOW
        )
        .saved()
        .is_err(),
        "unknown field"
    );
    let answer = ana
        .answer_lead_form(
            &mut rng(),
            &acme_id,
            &form,
            &[("email", "ana@example.com")],
            NOW,
        )
        .saved()
        .unwrap();
    assert!(
        ana.outbox().iter().any(|o| o.envelope == answer.envelope),
        "the answer waits in the outbox until the relay takes it"
    );
    let events = deliver(&mut acme, std::slice::from_ref(&answer));
    let [Event::Lead(lead)] = events.as_slice() else {
        panic!("{events:?}")
    };
    assert_eq!(
        (lead.user.as_slice(), lead.answers.clone()),
        (
            &b"ana"[..],
            vec![("email".to_string(), "ana@example.com".to_string())]
        )
    );
    // Nobody else can read it: not another advertiser with its own forms, even if handed it.
    let body = missive::envelope::Envelope::from_bytes(&answer.envelope).unwrap();
    let readdressed =
        missive::envelope::Envelope::to_mailboxes(NOW + 60, &[*rival.mailbox_id()], body.body())
            .unwrap();
    let out = [missive::client::Outgoing {
        envelope: readdressed[0].to_bytes(),
        credential: Credential::Open,
        ephemeral: false,
        conversation: None,
    }];
    assert_eq!(
        deliver(&mut rival, &out),
        [Event::Waiting(Waiting::Unrecognised)]
    );
}

// ---- Groups ----

struct Group {
    dan: Client,
    ana: Client,
    ben: Client,
    chloe: Client,
    id: missive::conversation::ConversationId,
}

#[test]
fn a_group_welcome_to_someone_who_gave_no_key_takes_an_invitation_token() {
    let mut p = Platform::new(&mut rng());
    let mut dan = Client::new(&mut rng(), b"dan");
    p.register(*dan.mailbox_id(), Profile::FREE);
    certify(&p, &mut dan, false);
    let mut ana = member(&mut p, "ana", Profile::FREE);
    let mut ben = member(&mut p, "ben", Profile::FREE);
    let members = [
        (contact(&mut dan, &mut ana), Role::Member),
        (contact(&mut dan, &mut ben), Role::Member),
    ];
    // No invitation tokens: refused before anything is made, so no half-made group is kept.
    let before = dan.to_bytes().unwrap().len();
    assert_eq!(
        policy(dan.create_group(&mut rng(), &members, NOW).saved()),
        PolicyError::NoToken
    );
    assert_eq!(dan.to_bytes().unwrap().len(), before);
    fund(&mut dan, TokenKind::Invite, 2);
    let (id, out) = dan.create_group(&mut rng(), &members, NOW).saved().unwrap();
    assert_eq!(dan.tokens(TokenKind::Invite), 0);
    assert!(
        out.iter()
            .all(|o| matches!(&o.credential, Credential::Token(t) if t.kind == TokenKind::Invite))
    );
    for c in [&mut ana, &mut ben] {
        assert!(deliver(c, &out).contains(&Event::Joined(id)));
    }
}

/// Dan (admin) with Ben (manager), Ana and Chloe (members); every pair has a session.
fn group() -> Group {
    let mut p = Platform::new(&mut rng());
    let mut dan = member(&mut p, "dan", Profile::FREE);
    let mut ana = member(&mut p, "ana", Profile::FREE);
    let mut ben = member(&mut p, "ben", Profile::FREE);
    let mut chloe = member(&mut p, "chloe", Profile::FREE);
    let members = vec![
        (contact(&mut dan, &mut ana), Role::Member),
        (contact(&mut dan, &mut ben), Role::Manager),
        (contact(&mut dan, &mut chloe), Role::Member),
    ];
    contact(&mut ben, &mut ana);
    contact(&mut ben, &mut chloe);
    contact(&mut ana, &mut chloe);
    let (id, out) = dan.create_group(&mut rng(), &members, NOW).saved().unwrap();
    for c in [&mut ana, &mut ben, &mut chloe] {
        assert!(deliver(c, &out).contains(&Event::Joined(id)));
    }
    Group {
        dan,
        ana,
        ben,
        chloe,
        id,
    }
}

fn mentioning(text: &str, mentions: Vec<MailboxId>) -> Content {
    Content::Text(Text {
        text: text.into(),
        mentions,
        attachments: vec![],
    })
}

#[test]
fn admins_and_managers_post_with_up_to_20_mentions() {
    let Group {
        mut dan,
        mut ana,
        mut ben,
        mut chloe,
        id,
    } = group();
    let (ana_id, chloe_id) = (*ana.mailbox_id(), *chloe.mailbox_id());
    let post = dan
        .post_to_group(
            &mut rng(),
            &id,
            &mentioning("welcome", vec![ana_id, chloe_id]),
            NOW,
        )
        .saved()
        .unwrap();
    for c in [&mut ana, &mut ben, &mut chloe] {
        let events = deliver(c, &post);
        assert!(events.iter().any(|e| matches!(e, Event::Message { access: Access::Group, content: Content::Text(t), .. } if t.mentions == [ana_id, chloe_id])));
    }
    let by_manager = ben
        .post_to_group(&mut rng(), &id, &Content::text("loops start Monday"), NOW)
        .saved()
        .unwrap();
    assert_eq!(
        texts(&deliver(&mut ana, &by_manager)),
        ["loops start Monday"]
    );
    assert_eq!(
        policy(
            ana.post_to_group(&mut rng(), &id, &Content::text("me too"), NOW)
                .saved()
        ),
        PolicyError::NotGroupPoster
    );
    let twenty_one: Vec<MailboxId> = (0..21).map(|_| ana_id).collect();
    assert_eq!(
        policy(
            dan.post_to_group(&mut rng(), &id, &mentioning("all", twenty_one), NOW)
                .saved()
        ),
        PolicyError::TooManyMentions
    );
    let outsider = MailboxId([0xee; 16]);
    assert_eq!(
        policy(
            dan.post_to_group(&mut rng(), &id, &mentioning("who?", vec![outsider]), NOW)
                .saved()
        ),
        PolicyError::NotGroupMember
    );
    let twenty: Vec<MailboxId> = (0..20)
        .map(|i| if i % 2 == 0 { ana_id } else { chloe_id })
        .collect();
    assert!(
        dan.post_to_group(&mut rng(), &id, &mentioning("twenty", twenty), NOW)
            .saved()
            .is_ok()
    );
}

#[test]
fn members_may_message_each_other_directly() {
    let Group {
        mut ana, mut chloe, ..
    } = group();
    let chloe_id = *chloe.mailbox_id();
    let out = ana
        .send(
            &mut rng(),
            &chloe_id,
            &Content::text("pair on the review?"),
            NOW,
        )
        .saved()
        .unwrap();
    let events = deliver(&mut chloe, &out);
    assert!(events.iter().any(|e| matches!(
        e,
        Event::Message {
            access: Access::GroupMember(_),
            ..
        }
    )));
    let ana_id = *ana.mailbox_id();
    assert_eq!(
        texts(&deliver(
            &mut ana,
            &chloe
                .send(&mut rng(), &ana_id, &Content::text("yes"), NOW)
                .saved()
                .unwrap()
        )),
        ["yes"]
    );
}

#[test]
fn a_removed_member_reads_nothing_new_and_loses_group_access() {
    let Group {
        mut dan,
        mut ana,
        mut ben,
        mut chloe,
        id,
    } = group();
    let chloe_id = *chloe.mailbox_id();
    let change = dan
        .change_group(&mut rng(), &id, &[], &[chloe_id], NOW)
        .saved()
        .unwrap();
    // A copy of Chloe that never got the notice, as a client that ignores it would be.
    let mut unaware = Client::from_bytes(&chloe.to_bytes().unwrap()).unwrap();
    for c in [&mut ana, &mut ben] {
        deliver(c, &change);
    }
    let dan_id = *dan.mailbox_id();
    assert_eq!(
        deliver(&mut chloe, &change),
        [Event::Removed {
            group: id,
            by: dan_id
        }]
    );
    let post = dan
        .post_to_group(&mut rng(), &id, &Content::text("after"), NOW)
        .saved()
        .unwrap();
    assert_eq!(texts(&deliver(&mut ana, &post)), ["after"]);
    assert!(deliver(&mut chloe, &post).is_empty());
    // Chloe gets no delivery of it; even handed Ana's, she cannot open it.
    let ana_copy = common::users::deliveries_for(&post, ana.mailbox_id());
    let envelope = missive::envelope::Envelope::from_bytes(&post[0].envelope).unwrap();
    let readdressed =
        missive::envelope::Envelope::to_mailboxes(NOW + 60, &[chloe_id], envelope.body()).unwrap();
    let out = [missive::client::Outgoing {
        envelope: readdressed[0].to_bytes(),
        credential: Credential::Open,
        ephemeral: false,
        conversation: None,
    }];
    assert!(texts(&deliver(&mut chloe, &out)).is_empty());
    assert!(!ana_copy.is_empty());
    // Her client knows she left: it posts nothing, and writes to members only if connected.
    contact(&mut chloe, &mut ana);
    let ana_id = *ana.mailbox_id();
    assert_eq!(
        policy(
            chloe
                .post_to_group(&mut rng(), &id, &Content::text("still here?"), NOW)
                .saved()
        ),
        PolicyError::NotGroupMember
    );
    assert_eq!(
        policy(
            chloe
                .send(&mut rng(), &ana_id, &Content::text("hi"), NOW)
                .saved()
        ),
        PolicyError::NotConnected
    );
    // A client that ignored the notice still claims the group; Ana's, which knows, refuses.
    contact(&mut unaware, &mut ana);
    let claim = unaware
        .send(&mut rng(), &ana_id, &Content::text("hi"), NOW)
        .saved()
        .unwrap();
    let events = deliver(&mut ana, &claim);
    assert!(texts(&events).is_empty());
    assert_eq!(refusals(&events), [PolicyError::NotGroupMember]);
}

#[test]
fn a_conversation_opened_through_a_group_closes_when_one_leaves_unless_connected() {
    let Group {
        mut dan,
        mut ana,
        mut ben,
        mut chloe,
        id,
    } = group();
    let (ana_id, ben_id, chloe_id) = (*ana.mailbox_id(), *ben.mailbox_id(), *chloe.mailbox_id());
    // Ana and Ben are connected as well; Ana and Chloe only share the group.
    connect(&mut ana, &mut ben);
    for to in [chloe_id, ben_id] {
        let out = ana
            .send(&mut rng(), &to, &Content::text("before"), NOW)
            .saved()
            .unwrap();
        for c in [&mut ben, &mut chloe] {
            deliver(c, &out);
        }
    }
    let reply = chloe
        .send(&mut rng(), &ana_id, &Content::text("reply"), NOW)
        .saved()
        .unwrap();
    assert_eq!(texts(&deliver(&mut ana, &reply)), ["reply"]);
    // Dan removes Chloe and Ben; each is told.
    let change = dan
        .change_group(&mut rng(), &id, &[], &[chloe_id, ben_id], NOW)
        .saved()
        .unwrap();
    for c in [&mut ana, &mut ben, &mut chloe] {
        deliver(c, &change);
    }
    // Ana and Chloe no longer share the group: neither may write, and an old-style claim is
    // refused; Ana and Ben are connected, so they still talk.
    for (from, to) in [(&mut ana, chloe_id), (&mut chloe, ana_id)] {
        assert_eq!(
            policy(
                from.send(&mut rng(), &to, &Content::text("after"), NOW)
                    .saved()
            ),
            PolicyError::NotConnected
        );
    }
    let out = ben
        .send(&mut rng(), &ana_id, &Content::text("still connected"), NOW)
        .saved()
        .unwrap();
    assert_eq!(texts(&deliver(&mut ana, &out)), ["still connected"]);
}

#[test]
fn a_two_member_group_is_a_group_and_direct_conversations_opened_at_once_converge() {
    let mut p = Platform::new(&mut rng());
    let mut dan = member(&mut p, "dan", Profile::FREE);
    let mut ana = member(&mut p, "ana", Profile::FREE);
    let ana_id = connect(&mut dan, &mut ana);
    let dan_id = *dan.mailbox_id();
    let (group, out) = dan
        .create_group(&mut rng(), &[(ana_id, Role::Member)], NOW)
        .saved()
        .unwrap();
    assert!(deliver(&mut ana, &out).contains(&Event::Joined(group)));
    assert_eq!(ana.groups(), [group]);
    assert_eq!(ana.direct_conversation(&dan_id).unwrap(), None);
    let post = dan
        .post_to_group(&mut rng(), &group, &Content::text("to the pair"), NOW)
        .saved()
        .unwrap();
    let events = deliver(&mut ana, &post);
    assert!(events.iter().any(|e| matches!(
        e,
        Event::Message {
            access: Access::Group,
            ..
        }
    )));
    // Both open their direct conversation at once: each reads the other, and both then send
    // in the same one.
    let from_dan = dan
        .send(&mut rng(), &ana_id, &Content::text("hi ana"), NOW)
        .saved()
        .unwrap();
    let from_ana = ana
        .send(&mut rng(), &dan_id, &Content::text("hi dan"), NOW)
        .saved()
        .unwrap();
    let opened = [
        dan.direct_conversation(&ana_id).unwrap().unwrap(),
        ana.direct_conversation(&dan_id).unwrap().unwrap(),
    ];
    assert_ne!(opened[0], opened[1]);
    assert_eq!(texts(&deliver(&mut ana, &from_dan)), ["hi ana"]);
    assert_eq!(texts(&deliver(&mut dan, &from_ana)), ["hi dan"]);
    // Both settle on the smaller id (PROTOCOL.md §9.3), whichever arrived first.
    let smaller = opened.iter().min().copied();
    assert_eq!(ana.direct_conversation(&dan_id).unwrap(), smaller);
    assert_eq!(dan.direct_conversation(&ana_id).unwrap(), smaller);
    assert_ne!(ana.direct_conversation(&dan_id).unwrap(), Some(group));
    let again = ana
        .send(&mut rng(), &dan_id, &Content::text("again"), NOW)
        .saved()
        .unwrap();
    assert_eq!(texts(&deliver(&mut dan, &again)), ["again"]);
}

#[test]
fn resends_go_only_to_current_members_and_end() {
    let Group {
        mut dan,
        mut ana,
        chloe,
        id,
        ..
    } = group();
    let chloe_id = *chloe.mailbox_id();
    let outsider = MailboxId([0xee; 16]);
    let post = dan
        .post_to_group(&mut rng(), &id, &Content::text("late"), NOW)
        .saved()
        .unwrap();
    // The relay names Chloe and someone who is not in the group: only Chloe is kept.
    dan.undelivered(&post[0], &[chloe_id, outsider], NOW);
    let again = dan.resend(NOW + 60).saved().unwrap();
    let env = missive::envelope::Envelope::from_bytes(&again[0].envelope).unwrap();
    assert_eq!(env.mailboxes(), [chloe_id]);
    // Seven more unanswered attempts, each after a longer wait, and it is given up.
    let mut at = NOW + 60;
    for attempt in 1..8u32 {
        dan.undelivered(&again[0], &[chloe_id], at);
        at += 60 << attempt;
        assert_eq!(
            dan.resend(at).saved().unwrap().len(),
            1,
            "attempt {attempt}"
        );
    }
    assert_eq!(dan.pending_resends(), 0);
    // Once she has left the group, nothing is kept for her.
    dan.undelivered(&post[0], &[chloe_id], at);
    let change = dan
        .change_group(&mut rng(), &id, &[], &[chloe_id], at)
        .saved()
        .unwrap();
    deliver(&mut ana, &change);
    assert!(dan.resend(at + 3600).saved().unwrap().is_empty());
    assert_eq!(dan.pending_resends(), 0);
}

// ---- Multi-recipient ----

#[test]
fn multi_recipient_messages_go_to_at_most_50_connections() {
    let (_, mut ana, mut ben) = world();
    let mut p = Platform::new(&mut rng());
    let ben_id = connect(&mut ana, &mut ben);
    let mut stranger = member(&mut p, "stranger", Profile::FREE);
    let stranger_id = contact(&mut ana, &mut stranger);
    assert_eq!(
        policy(
            ana.send_multi(
                &mut rng(),
                &[ben_id, stranger_id],
                &Content::text("hi"),
                NOW
            )
            .saved()
        ),
        PolicyError::NotAllConnections
    );
    let many = vec![ben_id; 51];
    assert_eq!(
        ana.send_multi(&mut rng(), &many, &Content::text("hi"), NOW)
            .saved()
            .unwrap_err(),
        Error::Usage(UsageError::TooManyRecipients { max: 50 })
    );
    let (_, out) = ana
        .send_multi(&mut rng(), &[ben_id], &Content::text("to you"), NOW)
        .saved()
        .unwrap();
    let events = deliver(&mut ben, &out);
    assert!(events.iter().any(|e| matches!(
        e,
        Event::Message {
            access: Access::Multi,
            ..
        }
    )));
    assert!(deliver(&mut stranger, &out).is_empty());
}

#[test]
fn a_multi_recipient_message_is_a_conversation_everyone_in_it_answers() {
    let mut p = Platform::new(&mut rng());
    let mut ana = member(&mut p, "ana", Profile::FREE);
    // Ben, Chloe and Dan are Ana's connections, strangers to each other.
    let mut others: Vec<Client> = ["ben", "chloe", "dan"]
        .iter()
        .map(|n| member(&mut p, n, Profile::FREE))
        .collect();
    let mut eve = member(&mut p, "eve", Profile::FREE);
    let ids: Vec<MailboxId> = others.iter_mut().map(|o| connect(&mut ana, o)).collect();
    let ana_id = *ana.mailbox_id();
    let (id, out) = ana
        .send_multi(&mut rng(), &ids, &Content::text("Lunch on Friday?"), NOW)
        .saved()
        .unwrap();
    for o in &mut others {
        let events = deliver(o, &out);
        assert_eq!(events.first(), Some(&Event::Joined(id)));
        assert_eq!(texts(&events), ["Lunch on Friday?"]);
        // Each sees who else got it: Ana by name (a contact), the others by mailbox.
        let me = *o.mailbox_id();
        let participants = o.participants(&id).unwrap();
        let mut expected: Vec<MailboxId> = ids.iter().copied().filter(|m| *m != me).collect();
        expected.push(ana_id);
        expected.sort();
        let seen: Vec<MailboxId> = participants.iter().map(|x| x.mailbox).collect();
        assert_eq!(seen, expected);
        for x in &participants {
            assert_eq!(x.user.is_some(), x.mailbox == ana_id, "{x:?}");
        }
    }
    // Every participant answers all: everyone else reads it, nobody outside does, even handed
    // every envelope.
    for i in 0..others.len() {
        let text = format!("answer from {i}");
        let reply = others[i]
            .reply(&mut rng(), &id, &Content::text(text.clone()), NOW)
            .saved()
            .unwrap();
        assert!(
            reply
                .iter()
                .all(|o| matches!(o.credential, Credential::Keys(_)))
        );
        let events = deliver(&mut ana, &reply);
        assert!(events.iter().any(|e| matches!(
            e,
            Event::Message { access: Access::Participant, content, .. } if content.as_text() == Some(text.as_str())
        )));
        for (j, o) in others.iter_mut().enumerate() {
            if j != i {
                assert_eq!(
                    texts(&deliver(o, &reply)),
                    [text.as_str()],
                    "participant {j}"
                );
            }
        }
        for o in &reply {
            let env = missive::envelope::Envelope::from_bytes(&o.envelope).unwrap();
            let copy = missive::envelope::Envelope::to_mailboxes(
                NOW + 60,
                &[*eve.mailbox_id()],
                env.body(),
            )
            .unwrap();
            let stolen = [missive::client::Outgoing {
                envelope: copy[0].to_bytes(),
                credential: Credential::Open,
                ephemeral: false,
                conversation: None,
            }];
            assert!(texts(&deliver(&mut eve, &stolen)).is_empty());
        }
    }
    // Ana answers in it too.
    let again = ana
        .reply(&mut rng(), &id, &Content::text("Friday it is"), NOW)
        .saved()
        .unwrap();
    for o in &mut others {
        assert_eq!(texts(&deliver(o, &again)), ["Friday it is"]);
    }
    // Eve is in no such conversation; a sponsored message is not one anybody answers.
    assert_eq!(
        eve.reply(&mut rng(), &id, &Content::text("me too"), NOW)
            .saved()
            .unwrap_err(),
        Error::Usage(UsageError::WrongConversation)
    );
}

#[test]
fn a_sponsored_audience_neither_sees_each_other_nor_answers() {
    let (mut p, mut acme) = acme();
    let mut audience: Vec<Client> = ["ana", "ben"]
        .iter()
        .map(|n| member(&mut p, n, Profile::FREE))
        .collect();
    let ids: Vec<MailboxId> = audience.iter_mut().map(|c| contact(&mut acme, c)).collect();
    let out = acme
        .send_sponsored(&mut rng(), &ids, &ad(None), NOW)
        .saved()
        .unwrap();
    let events = deliver(&mut audience[0], &out);
    let Some(Event::Message { conversation, .. }) =
        events.iter().find(|e| matches!(e, Event::Message { .. }))
    else {
        panic!("{events:?}")
    };
    assert!(!events.contains(&Event::Joined(*conversation)));
    let acme_id = *acme.mailbox_id();
    let seen: Vec<MailboxId> = audience[0]
        .participants(conversation)
        .unwrap()
        .iter()
        .map(|x| x.mailbox)
        .collect();
    assert_eq!(
        seen,
        [acme_id],
        "only the advertiser, not the rest of the audience"
    );
    assert_eq!(
        audience[0]
            .reply(&mut rng(), conversation, &Content::text("me?"), NOW)
            .saved()
            .unwrap_err(),
        Error::Usage(UsageError::NotPermitted)
    );
    // Its sender sees the mailboxes it went to, not itself.
    let mut audience_ids = ids.clone();
    audience_ids.sort();
    let at_acme: Vec<MailboxId> = acme
        .participants(conversation)
        .unwrap()
        .iter()
        .map(|x| x.mailbox)
        .collect();
    assert_eq!(at_acme, audience_ids);
    // Nor does its sender write to the audience in it: it holds none of their chains.
    assert_eq!(
        acme.reply(&mut rng(), conversation, &Content::text("all of you"), NOW)
            .saved()
            .unwrap_err(),
        Error::Usage(UsageError::NotPermitted)
    );
}

// ---- Read receipts and typing indicators ----

#[test]
fn read_receipts_follow_both_sides_settings() {
    let (_, mut ana, mut ben) = world();
    let ben_id = connect(&mut ana, &mut ben);
    let events = deliver(
        &mut ben,
        &ana.send(&mut rng(), &ben_id, &Content::text("hi"), NOW)
            .saved()
            .unwrap(),
    );
    let (conversation, id) = events
        .iter()
        .find_map(|e| match e {
            Event::Message {
                conversation, id, ..
            } => Some((*conversation, *id)),
            _ => None,
        })
        .unwrap();
    let receipt = ben
        .mark_read(&mut rng(), &conversation, &id, NOW)
        .saved()
        .unwrap();
    assert_eq!(
        deliver(&mut ana, &receipt),
        vec![Event::Read {
            conversation,
            by: ben_id,
            up_to: id
        }]
    );
    // Ana switches receipts off: she shows none and sends none.
    ana.set_settings(Settings {
        read_receipts: false,
        ..Settings::default()
    });
    let receipt = ben
        .mark_read(&mut rng(), &conversation, &id, NOW)
        .saved()
        .unwrap();
    assert!(deliver(&mut ana, &receipt).is_empty());
    assert!(
        ana.mark_read(&mut rng(), &conversation, &id, NOW)
            .saved()
            .unwrap()
            .is_empty()
    );
}

#[test]
fn typing_indicators_are_ephemeral_and_follow_settings() {
    let (_, mut ana, mut ben) = world();
    let ben_id = connect(&mut ana, &mut ben);
    deliver(
        &mut ben,
        &ana.send(&mut rng(), &ben_id, &Content::text("hi"), NOW)
            .saved()
            .unwrap(),
    );
    let conversation = ana.direct_conversation(&ben_id).unwrap().unwrap();
    let typing = ana.typing(&mut rng(), &conversation, true, NOW).unwrap();
    assert!(typing.iter().all(|o| o.ephemeral));
    let ana_id = *ana.mailbox_id();
    assert_eq!(
        deliver(&mut ben, &typing),
        vec![Event::Typing {
            conversation,
            from: ana_id,
            typing: true
        }]
    );
    // A stale indicator (older than 30 s) is not shown.
    let old = ana
        .typing(&mut rng(), &conversation, true, NOW - 31)
        .unwrap();
    assert!(deliver(&mut ben, &old).is_empty());
    ben.set_settings(Settings {
        typing_indicators: false,
        ..Settings::default()
    });
    assert!(
        deliver(
            &mut ben,
            &ana.typing(&mut rng(), &conversation, false, NOW).unwrap()
        )
        .is_empty()
    );
    assert!(
        ben.typing(&mut rng(), &conversation, true, NOW)
            .unwrap()
            .is_empty()
    );
}

#[test]
fn attachments_travel_by_reference_and_their_key_is_never_shown() {
    let (_, mut ana, mut ben) = world();
    let ben_id = connect(&mut ana, &mut ben);
    let file = missive::client::Attachment {
        reference: "blob:cv.pdf".into(),
        sha256: [3; 32],
        size: 48_213,
        media_type: "application/pdf".into(),
        key: [0xa7; 32],
    };
    let content = Content::Text(Text {
        text: "my CV".into(),
        mentions: vec![],
        attachments: vec![file.clone()],
    });
    let events = deliver(
        &mut ben,
        &ana.send(&mut rng(), &ben_id, &content, NOW)
            .saved()
            .unwrap(),
    );
    let got = events
        .iter()
        .find_map(|e| match e {
            Event::Message {
                content: Content::Text(t),
                ..
            } => Some(t.attachments.clone()),
            _ => None,
        })
        .unwrap();
    assert_eq!(got, std::slice::from_ref(&file));
    let shown = format!("{file:?} {events:?}");
    let key_shown = shown.contains("167, 167, 167") || shown.to_lowercase().contains("a7a7a7");
    assert!(!key_shown, "{shown}");
}
