"""The Python bindings end to end: two and three members through a `missive relay` process over
real HTTP and WebSocket, every call through the generated module. Run:
python3 -m unittest discover missive-ffi/tests (after missive-ffi/generate and
`cargo build --features cli`)."""
import os, sys, unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from net import Net, m, now, texts  # noqa: E402


def kinds(events):
    return [type(e).__name__.split(".")[-1] for e in events]


class TwoMembers(unittest.TestCase):
    def setUp(self):
        self.net = Net()
        self.ana, self.ben = self.net.join("ana"), self.net.join("ben")
        self.ben_id = self.net.lookup(self.ana, b"ben")
        self.ana_id = self.ana.mailbox_id()

    def tearDown(self):
        self.net.close()

    def connect(self):
        net, ana, ben = self.net, self.ana, self.ben
        self.assertEqual(net.send(ana, ana.invite(self.ben_id, "hello", now())), [202])
        [invitation] = [e for e in net.fetch(ben) if isinstance(e, m.Event.INVITATION)]
        self.assertEqual((invitation.sender, invitation.note), (self.ana_id, "hello"))
        self.assertEqual(ben.connection(self.ana_id), m.Connection.INVITED_US("hello"))
        net.send(ben, ben.accept(self.ana_id, now()))
        net.sync(ben)
        self.assertIn("CONNECTED", kinds(net.fetch(ana)))
        self.assertEqual(ana.connection(self.ben_id), m.Connection.CONNECTED())

    def test_invitation_accepted_then_direct_messages_both_ways(self):
        self.connect()
        net, ana, ben = self.net, self.ana, self.ben
        net.send(ana, ana.send_text(self.ben_id, "the offer", [], now()))
        events = net.fetch(ben)
        self.assertEqual(texts(events), ["the offer"])
        [message] = [e for e in events if isinstance(e, m.Event.MESSAGE)]
        self.assertEqual((message.sender, message.from_user, message.access), (self.ana_id, b"ana", m.Access.CONNECTION()))
        net.send(ben, ben.send_text(self.ana_id, "accepted", [], now()))
        self.assertEqual(texts(net.fetch(ana)), ["accepted"])
        # Both see the same safety number, and it is 60 digits.
        self.assertEqual(ana.safety_number(self.ben_id), ben.safety_number(self.ana_id))
        self.assertRegex(ana.safety_number(self.ben_id), r"^\d{60}$")
        with self.assertRaises(m.MissiveError.Usage) as unknown:
            ana.safety_number(bytes(16))
        self.assertEqual(unknown.exception.kind, "UnknownRecipient")

    def test_an_invitation_declined_another_withdrawn_and_a_connection_ended(self):
        net, ana, ben = self.net, self.ana, self.ben
        net.send(ana, ana.invite(self.ben_id, None, now()))
        net.fetch(ben)
        net.send(ben, ben.decline(self.ana_id, now()))
        self.assertEqual([e for e in net.fetch(ana) if not isinstance(e, m.Event.NEW_CONTACT)],
                         [m.Event.DECLINED(by=self.ben_id)])
        self.assertEqual(ana.connection(self.ben_id), m.Connection.NONE())
        net.send(ana, ana.invite(self.ben_id, "once more", now()))
        net.send(ana, ana.withdraw(self.ben_id, now()))
        self.assertEqual(kinds(net.fetch(ben))[-1], "WITHDRAWN")
        self.assertEqual(ben.connection(self.ana_id), m.Connection.NONE())
        with self.assertRaises(m.MissiveError.Policy) as nothing:
            ben.accept(self.ana_id, now())
        self.assertEqual(nothing.exception.kind, "NoInvitation")

        # Each invitation spent a token, and so did the withdrawal (Ben gave Ana no key).
        self.assertEqual(ana.tokens(m.TokenKind.INVITE), 0)
        self.assertEqual(net.tokens(ana, m.TokenKind.INVITE, 1), 200)
        self.connect()
        # The withdrawal made Ana replace her contact key at her next sync (after Ben's
        # acceptance). Ben writes before reading the notice that carries the new one: the
        # relay refuses his hand-off and message, his client keeps them, and once he has read
        # the notice it sends them again under the new key.
        picture = m.Attachment(reference="https://files.example/cv.pdf", sha256=bytes(range(32)),
                               size=48_213, media_type="application/pdf", key=os.urandom(32))
        sent, t = ben.send_text(self.ana_id, "my CV", [picture], now()), now()
        for o in sent:
            self.assertEqual(net.submit(ben, o)[0], 403)
            ben.undelivered(o, [self.ana_id], t)
            ben.accepted(o.envelope)
        self.assertEqual((ben.pending_resends(), ben.outbox()), (2, []))
        net.fetch(ben)
        again = ben.resend(t + 60)
        self.assertEqual([net.submit(ben, o) for o in again], [(202, b"")] * 2)
        for o in again:
            ben.undelivered(o, [], t + 60)
        self.assertEqual(ben.pending_resends(), 0)
        [message] = [e for e in net.fetch(ana) if isinstance(e, m.Event.MESSAGE)]
        self.assertEqual(message.content, m.Content.TEXT(text="my CV", mentions=[], attachments=[picture]))
        with self.assertRaises(m.MissiveError.Argument):
            ben.send_text(self.ana_id, "short key", [m.Attachment(
                reference="r", sha256=bytes(32), size=1, media_type="a/b", key=bytes(31))], now())

        net.send(ana, ana.remove_connection(self.ben_id, now()))
        self.assertEqual(kinds(net.fetch(ben)), ["DISCONNECTED"])
        self.assertEqual(ben.connection(self.ana_id), m.Connection.NONE())
        with self.assertRaises(m.MissiveError.Policy):
            ben.send_text(self.ana_id, "still there?", [], now())

    def test_a_state_saved_and_loaded_again_goes_on(self):
        self.connect()
        net = self.net
        net.send(self.ana, self.ana.send_text(self.ben_id, "before", [], now()))
        generation = self.ana.generation()
        ana = net.reopen("ana")
        self.assertEqual(ana.generation(), generation)
        self.assertEqual(ana.mailbox_id(), self.ana_id)
        self.assertEqual([c.user for c in ana.contacts()], [b"ben"])
        net.send(ana, ana.send_text(self.ben_id, "after", [], now()))
        self.assertEqual(texts(net.fetch(self.ben)), ["before", "after"])
        # The wrong key finds a state it cannot open.
        with self.assertRaises(m.MissiveError.Store) as refused:
            m.MissiveClient.open(net.path("ana"), os.urandom(32))
        self.assertEqual(refused.exception.kind, "Tampered")

    def test_an_unsent_envelope_waits_in_the_outbox_until_the_relay_takes_it(self):
        self.connect()
        sent = self.ana.send_text(self.ben_id, "kept", [], now())
        ana = self.net.reopen("ana")
        self.assertEqual([o.envelope for o in ana.outbox()], [o.envelope for o in sent])
        self.net.send(ana, ana.outbox())
        self.assertEqual(ana.outbox(), [])
        self.assertEqual(texts(self.net.fetch(self.ben)), ["kept"])

    def test_refusals_surface_as_typed_exceptions(self):
        ana = self.ana
        # A message to someone not connected, before any invitation: a product rule.
        with self.assertRaises(m.MissiveError.Policy):
            ana.send_text(self.ben_id, "hi", [], now())
        with self.assertRaises(m.MissiveError.Argument):
            ana.send_text(b"short", "hi", [], now())
        with self.assertRaises(m.MissiveError.Decode) as malformed:
            ana.receive(b"\x01\xff\xff", now())
        self.assertTrue(malformed.exception.kind)
        # A malformed answer from the relay raises; it does not crash.
        for parse in (m.delivery_page, m.delivered_frame, m.undelivered, m.prekey_stock):
            with self.assertRaises(m.MissiveError.Decode):
                parse(b"\x01\x05\xaa")
        with self.assertRaises(m.MissiveError.Decode):
            ana.add_contact(b"ben", b"\x00")
        # The client is still usable after each refusal.
        self.connect()

    def test_a_replayed_delivery_is_not_shown_twice(self):
        self.connect()
        net, ana, ben = self.net, self.ana, self.ben
        net.send(ana, ana.send_text(self.ben_id, "once", [], now()))
        auth = ben.authorization("GET", "/v1/mailbox?after=0", b"", now())
        status, body = net.relay.request("GET", "/v1/mailbox?after=0", b"", auth)
        page = m.delivery_page(body)
        first = [e for d in page for e in ben.receive(d.delivery, now())]
        self.assertEqual(texts(first), ["once"])
        again = [e for d in page for e in ben.receive(d.delivery, now())]
        self.assertEqual(again, [])

    def test_typing_and_read_receipts_over_the_websocket(self):
        self.connect()
        from websockets.sync.client import connect
        net, ana, ben = self.net, self.ana, self.ben
        net.send(ana, ana.send_text(self.ben_id, "read me", [], now()))
        [message] = [e for e in net.fetch(ben) if isinstance(e, m.Event.MESSAGE)]
        url = f"ws://{net.relay.host}:{net.relay.port}/v1/mailbox/ws"
        auth = ana.authorization("GET", "/v1/mailbox/ws", b"", now())
        with connect(url, additional_headers={"Authorization": auth}) as socket:
            net.send(ben, ben.typing(message.conversation, True, now()))
            net.send(ben, ben.mark_read(message.conversation, message.id, now()))
            events = []
            while len(events) < 2:
                frame = m.delivered_frame(socket.recv(timeout=10))
                events.extend(ana.receive(frame.delivery, now()))
                socket.send(m.ack_body([frame.id]))
        typing, read = events
        self.assertIsInstance(typing, m.Event.TYPING)
        self.assertEqual((typing.sender, typing.typing), (self.ben_id, True))
        self.assertIsInstance(read, m.Event.READ)
        self.assertEqual(read.up_to, message.id)
        # Switched off, neither is sent at all.
        ben.set_settings(m.Settings(read_receipts=False, typing_indicators=False, sponsored_messages=True))
        self.assertEqual(ben.typing(message.conversation, True, now()), [])
        self.assertEqual(ben.mark_read(message.conversation, message.id, now()), [])


