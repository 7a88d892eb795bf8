//! Group promises through the public API: members read, non-members and removed members do
//! not, new members cannot read the past, nobody speaks for somebody else.

#![allow(clippy::unwrap_used)]

mod conversation_support;

use conversation_support::{Net, mailbox, member};
use missive::conversation::hazmat;
use missive::conversation::{Accepted, Conversation, LOOKAHEAD, MAX_SKIPPED, Member, Role};
use missive::crypto::aead::AeadKey;
use missive::crypto::sign::SigningKey;
use missive::{CryptoError, Error, UsageError};

const NO_KEY: Error = Error::Crypto(CryptoError::NoMatchingKey);

#[test]
fn three_members_read_each_other() {
    let mut net = Net::group(3);
    for sender in 0..3 {
        let text = format!("hello from {sender}");
        let message = net.conv(sender).encrypt(text.as_bytes()).unwrap();
        for reader in (0..3).filter(|r| *r != sender) {
            let got = net.conv(reader).decrypt(&message).unwrap();
            assert_eq!(got.body, text.as_bytes());
            assert_eq!(got.sender, mailbox(sender));
            assert_eq!((got.epoch, got.index), (0, 0));
        }
    }
}

#[test]
fn non_member_decrypts_nothing() {
    let mut net = Net::group(3);
    let mut outsiders = Net::group(3); // same mailboxes, different conversation and keys
    let message = net.conv(0).encrypt(b"secret").unwrap();
    for i in 0..3 {
        assert!(!outsiders.conv(i).recognises(&message));
        assert_eq!(outsiders.conv(i).decrypt(&message), Err(NO_KEY));
    }
    // A welcome meant for member 1 does not let member 9 in.
    let mut rng = rand::rng();
    let (_, handoffs) = Conversation::create(
        &mut rng,
        member(0, Role::Admin),
        vec![member(1, Role::Member)],
    )
    .unwrap();
    let bytes = handoffs[0].1.to_bytes();
    assert_eq!(
        Conversation::join(mailbox(9), mailbox(0), &bytes).unwrap_err(),
        Error::Usage(UsageError::NotPermitted)
    );
}

#[test]
fn removed_member_reads_nothing_after_removal() {
    let mut net = Net::group(4);
    let before = net.conv(1).encrypt(b"before").unwrap();
    net.change(0, &[], &[3]);
    for sender in 0..3 {
        let after = net.conv(sender).encrypt(b"after").unwrap();
        assert_eq!(net.conv(3).decrypt(&after), Err(NO_KEY), "sender {sender}");
        assert!(net.conv((sender + 1) % 3).decrypt(&after).is_ok());
    }
    assert!(
        net.conv(3).decrypt(&before).is_ok(),
        "what was sent before removal still opens"
    );
    // The removed member still holds its old-epoch chain; nobody accepts it any more.
    let stale = net.conv(3).encrypt(b"still here?").unwrap();
    for i in 0..3 {
        assert_eq!(net.conv(i).decrypt(&stale), Err(NO_KEY));
    }
    assert!(net.conv(0).members().iter().all(|m| m.id != mailbox(3)));
}

#[test]
fn new_member_cannot_read_before_joining() {
    let mut net = Net::group(3);
    let old: Vec<_> = (0..3)
        .map(|s| net.conv(s).encrypt(b"old").unwrap())
        .collect();
    net.change(0, &[member(3, Role::Member)], &[]);
    for message in &old {
        assert_eq!(net.conv(3).decrypt(message), Err(NO_KEY));
    }
    let new = net.conv(2).encrypt(b"new").unwrap();
    assert_eq!(net.conv(3).decrypt(&new).unwrap().body, b"new");
    assert_eq!(net.conv(3).epoch(), 1);
}

#[test]
fn in_flight_messages_survive_one_change_not_two() {
    let mut net = Net::group(3);
    let in_flight = net.conv(1).encrypt(b"late").unwrap();
    let older = net.conv(1).encrypt(b"older").unwrap();
    net.change(0, &[member(3, Role::Member)], &[]);
    assert_eq!(net.conv(2).decrypt(&in_flight).unwrap().epoch, 0);
    net.change(0, &[member(4, Role::Member)], &[]);
    assert_eq!(net.conv(2).decrypt(&older), Err(NO_KEY));
}

