"""up / status / outputs / logs / scale / reconfigure / down / list, for one site.

Every command acts on what the site's state file records. `up` is resumable: the
state is saved before IM is asked to create anything and again as soon as IM
answers with the infrastructure id, so an interrupted `up` is picked up by the
next `up` (or cleaned by `down`); a create whose answer was lost is found again by
the site name IM stores with the TOSCA document.
"""

from __future__ import annotations

import contextlib
import functools
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Concatenate, ParamSpec, TypeVar

from oscar_iac import state as st
from oscar_iac.errors import DeploymentError, UserError
from oscar_iac.im import server
from oscar_iac.im.auth import AuthBuilder
from oscar_iac.im.client import FINAL_STATES, CreateUnclear, ImClient, ImError
from oscar_iac.im.ctxt_log import failed_tasks
from oscar_iac.secrets import SecretError, SecretRef, SecretResolver
from oscar_iac.site.load import LoadedSite
from oscar_iac.site.model import ImTarget, LocalCloud, NodesCloud
from oscar_iac.state import site_state_dir

if TYPE_CHECKING:
    from oscar_iac.render import RenderedSite

# Heavy modules (IM's TOSCA code via render, Rich's live view, the token chain) are
# imported where they are used: `status` and `outputs` must start fast.

P = ParamSpec("P")
R = TypeVar("R")

POLL = 0.25  # seconds between state polls: `configured` is noticed within this
EMBEDDED = "embedded"
# IM does not resume VM launches it was running when it stopped: an infrastructure
# that stays 'pending' without a single VM this long after a restart is replaced.
STALLED_AFTER = 10.0


@dataclass
class Connection:
    client: ImClient
    im_label: str  # what the state file records: 'embedded' or the IM URL
    folder: Path | None = None  # the embedded IM's folder


def _changes_site(
    fn: Callable[Concatenate[LoadedSite, P], R],
) -> Callable[Concatenate[LoadedSite, P], R]:
    """The command changes the site: it runs holding the site's lock (oscar_iac.state.lock)."""

    @functools.wraps(fn)
    def locked(loaded: LoadedSite, /, *args: P.args, **kwargs: P.kwargs) -> R:
        with st.lock(loaded.site.name):
            return fn(loaded, *args, **kwargs)

    return locked


def _target(loaded: LoadedSite) -> ImTarget:
    tgt = loaded.site.target
    if not isinstance(tgt, ImTarget):
        raise UserError(
            f"{loaded.path}: target.kind is '{tgt.kind}'; this command drives the Infrastructure "
            "Manager. For the hosts target, `oscar-iac up` runs ansible-playbook -i "
            "<rendered hosts.yml> playbooks/site.yml"
        )
    return tgt


def _resolver(loaded: LoadedSite) -> SecretResolver:
    return SecretResolver(site_dir=loaded.directory, state_dir=site_state_dir(loaded.site.name))


@contextlib.contextmanager
def connect(loaded: LoadedSite, create: bool = True) -> Iterator[Connection]:
    """A client for the site's IM; for `endpoint: embedded`, the site's own local IM
    (started when it is not running, and left running for the next command).
    `create=False`: a read-only command (no state folder is made for it)."""
    tgt = _target(loaded)
    st.claim(loaded, create=create)
    builder = AuthBuilder(target=tgt)
    embedded = tgt.endpoint == EMBEDDED
    if embedded or isinstance(tgt.cloud, LocalCloud):
        # The site's IM user; the embedded IM accepts it only (oscar_iac.im.server).
        builder.im_username = f"oscar-iac-{loaded.site.name}"
        builder.im_password = _resolver(loaded).resolve(SecretRef("generate"), "im_password")
    if not (isinstance(tgt.cloud, LocalCloud) or (isinstance(tgt.cloud, NodesCloud) and embedded)):
        from oscar_iac.im.tokens import find_token  # the token chain: start-up speed
        from oscar_iac.preflight.gate import require_offline  # imports the token chain

        builder.token = find_token(tgt.token, loaded.path)
        require_offline(loaded, tgt, builder.token)  # the preflight's stage 1, once a command
        if getattr(tgt.cloud, "auth", "oidc") == "password":
            pw = getattr(tgt.cloud, "password", None)
            assert pw is not None
            builder.cloud_password = _resolver(loaded).resolve(pw, "cloud_password")
    if tgt.endpoint == EMBEDDED:
        owner = (builder.im_username, builder.im_password)
        running = server.ensure_running(im_folder(loaded), owner)
        yield Connection(ImClient(running.url, builder.header), EMBEDDED, im_folder(loaded))
    else:
        url = str(tgt.endpoint)
        yield Connection(ImClient(url, builder.header, verify_tls=tgt.verify_tls), url)