class WithoutAConnection(unittest.TestCase):
    def setUp(self):
        self.net = Net()

    def tearDown(self):
        self.net.close()

    def test_open_profile_and_inmail_reach_a_stranger(self):
        net = self.net
        chloe = net.join("chloe", m.Tier.PREMIUM_BUSINESS, open_profile=True)
        dan = net.join("dan", m.Tier.FREE)
        ben = net.join("ben", m.Tier.PREMIUM_CAREER)
        self.assertEqual(net.tokens(ben, m.TokenKind.CREDIT, 2), 200)
        # A free member may not ask for InMail credits at all.
        self.assertEqual(net.tokens(dan, m.TokenKind.CREDIT, 1), 403)
        chloe_id = net.lookup(dan, b"chloe")
        dan.set_contact_profile(chloe_id, m.Tier.PREMIUM_BUSINESS, True)
        net.send(dan, dan.send_text(chloe_id, "about your post", [], now()))
        [message] = [e for e in net.fetch(chloe) if isinstance(e, m.Event.MESSAGE)]
        self.assertEqual((message.content.text, message.access), ("about your post", m.Access.OPEN_PROFILE()))
        # InMail: Ben pays a credit to reach Dan, who may answer for free.
        dan_id = net.lookup(ben, b"dan")
        with self.assertRaises(m.MissiveError.Policy):
            ben.send_text(dan_id, "not connected", [], now())
        net.send(ben, ben.send_inmail(dan_id, "a role for you", now()))
        self.assertEqual(ben.tokens(m.TokenKind.CREDIT), 1)
        [inmail] = [e for e in net.fetch(dan) if isinstance(e, m.Event.MESSAGE)]
        self.assertEqual((inmail.content.text, inmail.access), ("a role for you", m.Access.IN_MAIL(premium_to_premium=False)))
        net.send(dan, dan.send_text(inmail.sender, "tell me more", [], now()))
        self.assertEqual(texts(net.fetch(ben)), ["tell me more"])
        # Between two premium members an InMail costs no credit: a premium token pays.
        self.assertEqual(net.tokens(ben, m.TokenKind.PREMIUM, 2), 200)
        chloe_for_ben = net.lookup(ben, b"chloe")
        ben.set_contact_profile(chloe_for_ben, m.Tier.PREMIUM_BUSINESS, False)
        net.send(ben, ben.send_inmail(chloe_for_ben, "premium to premium", now()))
        self.assertEqual((ben.tokens(m.TokenKind.CREDIT), ben.tokens(m.TokenKind.PREMIUM)), (1, 1))
        [premium] = [e for e in net.fetch(chloe) if isinstance(e, m.Event.MESSAGE)]
        self.assertEqual((premium.content.text, premium.access), ("premium to premium", m.Access.IN_MAIL(premium_to_premium=True)))


