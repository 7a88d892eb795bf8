"""The rest of the product through the Python bindings, against a `missive relay` process:
sponsored messages with buttons, a banner and a lead form (answers only the advertiser reads),
InMail credits bought from the platform, an account on two devices (linked by a code, found
by contacts, one removed), and resends to a member who had not caught up. Run with the rest:
python3 -m unittest discover missive-ffi/tests"""
import hashlib, os, sys, unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from net import Net, m, now, texts  # noqa: E402


def messages(events):
    return [e for e in events if isinstance(e, m.Event.MESSAGE)]


class Sponsored(unittest.TestCase):
    def setUp(self):
        self.net = Net()

    def tearDown(self):
        self.net.close()

    def test_a_sponsored_message_with_a_lead_form_only_the_advertiser_reads_the_answers_of(self):
        net = self.net
        acme = net.join("acme", m.Tier.FREE, advertiser=True)
        acme.set_advertiser_certificate(
            net.platform.certify_advertiser("Acme Recruiting", acme.mailbox_id(), acme.identity()))
        self.assertEqual(net.tokens(acme, m.TokenKind.SPONSORED, 10), 200)
        ana, ben, cara, dan = (net.join(n, m.Tier.FREE) for n in ("ana", "ben", "cara", "dan"))
        audience = [net.lookup(acme, n) for n in (b"ana", b"ben", b"cara")]
        net.lookup(acme, b"dan")
        cara.set_settings(m.Settings(read_receipts=True, typing_indicators=True, sponsored_messages=False))
        net.sync(cara)

        form = acme.new_lead_form([m.LeadField(name="email", label="Email", required=True),
                                   m.LeadField(name="phone", label="Phone", required=False)])
        self.assertEqual((len(form.id), len(form.key)), (16, 1216))
        ad = m.Sponsored(
            headline="We are hiring", body="Rust roles in Lisbon",
            buttons=[m.Button(label="Apply", target="https://acme.example/apply"),
                     m.Button(label="Learn more", target="https://acme.example")],
            banner=m.Image(reference="https://cdn.acme.example/banner.png",
                           sha256=hashlib.sha256(b"banner").digest()),
            lead_form=form)
        sent = acme.send_sponsored(audience, ad, now())
        self.assertEqual(net.send(acme, sent), [202] * len(sent))
        self.assertEqual(acme.tokens(m.TokenKind.SPONSORED), 10 - len(sent), "a token an envelope")

        for member in (ana, ben):
            [shown] = messages(net.fetch(member))
            self.assertEqual(shown.access, m.Access.SPONSORED(advertiser="Acme Recruiting"))
            self.assertEqual(shown.content, m.Content.SPONSORED(message=ad))
        self.assertEqual(messages(net.fetch(cara)), [], "she switched sponsored messages off")
        self.assertEqual(messages(net.fetch(dan)), [], "not in the audience")

        acme_id = acme.mailbox_id()
        with self.assertRaises(m.MissiveError.Usage) as missing:
            ana.answer_lead_form(acme_id, form, [m.LeadAnswer(field="phone", value="1")], now())
        self.assertEqual(missing.exception.kind, "NotPermitted", "email is required")
        with self.assertRaises(m.MissiveError):
            ana.answer_lead_form(acme_id, form, [m.LeadAnswer(field="email", value="a@b"),
                                                 m.LeadAnswer(field="salary", value="1")], now())
        with self.assertRaises(m.MissiveError.Decode):
            ana.answer_lead_form(acme_id, m.LeadForm(id=form.id, fields=form.fields, key=b"\x01" * 5),
                                 [m.LeadAnswer(field="email", value="a@b")], now())
        answer = [m.LeadAnswer(field="email", value="ana@example.com")]
        self.assertEqual(net.send(ana, ana.answer_lead_form(acme_id, form, answer, now())), [202])
        leads = [e for e in net.fetch(acme) if isinstance(e, m.Event.LEAD)]
        self.assertEqual(leads, [m.Event.LEAD(form=form.id, user=b"ana", mailbox=ana.mailbox_id(), answers=answer)])

        # Only a certified advertiser sends them.
        with self.assertRaises(m.MissiveError.Policy) as refused:
            ben.send_sponsored([ben.contacts()[0].mailbox], ad, now())
        self.assertEqual(refused.exception.kind, "NotAdvertiser")
        with self.assertRaises(m.MissiveError.Decode):
            ben.set_advertiser_certificate(b"\x01\x02")

    def test_bought_credits_are_redeemed_once_and_pay_for_an_inmail(self):
        net = self.net
        dan, ana = net.join("dan", m.Tier.FREE), net.join("ana", m.Tier.FREE)
        self.assertEqual(dan.tokens(m.TokenKind.CREDIT), 0, "free members get no monthly credits")
        receipt = net.platform.sell_credits(dan.mailbox_id(), 3, now() + 3600)

        def redeem(client, purchase):
            return net.authed(client, "POST", "/v1/tokens", client.redeem_credits(purchase, now()))

        status, issued = redeem(dan, receipt)
        self.assertEqual((status, dan.add_tokens(issued), dan.tokens(m.TokenKind.CREDIT)), (200, 3, 3))
        self.assertEqual(redeem(dan, receipt)[0], 403, "a receipt is redeemed once")
        self.assertEqual(redeem(ana, receipt)[0], 403, "by its buyer only")
        expired = net.platform.sell_credits(dan.mailbox_id(), 1, now() - 1)
        self.assertEqual(redeem(dan, expired)[0], 403)
        with self.assertRaises(m.MissiveError.Usage) as unknown:
            net.platform.sell_credits(bytes(16), 1, now() + 60)
        self.assertEqual(unknown.exception.kind, "UnknownMember")

        ana_id = net.lookup(dan, b"ana")
        sent = dan.send_inmail(ana_id, "a role for you", now())
        self.assertEqual(net.send(dan, sent), [202] * len(sent))
        [inmail] = messages(net.fetch(ana))
        self.assertEqual((inmail.content.text, inmail.access),
                         ("a role for you", m.Access.IN_MAIL(premium_to_premium=False)))
        self.assertEqual(dan.tokens(m.TokenKind.CREDIT), 2)


