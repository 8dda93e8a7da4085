"""Settings come from the variables of docs/spec.md §1 and refuse bad values in one line."""

from __future__ import annotations

import pytest

from core.errors import ConfigurationError
from core.settings import (
    FLOW_TIMEOUT_DEFAULTS,
    GiB,
    MiB,
    flow_timeout_seconds,
    load_settings,
)


def test_defaults_follow_the_spec() -> None:
    settings = load_settings()
    assert settings.embedded
    assert settings.r2_bucket_name == "automl-datasets"
    assert settings.r2_region == "auto"
    assert settings.presign_expires_seconds == 3600
    assert settings.multipart_threshold_bytes == 100 * MiB
    assert (settings.api_host, settings.api_port) == ("127.0.0.1", 8000)
    assert (settings.temp_retention_days, settings.deleted_retention_days) == (32, 30)
    assert settings.runner_poll_seconds == 1
    assert settings.tier("free").max_file_bytes == 100 * MiB
    assert settings.tier("free").quota_bytes == 1 * GiB
    assert settings.tier("pro").quota_bytes == 100 * GiB
    assert settings.catalog_url.startswith("sqlite:///")
    assert settings.catalog_url.endswith("/automl-data/catalog.db")


def test_configured_endpoint_turns_off_the_embedded_server(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("R2_ENDPOINT", "https://acct.r2.cloudflarestorage.com/")
    settings = load_settings()
    assert not settings.embedded
    assert settings.endpoint_url == "https://acct.r2.cloudflarestorage.com"


@pytest.mark.parametrize(
    ("variable", "value", "complaint"),
    [
        ("R2_ENDPOINT", "not a url", "R2_ENDPOINT: "),
        ("R2_ENDPOINT", "ftp://example.com", "R2_ENDPOINT: "),
        ("AUTOML_PRESIGN_EXPIRES_SECONDS", "604801", "AUTOML_PRESIGN_EXPIRES_SECONDS: "),
        ("AUTOML_PRESIGN_EXPIRES_SECONDS", "0", "AUTOML_PRESIGN_EXPIRES_SECONDS: "),
        ("AUTOML_TIERS", "{not json", "AUTOML_TIERS: not valid JSON"),
        ("AUTOML_TIERS", "[1, 2]", "AUTOML_TIERS: must be a JSON object"),
        ("AUTOML_TIERS", '{"free": {"max_file_bytes": -1, "quota_bytes": 5}}', "AUTOML_TIERS"),
        ("AUTOML_TIERS", '{"free": {"max_file_bytes": 10}}', "AUTOML_TIERS"),
        ("AUTOML_API_PORT", "99999", "AUTOML_API_PORT: "),
        ("R2_BUCKET_NAME", "Bad_Bucket", "R2_BUCKET_NAME: "),
        ("AUTOML_DATABASE_URL", "::nonsense::", "AUTOML_DATABASE_URL: "),
        ("AUTOML_CORS_ORIGINS", "app.example.com", "AUTOML_CORS_ORIGINS: "),
        ("AUTOML_DELETED_RETENTION_DAYS", "0", "AUTOML_DELETED_RETENTION_DAYS: "),
        ("AUTOML_DELETED_RETENTION_DAYS", "3651", "AUTOML_DELETED_RETENTION_DAYS: "),
        ("AUTOML_DELETED_RETENTION_DAYS", "soon", "AUTOML_DELETED_RETENTION_DAYS: "),
        ("AUTOML_RUNNER_POLL_SECONDS", "0", "AUTOML_RUNNER_POLL_SECONDS: "),
        ("AUTOML_RUNNER_POLL_SECONDS", "0.5", "AUTOML_RUNNER_POLL_SECONDS: "),
        ("AUTOML_FLOW_TIMEOUTS", "{not json", "AUTOML_FLOW_TIMEOUTS: not valid JSON"),
        ("AUTOML_FLOW_TIMEOUTS", '{"ingest": 60}', "AUTOML_FLOW_TIMEOUTS: 'ingest' is not a"),
        ("AUTOML_FLOW_TIMEOUTS", '{"ingest-dataset": 0}', "AUTOML_FLOW_TIMEOUTS: "),
        ("AUTOML_FLOW_TIMEOUTS", '{"ingest-dataset": "1h"}', "AUTOML_FLOW_TIMEOUTS: "),
        ("AUTOML_FLOW_TIMEOUTS", '{"train-model": 30}', "AUTOML_FLOW_TIMEOUTS: the train-model"),
        (
            "AUTOML_TIERS",
            '{"free": {"max_file_bytes": 1, "quota_bytes": 2, "max_ingestions_in_flight": 0}}',
            "AUTOML_TIERS",
        ),
    ],
)
def test_a_bad_value_stops_with_one_line_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, complaint: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigurationError) as raised:
        load_settings()
    assert complaint in raised.value.message
    assert "\n" not in raised.value.message


def test_tiers_override_merges_with_the_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(
        "AUTOML_TIERS",
        '{"free": {"max_file_bytes": 10, "quota_bytes": 100}, '
        '"team": {"max_file_bytes": 1000, "quota_bytes": 5000}}',
    )
    settings = load_settings()
    assert settings.tier("free").quota_bytes == 100
    assert settings.tier("team").max_file_bytes == 1000
    assert settings.tier("pro").quota_bytes == 100 * GiB


def test_unknown_tier_is_a_clear_error() -> None:
    with pytest.raises(ConfigurationError, match="unknown tier 'gold'"):
        load_settings().tier("gold")


