#![no_main]
//! Device lists, the directory's device answers, link codes and account copies decode only from their one canonical encoding, and link
//! messages of any bytes are refused with a typed error, never a panic.

use std::sync::{Mutex, OnceLock};

use missive::Identity;
use missive::device::{LinkCode, Linking, PendingLink, SignedDeviceList};
use missive::envelope::MailboxId;
use missive::relay_api::DeviceDirectory;

const NOW: u64 = 1_800_000_000;

fn link() -> &'static (Mutex<PendingLink>, Linking) {
    static LINK: OnceLock<(Mutex<PendingLink>, Linking)> = OnceLock::new();
    LINK.get_or_init(|| {
        let rng = &mut rand::rng();
        let link = PendingLink::new(rng, MailboxId([1; 16]), NOW);
        let device = Identity::generate(rng);
        let (linking, _) = Linking::answer(
            rng,
            &link.code().to_bytes(),
            device,
            MailboxId([2; 16]),
            NOW,
        )
        .expect("a fresh code is answered");
        (Mutex::new(link), linking)
    })
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Ok(list) = SignedDeviceList::from_bytes(data) {
        assert_eq!(
            list.to_bytes(),
            data,
            "decode then encode must reproduce the input"
        );
        let _ = list.verify(list.account(), None);
    }
    if let Ok(found) = DeviceDirectory::from_bytes(data) {
        assert_eq!(
            found.to_bytes(),
            data,
            "decode then encode must reproduce the input"
        );
    }
    if let Ok(code) = LinkCode::from_bytes(data) {
        assert_eq!(
            &*code.to_bytes(),
            data,
            "decode then encode must reproduce the input"
        );
    }
    // An account copy (what a handover carries) decodes only from its canonical form, its
    // lists in order; padding aside, it encodes back to what was read.
    if let Ok(copy) = missive::client::reencode_account_copy(data) {
        assert!(data.starts_with(&copy), "the copy is read as written");
    }
    let (pending, linking) = link();
    // Only an answer made with the code's secret is accepted (and uses the code up): random
    // bytes never are, so every input meets the same unused code.
    if let Ok(mut pending) = pending.lock() {
        assert!(pending.accept(data, NOW).is_err());
    }
    let _ = linking.finish(data);
});
