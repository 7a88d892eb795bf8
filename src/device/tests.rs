#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use proptest::prelude::*;

use super::link::LINK_LIFETIME;
use super::link::tests_support::{handover_body, request_with_wrong_proof, seal_handover};
use super::*;
use crate::envelope::MailboxId;
use crate::error::{CryptoError, DecodeError, DeviceError, Error, UsageError};
use crate::identity::Identity;

const NOW: u64 = 1_800_000_000;

fn identity() -> Identity {
    Identity::generate(&mut rand::rng())
}

/// An account with devices 1, 2 and 3 (version 3).
fn three() -> (DeviceList, Vec<Identity>) {
    let devices: Vec<Identity> = (0..3).map(|_| identity()).collect();
    let mut list = DeviceList::first(MailboxId([1; 16]), *devices[0].public());
    for (i, d) in devices.iter().enumerate().skip(1) {
        list = list
            .with_device(MailboxId([i as u8 + 1; 16]), *d.public())
            .unwrap()
            .0;
    }
    (list, devices)
}

/// A fresh device's answer to `link`, at mailbox 2, now.
fn answered(link: &PendingLink) -> (Linking, Vec<u8>) {
    let code = link.code().to_bytes();
    Linking::answer(&mut rand::rng(), &code, identity(), MailboxId([2; 16]), NOW).unwrap()
}

/// `account`'s list of its first device and `new`, signed.
fn naming(account: &Identity, new: &NewDevice) -> SignedDeviceList {
    let first = DeviceList::first(MailboxId([1; 16]), *account.public());
    first
        .with_device(new.mailbox, new.identity)
        .unwrap()
        .0
        .sign(account)
}

#[test]
fn a_list_verifies_only_under_its_account_and_only_forward() {
    let account = identity();
    let (list, _) = three();
    assert_eq!(list.version(), 3);
    assert_eq!(
        list.devices().iter().map(|d| d.id).collect::<Vec<_>>(),
        [1, 2, 3]
    );
    let signed = list.sign(&account);
    let decoded = SignedDeviceList::from_bytes(&signed.to_bytes()).unwrap();
    assert_eq!(decoded, signed);
    assert_eq!(decoded.verify(account.public(), None).unwrap(), &list);
    assert_eq!(decoded.verify(account.public(), Some(2)).unwrap(), &list);
    for seen in [3, 4, u64::MAX] {
        assert_eq!(
            decoded.verify(account.public(), Some(seen)),
            Err(Error::Device(DeviceError::RolledBack { seen, got: 3 }))
        );
    }
    let other = identity();
    assert_eq!(
        decoded.verify(other.public(), None),
        Err(DeviceError::WrongAccount.into())
    );
    // Signed by another key while claiming the account.
    let mut forged = list.sign(&other);
    forged.account = *account.public();
    assert_eq!(
        forged.verify(account.public(), None),
        Err(CryptoError::BadSignature.into())
    );
}

#[test]
fn adding_and_removing_devices_versions_the_list_and_never_reuses_an_id() {
    let (list, devices) = three();
    let without = list.without(3).unwrap();
    assert_eq!(without.version(), 4);
    assert_eq!(without.next_id(), 4);
    let again = without
        .with_device(MailboxId([9; 16]), *identity().public())
        .unwrap();
    assert_eq!(again.1.id, 4, "a removed device's id is not given again");
    assert_eq!(without.without(3), Err(DeviceError::UnknownDevice.into()));
    let changes = list.changes(&again.0);
    assert_eq!(changes.added, [again.1]);
    assert_eq!(changes.removed, [list.devices()[2]]);
    assert_eq!(list.changes(&list), Changes::default());
    // Duplicates are refused; a full list takes no more; the last device stays.
    assert_eq!(
        list.with_device(MailboxId([1; 16]), *identity().public()),
        Err(UsageError::InvalidRoster.into())
    );
    assert_eq!(
        list.with_device(MailboxId([7; 16]), *devices[1].public()),
        Err(UsageError::InvalidRoster.into())
    );
    let mut full = list.clone();
    while full.devices().len() < MAX_DEVICES {
        let n = full.devices().len() as u8;
        full = full
            .with_device(MailboxId([0x40 + n; 16]), *identity().public())
            .unwrap()
            .0;
    }
    assert_eq!(
        full.with_device(MailboxId([0xee; 16]), *identity().public()),
        Err(UsageError::TooManyRecipients { max: MAX_DEVICES }.into())
    );
    let single = DeviceList::first(MailboxId([1; 16]), *devices[0].public());
    assert_eq!(single.without(1), Err(UsageError::InvalidRoster.into()));
}

