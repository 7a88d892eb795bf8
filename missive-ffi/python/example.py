"""Two members meet through a real relay, with nothing but the bindings and the standard library.

    python3 missive-ffi/python/example.py http://127.0.0.1:8700 RELAY_DATA_DIR

A stand-alone `missive relay` is its own platform: its signing key is RELAY_DATA_DIR/platform.key,
which this example uses to certify the two accounts (a real app gets its certificate from the
platform's backend). Each member's state lives in memory here; an app would use
`MissiveClient.create`/`open` on a file sealed under a key from its keystore."""
import pathlib, sys, time, urllib.error, urllib.request

import missive_ffi as m


def now():
    return int(time.time())


class Relay:
    def __init__(self, url):
        self.url = url.rstrip("/")

    def request(self, method, path, body=b"", client=None):
        headers = {}
        if client is not None:  # a request on the client's own mailbox carries its proof
            headers["Authorization"] = client.authorization(method, path, body, now())
        request = urllib.request.Request(self.url + path, data=body or None, method=method, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=10) as answer:
                return answer.status, answer.read()
        except urllib.error.HTTPError as refused:
            return refused.code, refused.read()

    def send(self, client, outgoing):
        for o in outgoing:
            status, body = self.request("POST", o.path, o.body)
            if status != 202:
                raise RuntimeError(f"the relay refused an envelope: {status} {body[:80]!r}")
            client.accepted(o.envelope)

    def receive(self, client):
        status, body = self.request("GET", "/v1/mailbox?after=0", client=client)
        page = m.delivery_page(body)
        events = [event for d in page for event in client.receive(d.delivery, now())]
        if page:
            self.request("POST", "/v1/mailbox/ack", m.ack_body([d.id for d in page]), client)
        return events


def join(relay, platform, name):
    client = m.MissiveClient.in_memory(name.encode())
    client.set_platform_key(platform.public_key())
    client.set_profile(m.Tier.PREMIUM_CAREER, False)
    platform.register(client.mailbox_id(), m.Tier.PREMIUM_CAREER, False)
    client.set_account(platform.certify_account(client.mailbox_id(), False, now() + 86_400))
    relay.request("PUT", m.directory_path(name.encode()), client.publish(5), client)
    sync = client.access_sync(now())
    if sync.update is not None:
        relay.request("PUT", "/v1/mailbox/access", sync.update, client)
    status, issued = relay.request("POST", "/v1/tokens", client.request_tokens(m.TokenKind.INVITE, 1, now()), client)
    client.add_tokens(issued)
    return client


def main(url, data_dir):
    relay = Relay(url)
    platform = m.Platform.from_seed((pathlib.Path(data_dir) / "platform.key").read_bytes())
    ana, ben = join(relay, platform, "example-ana"), join(relay, platform, "example-ben")
    status, prekeys = relay.request("GET", m.directory_path(b"example-ben"), client=ana)
    ben_id = ana.add_contact(b"example-ben", prekeys)
    relay.send(ana, ana.invite(ben_id, "Shall we connect?", now()))
    for event in relay.receive(ben):
        if isinstance(event, m.Event.INVITATION):
            print(f"ben: an invitation: {event.note}")
            relay.send(ben, ben.accept(event.sender, now()))
            sync = ben.access_sync(now())
            if sync.update is not None:
                relay.request("PUT", "/v1/mailbox/access", sync.update, ben)
    relay.receive(ana)
    relay.send(ana, ana.send_text(ben_id, "Hello Ben, end to end.", [], now()))
    for event in relay.receive(ben):
        if isinstance(event, m.Event.MESSAGE):
            print(f"ben: {event.from_user.decode()} says {event.content.text!r}")
    print(f"safety number: {ana.safety_number(ben_id)}")


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2])
