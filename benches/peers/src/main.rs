//! Missive against its peers, the same work in the same run: `cargo run --release -p
//! missive-peers`. Prints one Markdown table (BENCHMARKS.md keeps the latest).

mod fanout;
mod floors;
mod group;
mod hpke_peers;
mod membership;
mod missive_setup;
mod mls;
mod pairwise;
mod post_quantum;
mod profile;
mod table;
mod timer;

use table::{Figure::Time, Line, Row};

/// Every message body is 1 KiB.
pub const KIB: [u8; 1024] = [0x42; 1024];

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let [_, cmd, what] = args.as_slice()
        && cmd == "profile"
    {
        return profile::run(what);
    }
    let started = std::time::Instant::now();
    let f = floors::measure();
    let mut out = vec![Line::Section(
        "Floors (the primitives, through their own crates)",
    )];
    for (name, d) in [
        ("X25519 agreement", f.dh),
        ("X25519 public key from secret (key generation)", f.keygen),
        ("Ed25519 sign, 128 B", f.sign),
        ("Ed25519 verify (strict), 128 B", f.verify),
        ("ChaCha20-Poly1305 seal, 1 KiB", f.seal),
        ("ChaCha20-Poly1305 open, 1 KiB", f.open),
        ("ChaCha20-Poly1305 seal, 256 B", f.seal_256),
        ("HKDF-SHA256 step (Expand, 32 B)", f.hkdf),
        ("SHA-256, 1 KiB", f.sha256_kib),
        ("Missive chain step (HKDF-Expand, 72 B)", f.chain_step),
        ("Ed25519 public key parse", f.key_parse),
    ] {
        out.push(Line::Row(Row::new(name, Time(d))));
    }
    hpke_peers::run(&f, &mut out);
    pairwise::run(&f, &mut out);
    group::run(&f, &mut out);
    let mut notes = Vec::new();
    let state = membership::run(&f, &mut out, &mut notes);
    fanout::run(&f, &mut out);
    membership::state_rows(&state, &mut out);
    post_quantum::run(&mut out);
    table::print(&out);
    println!();
    for note in notes {
        println!("- {note}");
    }
    eprintln!("whole run: {:.0} s", started.elapsed().as_secs_f64());
}