def im_folder(loaded: LoadedSite) -> Path:
    """Where the site's embedded IM keeps its config, database and log."""
    return site_state_dir(loaded.site.name) / "im"


def stop_embedded(loaded: LoadedSite) -> bool:
    """Stop the site's embedded IM if it runs (True when it did)."""
    return server.stop_running(im_folder(loaded))


def _document(loaded: LoadedSite, rendered: RenderedSite, workers: int | None = None) -> str:
    """The TOSCA with the site's env:/file:/vault: secrets filled in memory. IM stores
    the document: `generate` secrets stay empty and the front node makes them
    (see oscar_iac.im.front_secrets)."""
    from oscar_iac.render import SECRET_INPUTS, secret_refs, with_inputs

    res = _resolver(loaded)
    refs = secret_refs(loaded.site)
    try:
        values: dict[str, Any] = {
            name: "" if refs[name] == "generate" else res.resolve(refs[name], name)
            for name in SECRET_INPUTS
        }
    except SecretError as exc:  # changed since the site was loaded: nothing sent yet
        raise UserError(f"{loaded.path}: a secret reference cannot be resolved: {exc}") from exc
    tosca = rendered.tosca
    from oscar_iac.render.context import nodes_cloud

    if nodes_cloud(loaded.site):
        from oscar_iac.render.context import key_refs
        from oscar_iac.render.nodes import nodes_tosca

        # One TOSCA node per machine: a new worker count is a new document.
        tosca = nodes_tosca(loaded, workers)
        keys = key_refs(loaded.site, workers)
        values |= {name: res.resolve(ref, name) + "\n" for name, ref in keys.items()}
    elif workers is not None:
        values["wn_num"] = workers
    return with_inputs(tosca, values)


def _find_lost_create(conn: Connection, site: str) -> str | None:
    """An infrastructure of this site that IM created but whose id we never recorded."""
    import yaml

    for inf_id in conn.client.list_ids():
        try:
            doc = yaml.safe_load(conn.client.tosca(inf_id)) or {}
        except (ImError, ValueError, yaml.YAMLError):
            continue
        if (doc.get("metadata") or {}).get("site") == site:
            return inf_id
    return None


def create_once(conn: Connection, site: str, document: str) -> str:
    """Ask IM to create the site's infrastructure, once. After an unclear answer (a
    5xx, a timeout, a dropped connection) IM may hold it anyway: it is looked up by
    the site's name (`_find_lost_create`) instead of being asked for again."""
    try:
        return conn.client.create(document)
    except CreateUnclear as exc:
        lost = _find_lost_create(conn, site)
        if lost is not None:
            return lost
        raise DeploymentError(
            f"{exc}; IM holds no infrastructure of site '{site}' after that answer, "
            "so nothing was created (the request was not sent again)",
            hints=exc.hints,
        ) from exc


def _stalled(conn: Connection, inf_id: str) -> bool:
    """True when the embedded IM holds a creation it will never finish (see STALLED_AFTER)."""
    if conn.im_label != EMBEDDED:
        return False
    deadline = time.monotonic() + STALLED_AFTER
    while time.monotonic() < deadline:
        state = conn.client.state(inf_id)
        if state.get("state") != "pending" or state.get("vm_states"):
            return False
        time.sleep(POLL)
    return True


