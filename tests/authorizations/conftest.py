from tests.http.conftest import make_app  # noqa: F401  (apps built with their own settings)
