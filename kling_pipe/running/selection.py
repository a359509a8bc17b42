"""Globs that select jobs (`--only`, `--force`) and cuts: a glob that selects nothing is an
error that names what it might have meant."""

from __future__ import annotations

import difflib
import fnmatch
from collections.abc import Iterable

from kling_pipe.campaign import Campaign
from kling_pipe.errors import InputError


def close_ids(glob: str, ids: Iterable[str], limit: int = 5) -> list[str]:
    """Ids that look like `glob`: close by spelling, or sharing its literal prefix."""
    ids = sorted(set(ids))
    literal = glob.split("*", 1)[0].split("?", 1)[0].split("[", 1)[0]
    near = difflib.get_close_matches(glob, ids, n=limit, cutoff=0.5)
    if literal:
        head = literal.split("/", 1)[0]
        near += [i for i in ids if i.startswith(head) and i not in near]
    return near[:limit]


def check_glob(campaign: Campaign, glob: str | None, flag: str) -> None:
    """InputError when `glob` matches none of the campaign's job ids."""
    if glob is None:
        return
    jobs = [j.id for j in campaign.job_plan.jobs]
    if any(fnmatch.fnmatchcase(i, glob) for i in jobs):
        return
    cuts = [
        c.output.relative_to("cuts").with_suffix("").as_posix() for c in campaign.cut_plan().cuts
    ]
    if any(fnmatch.fnmatchcase(c, glob) for c in cuts):
        raise InputError(
            f"{flag} {glob!r} matches cuts, not jobs: {flag} selects jobs "
            f"(e.g. {jobs[0]!r}); to make only these cuts use `kling-pipe stitch --only {glob}`"
        )
    near = close_ids(glob, [*jobs, *cuts])
    hint = f"; did you mean {', '.join(repr(i) for i in near)}?" if near else ""
    raise InputError(f"{flag} {glob!r} matches no job of {campaign.name}{hint}")


def check_cut_glob(ids: Iterable[str], glob: str | None, flag: str = "--only") -> None:
    """InputError when `glob` matches none of the cut ids."""
    if glob is None:
        return
    ids = list(ids)
    if any(fnmatch.fnmatchcase(i, glob) for i in ids):
        return
    near = close_ids(glob, ids)
    hint = f"; did you mean {', '.join(repr(i) for i in near)}?" if near else ""
    raise InputError(f"{flag} {glob!r} matches no cut{hint}")