def wait(conn: Connection, inf_id: str, timeout: float, quiet: bool = False) -> dict[str, Any]:
    from oscar_iac.im.progress import Watch

    deadline = time.monotonic() + timeout
    state: dict[str, Any] = {}
    with contextlib.ExitStack() as stack:
        watch = None if quiet else stack.enter_context(Watch(inf_id))
        while time.monotonic() < deadline:
            if conn.folder is not None:
                server.touch(conn.folder)  # a long wait is use: no idle stop meanwhile
            state = conn.client.state(inf_id)
            if watch:
                watch.update(state)
            if state.get("state") in FINAL_STATES:
                return state
            time.sleep(POLL)
    raise DeploymentError(
        f"infrastructure {inf_id} is still '{state.get('state')}' after {timeout:.0f} s",
        hints=["oscar-iac status SITE", "oscar-iac logs SITE", "oscar-iac down SITE"],
    )


def _failure(
    conn: Connection, loaded: LoadedSite, inf_id: str, state: dict[str, Any]
) -> DeploymentError:
    log = conn.client.contmsg(inf_id)
    tail = "\n".join(log.strip().splitlines()[-25:])
    site = str(loaded.directory)
    failed = "".join(f"\n  {t}" for t in failed_tasks(log))
    return DeploymentError(
        f"infrastructure {inf_id} ended '{state.get('state')}' "
        f"(VMs: {state.get('vm_states')}).{failed}\n"
        f"Last lines of IM's contextualization log:\n{tail}",
        hints=[f"oscar-iac logs {site}", f"oscar-iac reconfigure {site}", f"oscar-iac down {site}"],
    )


@dataclass
class UpResult:
    deployment: st.Deployment
    rendered: RenderedSite
    action: str  # created | resumed | reconciled | unchanged


