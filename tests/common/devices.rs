//! An account on several devices, for client tests: linking through a code, an answer and a
//! handover, and the signed list taken by the account's devices and its contacts.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use super::saved::Saved;
use super::users::{NOW, deliver, directory};

use missive::client::{Client, Event};
use missive::device::NewDevice;
use missive::envelope::MailboxId;
use missive::relay_api::DeviceDirectory;

/// The code `existing` shows, answered by `new`; the event `existing` takes from the answer.
pub(crate) fn answered(existing: &mut Client, new: &mut Client) -> NewDevice {
    let code = existing.link_code(&mut rand::rng(), NOW).unwrap();
    let request = new
        .answer_link(&mut rand::rng(), &code, NOW)
        .saved()
        .unwrap();
    match deliver(existing, &[request]).as_slice() {
        [Event::LinkAnswered(device)] => *device,
        other => panic!("expected the answer, got {other:?}"),
    }
}

/// Links `new` to `existing`'s account (the code, the answer, the handover); the signed list
/// `existing` publishes.
pub(crate) fn link(existing: &mut Client, new: &mut Client) -> Vec<u8> {
    answered(existing, new);
    let linked = existing.link_device(&mut rand::rng(), NOW).saved().unwrap();
    let events = deliver(new, &[linked.handover]);
    assert!(
        matches!(events.as_slice(), [Event::Linked { .. }]),
        "{events:?}"
    );
    linked.list
}

/// What the directory answers for an account: `list`, and a bundle of each of `devices`.
pub(crate) fn found(list: &[u8], devices: &mut [&mut Client]) -> DeviceDirectory {
    DeviceDirectory {
        list: list.to_vec(),
        devices: devices.iter_mut().map(|d| directory(d)).collect(),
    }
}

/// `reader` takes `account`'s `list` and a session with each of `devices`.
pub(crate) fn take(
    reader: &mut Client,
    account: &MailboxId,
    list: &[u8],
    devices: &mut [&mut Client],
) {
    let answer = found(list, devices);
    reader
        .add_contact_devices(&mut rand::rng(), account, &answer)
        .saved()
        .unwrap();
}

/// `reader` takes the account of `devices` as a contact: its list (`devices[0]` holds the
/// newest, if it has one) and a session with each of its devices.
pub(crate) fn meet(reader: &mut Client, devices: &mut [&mut Client]) {
    let account = *devices[0].member_id();
    let first = *devices[0].mailbox_id();
    if reader.contact(&account).unwrap().is_none() || !reader.has_session_with(&first).unwrap() {
        let (user, answer) = (devices[0].user().to_vec(), directory(devices[0]));
        reader
            .add_contact(&mut rand::rng(), &user, &answer)
            .unwrap();
    }
    if let Some(list) = devices[0].device_list().map(|l| l.to_bytes()) {
        take(reader, &account, &list, devices);
    }
}

/// Every device of `a` meets the account of `b`, and every device of `b` the account of `a`.
pub(crate) fn acquaint(a: &mut [Client], b: &mut [Client]) {
    for x in a.iter_mut() {
        meet(x, &mut b.iter_mut().collect::<Vec<_>>());
    }
    for y in b.iter_mut() {
        meet(y, &mut a.iter_mut().collect::<Vec<_>>());
    }
}

/// `first`'s account on `more` new devices, linked one after another from `first`. Every
/// device of the account ends with the account's last list and a session with every other
/// device, each of `contacts` with the list and a session with every device, and each new
/// device with a session with every device of each contact.
pub(crate) fn more_devices(
    first: &mut Client,
    more: usize,
    contacts: &mut [&mut Client],
) -> Vec<Client> {
    let mut devices = Vec::new();
    if more == 0 {
        return devices;
    }
    let mut list = Vec::new();
    for _ in 0..more {
        let mut new = Client::new(&mut rand::rng(), first.user());
        list = link(first, &mut new);
        devices.push(new);
    }
    let account = *first.member_id();
    let mut all: Vec<&mut Client> = devices.iter_mut().collect();
    take(first, &account, &list, &mut all);
    for i in 0..devices.len() {
        let mut answer = vec![directory(first)];
        for (j, other) in devices.iter_mut().enumerate() {
            if j != i {
                answer.push(directory(other));
            }
        }
        let answer = DeviceDirectory {
            list: list.clone(),
            devices: answer,
        };
        devices[i]
            .add_contact_devices(&mut rand::rng(), &account, &answer)
            .saved()
            .unwrap();
    }
    for contact in contacts.iter_mut() {
        let mut all: Vec<&mut Client> = std::iter::once(&mut *first)
            .chain(devices.iter_mut())
            .collect();
        meet(contact, &mut all);
        for device in &mut devices {
            meet(device, &mut [&mut **contact]);
        }
    }
    devices
}
