//! One message to up to 50 connections: the body once, 56 bytes per recipient.
//!
//! `cargo run --example multi_recipient`

mod common;

use common::{NOW, Stores, connect, deliver, member};
use missive::client::Content;
use missive::platform::{Platform, Profile};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut stores = Stores::default();
    let mut platform = Platform::new(&mut rand::rng());
    let mut ana = member(&mut platform, "ana", Profile::FREE);
    let mut friends: Vec<_> = (0..3)
        .map(|i| member(&mut platform, &format!("friend{i}"), Profile::FREE))
        .collect();
    let ids = friends
        .iter_mut()
        .map(|f| connect(&mut ana, f))
        .collect::<Result<Vec<_>, _>>()?;
    let (_, out) = ana
        .send_multi(
            &mut rand::rng(),
            &ids,
            &Content::text("Lunch on Friday?"),
            NOW,
        )?
        .save(&mut rand::rng(), stores.of("ana"))?;
    let first = out.last().map_or(0, |o| o.envelope.len());
    println!(
        "{} envelopes; the multi-recipient one is {first} bytes for {} recipients",
        out.len(),
        ids.len()
    );
    for f in &mut friends {
        deliver(f, &out)?;
    }
    let fifty_one = vec![ids[0]; 51];
    println!(
        "51 recipients: {:?}",
        ana.send_multi(
            &mut rand::rng(),
            &fifty_one,
            &Content::text("too many"),
            NOW
        )
        .err()
    );
    Ok(())
}
