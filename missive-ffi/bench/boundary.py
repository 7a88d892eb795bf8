"""The per-call cost of the Python boundary: one 1 KiB direct message through the bindings'
four calls (`send_text`, `split_envelope`, `receive`, `accepted`), timed over many rounds;
`cargo bench -p missive-ffi --bench boundary` times the same four calls from Rust, and the
difference divided by four is what a call through Python adds (BENCHMARKS.md, "Bindings").

Two members (their states in memory) meet through a relay process (the test suite's `Net`),
then the messages go between them in this process, as a relay would carry them. Build with `missive-ffi/generate
--release` and `cargo build --release --features cli`, then run:
MISSIVE_BIN=target/release/missive python3 missive-ffi/bench/boundary.py"""
import os, statistics, sys, time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests"))
from net import Net, m, now  # noqa: E402

ROUNDS, BATCH = 30, 200


def main():
    net = Net()
    try:
        # In memory, and through Open Profile, as in the Rust benchmark: the same calls, the
        # same stores, the same conversation.
        ana = net.join("ana", open_profile=True, memory=True)
        ben = net.join("ben", memory=True)
        ana_id = net.lookup(ben, b"ana")
        ben.set_contact_profile(ana_id, m.Tier.PREMIUM_CAREER, True)
        net.send(ben, ben.send_text(ana_id, "hello", [], now()))
        net.fetch(ana)
        text, t = "x" * 1024, now()
        clock = time.perf_counter_ns

        def one():
            """The four calls of one message; what each took, in µs."""
            start = clock()
            [o] = ben.send_text(ana_id, text, [], t)
            sent = clock()
            [part] = m.split_envelope(o.envelope)
            split = clock()
            [event] = ana.receive(part.delivery, t)
            received = clock()
            assert ben.accepted(o.envelope)
            accepted = clock()
            return [(sent - start) / 1e3, (split - sent) / 1e3, (received - split) / 1e3,
                    (accepted - received) / 1e3]

        def floor():
            start = clock()
            ben.generation()
            return (clock() - start) / 1e3

        for _ in range(BATCH):
            one()
        names = ["message_4_calls", "send_text", "split_envelope", "receive", "accepted", "generation"]
        rounds = {name: [] for name in names}
        for _ in range(ROUNDS):
            calls = [one() for _ in range(BATCH)]
            rounds["message_4_calls"].append(statistics.mean(sum(c) for c in calls))
            for i, name in enumerate(names[1:5]):
                rounds[name].append(statistics.mean(c[i] for c in calls))
            rounds["generation"].append(statistics.mean(floor() for _ in range(BATCH)))
        for name in names:
            print(f"bindings_python/{name}: median {statistics.median(rounds[name]):.1f} µs "
                  f"({ROUNDS} rounds of {BATCH}; min {min(rounds[name]):.1f}, max {max(rounds[name]):.1f})")
    finally:
        net.close()


if __name__ == "__main__":
    main()
