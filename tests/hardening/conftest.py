from tests.api.conftest import api, decisions, dora, fast_password_hasher, world  # noqa: F401 - shared fixtures