@_changes_site
def up(
    loaded: LoadedSite,
    timeout: float = 3600,
    quiet: bool = False,
    on_event: Callable[[str], None] = lambda _: None,
) -> UpResult:
    from oscar_iac.im import nodes as machines  # paramiko: only for commands that deploy
    from oscar_iac.render import render_site

    site = loaded.site
    _target(loaded)  # refuse a hosts target before rendering anything
    st.claim(loaded)
    # Rendering is cheap; IM's translator check is not (~1 s): it runs only before a
    # document is sent (create or update), not when the infrastructure is unchanged.
    rendered = render_site(loaded, translate=False)
    checked = False

    def document(n: int) -> str:
        nonlocal checked
        if not checked:
            render_site(loaded, translate=True)
            checked = True
        return _document(loaded, rendered, n)

    workers = site.cluster.workers.count
    # Existing machines: say which one refuses SSH before IM tries (and times out).
    machines.check_reachable(machines.logins_for(loaded, workers))
    with connect(loaded) as conn:
        dep = st.load(site.name)
        history = list(dep.history) if dep else []  # kept across replacements
        # The phase records of `up` (oscar_iac.phases) survive a replaced infrastructure.
        phases, run = (dict(dep.phases), dict(dep.run)) if dep else ({}, {})
        action = "created"
        if (
            dep
            and dep.inf_id
            and dep.phase == "created"
            and dep.im_url == conn.im_label
            and conn.client.exists(dep.inf_id)
            and _stalled(conn, dep.inf_id)
        ):
            on_event(
                f"infrastructure {dep.inf_id} was interrupted before any VM existed; replacing it"
            )
            conn.client.destroy(dep.inf_id)
            dep.note(f"replaced stalled infrastructure {dep.inf_id}")
            history = list(dep.history)
            dep = None
        if dep and dep.inf_id and dep.phase != "destroyed" and dep.im_url == conn.im_label:
            if conn.client.exists(dep.inf_id):
                action = (
                    "resumed" if dep.phase in ("creating", "created", "failed") else "reconciled"
                )
                if dep.workers != workers:
                    on_event(f"scaling workers {dep.workers} -> {workers}")
                    if dep.phase == "failed":  # every VM's configure again, new ones too
                        conn.client.update(dep.inf_id, document(workers))
                    else:
                        _rescale(conn, dep.inf_id, document(workers))
                    dep.workers = workers
                    dep.note(f"scaled to {workers} workers")
                    st.save(dep)
                elif dep.phase == "failed":
                    # IM keeps a failed infrastructure: send the (maybe mended) document
                    # again; IM updates the configure steps and, with no VM to add,
                    # contextualizes again (IM/rest/routers/infrastructures.py add_resource).
                    on_event(f"infrastructure {dep.inf_id} failed before; configuring it again")
                    conn.client.update(dep.inf_id, _document(loaded, rendered, workers))
                    dep.note("configure requested again after a failure")
                    st.save(dep)
                elif action == "reconciled":
                    action = "unchanged"
            else:
                on_event(f"infrastructure {dep.inf_id} is gone from IM; creating a new one")
                dep = None
        elif dep and dep.phase == "creating" and not dep.inf_id:
            lost = _find_lost_create(conn, site.name)
            if lost:
                dep.inf_id, action = lost, "resumed"
                dep.note(f"found infrastructure {lost} created by an interrupted up")
                st.save(dep)
        if dep is None or not dep.inf_id or dep.phase == "destroyed" or dep.im_url != conn.im_label:
            dep = st.Deployment(
                site=site.name,
                im_url=conn.im_label,
                phase="creating",
                workers=workers,
                history=history,
                phases=phases,
                run=run,
            )
            dep.note("create requested")
            st.save(dep)  # before asking IM: an interruption is found again by _find_lost_create
            dep.inf_id = create_once(conn, site.name, document(workers))
            dep.created_at = st.now()
            dep.phase = "created"
            dep.note(f"IM created infrastructure {dep.inf_id}")
            st.save(dep)
            action = "created"
        assert dep.inf_id
        on_event(f"waiting for infrastructure {dep.inf_id}")
        state = wait(conn, dep.inf_id, timeout, quiet)
        on_event(f"infrastructure {dep.inf_id} is {state.get('state')}")
        if state.get("state") != "configured":
            dep.phase = "failed"
            dep.note(f"ended {state.get('state')}")
            st.save(dep)
            raise _failure(conn, loaded, dep.inf_id, state)
        dep.outputs = conn.client.outputs(dep.inf_id)
        _fetch_front_secrets(loaded, conn, dep, on_event)
        dep.phase = "configured"
        dep.note("configured")
        st.save(dep)
        return UpResult(dep, rendered, action)


def _fetch_front_secrets(
    loaded: LoadedSite, conn: Connection, dep: st.Deployment, on_event: Callable[[str], None]
) -> None:
    """Copy the secrets the front generated (and the user needs) into the state folder."""
    from oscar_iac.im import front_secrets  # paramiko: only when a front is configured
    from oscar_iac.render import secret_refs
    from oscar_iac.render.context import is_dummy

    refs = secret_refs(loaded.site)
    names = [n for n in front_secrets.FETCHED if refs.get(n) == "generate"]
    if is_dummy(loaded.site) or not names or not dep.inf_id:
        return  # Dummy VMs run nothing: there is nothing on a front to fetch
    host = str(dep.outputs.get("front_public_ip") or "")
    login = None
    for vm in conn.client.vms(dep.inf_id):
        try:
            login = front_secrets.login_from_radl(conn.client.vm_radl(dep.inf_id, vm), host)
            break
        except DeploymentError:
            continue
    if login is None or not host:
        raise DeploymentError(
            "IM reports no reachable front VM to fetch the generated secrets from"
        )
    state_dir = site_state_dir(loaded.site.name)
    values = front_secrets.fetch(login, names, state_dir / "known_hosts")
    front_secrets.store(state_dir, values)
    on_event(f"fetched {', '.join(sorted(values))} from the front into {state_dir / 'secrets'}")


