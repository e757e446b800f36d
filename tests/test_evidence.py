"""Signed evidence (reports/evidence.py): a real drill run with the team's ed25519 key (made by ssh-keygen) writes an
in-toto statement of its reports in a signed DSSE envelope; the auditor's verify passes, then fails naming summary.md
once one byte of it changes; a key of the wrong kind is refused in one sentence."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from pgdrill.reports import evidence

ROOT = Path(__file__).resolve().parent.parent


def auditor(report: Path, public: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "pgdrill.reports.evidence", "verify", str(report), "--public-key",
                           str(public)], capture_output=True, text=True, timeout=60)


@pytest.mark.slow
def test_a_signed_drill_verifies_until_one_byte_of_its_summary_changes(tmp_path):
    key = tmp_path / "team-key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "dr-team", "-f", str(key)], check=True)
    report = tmp_path / "report"
    drill = subprocess.run([sys.executable, "-m", "pytest", "drills", "-m", "smoke", "-p", "no:xdist", "-q",
                            "--evidence-key", str(key), "--dr-report-dir", str(report),
                            "--dr-history", str(tmp_path / "history")], cwd=ROOT, capture_output=True, text=True,
                           timeout=600)
    assert drill.returncode == 0, drill.stdout[-2000:]
    said = json.loads((report / "summary.json").read_text())["evidence"]
    assert said["signed"] is True and said["key_id"].startswith("sha256:"), said
    listed = {s["name"] for s in json.loads((report / evidence.STATEMENT).read_text())["subject"]}
    assert {"summary.json", "summary.md", "summary.html"} <= listed, listed

    good = auditor(report, Path(f"{key}.pub"))
    assert good.returncode == 0 and good.stdout.startswith("verified: the signature, and "), good
    text = (report / "summary.md").read_bytes()
    (report / "summary.md").write_bytes(text[:-2] + bytes([text[-2] ^ 1]) + text[-1:])  # one byte
    edited = auditor(report, Path(f"{key}.pub"))
    assert edited.returncode == 1 and "summary.md: its sha256 differs from the signed evidence" in edited.stderr, edited
    other = tmp_path / "other-key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(other)], check=True)
    forged = auditor(report, Path(f"{other}.pub"))
    assert forged.returncode == 1 and "the signature does not verify with this public key" in forged.stderr, forged


def test_keys_that_cannot_sign_are_refused_in_one_sentence(tmp_path):
    rsa_key = tmp_path / "rsa.pem"
    rsa_key.write_bytes(rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    with pytest.raises(evidence.EvidenceError, match=r"rsa.pem: a RSAPrivateKey key, not ed25519"):
        evidence.load_private_key(rsa_key)
    garbage = tmp_path / "notes.txt"
    garbage.write_text("my key is in the vault\n")
    with pytest.raises(evidence.EvidenceError, match="not an unencrypted ed25519 private key in PEM or OpenSSH"):
        evidence.load_private_key(garbage)
    run = subprocess.run([sys.executable, "-m", "pytest", "drills", "-m", "overdue", "-p", "no:xdist", "-q",
                          "--evidence-key", str(garbage), "--dr-report-dir", str(tmp_path / "r")],
                         cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert run.returncode == 4 and "pgdrill: --evidence-key" in run.stderr, run.stderr[-800:]
