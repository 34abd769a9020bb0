"""Where the PostgreSQL tests find a server: the throwaway cluster, started for real."""

from __future__ import annotations

from pathlib import Path

import pytest

from dispatcher.store.postgres.schema import apply_schema, connect

from . import postgres
from .helpers import free_port


@pytest.mark.slow
def test_with_no_server_to_find_a_throwaway_cluster_is_made_and_removed() -> None:
    if postgres.server_binaries() is None:
        pytest.skip("PostgreSQL's server binaries (initdb, pg_ctl) are not installed")
    unused = free_port()
    with postgres.server({}, local_port=unused) as url:
        assert url is not None and f":{unused}/" not in url
        with connect(url) as conn:
            apply_schema(conn)
            assert conn.execute("SELECT version FROM dispatcher_schema").fetchone() == (1,)
            (data,) = conn.execute("SHOW data_directory").fetchone() or ("",)
        assert Path(data).is_dir()
    assert not Path(data).parent.exists()
    assert not postgres.answers(url)


def test_a_server_named_in_the_environment_is_the_one_used() -> None:
    named = f"postgresql://tester@127.0.0.1:{free_port()}/queue"
    with postgres.server({postgres.ENV: named}) as url:
        assert url == named