def _recorded(loaded: LoadedSite) -> st.Deployment:
    _target(loaded)  # IM commands: a hosts or existing-OSCAR target is told what to run
    st.claim(loaded, create=False)
    dep = st.load(loaded.site.name)
    if dep is None or not dep.inf_id or dep.phase == "destroyed":
        raise UserError(
            f"site '{loaded.site.name}' has no deployment recorded; run: oscar-iac up {loaded.directory}"
        )
    return dep


def status(loaded: LoadedSite) -> tuple[st.Deployment, dict[str, Any]]:
    dep = _recorded(loaded)
    with connect(loaded, create=False) as conn:
        assert dep.inf_id
        return dep, conn.client.state(dep.inf_id)


def outputs(loaded: LoadedSite, refresh: bool = False) -> dict[str, Any]:
    dep = _recorded(loaded)
    if refresh:
        with st.lock(loaded.site.name), connect(loaded) as conn:
            assert dep.inf_id
            dep.outputs = conn.client.outputs(dep.inf_id)
            dep.note("outputs refreshed")
            st.save(dep)
    return dep.outputs


def logs(loaded: LoadedSite, vm: str | None = None) -> str:
    dep = _recorded(loaded)
    with connect(loaded, create=False) as conn:
        assert dep.inf_id
        return conn.client.contmsg(dep.inf_id, vm)


def follow_logs(
    loaded: LoadedSite,
    emit: Callable[[str], None],
    vm: str | None = None,
    interval: float = 2.0,
    limit: float | None = None,
) -> None:
    """Print new log lines until the infrastructure reaches a final state."""
    dep = _recorded(loaded)
    seen = 0
    started = time.monotonic()
    with connect(loaded, create=False) as conn:
        assert dep.inf_id
        while True:
            text = conn.client.contmsg(dep.inf_id, vm)
            lines = text.splitlines()
            for line in lines[seen:]:
                emit(line)
            seen = len(lines)
            if conn.client.state(dep.inf_id).get("state") in FINAL_STATES:
                return
            if limit is not None and time.monotonic() - started > limit:
                return
            time.sleep(interval)


def _front_vm(conn: Connection, inf_id: str) -> str | None:
    """IM's id of the VM of system `front` (None if IM lists none)."""
    for vm in conn.client.vms(inf_id):
        systems = conn.client.vm_radl(inf_id, vm)
        if any(s.get("class") == "system" and s.get("id") == "front" for s in systems):
            return vm
    return None


def _rescale(conn: Connection, inf_id: str, document: str) -> None:
    """Add or remove VMs to match `document`, then ONE contextualization of the VMs that
    need it: the added ones and the front, not the workers that were there. IM's
    AddResource would otherwise contextualize every VM (`context=True`,
    IM/InfrastructureManager.py AddResource -> Contextualize(auth)); with `context=false`
    it only adds, and Reconfigure's `vm_list` limits the configure steps to those VMs
    (IM/InfrastructureInfo.py Contextualize: `if not vm_list or vm.im_id in vm_list`;
    IM's basic steps still run on all). The front is in the list because its NFS export
    names every node's address (roles/nfs nfs_allowed_clients)."""
    added = conn.client.update(inf_id, document, context=False)
    ids = [u.rstrip("/").rsplit("/", 1)[-1] for u in added]
    front = _front_vm(conn, inf_id)
    conn.client.reconfigure(inf_id, ([front] if front is not None else []) + ids)


