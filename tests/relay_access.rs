//! The relay enforces who may deliver to whom without learning who is sending
//! (PROTOCOL.md §11), over a real socket: for each rule a well-behaved client gets through and
//! a client that skips the check (crafting its submission by hand) is refused; tokens are spent
//! once, also under concurrent requests; removing a connection or a group member revokes; and
//! the relay's stored data cannot link two InMails to the one who sent them.
#![cfg(feature = "relay")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod relay_support;

use missive::access::{AccessKey, Credential, Submission};
use missive::client::{Content, Event, Outgoing};
use missive::conversation::Role;
use missive::envelope::{Envelope, MailboxId};
use missive::platform::{Platform, Profile, Tier};
use missive::relay::{RelayConfig, system_clock};
use missive::relay_api::Undelivered;
use missive::token::TokenKind;
use relay_support::saved::Saved;
use relay_support::users::{Net, texts};
use relay_support::{mailbox_key, metric, opaque_raw};

const CAREER: Profile = Profile {
    tier: Tier::PremiumCareer,
    open_profile: false,
};
const OPEN: Profile = Profile {
    tier: Tier::PremiumBusiness,
    open_profile: true,
};

fn now() -> u64 {
    system_clock()
}

/// `out`'s envelope under another credential.
fn with(out: &Outgoing, credential: Credential) -> Vec<u8> {
    Submission {
        credential,
        envelope: out.envelope.clone(),
    }
    .to_bytes()
}

