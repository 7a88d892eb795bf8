//! Read receipts and typing indicators, end to end encrypted; each user can switch them off.
//!
//! `cargo run --example receipts_typing`

mod common;

use common::{NOW, Stores, connect, deliver, member};
use missive::client::{Content, Event, Settings};
use missive::platform::{Platform, Profile};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut stores = Stores::default();
    let mut platform = Platform::new(&mut rand::rng());
    let mut ana = member(&mut platform, "ana", Profile::FREE);
    let mut ben = member(&mut platform, "ben", Profile::FREE);
    let ben_id = connect(&mut ana, &mut ben)?;
    let conversation_of = |events: &[Event]| {
        events.iter().find_map(|e| match e {
            Event::Message {
                conversation, id, ..
            } => Some((*conversation, *id)),
            _ => None,
        })
    };
    let events = deliver(
        &mut ben,
        &ana.send(
            &mut rand::rng(),
            &ben_id,
            &Content::text("Are you there?"),
            NOW,
        )?
        .save(&mut rand::rng(), stores.of("ana"))?,
    )?;
    let Some((conversation, id)) = conversation_of(&events) else {
        return Ok(());
    };
    // Typing indicators are ephemeral: the relay pushes them to connected clients only.
    let typing = ben.typing(&mut rand::rng(), &conversation, true, NOW)?;
    println!(
        "ben's typing indicator: {} ephemeral envelope(s)",
        typing.iter().filter(|o| o.ephemeral).count()
    );
    deliver(&mut ana, &typing)?;
    deliver(
        &mut ana,
        &ben.mark_read(&mut rand::rng(), &conversation, &id, NOW)?
            .save(&mut rand::rng(), stores.of("ben"))?,
    )?;
    ben.set_settings(Settings {
        read_receipts: false,
        typing_indicators: false,
        ..Settings::default()
    });
    println!(
        "with both switched off, ben sends {} receipts and {} typing indicators",
        ben.mark_read(&mut rand::rng(), &conversation, &id, NOW)?
            .save(&mut rand::rng(), stores.of("ben"))?
            .len(),
        ben.typing(&mut rand::rng(), &conversation, true, NOW)?
            .len()
    );
    Ok(())
}
