//! Open Profile: anyone may message a premium member who switched it on.
//!
//! `cargo run --example open_profile`

mod common;

use common::{NOW, Stores, deliver, look_up, member};
use missive::client::Content;
use missive::platform::{Platform, Profile, Tier};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut stores = Stores::default();
    let mut platform = Platform::new(&mut rand::rng());
    let open = Profile {
        tier: Tier::PremiumBusiness,
        open_profile: true,
    };
    let mut ana = member(&mut platform, "ana", Profile::FREE);
    let mut chloe = member(&mut platform, "chloe", open);
    let chloe_id = look_up(&mut ana, &mut chloe)?;
    // The app learns Chloe's public profile from the platform.
    ana.set_contact_profile(chloe_id, open)?;
    let hello = Content::text("Hi Chloe, I admire your work on payments.");
    deliver(
        &mut chloe,
        &ana.send(&mut rand::rng(), &chloe_id, &hello, NOW)?
            .save(&mut rand::rng(), stores.of("ana"))?,
    )?;
    let ana_id = *ana.mailbox_id();
    deliver(
        &mut ana,
        &chloe
            .send(&mut rand::rng(), &ana_id, &Content::text("Thank you!"), NOW)?
            .save(&mut rand::rng(), stores.of("chloe"))?,
    )?;
    Ok(())
}
