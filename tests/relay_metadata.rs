//! What the relay keeps: after real users exchange sealed messages through it (direct,
//! multi-recipient and group, including first messages that carry the sender's identity inside
//! the sealed content), its database files hold no byte string of the sender's identity keys,
//! its name, or any plaintext.
#![cfg(feature = "relay")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod relay_support;

use missive::client::{Client, Content, Event, Outgoing};
use missive::conversation::Role;
use missive::envelope::MailboxId;
use missive::relay::{RelayConfig, system_clock};
use missive::relay_api::{Ack, DeliveryPage, PrekeyResponse};
use relay_support::{LiveRelay, http};

fn proof(client: &Client, method: &str, path: &str, body: &[u8]) -> String {
    let proof = client.prove(&mut rand::rng(), method, path, body, system_clock());
    format!("Missive {}", hex::encode(proof.to_bytes()))
}

fn publish(relay: &LiveRelay, client: &mut Client) {
    let path = format!("/v1/directory/{}", hex::encode(client.user()));
    let body = client.publish(&mut rand::rng(), 3).unwrap().to_bytes();
    let auth = proof(client, "PUT", &path, &body);
    assert_eq!(http("PUT", &relay.url(&path), Some(&auth), &body).0, 204);
}

fn add_contact(relay: &LiveRelay, client: &mut Client, user: &Client) -> MailboxId {
    let path = format!("/v1/directory/{}", hex::encode(user.user()));
    let (status, body) = http("GET", &relay.url(&path), None, b"");
    assert_eq!(status, 200);
    let response = PrekeyResponse::from_bytes(&body).unwrap();
    client
        .add_contact(&mut rand::rng(), user.user(), &response)
        .unwrap()
}

fn send(relay: &LiveRelay, outgoing: &[Outgoing]) {
    for out in outgoing {
        let path = if out.ephemeral {
            "/v1/ephemeral"
        } else {
            "/v1/envelopes"
        };
        assert_eq!(http("POST", &relay.url(path), None, &out.envelope).0, 202);
    }
}

/// Fetches, decrypts and (if `acknowledge`) acknowledges everything waiting; the texts read.
fn read(relay: &LiveRelay, client: &mut Client, acknowledge: bool) -> Vec<String> {
    let auth = proof(client, "GET", "/v1/mailbox", b"");
    let (status, body) = http("GET", &relay.url("/v1/mailbox"), Some(&auth), b"");
    assert_eq!(status, 200);
    let page = DeliveryPage::from_bytes(&body).unwrap();
    let mut texts = Vec::new();
    for d in &page.deliveries {
        for event in client.receive(&d.delivery).unwrap() {
            if let Event::Message { content, .. } = event {
                texts.extend(content.as_text().map(str::to_string));
            }
        }
    }
    if acknowledge {
        let body = Ack {
            ids: page.deliveries.iter().map(|d| d.id).collect(),
        }
        .to_bytes();
        let auth = proof(client, "POST", "/v1/mailbox/ack", &body);
        assert_eq!(
            http("POST", &relay.url("/v1/mailbox/ack"), Some(&auth), &body).0,
            204
        );
    }
    texts
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[test]
fn the_relay_database_never_holds_sender_identity_or_plaintext() {
    let relay = LiveRelay::start(RelayConfig::default());
    let mut rng = rand::rng();
    let now = system_clock();
    // Alice only sends: she never publishes, so nothing but her sealed messages could carry her
    // identity to the relay.
    let mut alice = Client::new(&mut rng, b"alice-the-sealed-sender");
    let (mut bob, mut carol) = (
        Client::new(&mut rng, b"bob"),
        Client::new(&mut rng, b"carol"),
    );
    publish(&relay, &mut bob);
    publish(&relay, &mut carol);
    let bob_id = add_contact(&relay, &mut alice, &bob);
    let carol_id = add_contact(&relay, &mut alice, &carol);
    // Alice invites both (her first, sealed pairwise messages carry her identity); they accept.
    let alice_id = *alice.mailbox_id();
    for (to, who) in [(bob_id, &mut bob), (carol_id, &mut carol)] {
        let note = Some("let us talk");
        send(&relay, &alice.invite(&mut rng, &to, note, now).unwrap());
        assert!(read(&relay, who, true).is_empty());
        send(&relay, &who.accept(&mut rng, &alice_id, now).unwrap());
    }
    read(&relay, &mut alice, true);

    let plaintexts = [
        "direct: the eagle lands at dawn",
        "direct again: bring the blue umbrella",
        "multi: lunch moved to the boathouse",
        "group: the password is swordfish-42",
    ];
    let hi = Content::text(plaintexts[0]);
    send(&relay, &alice.send(&mut rng, &bob_id, &hi, now).unwrap());
    let again = Content::text(plaintexts[1]);
    send(&relay, &alice.send(&mut rng, &bob_id, &again, now).unwrap());
    let (_, out) = alice
        .send_multi(
            &mut rng,
            &[bob_id, carol_id],
            &Content::text(plaintexts[2]),
            now,
        )
        .unwrap();
    send(&relay, &out);
    let members = [(bob_id, Role::Member), (carol_id, Role::Member)];
    let (group, out) = alice.create_group(&mut rng, &members, now).unwrap();
    send(&relay, &out);
    let out = alice
        .post_to_group(&mut rng, &group, &Content::text(plaintexts[3]), now)
        .unwrap();
    send(&relay, &out);

    // The messages are real: both read them. Bob acknowledges; Carol leaves hers stored.
    let bob_read = read(&relay, &mut bob, true);
    assert_eq!(bob_read, plaintexts);
    let carol_read = read(&relay, &mut carol, false);
    assert_eq!(carol_read, plaintexts[2..]);

    let db = relay.raw_database();
    assert!(
        db.len() > 10_000,
        "the database holds Carol's pending ciphertext"
    );
    // Positive control: Bob published his bundle, so his identity key is in the directory.
    assert!(contains(&db, bob.identity().dh_key().as_bytes()));
    let alice_keys = [
        alice.identity().dh_key().as_bytes().as_slice(),
        alice.identity().verifying_key().as_bytes().as_slice(),
    ];
    for key in alice_keys {
        assert!(
            !contains(&db, key),
            "sender identity key in the relay database"
        );
    }
    assert!(
        !contains(&db, alice.user()),
        "sender name in the relay database"
    );
    for text in plaintexts {
        assert!(
            !contains(&db, text.as_bytes()),
            "plaintext in the relay database"
        );
        assert!(
            !contains(&db, &text.as_bytes()[..12]),
            "plaintext prefix in the relay database"
        );
    }
}
