#!/usr/bin/env python3
"""An independent replay of vectors/product/product.json from PROTOCOL.md §1, §3.12, §7.3 and §10
alone, in Python with `cryptography` and `kyber-py`: every statement the platform signs and its
Ed25519 signature, the certificates' and purchase's bytes, every post (each access and content
kind) by the postcard rules of §1, and the lead answer sealed over X-Wing (HPKE from
vectors/hpke/verify.py, padding from vectors/sealed/verify.py), opened again; each refusal
refused by the checks written here. Run: python3 vectors/product/verify.py"""
import importlib.util, json, pathlib, sys
from cryptography.hazmat.primitives.asymmetric import ed25519
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives import serialization

HERE = pathlib.Path(__file__).resolve().parent


def load(name, path):
    spec = importlib.util.spec_from_file_location(name, HERE.parent / path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


xw = load("xwing_hpke", "hpke/verify.py")
sealed = load("sealed", "sealed/verify.py")
RAW = serialization.Encoding.Raw, serialization.PublicFormat.Raw
H = bytes.fromhex
varint, blob, option, pad = sealed.varint, sealed.blob, sealed.option, sealed.pad


def string(s): return blob(s.encode())
def seq(items, f): return varint(len(items)) + b"".join(f(x) for x in items)


TIERS = {"free": 0, "career": 1, "business": 2}
ACCESS = ["connection", "opened", "open_profile", "inmail", "group_member", "group", "multi",
          "sponsored", "participant"]


def access(a, certificate):
    tag = varint(ACCESS.index(a["kind"]))
    if a["kind"] == "inmail": return tag + varint(["credit", "premium_to_premium"].index(a["inmail"]))
    if a["kind"] == "group_member": return tag + H(a["group"])
    if a["kind"] == "sponsored": return tag + certificate
    return tag


def content(c):
    if c["kind"] == "text":
        attachment = lambda a: (string(a["reference"]) + H(a["sha256"]) + varint(a["size"])
                                + string(a["media_type"]) + H(a["key"]))
        return b"\x00" + string(c["text"]) + seq(c["mentions"], H) + seq(c["attachments"], attachment)
    if c["kind"] == "sponsored":
        button = lambda b: string(b["label"]) + string(b["target"])
        banner = c["banner"] and string(c["banner"]["reference"]) + H(c["banner"]["sha256"])
        form = c["lead_form"]
        if form:
            field = lambda f: string(f["name"]) + string(f["label"]) + bytes([f["required"]])
            form = H(form["id"]) + seq(form["fields"], field) + blob(xw.xwing_keys(H(form["key_seed"]))[2])
        return (b"\x01" + string(c["headline"]) + string(c["body"]) + seq(c["buttons"], button)
                + option(banner) + option(form))
    if c["kind"] == "read": return b"\x02" + H(c["sender"]) + varint(c["epoch"]) + varint(c["index"])
    assert c["kind"] == "devices"
    return b"\x03" + blob(H(c["bytes"]))


class Refused(Exception):
    pass


def refuse_post(wire):
    """The checks these refusals exercise: version, the access, content and InMail tags, UTF-8,
    and nothing after the post (only what each refusal needs of a full decoder)."""
    if wire[0] != 1: raise Refused("DecodeError::UnknownVersion")
    if wire[1] >= len(ACCESS): raise Refused("DecodeError::Invalid")
    at = 2
    if ACCESS[wire[1]] == "inmail":
        if wire[at] > 1: raise Refused("DecodeError::Invalid")
        at += 1
    if wire[at] > 3: raise Refused("DecodeError::Invalid")
    if wire[at] == 0:  # text, mentions, attachments (all empty here but the text)
        n = wire[at + 1]
        try:
            wire[at + 2:at + 2 + n].decode("utf-8")
        except UnicodeDecodeError:
            raise Refused("DecodeError::Invalid")
        at += 2 + n + 2
    if at != len(wire): raise Refused("DecodeError::TrailingBytes")
    return "ok"


def main(path):
    v = json.loads(path.read_text())
    i, o = v["inputs"], v["outputs"]
    platform = ed25519.Ed25519PrivateKey.from_private_bytes(H(i["platform_seed"]))
    assert o["platform_key"] == platform.public_key().public_bytes(*RAW).hex()
    for a, out in zip(i["accounts"], o["accounts"], strict=True):
        body = H(a["mailbox"]) + varint(TIERS[a["tier"]]) + bytes([a["advertiser"]]) + varint(a["expires"])
        signed = b"missive/v1/account" + body
        sig = platform.sign(signed)
        assert out == {"signed_message": signed.hex(), "signature": sig.hex(),
                       "postcard": (body + sig).hex()}, a
    ad = i["advertiser"]
    _, _, identity = sealed.identity(H(ad["identity_secret"]))
    body = string(ad["name"]) + H(ad["mailbox"]) + identity
    signed = b"missive/v1/advertiser" + body
    sig = platform.sign(signed)
    certificate = body + sig
    assert o["advertiser"] == {"identity": "01" + identity.hex(), "signed_message": signed.hex(),
                               "signature": sig.hex(), "wire": "01" + certificate.hex()}
    p = i["purchase"]
    body = H(p["id"]) + H(p["mailbox"]) + varint(p["credits"]) + varint(p["expires"])
    signed = b"missive/v1/credit-purchase" + body
    sig = platform.sign(signed)
    assert o["purchase"] == {"signed_message": signed.hex(), "signature": sig.hex(),
                             "wire": "01" + (body + sig).hex()}
    for post, out in zip(i["posts"], o["posts"], strict=True):
        wire = b"\x01" + access(post["access"], certificate) + content(post["content"])
        assert out == {"wire": wire.hex()}, post["description"]
    l, out = i["lead_answer"], o["lead_answer"]
    answer = (b"\x01" + H(l["form_id"]) + blob(l["user"].encode()) + H(l["mailbox"])
              + seq(l["answers"], lambda kv: string(kv[0]) + string(kv[1])))
    _, _, pk = xw.xwing_keys(H(l["form_seed"]))
    enc, shared = xw.xwing_encaps(pk, H(l["eseed"]))
    key, nonce = sealed.schedule(0x647A, shared, b"missive/v1/lead-form")
    body = enc + ChaCha20Poly1305(key).encrypt(nonce, pad(answer), H(l["form_id"]))
    opened = ChaCha20Poly1305(key).decrypt(nonce, body[1120:], H(l["form_id"]))
    assert sealed.unpad(opened) == answer
    assert out == {"form_public_key": pk.hex(), "answer": answer.hex(), "padded": pad(answer).hex(),
                   "enc": enc.hex(), "shared_secret": shared.hex(), "key": key.hex(),
                   "base_nonce": nonce.hex(), "body": body.hex(), "opened": "ok"}
    for r, out in zip(i["refusals"], o["refusals"], strict=True):
        wire = H(r["wire"])
        try:
            got = refuse_post(wire) if r["kind"] == "post" else (
                "ok" if wire[0] == 1 else "DecodeError::UnknownVersion")
        except Refused as e:
            got = str(e)
        assert out == {"result": got}, (r["description"], got)
    print(f"{path.name}: {len(o['accounts'])} account certificates, an advertiser certificate, "
          f"a purchase, {len(o['posts'])} posts, a lead answer, {len(o['refusals'])} refusals: ok")


if __name__ == "__main__":
    main(pathlib.Path(sys.argv[1]) if len(sys.argv) > 1 else HERE / "product.json")