/// Member 0 holds member 2's chain key (it was handed it as a receiver). It builds a message
/// at member 2's next index with a valid commitment and AEAD tag, signed with its own key.
#[test]
fn member_cannot_speak_for_another() {
    let mut rng = rand::rng();
    let mut members = vec![
        member(0, Role::Admin),
        member(1, Role::Member),
        member(2, Role::Member),
    ];
    let me = members.remove(0);
    let (mut a, welcomes) = Conversation::create(&mut rng, me, members).unwrap();
    let mut b = Conversation::join(mailbox(1), mailbox(0), &welcomes[0].1.to_bytes()).unwrap();
    let mut c = Conversation::join(mailbox(2), mailbox(0), &welcomes[1].1.to_bytes()).unwrap();
    let c_out = c.start_chain(&mut rng).unwrap();
    let (to_a, to_b) = if c_out[0].0 == mailbox(0) {
        (&c_out[0].1, &c_out[1].1)
    } else {
        (&c_out[1].1, &c_out[0].1)
    };
    let c_bytes_for_a = to_a.to_bytes();
    a.accept_distribution(mailbox(2), &c_bytes_for_a).unwrap();
    b.accept_distribution(mailbox(2), &to_b.to_bytes()).unwrap();

    // 1. Forwarding C's distribution as its own, or claiming to be C, fails.
    assert_eq!(
        b.accept_distribution(mailbox(0), &c_bytes_for_a),
        Err(Error::Crypto(CryptoError::WrongSender))
    );
    assert_eq!(
        b.accept_distribution(mailbox(2), &c_bytes_for_a),
        Err(Error::Crypto(CryptoError::Replay))
    );

    // 2. A forged message at C's index 0: right keys, wrong signer.
    let chain_key: [u8; 32] = c_bytes_for_a[68..100].try_into().unwrap();
    let forged = forge(
        &chain_key,
        b.roster_hash(),
        &mailbox(2),
        b"pay A 100",
        &SigningKey::generate(&mut rng),
    );
    assert_eq!(
        b.decrypt(&forged),
        Err(Error::Crypto(CryptoError::BadSignature))
    );

    // 3. C's genuine message at that index still opens: the failure changed nothing.
    let genuine = c.encrypt(b"hi").unwrap();
    let got = b.decrypt(&genuine).unwrap();
    assert_eq!(
        (got.sender, got.index, got.body.as_slice()),
        (mailbox(2), 0, &b"hi"[..])
    );
}

/// An independent construction of a message (PROTOCOL.md §6.4) from raw chain keys.
fn forge(
    chain_key: &[u8; 32],
    roster_hash: &[u8; 32],
    sender: &missive::envelope::MailboxId,
    body: &[u8],
    key: &SigningKey,
) -> Vec<u8> {
    let mut binding = roster_hash.to_vec();
    binding.extend_from_slice(&sender.0);
    let (_, secret, label) = hazmat::chain_step(chain_key, hazmat::CHAIN_DOMAIN, &binding, 0);
    let keys = hazmat::message_keys(&secret, roster_hash);
    let mut context = roster_hash.to_vec();
    context.extend_from_slice(&sender.0);
    context.extend_from_slice(&0u32.to_be_bytes());
    context.extend_from_slice(&label);
    context.extend_from_slice(&keys[32..64]);
    let mut padded = body.to_vec();
    padded.push(0x80);
    padded.resize(256, 0);
    let ad = [&b"missive/v1/msg"[..], &context].concat();
    let ct = AeadKey::new(keys[..32].try_into().unwrap()).seal(&[0; 12], &ad, &padded);
    use sha2::Digest;
    let signed = [&b"missive/v1/sig"[..], &context, &sha2::Sha256::digest(&ct)].concat();
    let mut sig = key.sign(&signed).to_bytes();
    sig.iter_mut().zip(&keys[64..]).for_each(|(s, m)| *s ^= m);
    [&label[..], &keys[32..64], &sig, &ct].concat()
}

#[test]
fn tampered_bytes_and_replays_are_rejected_without_state_change() {
    let mut net = Net::group(2);
    let message = net.conv(0).encrypt(b"integrity").unwrap();
    for pos in (0..message.len()).step_by(7).chain([message.len() - 1]) {
        let mut bad = message.clone();
        bad[pos] ^= 0x01;
        assert!(net.conv(1).decrypt(&bad).is_err(), "flip at {pos}");
    }
    assert!(net.conv(1).decrypt(&message[..message.len() - 1]).is_err());
    assert_eq!(net.conv(1).decrypt(&message).unwrap().body, b"integrity");
    assert_eq!(net.conv(1).decrypt(&message), Err(NO_KEY), "replay");
}

