"""Shared fixtures live in tests/fixtures/, one module per part, loaded here."""

pytest_plugins = [
    "tests.fixtures.paths",
    "tests.fixtures.opensearch",
    "tests.fixtures.opensearch_cluster",
    "tests.fixtures.opensearch_ml",
    "tests.fixtures.stores",
    "tests.fixtures.tiny_m0",
    "tests.fixtures.api_server",
    "tests.fixtures.keycloak",
    "tests.fixtures.s3",
    "tests.fixtures.ray_cluster",
]