class Threads(unittest.TestCase):
    def test_one_client_shared_by_threads_and_clients_side_by_side(self):
        import threading
        net = Net()
        try:
            ana, ben, cara = net.join("ana"), net.join("ben"), net.join("cara")
            for name, other in (("ben", ben), ("cara", cara)):
                peer = net.lookup(ana, name.encode())
                net.send(ana, ana.invite(peer, None, now()))
                net.fetch(other)
                net.send(other, other.accept(ana.mailbox_id(), now()))
                net.sync(other)
            net.fetch(ana)
            ids = {c.user: c.mailbox for c in ana.contacts()}
            sent, errors = [], []

            def send(to, text):
                try:
                    sent.append(ana.send_text(ids[to], text, [], now()))
                except Exception as e:  # reported below, failing the test
                    errors.append(e)

            threads = [threading.Thread(target=send, args=(to, f"{to.decode()} {i}"))
                       for i in range(8) for to in (b"ben", b"cara")]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            self.assertEqual(errors, [])
            for outgoing in sent:
                net.send(ana, outgoing)
            self.assertEqual(ana.outbox(), [])
            # Each reads its eight, in the order the lock let them through.
            for name, other in (("ben", ben), ("cara", cara)):
                got = texts(net.fetch(other))
                self.assertEqual(sorted(got), sorted(f"{name} {i}" for i in range(8)))
        finally:
            net.close()


