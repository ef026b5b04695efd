"""``media.driver: s3``: its settings, the adapters the container picks, the keys kept secret."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest
import yaml

from flextype_adapters.derivative_cache import DiskDerivativeCache
from flextype_adapters.s3_derivatives import S3DerivativeCache
from flextype_entrypoints.container import build_container
from flextype_entrypoints.settings import SettingsError, load_settings
from tests.http_client import ProjectFactory, assert_error, data_of, serve
from tests.s3_server import S3_CREDENTIALS

SECRETS = (S3_CREDENTIALS["access_key_id"], S3_CREDENTIALS["secret_access_key"])


def _settings(folder: Path, media: dict[str, Any]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "flextype.yaml").write_text(yaml.safe_dump({"media": media}), encoding="utf-8")
    return folder


def test_the_local_media_driver_is_the_default(tmp_path: Path) -> None:
    settings = load_settings(tmp_path, {})
    assert settings.media.driver == "local"
    assert (settings.media.s3.serve, settings.media.s3.part_size) == ("proxy", 8 * 1024 * 1024)
    assert settings.media.s3.redirect_expires == 300
    assert isinstance(build_container(tmp_path, {}).derivative_cache(), DiskDerivativeCache)


def test_the_s3_driver_shares_one_bucket_between_media_and_derivatives(
    tmp_path: Path, s3_settings: dict[str, Any]
) -> None:
    container = build_container(_settings(tmp_path, {"driver": "s3", "s3": s3_settings}), {})
    cache = container.derivative_cache()
    assert isinstance(cache, S3DerivativeCache)
    bucket = container.s3_bucket()
    assert (bucket.bucket, bucket.prefix) == (s3_settings["bucket"], s3_settings["prefix"])
    assert cache._bucket is bucket


@pytest.mark.parametrize(
    ("media", "environ", "message"),
    [
        (
            {"driver": "s3"},
            {},
            "media.driver is s3 but media.s3.bucket is not set: set it in flextype.yaml "
            "or FLEXTYPE_MEDIA__S3__BUCKET.",
        ),
        (
            {"driver": "s3", "s3": {"bucket": "b", "access_key_id": "AKIDSECRETVALUE"}},
            {},
            "media.s3.access_key_id and media.s3.secret_access_key go together",
        ),
        (
            {"driver": "s3", "s3": {"bucket": "b", "part_size": 1024}},
            {},
            "`media.s3.part_size` must be a whole number >= 5242880 (got 1024).",
        ),
        (
            {"s3": {"serve": "presign"}},
            {},
            "`media.s3.serve` must be one of: proxy, redirect (got 'presign').",
        ),
        (
            {"driver": "bucket"},
            {},
            "`media.driver` must be one of: local, s3 (got 'bucket').",
        ),
        (
            {},
            {"FLEXTYPE_MEDIA__S3__REDIRECT_EXPIRES": "0"},
            "FLEXTYPE_MEDIA__S3__REDIRECT_EXPIRES: `media.s3.redirect_expires` must be a "
            "whole number >= 1 (got 0).",
        ),
    ],
)
def test_unusable_s3_settings_stop_the_build_with_a_clear_message(
    tmp_path: Path, media: dict[str, Any], environ: dict[str, str], message: str
) -> None:
    with pytest.raises(SettingsError) as raised:
        build_container(_settings(tmp_path, media), environ)
    assert message in str(raised.value)
    assert "AKIDSECRETVALUE" not in str(raised.value)


@pytest.mark.parametrize("key", ["access_key_id", "secret_access_key"])
def test_a_wrong_key_value_is_named_but_never_shown(tmp_path: Path, key: str) -> None:
    folder = _settings(tmp_path, {"s3": {key: ["AKIDSECRETVALUE"]}})
    with pytest.raises(SettingsError) as raised:
        build_container(folder, {})
    assert f"`media.s3.{key}` must be a string (its value is a secret)" in str(raised.value)
    assert "AKIDSECRETVALUE" not in str(raised.value)


def test_empty_keys_let_boto3_find_the_aws_variables(
    tmp_path: Path, s3_settings: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Nowhere else to find credentials: no files, no instance metadata service.
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    settings = {**s3_settings, "access_key_id": "", "secret_access_key": ""}
    folder = _settings(tmp_path / "site", {"driver": "s3", "s3": settings})
    key = "ab" * 32
    without = build_container(folder, {}).derivative_cache()
    without.put(key, b"derived")  # no credentials: nothing kept (a miss, logged)
    assert without.get(key) is None
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "from-the-environment")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "secret-of-the-environment")
    cache = build_container(folder, {}).derivative_cache()
    cache.put(key, b"derived")
    assert cache.get(key) == b"derived"


def test_the_registry_serves_the_s3_settings_without_keys_or_endpoint(
    tmp_path: Path, s3_settings: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    project = ProjectFactory(tmp_path / "templates")(tmp_path / "site", "yaml", demo=False)
    path = project.path / "flextype.yaml"
    settings = yaml.safe_load(path.read_text(encoding="utf-8"))
    settings["media"] = {"driver": "s3", "s3": {**s3_settings, "serve": "redirect"}}
    path.write_text(yaml.safe_dump(settings), encoding="utf-8")
    with caplog.at_level(logging.DEBUG, logger="flextype"), serve(project) as api:
        media = data_of(api.get("registry", {"id": "flextype.settings.media"}))["value"]
        assert media["driver"] == "s3"
        assert media["s3"] == {
            "bucket": s3_settings["bucket"],
            "prefix": s3_settings["prefix"],
            "region": s3_settings["region"],
            "serve": "redirect",
            "part_size": 8 * 1024 * 1024,
            "redirect_expires": 300,
        }
        for key in ("access_key_id", "secret_access_key", "endpoint_url"):
            missing = api.get("registry", {"id": f"flextype.settings.media.s3.{key}"})
            assert_error(missing, 404, "NotFound")
        everything = api.get("registry", {"id": "flextype"})
        for secret in SECRETS:
            assert secret not in everything.text
    for secret in SECRETS:
        assert secret not in caplog.text