/// Every list the decoder accepts is one `check` accepts: a list signed over a malformed
/// body (by the account itself) still does not decode.
#[test]
fn a_malformed_list_does_not_decode_even_when_signed() {
    let account = identity();
    let (list, _) = three();
    let d = list.devices().to_vec();
    let bad = [
        ("empty", 3, 4, vec![]),
        ("unsorted", 3, 4, vec![d[1], d[0], d[2]]),
        ("id 0", 3, 4, vec![Device { id: 0, ..d[0] }, d[1]]),
        ("id at next", 3, 3, d.clone()),
        ("version 0", 0, 4, d.clone()),
        (
            "mailbox twice",
            3,
            4,
            vec![
                d[0],
                Device {
                    mailbox: d[0].mailbox,
                    ..d[1]
                },
            ],
        ),
        (
            "identity twice",
            3,
            4,
            vec![
                d[0],
                Device {
                    identity: d[0].identity,
                    ..d[1]
                },
            ],
        ),
        (
            "too many",
            3,
            100,
            (1..=MAX_DEVICES as u32 + 1)
                .map(|id| Device {
                    id,
                    mailbox: MailboxId([id as u8; 16]),
                    identity: *identity().public(),
                })
                .collect(),
        ),
    ];
    for (what, version, next_id, devices) in bad {
        let list = DeviceList {
            version,
            next_id,
            devices,
        };
        let bytes = list.sign(&account).to_bytes();
        let err = SignedDeviceList::from_bytes(&bytes).unwrap_err();
        assert!(
            matches!(
                err,
                DecodeError::Invalid {
                    what: "device list"
                } | DecodeError::NonCanonical {
                    what: "device list"
                }
            ),
            "{what}: {err:?}"
        );
    }
}

/// The whole link: code, answer, acceptance, handover, and the new device holding the
/// account, listed, with the state.
fn linked() -> (PendingLink, Linking, Identity, SignedDeviceList, Vec<u8>) {
    let rng = &mut rand::rng();
    let account = identity();
    let first = DeviceList::first(MailboxId([1; 16]), *account.public());
    let mut link = PendingLink::new(rng, MailboxId([0x11; 16]), NOW);
    let code = link.code().to_bytes();
    assert_eq!(code.len(), 1 + 32 + 32 + 16 + 5, "{}", code.len());
    let device = identity();
    let device_public = *device.public();
    let (linking, request) =
        Linking::answer(rng, &code, device, MailboxId([2; 16]), NOW + 5).unwrap();
    let new = link.accept(&request, NOW + 10).unwrap();
    assert_eq!(new.mailbox, MailboxId([2; 16]));
    assert_eq!(new.identity, device_public);
    let (list, _) = first.with_device(new.mailbox, new.identity).unwrap();
    let signed = list.sign(&account);
    let handover = link.hand_over(rng, &account, &signed, b"state").unwrap();
    (link, linking, account, signed, handover)
}

#[test]
fn a_new_device_receives_the_account_and_the_list_that_names_it() {
    let (_, linking, account, signed, handover) = linked();
    let got = linking.finish(&handover).unwrap();
    assert_eq!(got.account.public(), account.public());
    assert_eq!(got.list, signed);
    assert_eq!(got.device.id, 2);
    assert_eq!(got.device.mailbox, MailboxId([2; 16]));
    assert_eq!(&got.state[..], b"state");
    let debug = format!("{got:?} {linking:?}");
    let secret = hex_of(&account.to_secret_bytes()[1..33]);
    assert!(!debug.contains(&secret), "no secret in Debug");
}

