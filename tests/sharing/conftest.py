"""The partner API's tests reuse the OAuth door's fixtures: the app, resellers, tokens."""

from tests.oauth.conftest import app, http, make_reseller, oauth_config  # noqa: F401
