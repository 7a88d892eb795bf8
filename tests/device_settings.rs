//! The account's switches on every device (PROTOCOL.md §12.6): read receipts, typing
//! indicators and sponsored messages changed on one device reach the others at its next
//! access sync; of two devices changing them at once, every device keeps the same ones; a
//! device's registration at the relay follows what it took.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::devices::more_devices;
use common::saved::Saved;
use common::users::{NOW, deliver, member};
use missive::client::{Client, Event, Outgoing, Settings};
use missive::platform::{Platform, Profile};

const QUIET: Settings = Settings {
    read_receipts: false,
    typing_indicators: false,
    sponsored_messages: true,
};
const NO_ADS: Settings = Settings {
    read_receipts: true,
    typing_indicators: true,
    sponsored_messages: false,
};

/// Alice's account on three devices, each with a session with the others, their access
/// registered as it stands.
fn alice_on_three_devices() -> Vec<Client> {
    let mut platform = Platform::new(&mut rand::rng());
    let mut phone = member(&mut platform, "alice", Profile::FREE);
    let mut devices = more_devices(&mut phone, 2, &mut []);
    devices.insert(0, phone);
    for d in &mut devices {
        sync(d, NOW);
    }
    devices
}

/// `device`'s access sync at `now`: what it hands its other devices.
fn sync(device: &mut Client, now: u64) -> Vec<Outgoing> {
    device
        .access_sync(&mut rand::rng(), now)
        .saved()
        .unwrap()
        .notices
}

#[test]
fn switches_changed_on_one_device_reach_the_others_and_their_registration() {
    let mut devices = alice_on_three_devices();
    devices[1].set_settings(NO_ADS);
    // Nothing goes out before the sync, and nothing again after it.
    let shared = sync(&mut devices[1], NOW);
    assert_eq!(shared.len(), 2, "one to each other device");
    assert!(sync(&mut devices[1], NOW).is_empty());
    for i in [0, 2] {
        assert_eq!(
            deliver(&mut devices[i], &shared),
            [Event::SettingsChanged(NO_ADS)]
        );
        assert_eq!(*devices[i].settings(), NO_ADS);
        // Its mailbox no longer takes sponsored messages at the relay.
        let update = devices[i]
            .access_sync(&mut rand::rng(), NOW)
            .saved()
            .unwrap()
            .update
            .expect("the switch changed");
        assert!(!update.settings.unwrap().sponsored);
    }
    // The same switches set again change nothing and send nothing.
    devices[0].set_settings(NO_ADS);
    assert!(sync(&mut devices[0], NOW).is_empty());
}

#[test]
fn of_two_devices_changing_the_switches_at_once_every_device_keeps_the_same() {
    for (phone_at, laptop_at) in [(NOW, NOW), (NOW, NOW + 60), (NOW + 60, NOW)] {
        let mut devices = alice_on_three_devices();
        devices[0].set_settings(QUIET);
        devices[1].set_settings(NO_ADS);
        let from_phone = sync(&mut devices[0], phone_at);
        let from_laptop = sync(&mut devices[1], laptop_at);
        deliver(&mut devices[0], &from_laptop);
        deliver(&mut devices[1], &from_phone);
        // The tablet takes them in one order or the other: the same result.
        let mut tablet = devices.pop().unwrap();
        let mut tablet_again = Client::from_bytes(&tablet.to_bytes().unwrap()).unwrap();
        deliver(&mut tablet, &from_phone);
        deliver(&mut tablet, &from_laptop);
        deliver(&mut tablet_again, &from_laptop);
        deliver(&mut tablet_again, &from_phone);
        let kept = *devices[0].settings();
        assert!(kept == QUIET || kept == NO_ADS);
        if phone_at != laptop_at {
            let later = if phone_at > laptop_at { QUIET } else { NO_ADS };
            assert_eq!(kept, later, "the later change wins");
        }
        for d in [&devices[1], &tablet, &tablet_again] {
            assert_eq!(*d.settings(), kept);
        }
    }
}

#[test]
fn a_change_not_yet_shared_outlives_one_that_arrives_and_is_shared_after_it() {
    let mut devices = alice_on_three_devices();
    devices[1].set_settings(NO_ADS);
    let from_laptop = sync(&mut devices[1], NOW + 100);
    // The phone changed its switches and, before its sync, reads the laptop's: it keeps its
    // own, and shares them stamped after the laptop's, though its clock is behind.
    devices[0].set_settings(QUIET);
    assert!(deliver(&mut devices[0], &from_laptop).is_empty());
    assert_eq!(*devices[0].settings(), QUIET);
    let from_phone = sync(&mut devices[0], NOW);
    for i in [1, 2] {
        deliver(&mut devices[i], &from_laptop);
        deliver(&mut devices[i], &from_phone);
        assert_eq!(*devices[i].settings(), QUIET);
    }
}

#[test]
fn a_restarted_device_keeps_the_switches_it_took_and_their_stamp() {
    let mut devices = alice_on_three_devices();
    devices[1].set_settings(NO_ADS);
    let first = sync(&mut devices[1], NOW + 50);
    devices[2].set_settings(QUIET);
    let second = sync(&mut devices[2], NOW + 10);
    deliver(&mut devices[0], &first);
    // Restarted from its saved state: it still knows the switches it holds came at NOW + 50,
    // so the older change that arrives now is not taken.
    let mut phone = Client::from_bytes(&devices[0].to_bytes().unwrap()).unwrap();
    assert_eq!(*phone.settings(), NO_ADS);
    assert!(deliver(&mut phone, &second).is_empty());
    assert_eq!(*phone.settings(), NO_ADS);
    // Its own next change is stamped after both.
    phone.set_settings(QUIET);
    let third = sync(&mut phone, NOW);
    deliver(&mut devices[1], &second);
    deliver(&mut devices[1], &third);
    assert_eq!(*devices[1].settings(), QUIET);
}