@_changes_site
def scale(
    loaded: LoadedSite, workers: int, timeout: float = 3600, quiet: bool = False
) -> st.Deployment:
    from oscar_iac.im import nodes as machines
    from oscar_iac.site.fields import check_timeout, check_workers

    try:  # the schema's bounds (site.fields), before anything is asked of IM
        check_workers(workers, "--workers")
        check_timeout(timeout, "--timeout")
    except ValueError as exc:
        raise UserError(str(exc)) from exc
    from oscar_iac.render import render_site

    machines.check_workers(loaded, workers)
    dep = _recorded(loaded)
    rendered = render_site(loaded)
    machines.check_reachable(machines.logins_for(loaded, workers))
    with connect(loaded) as conn:
        assert dep.inf_id
        _rescale(conn, dep.inf_id, _document(loaded, rendered, workers))
        dep.workers = workers
        dep.note(f"scaled to {workers} workers")
        st.save(dep)
        state = wait(conn, dep.inf_id, timeout, quiet)
        if state.get("state") != "configured":
            raise _failure(conn, loaded, dep.inf_id, state)
        dep.outputs = conn.client.outputs(dep.inf_id)
        st.save(dep)
        return dep


@_changes_site
def reconfigure(loaded: LoadedSite, timeout: float = 3600, quiet: bool = False) -> st.Deployment:
    dep = _recorded(loaded)
    with connect(loaded) as conn:
        assert dep.inf_id
        conn.client.reconfigure(dep.inf_id)
        dep.note("reconfigure requested")
        st.save(dep)
        state = wait(conn, dep.inf_id, timeout, quiet)
        if state.get("state") != "configured":
            raise _failure(conn, loaded, dep.inf_id, state)
        dep.phase = "configured"
        st.save(dep)
        return dep


DESTROY_WAIT = 300.0


def _destroy(conn: Connection, inf_id: str) -> None:
    """Destroy; IM answers 409 while it is still launching VMs (an `up` interrupted a
    moment ago, its IM still at work): wait until IM can, then destroy."""
    deadline = time.monotonic() + DESTROY_WAIT
    while True:
        try:
            conn.client.destroy(inf_id)
            return
        except ImError as exc:
            if exc.status != 409 or time.monotonic() > deadline:
                raise
        if conn.folder is not None:
            server.touch(conn.folder)
        time.sleep(POLL)


@_changes_site
def down(loaded: LoadedSite) -> st.Deployment:
    dep = _recorded(loaded)
    with connect(loaded) as conn:
        assert dep.inf_id
        if conn.client.exists(dep.inf_id):
            _destroy(conn, dep.inf_id)
        dep.phase = "destroyed"
        dep.outputs = {}
        dep.note(f"destroyed infrastructure {dep.inf_id}")
        st.save(dep)
    from oscar_iac.render.context import nodes_cloud

    if nodes_cloud(loaded.site):
        from oscar_iac.im import nodes as machines

        # IM leaves its folder (with the login user's key) on existing machines: clean
        # every machine the site lists (workers a `scale` let go too), then forget the
        # host keys pinned for them (IM's and ours): the next `up` meets new machines.
        logins = machines.logins_for(loaded)
        for line in machines.clean_leftovers(logins, dep.inf_id):
            dep.note(f"leftovers: {line}")
        addresses = [login.address for login in logins]
        for pins in (
            im_folder(loaded) / "known_hosts",
            site_state_dir(loaded.site.name) / "known_hosts",
        ):
            machines.forget_host_keys(pins, addresses)
        st.save(dep)
    return dep


@_changes_site
def destroy_unrecorded(loaded: LoadedSite) -> str | None:
    """Destroy an infrastructure of this site that IM created but the state never
    recorded (an `up` killed between asking and hearing back); its id, or None."""
    with connect(loaded) as conn:
        lost = _find_lost_create(conn, loaded.site.name)
        if lost is not None:
            _destroy(conn, lost)
        return lost


def list_infrastructures(loaded: LoadedSite) -> list[str]:
    with connect(loaded, create=False) as conn:
        return conn.client.list_ids()
