"""X.509 client-certificate login over HTTPS, with the server checked against a CA bundle."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from dcache.support import ListenerProc, listener_config, wait_for
from doubles.dcache_server import DcacheEventsServer


def _openssl(*args: str) -> None:
    subprocess.run(["openssl", *args], check=True, capture_output=True)


@pytest.fixture
def pki(tmp_path: Path) -> dict[str, str]:
    d = tmp_path / "pki"
    d.mkdir()
    p = {
        k: str(d / k)
        for k in (
            "ca.key",
            "ca.pem",
            "srv.key",
            "srv.csr",
            "srv.pem",
            "cli.key",
            "cli.csr",
            "cli.pem",
            "ext",
        )
    }
    _openssl(
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        p["ca.key"],
        "-out",
        p["ca.pem"],
        "-days",
        "2",
        "-subj",
        "/CN=test-ca",
    )
    Path(p["ext"]).write_text("subjectAltName=IP:127.0.0.1\n")
    for who, cn in (("srv", "127.0.0.1"), ("cli", "alice")):
        _openssl(
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            p[f"{who}.key"],
            "-out",
            p[f"{who}.csr"],
            "-subj",
            f"/CN={cn}",
        )
        extra = ["-extfile", p["ext"]] if who == "srv" else []
        _openssl(
            "x509",
            "-req",
            "-in",
            p[f"{who}.csr"],
            "-CA",
            p["ca.pem"],
            "-CAkey",
            p["ca.key"],
            "-CAcreateserial",
            "-out",
            p[f"{who}.pem"],
            "-days",
            "2",
            *extra,
        )
    return p


@pytest.fixture
def tls_dcache(pki: dict[str, str]) -> Iterator[DcacheEventsServer]:
    server = DcacheEventsServer(tls=(pki["srv.pem"], pki["srv.key"], pki["ca.pem"])).start()
    server.makedirs("/data/in")
    try:
        yield server
    finally:
        server.stop()


def test_dcache_x509_client_certificate(
    tmp_path: Path, pki: dict[str, str], tls_dcache: DcacheEventsServer
) -> None:
    spool = tmp_path / "spool"
    config, env = listener_config(
        tmp_path, tls_dcache, {"kind": "spool", "dir": str(spool)}, ["/data/in"]
    )
    raw = json.loads(config.read_text())
    raw["auth"] = {"kind": "x509", "cert": pki["cli.pem"], "key": pki["cli.key"]}
    raw["ca_bundle"] = pki["ca.pem"]
    config.write_text(json.dumps(raw))
    proc = ListenerProc(config, env, tmp_path / "listener.log").start()
    try:
        wait_for("the listener to watch /data/in", lambda: tls_dcache.watched() == {"/data/in"})
        tls_dcache.upload("/data/in/secure.csv")
        wait_for(
            "the spool file",
            lambda: (
                spool.is_dir()
                and any(p.suffix == ".json" and not p.name.startswith(".") for p in spool.iterdir())
            ),
        )
    finally:
        assert proc.terminate() == 0, proc.text()


def test_dcache_tls_server_checked_against_the_ca(
    tmp_path: Path, pki: dict[str, str], tls_dcache: DcacheEventsServer
) -> None:
    config, env = listener_config(
        tmp_path, tls_dcache, {"kind": "spool", "dir": str(tmp_path / "s")}, ["/data/in"]
    )
    raw = json.loads(config.read_text())
    raw["auth"] = {"kind": "x509", "cert": pki["cli.pem"], "key": pki["cli.key"]}
    config.write_text(json.dumps(raw))  # no ca_bundle: the test CA is not trusted
    proc = ListenerProc(config, env, tmp_path / "listener.log").start()
    try:
        wait_for(
            "a certificate error in the log", lambda: "CERTIFICATE_VERIFY_FAILED" in proc.text()
        )
        assert tls_dcache.channel_ids() == []
    finally:
        assert proc.terminate() == 0, proc.text()
