"""Cross-field site rules (oscar_iac.site.rules), each Problem asserted whole: the file, the
field, the line and what is expected, in the words a user reads."""

from __future__ import annotations

from pathlib import Path

import pytest

from oscar_iac.errors import UserError
from oscar_iac.site import load_site

REPO = Path(__file__).resolve().parents[2]


def _problems(folder: Path) -> list[str]:
    with pytest.raises(UserError) as err:
        load_site(folder)
    return [str(p) for p in err.value.problems]


def test_hosts_are_distinct_by_name_and_by_address_and_port(tmp_path: Path) -> None:
    """DNS names are case-insensitive and may end with the root's '.': 'Node.Example.ORG'
    and 'node.example.org.' are node.example.org; the same address on another SSH port is
    another machine."""
    text = (REPO / "inventories" / "hosts-example" / "site.yml").read_text()
    old_workers = (
        "    - {name: worker1, address: 192.0.2.11, user: debian}\n"
        "    - {name: worker2, address: 192.0.2.12, user: debian}\n"
    )
    assert old_workers in text and "workers: {count: 2" in text
    text = (
        text.replace(
            "front: {name: front, address: 192.0.2.10, user: debian}",
            "front: {name: front, address: node.example.org, user: debian}",
        )
        .replace(
            old_workers,
            "    - {name: worker1, address: Node.Example.ORG, user: debian}\n"
            "    - {name: worker1, address: 192.0.2.12, port: 2222, user: debian}\n"
            "    - {name: worker3, address: 192.0.2.12, port: 2222, user: debian}\n"
            "    - {name: front, address: 192.0.2.12, user: debian}\n"
            "    - {name: worker5, address: node.example.org., user: debian}\n",
        )
        .replace("workers: {count: 2", "workers: {count: 5")
    )
    folder = tmp_path / "site"
    folder.mkdir()
    (folder / "site.yml").write_text(text)
    first = text.splitlines().index(
        "    - {name: worker1, address: Node.Example.ORG, user: debian}"
    )
    f = f"{folder / 'site.yml'}"
    assert _problems(folder) == [
        f"{f}:{first + 1}: target.workers[0].address: 'Node.Example.ORG' is already the "
        "address of the front",
        f"{f}:{first + 2}: target.workers[1].name: 'worker1' is already the name of workers[0]",
        f"{f}:{first + 3}: target.workers[2].address: '192.0.2.12' is already the address of "
        "workers[1]",
        f"{f}:{first + 4}: target.workers[3].name: 'front' is already the name of the front",
        f"{f}:{first + 5}: target.workers[4].address: 'node.example.org.' is already the "
        "address of the front",
    ]


def _im_site(tmp_path: Path, endpoint: str) -> Path:
    text = (REPO / "inventories" / "egi-example" / "site.yml").read_text()
    text = text.replace("  endpoint: https://im.egi.eu/im ", f"  endpoint: {endpoint} ")
    text = text[: text.index("\nartifacts:")] + "\n"  # artifacts unset: this checkout
    folder = tmp_path / "site"
    folder.mkdir()
    (folder / "site.yml").write_text(text)
    return folder


@pytest.mark.parametrize(
    "endpoint",
    [
        "http://127.0.0.1:8800",
        "http://localhost:8800/im",
        "http://[::1]:8800",
        "https://127.3.2.1/im",
    ],
)
def test_a_loopback_im_reads_this_checkout(tmp_path: Path, endpoint: str) -> None:
    assert load_site(_im_site(tmp_path, endpoint)).site.artifacts.repo_url is None


@pytest.mark.parametrize(
    ("endpoint", "shown"),
    [
        ("https://im.egi.eu/im", "https://im.egi.eu/im"),
        # An URL without a path is shown as pydantic's HttpUrl writes it (path '/').
        ("https://10.0.0.5:8800", "https://10.0.0.5:8800/"),
        ("https://localhost.example.org", "https://localhost.example.org/"),
    ],
)
def test_a_remote_im_needs_published_artifacts(tmp_path: Path, endpoint: str, shown: str) -> None:
    folder = _im_site(tmp_path, endpoint)
    why = (
        "is unset, so it defaults to this checkout as file://, which the remote IM at "
        f"{shown} cannot read: give an https:// (or git) URL of a published oscar-iac release"
    )
    # An unset field has no line of its own: the document's first line ("name: ...").
    first = (folder / "site.yml").read_text().splitlines().index("name: egi-example") + 1
    assert _problems(folder) == [
        f"{folder / 'site.yml'}:{first}: artifacts.repo_url: {why}",
        f"{folder / 'site.yml'}:{first}: artifacts.entry_url: {why}",
    ]