#[test]
fn reordering_within_the_window_and_its_bounds() {
    let mut net = Net::group(2);
    let messages: Vec<_> = (0..(LOOKAHEAD + MAX_SKIPPED as u32 + 8))
        .map(|i| net.conv(0).encrypt(&i.to_be_bytes()).unwrap())
        .collect();
    // Beyond the lookahead: not recognised yet.
    assert_eq!(
        net.conv(1).decrypt(&messages[LOOKAHEAD as usize]),
        Err(NO_KEY)
    );
    assert_eq!(net.conv(1).decrypt(&messages[5]).unwrap().index, 5);
    assert_eq!(
        net.conv(1).decrypt(&messages[2]).unwrap().index,
        2,
        "skipped key kept"
    );
    let last = messages.len() - 1;
    // Walk forward so that more than MAX_SKIPPED keys are skipped: the oldest are dropped.
    for i in (6..=last).step_by(LOOKAHEAD as usize - 1) {
        assert!(net.conv(1).decrypt(&messages[i]).is_ok(), "{i}");
    }
    assert_eq!(
        net.conv(1).decrypt(&messages[0]),
        Err(NO_KEY),
        "dropped, bounded state"
    );
    assert!(net.conv(1).decrypt(&messages[last - 1]).is_ok());
}

#[test]
fn message_cannot_move_between_conversations_or_epochs() {
    let mut net = Net::group(3);
    let mut other = Net::group(3);
    let message = net.conv(0).encrypt(b"here").unwrap();
    assert_eq!(other.conv(1).decrypt(&message), Err(NO_KEY));
    net.change(0, &[member(3, Role::Member)], &[]);
    net.change(0, &[member(4, Role::Member)], &[]);
    let message = net.conv(1).encrypt(b"epoch 2").unwrap();
    assert_eq!(net.conv(2).decrypt(&message).unwrap().epoch, 2);
}

#[test]
fn only_admins_change_and_chains_are_needed() {
    let mut net = Net::group(3);
    let mut rng = rand::rng();
    assert_eq!(
        net.conv(1)
            .change(&mut rng, &[], &[mailbox(2)])
            .unwrap_err(),
        Error::Usage(UsageError::NotPermitted)
    );
    assert_eq!(
        net.conv(0)
            .change(&mut rng, &[], &[mailbox(0)])
            .unwrap_err(),
        Error::Usage(UsageError::NotPermitted)
    );
    assert_eq!(
        net.conv(0)
            .change(&mut rng, &[], &[mailbox(7)])
            .unwrap_err(),
        Error::Usage(UsageError::InvalidRoster)
    );
    assert_eq!(
        net.conv(1).start_chain(&mut rng).unwrap_err(),
        Error::Usage(UsageError::SenderChain)
    );
    let handoffs = net
        .conv(0)
        .change(&mut rng, &[member(3, Role::Member)], &[])
        .unwrap();
    assert_eq!(
        net.conv(0).encrypt(b"x").map(|_| ()),
        Ok(()),
        "the changer has its new chain"
    );
    // Member 1 has not seen the commit: a chain for epoch 1 waits.
    let mut at_3 = None;
    for (to, d) in &handoffs {
        if *to == mailbox(3) {
            at_3 = Some(Conversation::join(*to, mailbox(0), &d.to_bytes()).unwrap());
        }
    }
    let mut at_3 = at_3.unwrap();
    let from_3 = at_3.start_chain(&mut rng).unwrap();
    let for_1 = from_3
        .iter()
        .find(|(to, _)| *to == mailbox(1))
        .unwrap()
        .1
        .to_bytes();
    assert_eq!(
        net.conv(1).accept_distribution(mailbox(3), &for_1),
        Ok(Accepted::Kept)
    );
    assert_eq!(
        net.conv(1).accept_distribution(mailbox(3), &for_1),
        Err(Error::Crypto(CryptoError::Replay)),
        "kept once"
    );
    let commit = handoffs
        .iter()
        .find(|(to, _)| *to == mailbox(1))
        .unwrap()
        .1
        .to_bytes();
    // Saved and restored in between: what was kept is kept.
    let restored = Conversation::from_bytes(&net.conv(1).to_bytes()).unwrap();
    assert!(*restored.to_bytes() == *net.conv(1).to_bytes());
    *net.conv(1) = restored;
    // The commit installs the kept chain with it.
    assert_eq!(
        net.conv(1).accept_distribution(mailbox(0), &commit),
        Ok(Accepted::NewEpoch(1))
    );
    assert_eq!(
        net.conv(1).encrypt(b"x"),
        Err(Error::Usage(UsageError::SenderChain))
    );
    assert_eq!(
        net.conv(1).accept_distribution(mailbox(3), &for_1),
        Err(Error::Crypto(CryptoError::Replay))
    );
    let hello = at_3.encrypt(b"hello").unwrap();
    assert_eq!(net.conv(1).decrypt(&hello).unwrap().sender, mailbox(3));
}

