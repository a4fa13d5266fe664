"""Read a published registry back, the way other infrastructure consumes it.

`load("s3://bucket/key")` or `load("/path/registry.json")` returns the same validated models
the management stack published. boto3 picks up credentials and endpoint the usual way.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from cells.loader import RegistryError, RegistryIssue, load_registry_data
from cells.models import Registry


def load(location: str, *, s3_client: Any = None) -> Registry:
    """Load a published registry from `s3://bucket/key` or a local path."""
    if location.startswith("s3://"):
        text = _read_s3(location, s3_client)
    else:
        try:
            text = Path(location).read_text(encoding="utf-8")
        except OSError as exc:
            raise RegistryError(
                [RegistryIssue(location, "", f"cannot read published registry: {exc.strerror}")]
            ) from exc
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise RegistryError([RegistryIssue(location, f"line {exc.lineno}", f"invalid JSON: {exc.msg}")]) from exc
    if not isinstance(data, dict):
        raise RegistryError([RegistryIssue(location, "", "expected a JSON object")])
    return load_registry_data(data, source=location)


def _read_s3(location: str, s3_client: Any) -> str:
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError

    bucket, _, key = location.removeprefix("s3://").partition("/")
    if not bucket or not key:
        raise RegistryError([RegistryIssue(location, "", "expected s3://<bucket>/<key>")])
    client = s3_client or boto3.client("s3")
    try:
        body = client.get_object(Bucket=bucket, Key=key)["Body"].read()
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "error")
        raise RegistryError([RegistryIssue(location, "", f"cannot read published registry from S3: {code}")]) from exc
    except BotoCoreError as exc:
        raise RegistryError([RegistryIssue(location, "", f"cannot read published registry from S3: {exc}")]) from exc
    return str(body.decode("utf-8"))
