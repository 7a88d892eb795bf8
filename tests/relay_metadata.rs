//! What the relay keeps: after real users exchange sealed messages through it (direct,
//! multi-recipient and group, including first messages that carry the sender's identity inside
//! the sealed content), its database files hold no byte string of the sender's identity keys,
//! its name, or any plaintext.
#![cfg(feature = "relay")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod relay_support;

use missive::client::{Client, Content};
use missive::conversation::Role;
use missive::platform::Profile;
use missive::relay::system_clock;
use missive::token::TokenKind;
use relay_support::saved::Saved;
use relay_support::users::{Net, texts};

/// Fetches and opens everything waiting; acknowledges it only if `acknowledge`. The texts.
fn read(net: &Net, client: &mut Client, acknowledge: bool) -> Vec<String> {
    if acknowledge {
        return texts(&net.read(client));
    }
    let (status, body) = net.authed(client, "GET", "/v1/mailbox", b"");
    assert_eq!(status, 200);
    let page = missive::relay_api::DeliveryPage::from_bytes(&body).unwrap();
    let events: Vec<_> = page
        .deliveries
        .iter()
        .flat_map(|d| client.receive(&d.delivery, system_clock()).unwrap())
        .collect();
    net.sync(client);
    texts(&events)
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[test]
fn the_relay_database_never_holds_sender_identity_or_plaintext() {
    let mut net = Net::start();
    let mut rng = rand::rng();
    let now = system_clock();
    // Alice only sends: she never publishes prekeys, so nothing but her sealed messages could
    // carry her identity to the relay. She registers her access keys and takes tokens, both
    // under her mailbox key only.
    let mut alice = Client::new(&mut rng, b"alice-the-sealed-sender");
    net.platform.register(*alice.mailbox_id(), Profile::FREE);
    let account = net
        .platform
        .certify_account(alice.mailbox_id(), false, now + 86_400)
        .unwrap();
    alice.set_account(account);
    net.sync(&mut alice);
    assert_eq!(net.tokens(&mut alice, TokenKind::Invite, 5), 200);
    let mut bob = net.join("bob", Profile::FREE, false);
    let mut carol = net.join("carol", Profile::FREE, false);
    let bob_id = net.lookup(&mut alice, &bob);
    let carol_id = net.lookup(&mut alice, &carol);
    // Alice invites both (her first, sealed pairwise messages carry her identity); they accept.
    let alice_id = *alice.mailbox_id();
    for (to, who) in [(bob_id, &mut bob), (carol_id, &mut carol)] {
        let note = Some("let us talk");
        net.send(&alice.invite(&mut rng, &to, note, now).saved().unwrap());
        assert!(read(&net, who, true).is_empty());
        net.send(&who.accept(&mut rng, &alice_id, now).saved().unwrap());
    }
    read(&net, &mut alice, true);

    let plaintexts = [
        "direct: the eagle lands at dawn",
        "direct again: bring the blue umbrella",
        "multi: lunch moved to the boathouse",
        "group: the password is swordfish-42",
    ];
    let hi = Content::text(plaintexts[0]);
    net.send(&alice.send(&mut rng, &bob_id, &hi, now).saved().unwrap());
    let again = Content::text(plaintexts[1]);
    net.send(&alice.send(&mut rng, &bob_id, &again, now).saved().unwrap());
    let (_, out) = alice
        .send_multi(
            &mut rng,
            &[bob_id, carol_id],
            &Content::text(plaintexts[2]),
            now,
        )
        .saved()
        .unwrap();
    net.send(&out);
    // Positive control for the search below: the multi-recipient body Carol leaves pending.
    let pending_body: Vec<Vec<u8>> = out
        .iter()
        .map(|o| o.envelope[o.envelope.len() - 64..].to_vec())
        .collect();
    let members = [(bob_id, Role::Member), (carol_id, Role::Member)];
    let (group, out) = alice.create_group(&mut rng, &members, now).saved().unwrap();
    net.send(&out);
    // Members register their key for the group as they join (Carol keeps the welcome stored).
    let mut bob_read = read(&net, &mut bob, false);
    let mut carol_read = read(&net, &mut carol, false);
    let out = alice
        .post_to_group(&mut rng, &group, &Content::text(plaintexts[3]), now)
        .saved()
        .unwrap();
    net.send(&out);

    // The messages are real: both read them. Bob acknowledges; Carol leaves hers stored.
    bob_read.extend(read(&net, &mut bob, true));
    assert_eq!(bob_read, plaintexts);
    carol_read.extend(read(&net, &mut carol, false));
    assert_eq!(carol_read, plaintexts[2..]);

    let db = net.relay.raw_database();
    assert!(
        pending_body.iter().any(|b| contains(&db, b)),
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