fn hex_of(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn a_code_is_answered_once_and_not_after_it_expires() {
    let rng = &mut rand::rng();
    let mut link = PendingLink::new(rng, MailboxId([0x11; 16]), NOW);
    assert_eq!(link.code().expires(), NOW + LINK_LIFETIME);
    let code = link.code().to_bytes();
    let answer = |rng: &mut _| {
        Linking::answer(rng, &code, identity(), MailboxId([2; 16]), NOW)
            .unwrap()
            .1
    };
    let (first, second) = (answer(rng), answer(rng));
    // Too late, for both sides.
    assert_eq!(
        link.accept(&first, NOW + LINK_LIFETIME + 1),
        Err(DeviceError::LinkExpired.into())
    );
    assert_eq!(
        Linking::answer(
            rng,
            &code,
            identity(),
            MailboxId([2; 16]),
            NOW + LINK_LIFETIME + 1
        )
        .unwrap_err(),
        DeviceError::LinkExpired.into()
    );
    // At the last second it can still be answered and accepted; then it is used up, even
    // by the same answer.
    assert!(
        Linking::answer(
            rng,
            &code,
            identity(),
            MailboxId([2; 16]),
            NOW + LINK_LIFETIME
        )
        .is_ok()
    );
    link.accept(&first, NOW + LINK_LIFETIME).unwrap();
    for again in [&first, &second] {
        assert_eq!(link.accept(again, NOW), Err(DeviceError::LinkUsed.into()));
    }
}

#[test]
fn only_the_holder_of_the_code_can_answer_or_hand_over() {
    let rng = &mut rand::rng();
    let mut link = PendingLink::new(rng, MailboxId([0x11; 16]), NOW);
    // A third party that saw the code's key and mailbox (not its secret) answers.
    let mut guessed = link.code().clone();
    guessed.secret = [7; 32];
    let (_, forged) = Linking::answer(
        rng,
        &guessed.to_bytes(),
        identity(),
        MailboxId([6; 16]),
        NOW,
    )
    .unwrap();
    assert_eq!(
        link.accept(&forged, NOW),
        Err(DeviceError::LinkRefused.into())
    );
    // An answer made for another code, with its own secret, is refused too.
    let other = PendingLink::new(rng, MailboxId([0x11; 16]), NOW);
    let (_, elsewhere) = Linking::answer(
        rng,
        &other.code().to_bytes(),
        identity(),
        MailboxId([6; 16]),
        NOW,
    )
    .unwrap();
    assert_eq!(
        link.accept(&elsewhere, NOW),
        Err(DeviceError::LinkRefused.into())
    );
    // Refused answers do not use the code up; and no handover before an answer.
    let account = identity();
    let list = DeviceList::first(MailboxId([1; 16]), *account.public()).sign(&account);
    assert_eq!(
        link.hand_over(rng, &account, &list, b"").unwrap_err(),
        UsageError::NotPermitted.into()
    );
    let (linking, request) = answered(&link);
    let new = link.accept(&request, NOW).unwrap();
    // A list that does not name the device as it answered is not handed over.
    assert_eq!(
        link.hand_over(rng, &account, &list, b"").unwrap_err(),
        UsageError::InvalidRoster.into()
    );
    let impostor = DeviceList::first(MailboxId([1; 16]), *account.public())
        .with_device(new.mailbox, *identity().public())
        .unwrap()
        .0
        .sign(&account);
    assert_eq!(
        link.hand_over(rng, &account, &impostor, b"").unwrap_err(),
        UsageError::InvalidRoster.into()
    );
    // A handover from someone without the secret, sealed to the device, is refused.
    let mut stranger = PendingLink::new(rng, MailboxId([0x11; 16]), NOW);
    stranger.answered = Some(new);
    let named = naming(&account, &new);
    let fake = stranger.hand_over(rng, &account, &named, b"").unwrap();
    assert_eq!(
        linking.finish(&fake).unwrap_err(),
        DeviceError::LinkRefused.into()
    );
    let genuine = link.hand_over(rng, &account, &named, b"").unwrap();
    assert!(linking.finish(&genuine).is_ok());
}

#[test]
fn a_handover_whose_list_does_not_name_the_device_is_refused() {
    let rng = &mut rand::rng();
    let mut link = PendingLink::new(rng, MailboxId([0x11; 16]), NOW);
    let (linking, request) = answered(&link);
    let new = link.accept(&request, NOW).unwrap();
    let account = identity();
    let list = DeviceList::first(MailboxId([1; 16]), *account.public());
    let (with, _) = list.with_device(new.mailbox, new.identity).unwrap();
    // The existing device's own checks are bypassed: the body names device 1, not 2.
    let body = handover_body(&account, &with.sign(&account), 1);
    let sealed = seal_handover(&link, &new, &body);
    assert_eq!(
        linking.finish(&sealed).unwrap_err(),
        DeviceError::NotListed.into()
    );
    // The right id, but another identity at the device's mailbox, or the device's identity
    // at another mailbox.
    for (mailbox, identity) in [
        (new.mailbox, *identity().public()),
        (MailboxId([9; 16]), new.identity),
    ] {
        let (wrong, _) = list.with_device(mailbox, identity).unwrap();
        let body = handover_body(&account, &wrong.sign(&account), 2);
        let sealed = seal_handover(&link, &new, &body);
        assert_eq!(
            linking.finish(&sealed).unwrap_err(),
            DeviceError::NotListed.into()
        );
    }
    // A list signed by another key than the identity handed over.
    let other = identity();
    let body = handover_body(&account, &with.sign(&other), 2);
    let sealed = seal_handover(&link, &new, &body);
    assert_eq!(
        linking.finish(&sealed).unwrap_err(),
        DeviceError::WrongAccount.into()
    );
}

#[test]
fn a_request_whose_device_proof_fails_is_refused() {
    let rng = &mut rand::rng();
    let mut link = PendingLink::new(rng, MailboxId([0x11; 16]), NOW);
    let request = request_with_wrong_proof(&link, &identity());
    assert_eq!(
        link.accept(&request, NOW),
        Err(CryptoError::BadSignature.into())
    );
    assert!(
        link.accept(&answered(&link).1, NOW).is_ok(),
        "a failed proof does not use the code up"
    );
}

#[test]
fn codes_and_link_messages_decode_strictly() {
    let rng = &mut rand::rng();
    let link = PendingLink::new(rng, MailboxId([0x11; 16]), NOW);
    let code = link.code().to_bytes();
    assert_eq!(&*LinkCode::from_bytes(&code).unwrap().to_bytes(), &*code);
    let mut long = code.to_vec();
    long.push(0);
    assert_eq!(
        LinkCode::from_bytes(&long).unwrap_err(),
        DecodeError::TrailingBytes { what: "link code" }
    );
    let mut v2 = code.to_vec();
    v2[0] = 2;
    assert!(matches!(
        LinkCode::from_bytes(&v2),
        Err(DecodeError::UnknownVersion { got: 2, .. })
    ));
    let shown = format!("{:?}", link.code());
    assert!(!shown.contains(&hex_of(&link.code().secret)));
    assert!(shown.starts_with("LinkCode") && shown.contains(&NOW.to_string()[..6]));
    assert!(!format!("{link:?}").contains(&hex_of(&link.code().secret)));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// A signed list with any one byte changed is refused: it does not decode, or does not
    /// verify under the account.
    #[test]
    fn a_changed_byte_of_a_list_is_refused(at in any::<prop::sample::Index>(), flip in 1u8..) {
        let account = identity();
        let (list, _) = three();
        let mut bytes = list.sign(&account).to_bytes();
        let i = at.index(bytes.len());
        bytes[i] ^= flip;
        if let Ok(decoded) = SignedDeviceList::from_bytes(&bytes) {
            prop_assert!(decoded.verify(account.public(), None).is_err());
        }
    }

    /// A request or handover with any one byte changed is refused.
    #[test]
    fn a_changed_byte_of_a_link_message_is_refused(
        at in any::<prop::sample::Index>(),
        flip in 1u8..,
        which in any::<bool>(),
    ) {
        let rng = &mut rand::rng();
        let mut link = PendingLink::new(rng, MailboxId([0x11; 16]), NOW);
        let (linking, mut request) = answered(&link);
        if which {
            let i = at.index(request.len());
            request[i] ^= flip;
            prop_assert!(link.accept(&request, NOW).is_err());
        } else {
            let new = link.accept(&request, NOW).unwrap();
            let account = identity();
            let list = naming(&account, &new);
            let mut handover = link.hand_over(rng, &account, &list, b"state").unwrap();
            let i = at.index(handover.len());
            handover[i] ^= flip;
            prop_assert!(linking.finish(&handover).is_err());
        }
    }
}
