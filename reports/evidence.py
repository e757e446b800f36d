"""Signed evidence: a run's report files listed with their sha256 in an in-toto Statement, signed with the team's
ed25519 key in a DSSE envelope (the in-toto attestation framework's signing format), so that an auditor can check
that summary.md is the one the drill wrote. Signatures through `cryptography` (a well-kept library), nothing
hand-rolled but DSSE's pre-authentication encoding, which is one line of its spec.

    python -m pgdrill.reports.evidence verify REPORT_DIR --public-key team.pub

exits 0 naming how many files it checked, or 1 naming the first file that differs, is missing, or the signature
that does not verify. Without --evidence-key a run writes the statement unsigned, and its summary says so.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import os
import sys
from pathlib import Path

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

STATEMENT = "evidence.intoto.json"
ENVELOPE = "evidence.dsse.json"
PAYLOAD_TYPE = "application/vnd.in-toto+json"
PREDICATE_TYPE = "pgdrill/drill-evidence/v1"


class EvidenceError(ValueError):
    """A key or an envelope that cannot be used; the message is one sentence."""


def load_private_key(path: Path) -> Ed25519PrivateKey:
    """The team's ed25519 private key, PEM (PKCS#8) or OpenSSH, unencrypted."""
    data = path.read_bytes()
    loaders = (serialization.load_pem_private_key, serialization.load_ssh_private_key)
    for load in loaders:
        try:
            key = load(data, None)
        except (ValueError, TypeError, UnsupportedAlgorithm):
            continue
        if isinstance(key, Ed25519PrivateKey):
            return key
        raise EvidenceError(f"--evidence-key {path}: a {type(key).__name__.removeprefix('_')} key, not ed25519 "
                            "(make one with ssh-keygen -t ed25519)")
    raise EvidenceError(f"--evidence-key {path}: not an unencrypted ed25519 private key in PEM or OpenSSH format "
                        "(ssh-keygen -t ed25519 -N '' writes one)")


def load_public_key(path: Path) -> Ed25519PublicKey:
    data = path.read_bytes()
    for load in (serialization.load_pem_public_key, serialization.load_ssh_public_key):
        try:
            key = load(data)
        except (ValueError, TypeError, UnsupportedAlgorithm):
            continue
        if isinstance(key, Ed25519PublicKey):
            return key
    raise EvidenceError(f"--public-key {path}: not an ed25519 public key in PEM or OpenSSH format")


def sha256(path: Path) -> str:
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def pae(payload_type: str, payload: bytes) -> bytes:
    """DSSE's pre-authentication encoding: what is signed is the type and the payload, lengths first."""
    return b" ".join([b"DSSEv1", str(len(payload_type)).encode(), payload_type.encode(), str(len(payload)).encode(),
                      payload])


def statement(report_dir: Path, files: list[Path], predicate: dict) -> dict:
    """The in-toto Statement: each file (relative to the report dir) with its sha256, and what the run was."""
    subjects = [{"name": os.path.relpath(path, report_dir), "digest": {"sha256": sha256(path)}}  # Allure's: ../
                for path in sorted(files)]
    return {"_type": "https://in-toto.io/Statement/v1", "subject": subjects, "predicateType": PREDICATE_TYPE,
            "predicate": predicate}


def key_id(public: Ed25519PublicKey) -> str:
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return "sha256:" + hashlib.sha256(raw).hexdigest()


def write(report_dir: Path, files: list[Path], predicate: dict, key: Ed25519PrivateKey | None) -> Path:
    """The statement beside the reports, and with a key its signed envelope; returns what an auditor checks."""
    payload = json.dumps(statement(report_dir, files, predicate), indent=1, sort_keys=True).encode()
    (report_dir / STATEMENT).write_bytes(payload)
    if key is None:
        return report_dir / STATEMENT
    envelope = {"payloadType": PAYLOAD_TYPE, "payload": base64.b64encode(payload).decode(),
                "signatures": [{"keyid": key_id(key.public_key()),
                                "sig": base64.b64encode(key.sign(pae(PAYLOAD_TYPE, payload))).decode()}]}
    (report_dir / ENVELOPE).write_text(json.dumps(envelope, indent=1) + "\n")
    return report_dir / ENVELOPE


def verify(report_dir: Path, public: Ed25519PublicKey) -> str:
    """The envelope's signature, then every listed file's sha256; raises EvidenceError naming what fails."""
    try:
        envelope = json.loads((report_dir / ENVELOPE).read_text())
        payload = base64.b64decode(envelope["payload"])
        signatures = [base64.b64decode(s["sig"]) for s in envelope["signatures"]]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise EvidenceError(f"{report_dir / ENVELOPE}: no readable signed evidence ({type(exc).__name__}: {exc})") \
            from exc
    if envelope.get("payloadType") != PAYLOAD_TYPE or not any(valid(public, sig, payload) for sig in signatures):
        raise EvidenceError(f"{report_dir / ENVELOPE}: the signature does not verify with this public key")
    subjects = json.loads(payload)["subject"]
    for subject in subjects:
        path = report_dir / subject["name"]
        if not path.is_file():
            raise EvidenceError(f"{subject['name']}: listed in the signed evidence, missing from {report_dir}")
        if sha256(path) != subject["digest"]["sha256"]:
            raise EvidenceError(f"{subject['name']}: its sha256 differs from the signed evidence (changed after the "
                                "drill wrote it)")
    return f"verified: the signature, and {len(subjects)} files unchanged since the drill wrote them"


def valid(public: Ed25519PublicKey, signature: bytes, payload: bytes) -> bool:
    try:
        public.verify(signature, pae(PAYLOAD_TYPE, payload))
    except InvalidSignature:
        return False
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pgdrill.reports.evidence",
                                     description="verify a drill's signed evidence")
    commands = parser.add_subparsers(dest="command", required=True)
    check = commands.add_parser("verify", help="the signature and every listed file's sha256")
    check.add_argument("report_dir", type=Path)
    check.add_argument("--public-key", type=Path, required=True, help="the team's ed25519 public key (PEM or OpenSSH)")
    args = parser.parse_args(argv)
    try:
        print(verify(args.report_dir, load_public_key(args.public_key)))
    except EvidenceError as exc:
        print(f"NOT verified: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