#[test]
fn removed_member_cannot_hand_out_a_late_chain() {
    let mut rng = rand::rng();
    let others = vec![member(1, Role::Member), member(2, Role::Member)];
    let (mut a, welcomes) = Conversation::create(&mut rng, member(0, Role::Admin), others).unwrap();
    let welcome = |to| {
        let w = welcomes.iter().find(|(t, _)| *t == mailbox(to)).unwrap();
        w.1.to_bytes()
    };
    let mut b = Conversation::join(mailbox(1), mailbox(0), &welcome(1)).unwrap();
    let mut c = Conversation::join(mailbox(2), mailbox(0), &welcome(2)).unwrap();
    let c_out = c.start_chain(&mut rng).unwrap();
    let late = c_out
        .iter()
        .find(|(t, _)| *t == mailbox(1))
        .unwrap()
        .1
        .to_bytes();
    let commits = a.change(&mut rng, &[], &[mailbox(2)]).unwrap();
    assert_eq!(commits.len(), 1, "only the member who stays hears of it");
    let commit = commits[0].1.to_bytes();
    assert_eq!(
        b.accept_distribution(mailbox(0), &commit),
        Ok(Accepted::NewEpoch(1))
    );
    assert_eq!(
        b.accept_distribution(mailbox(2), &late),
        Err(Error::Crypto(CryptoError::WrongSender))
    );
    assert_eq!(
        b.accept_distribution(mailbox(0), &commit),
        Err(Error::Crypto(CryptoError::Replay))
    );
}

#[test]
fn a_change_is_sorted_and_a_repeated_member_refused() {
    let mut rng = rand::rng();
    let admin = member(0, Role::Admin);
    let others: Vec<Member> = (1..4).map(|i| member(i, Role::Member)).collect();
    let (mut group, _) = Conversation::create(&mut rng, admin, others.clone()).unwrap();
    let (new_a, new_b) = (member(5, Role::Member), member(4, Role::Member));
    // Given out of order, the change still goes through (the commit is sent sorted).
    let removed = [others[2].id, others[0].id];
    let handoffs = group.change(&mut rng, &[new_a, new_b], &removed).unwrap();
    assert_eq!(handoffs.len(), 3);
    assert_eq!(group.members().len(), 4);
    let repeated = group.change(&mut rng, &[], &[others[1].id, others[1].id]);
    assert_eq!(repeated.err(), Some(UsageError::InvalidRoster.into()));
    let twice = member(6, Role::Member);
    let repeated = group.change(&mut rng, &[twice, twice], &[]);
    assert_eq!(repeated.err(), Some(UsageError::InvalidRoster.into()));
    assert_eq!(group.epoch(), 1);
}

#[test]
fn what_was_kept_for_an_epoch_that_a_concurrent_change_replaced_is_dropped() {
    let mut rng = rand::rng();
    // Admins 1 and 2. Admin 1 adds member 3, who hands 2 its chain for epoch 1 before 2 has
    // seen 1's commit; 2 keeps it.
    let others = vec![member(1, Role::Admin), member(2, Role::Admin)];
    let (zero, welcomes) = Conversation::create(&mut rng, member(0, Role::Admin), others).unwrap();
    let mut net = Net {
        convs: vec![Some(zero), None, None],
        queued: Vec::new(),
    };
    net.pump(mailbox(0), welcomes);
    let from_1 = net
        .conv(1)
        .change(&mut rng, &[member(3, Role::Member)], &[])
        .unwrap();
    let welcome_3 = &from_1.iter().find(|(to, _)| *to == mailbox(3)).unwrap().1;
    let mut three = Conversation::join(mailbox(3), mailbox(1), &welcome_3.to_bytes()).unwrap();
    let chains_3 = three.start_chain(&mut rng).unwrap();
    let for_2 = &chains_3.iter().find(|(to, _)| *to == mailbox(2)).unwrap().1;
    assert_eq!(
        net.conv(2)
            .accept_distribution(mailbox(3), &for_2.to_bytes()),
        Ok(Accepted::Kept)
    );
    let kept = net.conv(2).to_bytes();
    // Whether 2 makes a change of its own or takes 0's, epoch 1 is not the one 3's chain was
    // for: it is dropped, and the state saves and loads as ever.
    let mut own = Conversation::from_bytes(&kept).unwrap();
    own.change(&mut rng, &[member(4, Role::Member)], &[])
        .unwrap();
    let from_0 = net.conv(0).change(&mut rng, &[], &[mailbox(1)]).unwrap();
    let commit_2 = &from_0.iter().find(|(to, _)| *to == mailbox(2)).unwrap().1;
    let mut taken = Conversation::from_bytes(&kept).unwrap();
    assert_eq!(
        taken.accept_distribution(mailbox(0), &commit_2.to_bytes()),
        Ok(Accepted::NewEpoch(1))
    );
    let hello = three.encrypt(b"from 3").unwrap();
    for two in [own, taken] {
        assert_eq!(two.epoch(), 1);
        let saved = two.to_bytes();
        let restored = Conversation::from_bytes(&saved).unwrap();
        assert!(*restored.to_bytes() == *saved);
        assert!(!two.recognises(&hello));
    }
}