/// A random key nobody registered.
fn guessed() -> AccessKey {
    AccessKey::generate(&mut rand::rng())
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[test]
fn only_connections_deliver_direct_messages() {
    let mut net = Net::start();
    let mut ana = net.join("ana", Profile::FREE, false);
    let mut ben = net.join("ben", Profile::FREE, false);
    let mut eve = net.join("eve", Profile::FREE, false);
    let ben_id = net.connect(&mut ana, &mut ben);
    let out = ana
        .send(&mut rand::rng(), &ben_id, &Content::text("hi Ben"), now())
        .saved()
        .unwrap();
    assert!(matches!(out[0].credential, Credential::Contacts(_)));
    net.send(&out);
    assert_eq!(texts(&net.read(&mut ben)), ["hi Ben"]);

    // Eve has a session with Ben but no connection: her client will not send, so she crafts
    // submissions around a genuine sealed message of hers.
    let ben_at_eve = net.lookup(&mut eve, &ben);
    assert!(
        eve.send(&mut rand::rng(), &ben_at_eve, &Content::text("x"), now())
            .saved()
            .is_err()
    );
    let invite = eve
        .invite(&mut rand::rng(), &ben_at_eve, None, now())
        .saved()
        .unwrap();
    for credential in [
        Credential::Open,
        Credential::Contacts(guessed()),
        Credential::Keys(vec![vec![guessed(), guessed()]]),
    ] {
        let (status, body) = net.post(&with(&invite[0], credential), false);
        assert_eq!(status, 403, "{}", String::from_utf8_lossy(&body));
    }
    let metrics =
        String::from_utf8(relay_support::http("GET", &net.relay.url("/metrics"), None, b"").1)
            .unwrap();
    assert_eq!(
        metric(&metrics, "missive_refusals_total{reason=\"access_denied\"}"),
        3
    );
    // Nothing of Eve's reached Ben.
    assert!(net.read(&mut ben).is_empty());
}

#[test]
fn removing_a_connection_revokes_its_access_and_others_keep_theirs() {
    let mut net = Net::start();
    let mut ana = net.join("ana", Profile::FREE, false);
    let mut ben = net.join("ben", Profile::FREE, false);
    let mut carol = net.join("carol", Profile::FREE, false);
    let ana_at_ben = {
        net.connect(&mut ben, &mut ana);
        *ana.mailbox_id()
    };
    net.connect(&mut carol, &mut ana);
    let ana_id = *ana.mailbox_id();
    // What Ben's client would present to reach Ana, kept by a modified client.
    let before = ben
        .send(
            &mut rand::rng(),
            &ana_at_ben,
            &Content::text("hello"),
            now(),
        )
        .saved()
        .unwrap();
    net.send(&before);
    net.read(&mut ana);
    let ben_id = *ben.mailbox_id();
    net.send(
        &ana.remove_connection(&mut rand::rng(), &ben_id, now())
            .saved()
            .unwrap(),
    );
    // Ana's sync replaces her contact key at the relay and hands the new one to Carol.
    net.sync(&mut ana);
    let events = net.read(&mut ben);
    assert!(events.contains(&Event::Disconnected(ana_id)));
    // Ben's client no longer sends; the old key at the relay no longer works either.
    assert!(
        ben.send(
            &mut rand::rng(),
            &ana_id,
            &Content::text("still there?"),
            now()
        )
        .saved()
        .is_err()
    );
    let (status, _) = net.post(&before[0].submission(), false);
    assert_eq!(status, 403);
    // Carol picks the new key up with the notice and keeps writing to Ana.
    net.read(&mut carol);
    let out = carol
        .send(&mut rand::rng(), &ana_id, &Content::text("hi Ana"), now())
        .saved()
        .unwrap();
    net.send(&out);
    assert_eq!(texts(&net.read(&mut ana)), ["hi Ana"]);
}

#[test]
fn a_first_message_refused_for_a_replaced_key_is_resent_whole_and_the_conversation_goes_on() {
    let mut net = Net::start();
    let mut ana = net.join("ana", Profile::FREE, false);
    let mut ben = net.join("ben", Profile::FREE, false);
    let mut carol = net.join("carol", Profile::FREE, false);
    net.connect(&mut ben, &mut ana);
    net.connect(&mut carol, &mut ana);
    let (ana_id, ben_id) = (*ana.mailbox_id(), *ben.mailbox_id());
    net.send(
        &ana.remove_connection(&mut rand::rng(), &ben_id, now())
            .saved()
            .unwrap(),
    );
    net.sync(&mut ana);
    // Carol writes to Ana for the first time before reading the notice of Ana's new key: the
    // hand-off of her chain and the message are both refused.
    let first = carol
        .send(&mut rand::rng(), &ana_id, &Content::text("hi Ana"), now())
        .saved()
        .unwrap();
    assert_eq!(first.len(), 2, "a hand-off, then the message");
    let t = now();
    for out in &first {
        assert!(out.conversation.is_some(), "both are the conversation's");
        assert_eq!(net.submit(out).0, 403);
        carol.undelivered(out, &[ana_id], t);
    }
    assert_eq!(carol.pending_resends(), 2);
    // Once she has read it, both go again under the new key, the hand-off first.
    net.read(&mut carol);
    let again = carol.resend(t + 60).saved().unwrap();
    assert_eq!(again.len(), 2);
    for (resent, sent) in again.iter().zip(&first) {
        let (old, new) = (
            Envelope::from_bytes(&sent.envelope).unwrap(),
            Envelope::from_bytes(&resent.envelope).unwrap(),
        );
        assert_eq!(new.body(), old.body());
        assert_eq!(net.submit(resent), (202, Vec::new()));
        carol.undelivered(resent, &[], t + 60);
    }
    assert_eq!(carol.pending_resends(), 0);
    assert_eq!(texts(&net.read(&mut ana)), ["hi Ana"]);
    // The conversation goes on: Ana holds Carol's chain.
    let next = carol
        .send(
            &mut rand::rng(),
            &ana_id,
            &Content::text("and again"),
            now(),
        )
        .saved()
        .unwrap();
    net.send(&next);
    assert_eq!(texts(&net.read(&mut ana)), ["and again"]);
}

#[test]
fn only_group_members_of_the_current_epoch_deliver_to_the_group() {
    let mut net = Net::start();
    let mut dan = net.join("dan", Profile::FREE, false);
    let mut ana = net.join("ana", Profile::FREE, false);
    let mut ben = net.join("ben", Profile::FREE, false);
    let mut chloe = net.join("chloe", Profile::FREE, false);
    let members: Vec<_> = [&ana, &ben, &chloe]
        .iter()
        .map(|c| (net.lookup(&mut dan, c), Role::Member))
        .collect();
    let invites = dan.tokens(TokenKind::Invite);
    let (group, out) = dan
        .create_group(&mut rand::rng(), &members, now())
        .saved()
        .unwrap();
    // Welcoming members who gave Dan no key took one invitation token each.
    assert_eq!(dan.tokens(TokenKind::Invite), invites - 3);
    net.send(&out);
    for c in [&mut ana, &mut ben, &mut chloe] {
        assert!(net.read(c).iter().any(|e| matches!(e, Event::Joined(_))));
    }
    let (ana_id, ben_id, chloe_id) = (members[0].0, members[1].0, members[2].0);
    let out = dan
        .post_to_group(&mut rand::rng(), &group, &Content::text("welcome"), now())
        .saved()
        .unwrap();
    assert!(matches!(out[0].credential, Credential::Keys(_)));
    net.send(&out);
    // A member writes to another directly: no connection, the group's key for Ana.
    net.lookup(&mut chloe, &ana);
    let dm = chloe
        .send(&mut rand::rng(), &ana_id, &Content::text("hi Ana"), now())
        .saved()
        .unwrap();
    net.send(&dm);
    let kept = dm.last().unwrap().credential.clone();
    assert!(matches!(kept, Credential::Keys(_)));
    assert_eq!(texts(&net.read(&mut ana)), ["welcome", "hi Ana"]);
    for c in [&mut ben, &mut chloe] {
        assert_eq!(texts(&net.read(c)), ["welcome"]);
    }

    // Dan removes Chloe; Ana and Ben process the change and register the new epoch's keys.
    net.send(
        &dan.change_group(&mut rand::rng(), &group, &[], &[chloe_id], now())
            .saved()
            .unwrap(),
    );
    net.read(&mut ana);
    net.read(&mut ben);
    // Chloe has not read Dan's notice yet, so her client still believes she is a member; its
    // credential is the old epoch's key, and so is anything she crafts from what she kept.
    let again = chloe
        .send(&mut rand::rng(), &ana_id, &Content::text("me again"), now())
        .saved();
    let again = again.unwrap();
    assert_eq!(net.submit(again.last().unwrap()).0, 403);
    let crafted = Submission {
        credential: kept,
        envelope: opaque_raw(&[ana_id], 300),
    };
    assert_eq!(net.post(&crafted.to_bytes(), false).0, 403);
    // The group itself goes on: Dan's post of the new epoch reaches Ana and Ben.
    let out = dan
        .post_to_group(&mut rand::rng(), &group, &Content::text("onwards"), now())
        .saved()
        .unwrap();
    net.send(&out);
    assert_eq!(texts(&net.read(&mut ana)), ["onwards"]);
    assert_eq!(texts(&net.read(&mut ben)), ["onwards"]);
    // All Chloe reads is the notice; then her client stops claiming the group.
    let dan_id = *dan.mailbox_id();
    assert_eq!(net.read(&mut chloe), [Event::Removed { group, by: dan_id }]);
    assert!(
        chloe
            .send(
                &mut rand::rng(),
                &ana_id,
                &Content::text("once more"),
                now()
            )
            .is_err()
    );
    let _ = ben_id;
}

#[test]
fn a_multi_recipient_conversation_has_access_keys_of_its_own() {
    let mut net = Net::start();
    let mut ana = net.join("ana", Profile::FREE, false);
    let mut ben = net.join("ben", Profile::FREE, false);
    let mut chloe = net.join("chloe", Profile::FREE, false);
    let eve = net.join("eve", Profile::FREE, false);
    // Ben and Chloe are Ana's connections, strangers to each other.
    let ben_id = net.connect(&mut ana, &mut ben);
    let chloe_id = net.connect(&mut ana, &mut chloe);
    let (id, out) = ana
        .send_multi(
            &mut rand::rng(),
            &[ben_id, chloe_id],
            &Content::text("lunch?"),
            now(),
        )
        .saved()
        .unwrap();
    net.send(&out);
    // Reading registers each participant's key for the conversation.
    for c in [&mut ben, &mut chloe] {
        assert_eq!(texts(&net.read(c)), ["lunch?"]);
    }
    net.sync(&mut ana);
    // Ben answers all, Chloe included: the relay takes the conversation's keys, not knowing
    // whose answer it is.
    let reply = ben
        .reply(&mut rand::rng(), &id, &Content::text("count me in"), now())
        .saved()
        .unwrap();
    assert!(matches!(reply[0].credential, Credential::Keys(_)));
    net.send(&reply);
    assert_eq!(texts(&net.read(&mut chloe)), ["count me in"]);
    assert_eq!(texts(&net.read(&mut ana)), ["count me in"]);
    // Nobody outside the list posts into it: not with made-up keys, not with a participant's
    // keys for someone else.
    let chloe_at = *chloe.mailbox_id();
    let Credential::Keys(keys) = &reply[0].credential else {
        unreachable!()
    };
    for credential in [
        Credential::Keys(vec![vec![AccessKey::from_bytes([7; 16])]]),
        Credential::Keys(vec![keys[0].clone()]),
    ] {
        let crafted = Submission {
            credential,
            envelope: opaque_raw(&[*eve.mailbox_id()], 300),
        };
        assert_eq!(net.post(&crafted.to_bytes(), false).0, 403);
    }
    let crafted = Submission {
        credential: Credential::Keys(vec![vec![AccessKey::from_bytes([7; 16])]]),
        envelope: opaque_raw(&[chloe_at], 300),
    };
    assert_eq!(net.post(&crafted.to_bytes(), false).0, 403);
}

#[test]
fn a_member_who_has_not_caught_up_is_skipped_and_named_not_refused_for_all() {
    let mut net = Net::start();
    let mut dan = net.join("dan", Profile::FREE, false);
    let mut ana = net.join("ana", Profile::FREE, false);
    let mut ben = net.join("ben", Profile::FREE, false);
    let members: Vec<_> = [&ana, &ben]
        .iter()
        .map(|c| (net.lookup(&mut dan, c), Role::Member))
        .collect();
    let (group, out) = dan
        .create_group(&mut rand::rng(), &members, now())
        .saved()
        .unwrap();
    net.send(&out);
    // Ana joins (and registers her key); Ben has not come online yet.
    net.read(&mut ana);
    let post = dan
        .post_to_group(&mut rand::rng(), &group, &Content::text("first"), now())
        .saved()
        .unwrap();
    let (status, body) = net.submit(&post[0]);
    assert_eq!(status, 202);
    let undelivered = Undelivered::from_bytes(&body).unwrap();
    assert_eq!(undelivered.mailboxes, [members[1].0]);
    assert_eq!(texts(&net.read(&mut ana)), ["first"]);
    // Dan's client keeps it for Ben, and sends it again, to Ben alone, once the wait is over.
    let t = now();
    dan.undelivered(&post[0], &undelivered.mailboxes, t);
    assert_eq!(dan.pending_resends(), 1);
    assert!(dan.resend(t).saved().unwrap().is_empty(), "not due yet");
    // Still behind at the first retry: the relay reaches nobody (403), and Dan waits longer.
    let early = dan.resend(t + 60).saved().unwrap();
    assert_eq!(early.len(), 1);
    assert_eq!(net.submit(&early[0]).0, 403);
    let to = Envelope::from_bytes(&early[0].envelope).unwrap();
    dan.undelivered(&early[0], &to.mailboxes(), t + 60);
    assert!(dan.resend(t + 61).saved().unwrap().is_empty());
    // Ben catches up; the next retry reaches him, and nobody else.
    net.read(&mut ben);
    let again = dan.resend(t + 60 + 120).saved().unwrap();
    let env = Envelope::from_bytes(&again[0].envelope).unwrap();
    assert_eq!(env.mailboxes(), [members[1].0]);
    let (status, body) = net.submit(&again[0]);
    assert_eq!((status, body.len()), (202, 0));
    dan.undelivered(&again[0], &[], t + 180);
    assert_eq!(dan.pending_resends(), 0);
    assert_eq!(texts(&net.read(&mut ben)), ["first"]);
    assert!(texts(&net.read(&mut ana)).is_empty());
}

#[test]
fn bought_credits_are_redeemed_once_by_their_buyer_and_pay_for_inmail() {
    let mut net = Net::start();
    let mut dan = net.join("dan", Profile::FREE, false);
    let mut eve = net.join("eve", Profile::FREE, false);
    let mut ana = net.join("ana", Profile::FREE, false);
    assert_eq!(
        dan.tokens(TokenKind::Credit),
        0,
        "free members get no monthly credits"
    );
    let t = now();
    let purchase = net
        .platform
        .sell_credits(&mut rand::rng(), dan.mailbox_id(), 3, t + 3600)
        .unwrap();
    // Only its buyer redeems it, and only once.
    assert_eq!(net.redeem(&mut eve, &purchase), 403);
    assert_eq!(net.redeem(&mut dan, &purchase), 200);
    assert_eq!(dan.tokens(TokenKind::Credit), 3);
    assert_eq!(net.redeem(&mut dan, &purchase), 403);
    // A receipt the platform did not sign, or one past its expiry, is refused.
    let mut impostor = Platform::new(&mut rand::rng());
    impostor.register(*dan.mailbox_id(), Profile::FREE);
    let forged = impostor
        .sell_credits(&mut rand::rng(), dan.mailbox_id(), 50, t + 3600)
        .unwrap();
    assert_eq!(net.redeem(&mut dan, &forged), 403);
    let expired = net
        .platform
        .sell_credits(&mut rand::rng(), dan.mailbox_id(), 1, t - 1)
        .unwrap();
    assert_eq!(net.redeem(&mut dan, &expired), 403);
    assert_eq!(dan.tokens(TokenKind::Credit), 3);
    // A bought credit pays for an InMail like a monthly one.
    let ana_id = net.lookup(&mut dan, &ana);
    let out = dan
        .send_inmail(
            &mut rand::rng(),
            &ana_id,
            &Content::text("a role for you"),
            now(),
        )
        .saved()
        .unwrap();
    net.send(&out);
    assert_eq!(texts(&net.read(&mut ana)), ["a role for you"]);
    assert_eq!(dan.tokens(TokenKind::Credit), 2);
}

#[test]
fn inmail_tokens_come_to_the_monthly_quota_and_are_spent_once() {
    let mut net = Net::start();
    let mut ben = net.join("ben", CAREER, false);
    let mut dan = net.join("dan", Profile::FREE, false);
    let mut eve = net.join("eve", Profile::FREE, false);
    // Career: five credits a month, all taken by `join`; a sixth is refused.
    assert_eq!(ben.tokens(TokenKind::Credit), 5);
    let issue = ben
        .request_tokens(&mut rand::rng(), TokenKind::Credit, 1, now())
        .saved()
        .unwrap();
    let (status, body) = net.authed(&ben, "POST", "/v1/tokens", &issue.to_bytes());
    assert_eq!(status, 403);
    assert!(body.starts_with(b"no_quota: "));
    // A free member gets none at all.
    assert_eq!(dan.tokens(TokenKind::Credit), 0);
    assert_eq!(net.tokens(&mut dan, TokenKind::Credit, 1), 403);

    let dan_id = net.lookup(&mut ben, &dan);
    let out = ben
        .send_inmail(&mut rand::rng(), &dan_id, &Content::text("a role?"), now())
        .saved()
        .unwrap();
    let Credential::Token(token) = &out[0].credential else {
        panic!("an InMail carries a token")
    };
    assert_eq!(token.kind, TokenKind::Credit);
    net.send(&out);
    assert_eq!(texts(&net.read(&mut dan)), ["a role?"]);
    // The spent token opens nobody else's mailbox: not Eve's, not with a new envelope.
    let eve_id = *eve.mailbox_id();
    let reuse = Submission {
        credential: out[0].credential.clone(),
        envelope: opaque_raw(&[eve_id], 300),
    };
    let (status, body) = net.post(&reuse.to_bytes(), false);
    assert_eq!(status, 409);
    assert!(body.starts_with(b"token_spent: "));
    assert!(net.read(&mut eve).is_empty());
    // Dan replies without a token: Ben's contact key came with the InMail.
    let ben_id = *ben.mailbox_id();
    net.send(
        &dan.send(
            &mut rand::rng(),
            &ben_id,
            &Content::text("tell me more"),
            now(),
        )
        .saved()
        .unwrap(),
    );
    assert_eq!(texts(&net.read(&mut ben)), ["tell me more"]);
    // A client that skips the credit: refused.
    let eve_at_ben = net.lookup(&mut ben, &eve);
    let invite = ben
        .invite(&mut rand::rng(), &eve_at_ben, None, now())
        .saved()
        .unwrap();
    assert_eq!(net.post(&with(&invite[0], Credential::Open), false).0, 403);
}

#[test]
fn a_token_spent_concurrently_is_taken_exactly_once() {
    let mut net = Net::start();
    let mut ben = net.join("ben", CAREER, false);
    let dan = net.join("dan", Profile::FREE, false);
    let dan_id = net.lookup(&mut ben, &dan);
    let out = ben
        .send_inmail(&mut rand::rng(), &dan_id, &Content::text("hi"), now())
        .saved()
        .unwrap();
    // Sixteen submissions of one unspent token, each to another mailbox, all at once.
    let credential = out[0].credential.clone();
    let submissions: Vec<Vec<u8>> = (0..16)
        .map(|_| {
            Submission {
                credential: credential.clone(),
                envelope: opaque_raw(&[*mailbox_key().id()], 200),
            }
            .to_bytes()
        })
        .collect();
    let statuses: Vec<u16> = std::thread::scope(|s| {
        let handles: Vec<_> = submissions
            .iter()
            .map(|body| s.spawn(|| net.post(body, false).0))
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert_eq!(
        statuses.iter().filter(|s| **s == 202).count(),
        1,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 409).count(),
        15,
        "{statuses:?}"
    );
    // And Ben's own InMail, which the token was for, is now a double spend too.
    assert_eq!(net.submit(&out[0]).0, 409);
}

#[test]
fn premium_to_premium_needs_a_premium_token_and_a_premium_recipient() {
    let mut net = Net::start();
    let mut ben = net.join("ben", CAREER, false);
    let chloe = net.join("chloe", OPEN, false);
    let dan = net.join("dan", Profile::FREE, false);
    let chloe_id = net.lookup(&mut ben, &chloe);
    ben.set_contact_profile(chloe_id, OPEN).unwrap();
    let out = ben
        .send_inmail(
            &mut rand::rng(),
            &chloe_id,
            &Content::text("partners?"),
            now(),
        )
        .saved()
        .unwrap();
    assert!(matches!(&out[0].credential, Credential::Token(t) if t.kind == TokenKind::Premium));
    net.send(&out);
    assert_eq!(ben.tokens(TokenKind::Credit), 5);
    // A premium token is no credit: to a free member the relay refuses it, even when a
    // modified client claims Dan is premium.
    let dan_id = net.lookup(&mut ben, &dan);
    ben.set_contact_profile(dan_id, OPEN).unwrap();
    let out = ben
        .send_inmail(&mut rand::rng(), &dan_id, &Content::text("hi"), now())
        .saved()
        .unwrap();
    assert_eq!(net.submit(&out[0]).0, 403);
}

#[test]
fn open_profile_takes_deliveries_without_credentials_under_a_rate_limit() {
    let mut net = Net::start_with(RelayConfig {
        open_burst: 3,
        open_per_hour: 1,
        ..RelayConfig::default()
    });
    let mut ana = net.join("ana", Profile::FREE, false);
    let mut chloe = net.join("chloe", OPEN, false);
    let dan = net.join("dan", Profile::FREE, false);
    // A free member who switches Open Profile on gets nothing from it (it is premium).
    let mut fake = net.join(
        "fake",
        Profile {
            tier: Tier::Free,
            open_profile: true,
        },
        false,
    );
    let chloe_id = net.lookup(&mut ana, &chloe);
    ana.set_contact_profile(chloe_id, OPEN).unwrap();
    let out = ana
        .send(
            &mut rand::rng(),
            &chloe_id,
            &Content::text("hello Chloe"),
            now(),
        )
        .saved()
        .unwrap();
    assert!(out.iter().all(|o| o.credential == Credential::Open));
    net.send(&out);
    assert_eq!(texts(&net.read(&mut chloe)), ["hello Chloe"]);
    // Without a credential, to a mailbox that is not open: refused.
    for other in [&dan, &mut fake] {
        let crafted = Submission {
            credential: Credential::Open,
            envelope: opaque_raw(&[*other.mailbox_id()], 200),
        };
        assert_eq!(net.post(&crafted.to_bytes(), false).0, 403);
    }
    // Ana's two envelopes and one more use Chloe's burst of three; the next waits.
    let crafted = |n: u8| Submission {
        credential: Credential::Open,
        envelope: opaque_raw(&[chloe_id], 200 + usize::from(n)),
    };
    assert_eq!(net.post(&crafted(1).to_bytes(), false).0, 202);
    assert_eq!(net.post(&crafted(2).to_bytes(), false).0, 429);
}

#[test]
fn sponsored_messages_need_an_advertiser_token_and_skip_who_opted_out() {
    let mut net = Net::start();
    let mut acme = net.join("acme", Profile::FREE, true);
    let mut mallory = net.join("mallory", Profile::FREE, false);
    let mut ana = net.join("ana", Profile::FREE, false);
    let mut ben = net.join("ben", Profile::FREE, false);
    let mut chloe = net.join("chloe", Profile::FREE, false);
    // Only registered advertisers get sponsored tokens.
    assert!(acme.tokens(TokenKind::Sponsored) > 0);
    assert_eq!(net.tokens(&mut mallory, TokenKind::Sponsored, 1), 403);
    // Chloe switches sponsored messages off: her client tells the relay.
    chloe.set_settings(missive::client::Settings {
        sponsored_messages: false,
        ..*chloe.settings()
    });
    net.sync(&mut chloe);
    acme.set_advertiser_certificate(net.platform.certify_advertiser(
        "Acme",
        acme.mailbox_id(),
        acme.identity(),
    ));
    let audience: Vec<MailboxId> = [&ana, &ben, &chloe]
        .iter()
        .map(|c| net.lookup(&mut acme, c))
        .collect();
    let ad = missive::client::Sponsored {
        headline: "Hiring".into(),
        body: "Rust engineers".into(),
        buttons: vec![],
        banner: None,
        lead_form: None,
    };
    let out = acme
        .send_sponsored(&mut rand::rng(), &audience, &ad, now())
        .saved()
        .unwrap();
    assert!(
        out.iter().all(
            |o| matches!(&o.credential, Credential::Token(t) if t.kind == TokenKind::Sponsored)
        )
    );
    net.send(&out);
    for c in [&mut ana, &mut ben] {
        let shown = net.read(c);
        assert!(shown.iter().any(|e| matches!(
            e,
            Event::Message {
                content: Content::Sponsored(_),
                ..
            }
        )));
    }
    // The relay kept nothing at all for Chloe, not even the grant.
    assert!(net.read(&mut chloe).is_empty());
    // Mallory, no advertiser, crafts a "sponsored" envelope: without a token it is refused.
    let crafted = Submission {
        credential: Credential::Contacts(guessed()),
        envelope: Envelope::to_mailboxes(now() + 60, &audience[..2], b"buy now").unwrap()[0]
            .to_bytes(),
    };
    assert_eq!(net.post(&crafted.to_bytes(), false).0, 403);
}

#[test]
fn the_relay_cannot_link_two_inmails_to_the_one_who_sent_them() {
    let mut net = Net::start();
    // Ben never publishes prekeys, so nothing but his own actions could put his identity into
    // the relay's files. He registers access keys and takes his credits by hand, keeping what
    // crossed the wire at issuance.
    let mut ben = missive::client::Client::new(&mut rand::rng(), b"ben");
    ben.set_profile(CAREER);
    net.platform.register(*ben.mailbox_id(), CAREER);
    let account = net
        .platform
        .certify_account(ben.mailbox_id(), false, now() + 86_400)
        .unwrap();
    ben.set_account(account);
    net.sync(&mut ben);
    let issue = ben
        .request_tokens(&mut rand::rng(), TokenKind::Credit, 5, now())
        .saved()
        .unwrap();
    let (status, body) = net.authed(&ben, "POST", "/v1/tokens", &issue.to_bytes());
    assert_eq!(status, 200);
    let issued = missive::relay_api::TokenIssued::from_bytes(&body).unwrap();
    assert_eq!(ben.add_tokens(&issued).unwrap(), 5);
    let mut ana = net.join("ana", CAREER, false);
    let targets: Vec<_> = ["dan", "eve", "frank"]
        .iter()
        .map(|n| net.join(n, Profile::FREE, false))
        .collect();
    let mut spent = Vec::new();
    let mut send = |from: &mut missive::client::Client, to: &missive::client::Client| {
        let to_id = net.lookup(from, to);
        let out = from
            .send_inmail(&mut rand::rng(), &to_id, &Content::text("hello"), now())
            .saved()
            .unwrap();
        let Credential::Token(t) = &out[0].credential else {
            panic!("an InMail carries a token")
        };
        spent.push(t.id());
        net.send(&out);
    };
    send(&mut ben, &targets[0]);
    send(&mut ben, &targets[1]);
    send(&mut ana, &targets[2]);
    let db = net.relay.raw_database();
    // The spends are recorded (the control that the search can find what is there)...
    for id in &spent {
        assert!(contains(&db, id), "spent token not recorded");
    }
    // ...and nothing ties them to Ben: the relay never held his identity, and of the
    // issuance it kept neither the blinded inputs nor its evaluations, only a count against
    // his mailbox. A spend's id is fresh and blinded away from anything issuance showed.
    for key in [
        ben.identity().dh_key().as_bytes().as_slice(),
        ben.identity().verifying_key().as_bytes().as_slice(),
        ben.user(),
    ] {
        assert!(!contains(&db, key));
    }
    for element in issue
        .request
        .blinded
        .iter()
        .chain(&issued.response.evaluated)
    {
        assert!(!contains(&db, element));
        for id in &spent {
            assert!(!contains(id, &element[..8]));
        }
    }
    // What the relay does know: Ben's account took credits this month (his own mailbox, as the
    // one who asked), the way it knows any mailbox it delivers to.
    assert!(contains(&db, &ben.mailbox_id().0));
}
