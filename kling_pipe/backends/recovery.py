"""Which of the account's predictions is the one a lost create made: the matching rule, pure.

A run that dies (or loses the connection) after sending a create but before reading its answer
has paid for a prediction it cannot name. Replicate has no idempotency key, so the prediction is
recognised in the account's listing by what it was asked:

1. the same model: the same version id for a pinned `owner/name:version`, else the same
   `owner/name` (compared without case);
2. the same inputs: every input that is not a local file is equal (as JSON values: `5 == 5.0`,
   tuples read as lists) and no other input is present;
3. the same files: each local file's input is present, and its content is the local file's:
   a `data:` URL is decoded and hashed here; a Replicate files-API URL is hashed through the
   file's metadata (`checksums.sha256`) by the backend, or matched by identity when this
   process uploaded it. A file that cannot be checked does not match: adopting another
   job's clip would be worse than paying again;
4. created at or after `since`, less `CLOCK_SKEW_S` for the difference between this machine's
   clock and Replicate's. The listing is asked for those only (`created_after`) and each
   entry is checked again, for a server that ignores the filter.

A prediction whose data Replicate removed (an hour after it finished) shows no inputs and
matches nothing; its output is gone too, so adopting it could not save a payment.

Among several matches the newest that succeeded or still runs is taken, else the newest.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, unquote, urlsplit

from kling_pipe.backends.answers import epoch
from kling_pipe.backends.protocol import Prediction, Request
from kling_pipe.models.spec import split_model_ref

CLOCK_SKEW_S = 30.0
"""How far Replicate's clock may be behind this machine's when a creation time is compared."""


def listing_path(since: float) -> str:
    """The first listing page to read for a create sent at `since`: `GET /v1/predictions`
    with `created_after` at `since` less the skew allowance."""
    after = datetime.fromtimestamp(since - CLOCK_SKEW_S, tz=UTC)
    return f"/v1/predictions?created_after={quote(after.strftime('%Y-%m-%dT%H:%M:%S.%fZ'))}"


def _json_value(value: Any) -> Any:
    return json.loads(json.dumps(value, sort_keys=True, default=str))


def created_since(data: Mapping[str, Any], since: float) -> bool | None:
    """Whether the prediction was created at or after `since` (with the skew allowance); None
    when its creation time cannot be read."""
    created = epoch(data.get("created_at") if isinstance(data.get("created_at"), str) else None)
    if created is None:
        return None
    return created >= since - CLOCK_SKEW_S


def same_request(request: Request, data: Mapping[str, Any]) -> dict[str, str] | None:
    """None when the prediction `data` (a listing entry) cannot have been made for `request`
    (rules 1 and 2); else the file inputs still to check (rule 3): input name → the value the
    listing shows."""
    model, version = split_model_ref(request.model)
    if version:
        if data.get("version") != version:
            return None
    elif str(data.get("model", "")).lower() != model.lower():
        return None
    shown = data.get("input")
    if not isinstance(shown, Mapping):
        return None
    files = set(request.local_files)
    wanted = {k: v for k, v in request.inputs.items() if k not in files}
    found = {k: v for k, v in shown.items() if k not in files}
    if _json_value(wanted) != _json_value(found):
        return None
    references: dict[str, str] = {}
    for name in sorted(files):
        value = shown.get(name)
        if not isinstance(value, str) or not value:
            return None
        references[name] = value
    return references


def data_url_sha256(value: str) -> str | None:
    """The sha256 of a `data:` URL's content; None if `value` is not a readable data URL."""
    if not value.startswith("data:"):
        return None
    header, comma, payload = value.partition(",")
    if not comma:
        return None
    try:
        raw = base64.b64decode(payload, validate=True) if header.endswith(";base64") else None
    except (binascii.Error, ValueError):
        return None
    content = raw if raw is not None else unquote(payload).encode()
    return hashlib.sha256(content).hexdigest()


def files_api_id(value: str, api_base: str) -> str | None:
    """The file id of a Replicate files-API URL (`{api}/v1/files/{id}`) on the API's own host;
    None for any other URL (whose bytes this backend will not fetch with the token)."""
    url, base = urlsplit(value), urlsplit(api_base)
    if (url.scheme, url.netloc) != (base.scheme, base.netloc):
        return None
    parts = url.path.strip("/").split("/")
    if len(parts) >= 3 and parts[:2] == ["v1", "files"] and parts[2]:
        return parts[2]
    return None


def choose(matches: Sequence[Prediction]) -> Prediction | None:
    """The match to adopt from `matches` (newest first): the newest not failed, canceled or
    aborted, else the newest."""
    for prediction in matches:
        if prediction.status in ("starting", "processing", "succeeded"):
            return prediction
    return matches[0] if matches else None
