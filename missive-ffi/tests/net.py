"""A relay process and members using it through the Python bindings, as an app would: every
HTTP request, WebSocket and answer is here; every decision is the engine's.

`MISSIVE_BIN` names the `missive` binary (default: target/debug/missive, built with
`cargo build --features cli`). The bindings are imported from missive-ffi/python (the package
missive-ffi/generate writes, with the library in it) unless `missive_ffi` is installed."""
import http.client, os, pathlib, re, subprocess, sys, tempfile, time

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "missive-ffi/python"))
import missive_ffi as m  # noqa: E402

PLATFORM_SEED = bytes([0x50] * 32)
YEAR = 365 * 86_400


def now():
    return int(time.time())


class Relay:
    """`missive relay` on a free loopback port, trusting the platform of PLATFORM_SEED."""

    def __init__(self):
        binary = os.environ.get("MISSIVE_BIN") or str(ROOT / "target/debug/missive")
        self.dir = tempfile.TemporaryDirectory()
        (pathlib.Path(self.dir.name) / "platform.key").write_bytes(PLATFORM_SEED)
        self.process = subprocess.Popen(
            [binary, "relay", "--data-dir", self.dir.name, "--listen", "127.0.0.1:0"],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        found = re.search(r"listening on http://([\d.]+):(\d+)", self.process.stdout.readline())
        if not found:
            self.stop()
            raise RuntimeError("the relay did not start")
        self.host, self.port = found.group(1), int(found.group(2))

    def request(self, method, path, body=b"", auth=None):
        connection = http.client.HTTPConnection(self.host, self.port, timeout=10)
        connection.request(method, path, body=body, headers={"Authorization": auth} if auth else {})
        response = connection.getresponse()
        answer = (response.status, response.read())
        connection.close()
        return answer

    def stop(self):
        self.process.terminate()
        self.process.wait(timeout=10)
        self.dir.cleanup()


class Net:
    """A relay, the platform, and members; each member's state in an SQLite file."""

    def __init__(self):
        self.relay = Relay()
        self.platform = m.Platform.from_seed(PLATFORM_SEED)
        self.files = tempfile.TemporaryDirectory()
        self.keys = {}

    def close(self):
        self.relay.stop()
        self.files.cleanup()

    def path(self, name):
        return os.path.join(self.files.name, f"{name}.db")

    def authed(self, client, method, path, body=b""):
        auth = client.authorization(method, path, body, now())
        return self.relay.request(method, path, body, auth)

    def join(self, name, tier=m.Tier.PREMIUM_CAREER, open_profile=False, advertiser=False, memory=False):
        """A member: created (its state in an SQLite file, or in memory), certified, published,
        registered, with invitation tokens."""
        self.keys[name] = os.urandom(32)
        if memory:
            c = m.MissiveClient.in_memory(name.encode())
        else:
            c = m.MissiveClient.create(name.encode(), self.path(name), self.keys[name])
        c.set_platform_key(self.platform.public_key())
        c.set_profile(tier, open_profile)
        self.platform.register(c.mailbox_id(), tier, open_profile)
        c.set_account(self.platform.certify_account(c.mailbox_id(), advertiser, now() + YEAR))
        status, _ = self.authed(c, "PUT", m.directory_path(name.encode()), c.publish(5))
        assert status == 204, status
        self.sync(c)
        self.tokens(c, m.TokenKind.INVITE, 3)
        return c

    def reopen(self, name):
        """The member loaded again from its file."""
        return m.MissiveClient.open(self.path(name), self.keys[name])

    def sync(self, client):
        sync = client.access_sync(now())
        if sync.update is not None:
            status, body = self.authed(client, "PUT", "/v1/mailbox/access", sync.update)
            assert status == 204, (status, body)
        self.send(client, sync.notices)

    def tokens(self, client, kind, count):
        status, body = self.authed(client, "POST", "/v1/tokens", client.request_tokens(kind, count, now()))
        if status == 200:
            client.add_tokens(body)
        return status

    def lookup(self, client, user):
        status, body = self.authed(client, "GET", m.directory_path(user))
        assert status == 200, status
        return client.add_contact(user, body)

    def submit(self, client, o):
        """Hands one envelope to the relay: its status and body (a 202's names whom it did not
        reach yet). The outbox forgets it once the relay took it."""
        status, body = self.relay.request("POST", o.path, o.body)
        if status in (200, 202):
            client.accepted(o.envelope)
        return status, body

    def send(self, client, outgoing):
        """Hands each envelope to the relay: their statuses."""
        return [self.submit(client, o)[0] for o in outgoing]

    def fetch(self, client, sync=True):
        """Everything waiting in `client`'s mailbox: received, acknowledged, then (as an app
        does) the access keys it brought registered."""
        events, after = [], 0
        while True:
            status, body = self.authed(client, "GET", f"/v1/mailbox?after={after}")
            assert status == 200, status
            page = m.delivery_page(body)
            if not page:
                if sync:
                    self.sync(client)
                return events
            for d in page:
                events.extend(client.receive(d.delivery, now()))
            status, _ = self.authed(client, "POST", "/v1/mailbox/ack", m.ack_body([d.id for d in page]))
            assert status == 204, status
            after = page[-1].seq


def texts(events):
    return [e.content.text for e in events if isinstance(e, m.Event.MESSAGE)]