def test_secrets_never_show_in_repr_dump_or_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    secret = "s3cr3t-value-that-must-not-leak"
    monkeypatch.setenv("R2_SECRET_ACCESS_KEY", secret)
    monkeypatch.setenv("R2_ACCESS_KEY_ID", "key-id-" + secret)
    settings = load_settings()
    assert secret not in repr(settings)
    assert secret not in str(settings)
    assert secret not in settings.model_dump_json()
    assert settings.r2_secret_access_key.get_secret_value() == secret

    monkeypatch.setenv("AUTOML_DATABASE_URL", f"postgresql+psycopg://u:{secret}@db/automl")
    assert secret not in repr(load_settings())

    monkeypatch.setenv("R2_ENDPOINT", f"{secret}-not-a-url")
    monkeypatch.setenv("AUTOML_PRESIGN_EXPIRES_SECONDS", secret)
    with pytest.raises(ConfigurationError) as raised:
        load_settings()
    assert "R2_ENDPOINT" in raised.value.message
    assert "AUTOML_PRESIGN_EXPIRES_SECONDS" in raised.value.message
    assert secret not in raised.value.message


def test_the_temp_retention_outlives_every_upload_url(monkeypatch: pytest.MonkeyPatch) -> None:
    """A used upload's tombstone must outlive its URLs (single-use URLs): a part URL of a
    multipart upload can be used for 24 hours, and the upload confirmed an hour after."""
    monkeypatch.setenv("AUTOML_DELETED_RETENTION_DAYS", "1")
    monkeypatch.setenv("AUTOML_TEMP_RETENTION_DAYS", "3")
    monkeypatch.setenv("AUTOML_PRESIGN_EXPIRES_SECONDS", str(3 * 86_400 - 3_600))
    assert load_settings().temp_retention_days == 3
    monkeypatch.setenv("AUTOML_PRESIGN_EXPIRES_SECONDS", str(3 * 86_400 - 3_599))
    with pytest.raises(ConfigurationError) as raised:
        load_settings()
    assert raised.value.message.startswith("AUTOML_TEMP_RETENTION_DAYS: must cover")
    monkeypatch.setenv("AUTOML_TEMP_RETENTION_DAYS", "4")
    assert load_settings().presign_expires_seconds == 3 * 86_400 - 3_599


def test_one_day_of_temp_retention_is_refused_for_the_multipart_window(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """However short the URLs, a multipart upload stays open 24 hours plus the confirm grace."""
    monkeypatch.setenv("AUTOML_DELETED_RETENTION_DAYS", "1")
    monkeypatch.setenv("AUTOML_PRESIGN_EXPIRES_SECONDS", "60")
    monkeypatch.setenv("AUTOML_TEMP_RETENTION_DAYS", "1")
    with pytest.raises(ConfigurationError) as raised:
        load_settings()
    assert raised.value.message.startswith("AUTOML_TEMP_RETENTION_DAYS: must cover")


def test_the_temp_retention_outlasts_the_deleted_retention(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The daily purge frees a failed upload's kept file before the bucket's rule removes it."""
    monkeypatch.setenv("AUTOML_DELETED_RETENTION_DAYS", "30")
    monkeypatch.setenv("AUTOML_TEMP_RETENTION_DAYS", "31")
    with pytest.raises(ConfigurationError) as raised:
        load_settings()
    assert "at least AUTOML_DELETED_RETENTION_DAYS plus 2" in raised.value.message
    monkeypatch.setenv("AUTOML_TEMP_RETENTION_DAYS", "32")
    assert load_settings().temp_retention_days == 32


def test_flow_time_limits_override_the_defaults_per_deployment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AUTOML_FLOW_TIMEOUTS", '{"ingest-dataset": 90, "train-model": 7200}')
    settings = load_settings()
    assert settings.flow_timeouts == {
        **FLOW_TIMEOUT_DEFAULTS,
        "ingest-dataset": 90.0,
        "train-model": 7200.0,
    }
    assert flow_timeout_seconds("ingest-dataset") == 90.0
    assert flow_timeout_seconds("render-plots") == FLOW_TIMEOUT_DEFAULTS["render-plots"]
    monkeypatch.setenv("AUTOML_FLOW_TIMEOUTS", '{"render": 1}')
    with pytest.raises(ConfigurationError, match="AUTOML_FLOW_TIMEOUTS: 'render'"):
        flow_timeout_seconds("ingest-dataset")


def test_each_tier_limits_the_work_a_user_has_in_flight(monkeypatch: pytest.MonkeyPatch) -> None:
    defaults = load_settings()
    assert [
        (
            defaults.tier(name).max_ingestions_in_flight,
            defaults.tier(name).max_training_jobs_in_flight,
        )
        for name in ("free", "pro", "enterprise")
    ] == [(2, 1), (4, 2), (6, 3)]
    monkeypatch.setenv(
        "AUTOML_TIERS",
        '{"free": {"max_file_bytes": 10, "quota_bytes": 100, "max_ingestions_in_flight": 1}}',
    )
    free = load_settings().tier("free")
    assert (free.max_ingestions_in_flight, free.max_training_jobs_in_flight) == (1, 2)


def test_the_null_rate_change_threshold_is_a_rate(monkeypatch: pytest.MonkeyPatch) -> None:
    assert load_settings().null_rate_change_threshold == 0.05
    monkeypatch.setenv("AUTOML_NULL_RATE_CHANGE_THRESHOLD", "0.2")
    assert load_settings().null_rate_change_threshold == 0.2
    monkeypatch.setenv("AUTOML_NULL_RATE_CHANGE_THRESHOLD", "1.5")
    with pytest.raises(ConfigurationError, match="AUTOML_NULL_RATE_CHANGE_THRESHOLD"):
        load_settings()
