"""Fixtures shared by every test layer: one throwaway PostgreSQL cluster per test session, and a
fresh database with the whole local stack (API stand-in, simulators, media host) per test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from devstack.postgres import Cluster, cluster
from devstack.stack import Stack, running_stack
from services.redaction import REDACTOR


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[Cluster]:
    """A real PostgreSQL 15 server for the whole session (started in about a second)."""
    with cluster() as running:
        yield running


@pytest.fixture
def stack(pg_cluster: Cluster) -> Iterator[Stack]:
    """The local stack over a fresh copy of the migrated schema."""
    with running_stack(pg_cluster) as running:
        yield running


@pytest.fixture(autouse=True)
def _forget_secrets() -> Iterator[None]:
    """Each test starts with an empty secret registry, as each run does."""
    yield
    REDACTOR.clear()
