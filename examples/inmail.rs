//! InMail: a message to a non-connection, paid with a credit the platform counts (Premium
//! Career 5 a month, Premium Business 15), free between premium members.
//!
//! `cargo run --example inmail`

mod common;

use common::{NOW, deliver, look_up, member};
use missive::client::Content;
use missive::platform::{Platform, Profile, Tier, month_of};

fn main() -> Result<(), missive::Error> {
    let mut platform = Platform::new(&mut rand::rng());
    let career = Profile {
        tier: Tier::PremiumCareer,
        open_profile: false,
    };
    let mut ben = member(&mut platform, "ben", career);
    let mut dan = member(&mut platform, "dan", Profile::FREE);
    let dan_id = look_up(&mut ben, &mut dan)?;
    let month = month_of(NOW);
    let ben_id = *ben.mailbox_id();
    let receipt = platform
        .authorize_inmail(&ben_id, &dan_id, month)
        .map_err(|_| missive::PolicyError::NotConnected)?;
    println!(
        "credits left for ben this month: {:?}",
        platform.ledger().credits(&ben_id, month)
    );
    let pitch = Content::text("Dan, would you consider a role on my team?");
    deliver(
        &mut dan,
        &ben.send_inmail(&mut rand::rng(), &dan_id, &pitch, &receipt, NOW)?,
    )?;
    // The InMail opened the conversation: Dan may answer.
    deliver(
        &mut ben,
        &dan.send(
            &mut rand::rng(),
            &ben_id,
            &Content::text("Tell me more."),
            NOW,
        )?,
    )?;
    // A free member has no credits.
    println!(
        "dan asks for an InMail credit: {:?}",
        platform.authorize_inmail(&dan_id, &ben_id, month).err()
    );
    Ok(())
}