class ThreeMembers(unittest.TestCase):
    def test_a_group_with_mentions_and_a_multi_recipient_message(self):
        net = Net()
        try:
            ana, ben, cara = net.join("ana"), net.join("ben"), net.join("cara")
            ids = {}
            for name, other in (("ben", ben), ("cara", cara)):
                ids[name] = net.lookup(ana, name.encode())
                net.send(ana, ana.invite(ids[name], None, now()))
                net.fetch(other)
                net.send(other, other.accept(ana.mailbox_id(), now()))
                net.sync(other)
            net.fetch(ana)
            net.sync(ana)
            members = [m.Member(mailbox=ids["ben"], role=m.Role.MEMBER),
                       m.Member(mailbox=ids["cara"], role=m.Role.MANAGER)]
            group = ana.create_group(members, now())
            net.send(ana, group.outgoing)
            for other in (ben, cara):
                self.assertIn("JOINED", kinds(net.fetch(other)))
                net.sync(other)  # registers the group's key with the relay
            net.send(ana, ana.post_to_group(group.conversation, "welcome, Cara", [ids["cara"]], now()))
            for other in (ben, cara):
                [post] = [e for e in net.fetch(other) if isinstance(e, m.Event.MESSAGE)]
                self.assertEqual(post.content.text, "welcome, Cara")
                self.assertEqual(post.content.mentions, [ids["cara"]])
                self.assertEqual(post.conversation, group.conversation)
            multi = ana.send_multi([ids["ben"], ids["cara"]], "to you both", now())
            net.send(ana, multi.outgoing)
            for other in (ben, cara):
                self.assertEqual(texts(net.fetch(other)), ["to you both"])
            # A removed member reads nothing that follows.
            net.send(ana, ana.change_group(group.conversation, [], [ids["ben"]], now()))
            self.assertIn("REMOVED", kinds(net.fetch(ben)))
            net.fetch(cara)
            net.sync(cara)  # the new epoch's key
            net.send(ana, ana.post_to_group(group.conversation, "just us", [], now()))
            self.assertEqual(texts(net.fetch(ben)), [])
            self.assertEqual(texts(net.fetch(cara)), ["just us"])
        finally:
            net.close()


class Example(unittest.TestCase):
    def test_the_packaged_example_talks_to_a_relay(self):
        import subprocess
        from net import ROOT, Relay
        relay = Relay()
        try:
            env = dict(os.environ, PYTHONPATH=str(ROOT / "missive-ffi/python"))
            run = subprocess.run(
                [sys.executable, str(ROOT / "missive-ffi/python/example.py"),
                 f"http://{relay.host}:{relay.port}", relay.dir.name],
                env=env, capture_output=True, text=True, timeout=60)
        finally:
            relay.stop()
        self.assertEqual(run.returncode, 0, run.stderr)
        self.assertIn("ben: an invitation: Shall we connect?", run.stdout)
        self.assertIn("ben: example-ana says 'Hello Ben, end to end.'", run.stdout)
        self.assertRegex(run.stdout, r"safety number: \d{60}")


class Boundary(unittest.TestCase):
    def test_a_panic_inside_becomes_a_typed_internal_error(self):
        with self.assertRaises(m.MissiveError.Internal) as caught:
            m.panic_for_tests()
        self.assertIn("panic_for_tests", caught.exception.detail)

    def test_arguments_of_the_wrong_shape_are_refused(self):
        with self.assertRaises(m.MissiveError.Argument):
            m.MissiveClient.create(b"x", "/tmp/unused.db", b"short key")
        with self.assertRaises(m.MissiveError.Decode):
            m.check_identity(b"\x01" + bytes(10))


if __name__ == "__main__":
    unittest.main(verbosity=2)
