//! Direct messages: only between connections, after an invitation is accepted.
//!
//! `cargo run --example direct_message`

mod common;

use common::{NOW, deliver, look_up, member};
use missive::client::Content;
use missive::platform::{Platform, Profile};

fn main() -> Result<(), missive::Error> {
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

    deliver(
        &mut ben,
        &ana.invite(&mut rand::rng(), &ben_id, Some("We met at RustConf"), NOW)?,
    )?;
    let ana_id = *ana.mailbox_id();
    deliver(&mut ana, &ben.accept(&mut rand::rng(), &ana_id, NOW)?)?;

    deliver(
        &mut ben,
        &ana.send(
            &mut rand::rng(),
            &ben_id,
            &Content::text("Coffee next week?"),
            NOW,
        )?,
    )?;
    deliver(
        &mut ana,
        &ben.send(
            &mut rand::rng(),
            &ana_id,
            &Content::text("Tuesday works."),
            NOW,
        )?,
    )?;

    deliver(
        &mut ana,
        &ben.remove_connection(&mut rand::rng(), &ana_id, NOW)?,
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
