from __future__ import annotations

from pathlib import Path

import pytest

from ingestq.config import load_settings
from ingestq.errors import EXIT_USAGE, ConfigError


def test_home_defaults_to_the_platform_user_data_dir(tmp_path: Path) -> None:
    settings = load_settings({"XDG_DATA_HOME": str(tmp_path)})
    import platformdirs

    assert settings.home == Path(platformdirs.user_data_dir("ingestq", appauthor=False)).resolve()
    assert settings.home.name == "ingestq"


def test_everything_lives_under_the_home(tmp_path: Path) -> None:
    settings = load_settings({"INGESTQ_HOME": str(tmp_path / "h")})
    for path in (
        settings.state_db,
        settings.queue_db,
        settings.blobs_dir,
        settings.chroma_dir,
        settings.worker_lock,
    ):
        assert path.parent == tmp_path / "h"


def test_limits_are_read_and_validated(tmp_path: Path) -> None:
    env = {
        "INGESTQ_HOME": str(tmp_path),
        "INGESTQ_MAX_FILE_MB": "2.5",
        "INGESTQ_JOB_TIMEOUT": "9",
        "INGESTQ_SHUTDOWN_GRACE": "0",
    }
    settings = load_settings(env)
    assert settings.max_file_bytes == int(2.5 * 1024 * 1024)
    assert (settings.job_timeout_s, settings.shutdown_grace_s) == (9, 0)
    for name, value in (
        ("INGESTQ_MAX_FILE_MB", "big"),
        ("INGESTQ_JOB_TIMEOUT", "-1"),
        ("INGESTQ_EMBED_BATCH", "0"),
        ("INGESTQ_EMBED_THREADS", "-1"),
    ):
        with pytest.raises(ConfigError, match=name) as info:
            load_settings({"INGESTQ_HOME": str(tmp_path), name: value})
        assert info.value.exit_code == EXIT_USAGE
