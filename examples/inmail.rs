//! InMail: a message to a non-connection, paid with a credit token the relay issues (Premium
//! Career 5 a month, Premium Business 15) and takes without learning who spent it; between
//! premium members a premium token instead.
//!
//! `cargo run --example inmail`

mod common;

use common::{NOW, Stores, deliver, look_up, member};
use missive::client::Content;
use missive::platform::{Platform, Profile, Tier};
use missive::token::TokenKind;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut stores = Stores::default();
    let mut platform = Platform::new(&mut rand::rng());
    let career = Profile {
        tier: Tier::PremiumCareer,
        open_profile: false,
    };
    let mut ben = member(&mut platform, "ben", career);
    let mut dan = member(&mut platform, "dan", Profile::FREE);
    let dan_id = look_up(&mut ben, &mut dan)?;
    let ben_id = *ben.mailbox_id();
    println!("ben's credit tokens: {}", ben.tokens(TokenKind::Credit));
    let pitch = Content::text("Dan, would you consider a role on my team?");
    deliver(
        &mut dan,
        &ben.send_inmail(&mut rand::rng(), &dan_id, &pitch, NOW)?
            .save(&mut rand::rng(), stores.of("ben"))?,
    )?;
    println!(
        "ben's credit tokens after one InMail: {}",
        ben.tokens(TokenKind::Credit)
    );
    // The InMail opened the conversation: Dan may answer.
    deliver(
        &mut ben,
        &dan.send(
            &mut rand::rng(),
            &ben_id,
            &Content::text("Tell me more."),
            NOW,
        )?
        .save(&mut rand::rng(), stores.of("dan"))?,
    )?;
    // A free member has no credits.
    println!(
        "dan sends an InMail: {:?}",
        dan.send_inmail(&mut rand::rng(), &ben_id, &Content::text("hi"), NOW)
            .err()
    );
    Ok(())
}
