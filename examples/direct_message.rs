//! Direct messages: only between connections, after an invitation is accepted.
//!
//! `cargo run --example direct_message`

mod common;

use common::{NOW, Stores, deliver, look_up, member};
use missive::client::Content;
use missive::platform::{Platform, Profile};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut stores = Stores::default();
    let mut platform = Platform::new(&mut rand::rng());
    let mut ana = member(&mut platform, "ana", Profile::FREE);
    let mut ben = member(&mut platform, "ben", Profile::FREE);
    let ben_id = look_up(&mut ana, &mut ben)?;

    // Not connected yet: refused before a byte is encrypted.
    let refused = ana.send(&mut rand::rng(), &ben_id, &Content::text("hi"), NOW);
    println!(
        "before connecting: {}",
        refused.err().map(|e| e.to_string()).unwrap_or_default()
    );

    // Every send hands out its envelopes only from `save`, once Ana's state is stored: were
    // they submitted first, a crash would restart her from a state that reuses their keys.
    deliver(
        &mut ben,
        &ana.invite(&mut rand::rng(), &ben_id, Some("We met at RustConf"), NOW)?
            .save(&mut rand::rng(), stores.of("ana"))?,
    )?;
    let ana_id = *ana.mailbox_id();
    deliver(
        &mut ana,
        &ben.accept(&mut rand::rng(), &ana_id, NOW)?
            .save(&mut rand::rng(), stores.of("ben"))?,
    )?;

    deliver(
        &mut ben,
        &ana.send(
            &mut rand::rng(),
            &ben_id,
            &Content::text("Coffee next week?"),
            NOW,
        )?
        .save(&mut rand::rng(), stores.of("ana"))?,
    )?;
    deliver(
        &mut ana,
        &ben.send(
            &mut rand::rng(),
            &ana_id,
            &Content::text("Tuesday works."),
            NOW,
        )?
        .save(&mut rand::rng(), stores.of("ben"))?,
    )?;

    deliver(
        &mut ana,
        &ben.remove_connection(&mut rand::rng(), &ana_id, NOW)?
            .save(&mut rand::rng(), stores.of("ben"))?,
    )?;
    let after = ana.send(
        &mut rand::rng(),
        &ben_id,
        &Content::text("still there?"),
        NOW,
    );
    println!(
        "after removal: {}",
        after.err().map(|e| e.to_string()).unwrap_or_default()
    );
    Ok(())
}