class TwoDevices(unittest.TestCase):
    def setUp(self):
        self.net = Net()

    def tearDown(self):
        self.net.close()

    def link(self, phone):
        """A fresh client linked to `phone`'s account through the relay, its bundle published."""
        net, user = self.net, phone.user()
        laptop = m.MissiveClient.create(user, net.path("laptop"), os.urandom(32))
        code = phone.link_code(now())
        net.sync(phone)
        request = laptop.answer_link(code, now())
        net.sync(laptop)  # registers the key the handover will present
        self.assertEqual(net.send(laptop, request), [202])
        [answered] = net.fetch(phone)
        self.assertEqual(answered, m.Event.LINK_ANSWERED(mailbox=laptop.mailbox_id(), identity=laptop.identity()))
        linked = phone.link_device(now())
        self.assertEqual(net.authed(phone, "PUT", m.devices_path(user), linked.list)[0], 204)
        self.assertEqual(net.send(phone, [linked.handover]), [202])
        self.assertEqual(net.fetch(laptop), [m.Event.LINKED(device=2)])
        self.assertEqual(net.authed(laptop, "PUT", m.directory_path(user), laptop.publish(3))[0], 204)
        net.sync(laptop)
        with self.assertRaises(m.MissiveError.Usage):
            phone.link_device(now())  # the code is used up
        return laptop

    def test_an_account_on_two_devices_then_one_removed(self):
        net = self.net
        phone, ben = net.join("ana"), net.join("ben")
        ana_id, ben_id = phone.mailbox_id(), net.lookup(phone, b"ben")
        net.send(phone, phone.invite(ben_id, None, now()))
        net.fetch(ben)
        net.send(ben, ben.accept(ana_id, now()))
        net.sync(ben)
        net.fetch(phone)

        laptop = self.link(phone)
        self.assertEqual((laptop.member_id(), laptop.account_identity(), laptop.device_id()),
                         (ana_id, phone.identity(), 2))
        self.assertEqual(laptop.devices(), phone.devices())
        self.assertEqual([(d.id, d.mailbox) for d in phone.devices()],
                         [(1, ana_id), (2, laptop.mailbox_id())])
        self.assertEqual(laptop.connection(ben_id), m.Connection.CONNECTED(), "the handover carries the connection")

        # Ben takes Ana's devices from the directory; each of hers takes the other.
        for c in (ben, phone, laptop):
            status, directory = net.authed(c, "GET", m.devices_path(b"ana"))
            self.assertEqual(status, 200)
            c.add_contact_devices(ana_id, directory)
        self.assertEqual([d.id for d in ben.contact_devices(ana_id)], [1, 2])
        net.lookup(laptop, b"ben")
        net.send(ben, ben.send_text(ana_id, "hello both", [], now()))
        self.assertEqual(texts(net.fetch(phone)), ["hello both"])
        self.assertEqual(texts(net.fetch(laptop)), ["hello both"])
        net.send(laptop, laptop.send_text(ben_id, "from the laptop", [], now()))
        self.assertEqual(texts(net.fetch(ben)), ["from the laptop"])
        self.assertEqual(texts(net.fetch(phone)), ["from the laptop"])

        # The laptop is lost: the phone removes it.
        with self.assertRaises(m.MissiveError.Usage):
            phone.remove_device(1, now())
        with self.assertRaises(m.MissiveError.Device) as unknown:
            phone.remove_device(9, now())
        self.assertEqual(unknown.exception.kind, "UnknownDevice")
        removed = phone.remove_device(2, now())
        self.assertEqual(net.authed(phone, "PUT", m.devices_path(b"ana"), removed.list)[0], 204)
        net.send(phone, removed.notices)
        with self.assertRaises(m.MissiveError.Device) as gone:
            laptop.update_device_list(removed.list)
        self.assertEqual(gone.exception.kind, "NotListed")
        status, directory = net.authed(ben, "GET", m.devices_path(b"ana"))
        changes = ben.add_contact_devices(ana_id, directory)
        self.assertEqual(([d.id for d in changes.added], [d.id for d in changes.removed]), ([], [2]))
        net.send(ben, ben.send_text(ana_id, "after", [], now()))
        self.assertEqual(texts(net.fetch(phone)), ["after"])
        self.assertEqual(texts(net.fetch(laptop, sync=False)), [], "no longer one of Ana's devices")
        laptop.reset_access_registration()
        update = laptop.access_sync(now()).update
        self.assertEqual(net.authed(laptop, "PUT", "/v1/mailbox/access", update)[0], 403,
                         "the relay revoked the removed device's mailbox")
        with self.assertRaises(m.MissiveError.Decode):
            ben.add_contact_devices(ana_id, b"\x01junk")


