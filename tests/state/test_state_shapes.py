"""The state store's exact answers: a deployment.json of the wrong shape is exit 2 naming
the file and the first wrong field in the words below; a record is written as indented,
sorted JSON with UTC times; owner.json ties a state folder to one site file, and a second
site file of the same name is refused naming both files and its `name:` line."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from oscar_iac import state
from oscar_iac.errors import Problem, UserError
from oscar_iac.site import load_site
from oscar_iac.state.deployment import Deployment, load, save
from oscar_iac.state.owner import claim, recorded_owner

OK: dict[str, Any] = {"site": "s", "im_url": ""}
ADVICE = (
    "restore it from a backup, or move it aside to start over "
    "(an infrastructure it recorded stays on IM until removed there)"
)
LONG = "f" * 200
HISTORY_FIELDS = "a history entry does not have the fields ['at', 'event']"
PHASE_FIELDS = "phase 'up' does not have the fields ['at', 'detail', 'digest', 'status']"


@pytest.mark.parametrize(
    ("doc", "why"),
    [
        ([], "not a JSON object"),
        ({**OK, "zzz": 1, "extra": 2}, "unexpected fields ['extra', 'zzz']"),
        ({**OK, LONG: 1}, f"unexpected fields ['{LONG}']"[:120]),
        ({"im_url": ""}, "site is missing or not text"),
        ({"site": "s"}, "im_url is missing or not text"),
        ({**OK, "inf_id": 5}, "inf_id is not text"),
        ({**OK, "created_at": 5}, "created_at is not text"),
        ({**OK, "updated_at": []}, "updated_at is not text"),
        ({**OK, "phase": 3}, "phase is not text"),
        ({**OK, "workers": -1}, "workers is not a whole number of 0 or more"),
        ({**OK, "workers": True}, "workers is not a whole number of 0 or more"),
        ({**OK, "workers": "2"}, "workers is not a whole number of 0 or more"),
        ({**OK, "outputs": []}, "outputs is not a mapping"),
        ({**OK, "history": {}}, "history is not a list"),
        ({**OK, "history": [["x"]]}, "a history entry is not a mapping of text to text"),
        ({**OK, "history": [{"at": "t"}]}, HISTORY_FIELDS),
        ({**OK, "phases": []}, "phases is not a mapping"),
        ({**OK, "phases": {"up": {"status": 1}}}, "phase 'up' is not a mapping of text to text"),
        ({**OK, "phases": {"up": {"status": "done"}}}, PHASE_FIELDS),
        ({**OK, "phases": {"up": {"status": "done", "at": "t", "x": "y"}}}, PHASE_FIELDS),
        ({**OK, "run": []}, "run is not a mapping of text to text"),
    ],
)
def test_a_state_of_the_wrong_shape_names_file_and_field(
    state_root: Path, doc: object, why: str
) -> None:
    path = state_root / "s" / "deployment.json"
    path.parent.mkdir(parents=True, mode=0o700)
    path.write_text(json.dumps(doc))
    with pytest.raises(UserError) as err:
        load("s")
    assert err.value.problems == [
        Problem(
            path, "", f"is not a deployment state this tool can read (TypeError: {why}); {ADVICE}"
        )
    ]


def test_a_state_that_is_not_json_names_the_parser_error(state_root: Path) -> None:
    path = state_root / "s" / "deployment.json"
    path.parent.mkdir(parents=True, mode=0o700)
    path.write_text("{")
    with pytest.raises(UserError) as err:
        load("s")
    assert str(err.value) == (
        f"{path}: is not a deployment state this tool can read (JSONDecodeError: Expecting "
        f"property name enclosed in double quotes: line 1 column 2 (char 1)); {ADVICE}"
    )


def test_the_least_state_is_read_with_its_defaults(state_root: Path) -> None:
    path = state_root / "s" / "deployment.json"
    path.parent.mkdir(parents=True, mode=0o700)
    path.write_text(json.dumps({**OK, "phases": {"up": {"status": "done", "at": "t"}}}))
    dep = load("s")
    assert dep == Deployment(site="s", im_url="", phases={"up": {"status": "done", "at": "t"}})
    assert (dep.workers, dep.history, dep.run, dep.phase) == (0, [], {}, "new")


def test_a_state_is_written_as_indented_sorted_json(state_root: Path) -> None:
    path = save(Deployment(site="s", im_url="embedded", workers=2))
    assert path.read_text() == (
        '{\n  "created_at": null,\n  "history": [],\n  "im_url": "embedded",\n  "inf_id": null,\n'
        '  "outputs": {},\n  "phase": "new",\n  "phases": {},\n  "run": {},\n  "site": "s",\n'
        '  "updated_at": null,\n  "workers": 2\n}'
    )


def test_phase_times_are_utc_and_the_digest_defaults_to_empty(state_root: Path) -> None:
    dep = state.record_phase("s", "platform", "done")
    rec = dep.phases["platform"]
    assert rec["at"].endswith("+00:00") and len(rec["at"]) == len("2026-01-01T00:00:00+00:00")
    assert (rec["detail"], rec["digest"]) == ("", "")


def _site(folder: Path, name: str) -> Path:
    folder.mkdir()
    text = (Path(__file__).resolve().parents[2] / "inventories" / "local" / "site.yml").read_text()
    # `name:` last, so its line is not the document's first (a missing key's fallback).
    assert "\nname: local\n" in text
    (folder / "site.yml").write_text(text.replace("\nname: local\n", "\n") + f"name: {name}\n")
    return folder


def test_a_second_site_file_of_the_same_name_is_refused_naming_both(
    tmp_path: Path, state_root: Path
) -> None:
    first = load_site(_site(tmp_path / "a", "twin"))
    second = load_site(_site(tmp_path / "b", "twin"))
    folder = claim(first)
    assert folder == state_root / "twin"
    owner = json.loads((folder / "owner.json").read_text())
    assert owner["site_file"] == str(tmp_path / "a" / "site.yml")
    assert owner["since"].endswith("+00:00")
    assert (folder / "owner.json").read_text().startswith('{\n  "site_file": ')
    assert claim(first) == folder  # the owner again: fine
    with pytest.raises(UserError) as err:
        claim(second)
    line = (tmp_path / "b" / "site.yml").read_text().splitlines().index("name: twin") + 1
    assert err.value.problems == [
        Problem(
            tmp_path / "b" / "site.yml",
            "name",
            f"the state of site 'twin' ({folder}) belongs to {tmp_path / 'a' / 'site.yml'}, "
            "another site file with the same name. Give this site its own `name:` (a copied "
            "folder keeps the original's name), or set OSCAR_IAC_STATE to another state root",
            line,
        )
    ]


def test_a_moved_site_file_takes_its_folder_over_and_the_move_is_noted(
    tmp_path: Path, state_root: Path
) -> None:
    old = load_site(_site(tmp_path / "old", "moved"))
    claim(old)
    state.record_phase("moved", "platform", "done")
    (tmp_path / "old" / "site.yml").unlink()
    new = load_site(_site(tmp_path / "new", "moved"))
    folder = claim(new)
    assert recorded_owner(folder) == str(tmp_path / "new" / "site.yml")
    dep = load("moved")
    assert dep is not None
    assert dep.history[-1]["event"] == (
        f"site file moved: {tmp_path / 'old' / 'site.yml'} -> {tmp_path / 'new' / 'site.yml'}"
    )
    # A first claim of an existing folder with no record notes nothing.
    fresh = load_site(_site(tmp_path / "fresh", "fresh"))
    state.record_phase("fresh", "platform", "done")
    claim(fresh)
    dep = load("fresh")
    assert dep is not None and [h["event"] for h in dep.history] == ["phase platform: done"]


def test_an_owner_record_of_the_wrong_shape_names_the_file(state_root: Path) -> None:
    folder = state_root / "s"
    folder.mkdir(parents=True, mode=0o700)
    (folder / "owner.json").write_text('{"site_file": 7}')
    with pytest.raises(UserError) as err:
        recorded_owner(folder)
    assert err.value.problems == [
        Problem(
            folder / "owner.json",
            "",
            "is not an owner record this tool can read (TypeError: no 'site_file' text field); "
            "it names the site file this state folder belongs to: restore it, or move the "
            "folder aside if it is not yours",
        )
    ]


def test_a_read_only_claim_makes_no_folder_but_records_an_existing_ones_owner(
    tmp_path: Path, state_root: Path
) -> None:
    loaded = load_site(_site(tmp_path / "ro", "readonly"))
    assert claim(loaded, create=False) == state_root / "readonly"
    assert not (state_root / "readonly").exists()
    (state_root / "readonly").mkdir(parents=True, mode=0o700)
    claim(loaded, create=False)
    assert recorded_owner(state_root / "readonly") == str(tmp_path / "ro" / "site.yml")
