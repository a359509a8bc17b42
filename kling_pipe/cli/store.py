"""The commands that look after a store and merge sharded locks: store ls|du|gc|push|pull,
lock merge."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer

from kling_pipe.campaign import Campaign
from kling_pipe.cli.app import StoreOption, app, err, out, user_errors
from kling_pipe.lock import lock_bytes, merge_locks, read_lock, write_lock

store_app = typer.Typer(
    help="What a store holds, removing what no lock references, copying to and from a bucket.",
    no_args_is_help=True,
)
lock_app = typer.Typer(
    help="Lock files: merge the fragments of sharded runs.", no_args_is_help=True
)
app.add_typer(store_app, name="store")
app.add_typer(lock_app, name="lock")

ManifestArgument = Annotated[Path, typer.Argument(help="The manifest (its store is used).")]


def _size(count: int) -> str:
    value = float(count)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} TiB"


@store_app.command("ls")
def list_store(file: ManifestArgument, store: StoreOption = None) -> None:
    """List the store's objects: hash, size, when written."""
    from kling_pipe.running.inventory import list_objects

    with user_errors():
        campaign = Campaign.open(file, store=store)
        for stored in list_objects(campaign.workspace):
            when = datetime.fromtimestamp(stored.modified, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
            out.print(f"{stored.sha256}  {stored.bytes:>12}  {when}", markup=False)


@store_app.command("du")
def disk_usage(file: ManifestArgument, store: StoreOption = None) -> None:
    """How much the store and its local caches take."""
    from kling_pipe.running.inventory import store_usage

    with user_errors():
        usage = store_usage(Campaign.open(file, store=store).workspace)
    out.print(f"store {usage.location}: {usage.objects} objects, {_size(usage.object_bytes)}")
    out.print(
        f"local caches: objects {_size(usage.cache_bytes)}, intermediates "
        f"{_size(usage.intermediates_bytes)}, quarantine {_size(usage.quarantine_bytes)}"
    )


@store_app.command("gc")
def garbage_collect(
    file: ManifestArgument,
    dry_run: Annotated[
        bool, typer.Option(help="Say what would be removed; remove nothing.")
    ] = False,
    min_age_days: Annotated[
        float,
        typer.Option(
            min=0, help="Keep objects younger than this (a run may not have locked them yet)."
        ),
    ] = 7.0,
    cache_days: Annotated[
        float, typer.Option(min=0, help="Prune local cache entries unused for this long.")
    ] = 30.0,
    cache_gb: Annotated[
        float, typer.Option(min=0, help="Then prune each local cache down to this size.")
    ] = 10.0,
    store: StoreOption = None,
) -> None:
    """Remove the objects no lock in the repository references (older than --min-age-days),
    and prune the local caches (intermediates, objects, quarantine) by age and size."""
    from kling_pipe.running.inventory import collect_garbage, prune_caches, repository_locks

    with user_errors():
        workspace = Campaign.open(file, store=store).workspace
        locks = repository_locks(workspace)
        result = collect_garbage(
            workspace,
            [lock for _, lock in locks],
            min_age_seconds=min_age_days * 86400,
            dry_run=dry_run,
        )
        freed = 0
        if not dry_run:
            freed = prune_caches(
                workspace, max_age_seconds=cache_days * 86400, max_bytes=int(cache_gb * 2**30)
            )
    verb = "would remove" if dry_run else "removed"
    for stored in result.removed:
        out.print(f"{verb} {stored.sha256} ({_size(stored.bytes)})", markup=False)
    out.print(
        f"{verb} {len(result.removed)} object(s), {_size(result.removed_bytes)}; kept "
        f"{result.referenced} referenced by {len(locks)} lock(s) and {result.kept_young} "
        f"younger than {min_age_days:g} day(s); local caches pruned by {_size(freed)}",
        markup=False,
    )


FolderOption = Annotated[
    Path | None,
    typer.Option("--folder", help="The local store folder (default: the manifest's .kling-pipe/)."),
]


@store_app.command("push")
def push_store(
    file: ManifestArgument, store: StoreOption = None, folder: FolderOption = None
) -> None:
    """Copy a local store folder's objects into the bucket (--store URL or the manifest's)."""
    from kling_pipe.running.inventory import push

    with user_errors():
        workspace = Campaign.open(file, store=store).workspace
        moved = push(workspace, (folder or workspace.store).resolve())
    _tell("pushed", moved.copied, moved.copied_bytes, moved.skipped, moved.damaged)


@store_app.command("pull")
def pull_store(
    file: ManifestArgument, store: StoreOption = None, folder: FolderOption = None
) -> None:
    """Copy the bucket's objects into a local store folder, each verified by its hash."""
    from kling_pipe.running.inventory import pull

    with user_errors():
        workspace = Campaign.open(file, store=store).workspace
        moved = pull(workspace, (folder or workspace.store).resolve())
    _tell("pulled", moved.copied, moved.copied_bytes, moved.skipped, moved.damaged)


def _tell(verb: str, copied: int, size: int, skipped: int, damaged: tuple[str, ...]) -> None:
    out.print(f"{verb} {copied} object(s), {_size(size)}; {skipped} already there")
    if damaged:
        err.print(
            f"{len(damaged)} damaged object(s) not copied: {', '.join(damaged)}",
            style="yellow",
            markup=False,
        )
        raise typer.Exit(1)


@lock_app.command("merge")
def merge(
    fragments: Annotated[
        list[Path], typer.Argument(help="The lock fragments of the shards (`run --shard K/N`).")
    ],
    into: Annotated[
        Path, typer.Option("--into", "-o", help="Write the merged lock here (often the lock).")
    ],
) -> None:
    """Merge the lock fragments of sharded runs into one lock, byte-stable; refuse (exit 2)
    when two fragments record one job differently."""
    with user_errors():
        import json

        read = []
        for path in fragments:
            try:
                manifest = json.loads(path.read_bytes())["manifest"]
            except (OSError, ValueError, KeyError, TypeError):
                from kling_pipe.errors import InputError

                raise InputError(f"{path}: not a kling-pipe lock file") from None
            read.append((str(path), read_lock(path, manifest)))
        merged = merge_locks(read)
        write_lock(into, merged)
    out.print(
        f"merged {len(fragments)} fragment(s): {len(merged.jobs)} job(s) -> {into} "
        f"({len(lock_bytes(merged))} bytes)",
        markup=False,
    )