class Resends(unittest.TestCase):
    def test_a_member_who_had_not_caught_up_is_sent_the_post_again(self):
        net = Net()
        self.addCleanup(net.close)
        dan, ana, ben = net.join("dan"), net.join("ana"), net.join("ben")
        ana_id, ben_id = net.lookup(dan, b"ana"), net.lookup(dan, b"ben")
        group = dan.create_group([m.Member(mailbox=ana_id, role=m.Role.MEMBER),
                                  m.Member(mailbox=ben_id, role=m.Role.MEMBER)], now())
        net.send(dan, group.outgoing)
        net.fetch(ana)  # Ana joins and registers the group's key; Ben is not online yet.
        [post] = dan.post_to_group(group.conversation, "first", [], now())
        status, body = net.submit(dan, post)
        self.assertEqual((status, m.undelivered(body)), (202, [ben_id]))
        self.assertEqual(texts(net.fetch(ana)), ["first"])
        t = now()
        dan.undelivered(post, m.undelivered(body), t)
        self.assertEqual(dan.pending_resends(), 1)
        self.assertEqual(dan.resend(t), [], "not due yet")
        net.fetch(ben)  # Ben catches up.
        [again] = dan.resend(t + 60)
        self.assertEqual(net.submit(dan, again), (202, b""))
        dan.undelivered(again, [], t + 60)
        self.assertEqual(dan.pending_resends(), 0)
        self.assertEqual(texts(net.fetch(ben)), ["first"])
        self.assertEqual(texts(net.fetch(ana)), [])

    def test_prekeys_wanted_follows_the_relays_stock(self):
        net = Net()
        self.addCleanup(net.close)
        ana, ben = net.join("ana"), net.join("ben")
        status, body = net.authed(ana, "GET", m.directory_path(b"ana") + "/stock")
        self.assertEqual((status, m.prekey_stock(body)), (200, 5))
        wanted = ana.prekeys_wanted(m.prekey_stock(body))
        self.assertGreater(wanted, 0, "five left is low")
        self.assertEqual(net.authed(ana, "PUT", m.directory_path(b"ana"), ana.publish(wanted))[0], 204)
        status, body = net.authed(ana, "GET", m.directory_path(b"ana") + "/stock")
        full = m.prekey_stock(body)
        self.assertEqual(ana.prekeys_wanted(full), 0)
        net.lookup(ben, b"ana")
        status, body = net.authed(ana, "GET", m.directory_path(b"ana") + "/stock")
        self.assertEqual(m.prekey_stock(body), full - 1, "a lookup took one")


if __name__ == "__main__":
    unittest.main()
