//! A group with an admin, a manager and members: admins and managers post, mentioning up to 20
//! members; members message each other directly; a removed member reads nothing new.
//!
//! `cargo run --example group`

mod common;

use common::{NOW, Stores, deliver, look_up, member};
use missive::client::{Content, Text};
use missive::conversation::Role;
use missive::platform::{Platform, Profile};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut stores = Stores::default();
    let mut platform = Platform::new(&mut rand::rng());
    let mut dan = member(&mut platform, "dan", Profile::FREE);
    let mut ana = member(&mut platform, "ana", Profile::FREE);
    let mut ben = member(&mut platform, "ben", Profile::FREE);
    let members = vec![
        (look_up(&mut dan, &mut ana)?, Role::Member),
        (look_up(&mut dan, &mut ben)?, Role::Manager),
    ];
    look_up(&mut ana, &mut ben)?;
    let (group, welcome) = dan
        .create_group(&mut rand::rng(), &members, NOW)?
        .save(&mut rand::rng(), stores.of("dan"))?;
    deliver(&mut ana, &welcome)?;
    deliver(&mut ben, &welcome)?;
    let ana_id = *ana.mailbox_id();
    let post = Content::Text(Text {
        text: "Welcome, Ana!".into(),
        mentions: vec![ana_id],
        attachments: vec![],
    });
    let out = dan
        .post_to_group(&mut rand::rng(), &group, &post, NOW)?
        .save(&mut rand::rng(), stores.of("dan"))?;
    deliver(&mut ana, &out)?;
    deliver(&mut ben, &out)?;
    println!(
        "ana tries to post: {:?}",
        ana.post_to_group(&mut rand::rng(), &group, &Content::text("hi all"), NOW)
            .err()
    );
    let ben_id = *ben.mailbox_id();
    deliver(
        &mut ben,
        &ana.send(
            &mut rand::rng(),
            &ben_id,
            &Content::text("Pair on the review?"),
            NOW,
        )?
        .save(&mut rand::rng(), stores.of("ana"))?,
    )?;
    let change = dan
        .change_group(&mut rand::rng(), &group, &[], &[ben_id], NOW)?
        .save(&mut rand::rng(), stores.of("dan"))?;
    deliver(&mut ana, &change)?;
    let out = dan
        .post_to_group(
            &mut rand::rng(),
            &group,
            &Content::text("Ben has moved on."),
            NOW,
        )?
        .save(&mut rand::rng(), stores.of("dan"))?;
    deliver(&mut ana, &out)?;
    println!(
        "ben gets {} of the new post's deliveries",
        deliver(&mut ben, &out)?.len()
    );
    Ok(())
}
