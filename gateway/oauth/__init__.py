"""The resellers' OAuth 2.0 door: signing keys, clients, the token endpoint (client
credentials, RFC 6749 §4.4) with private_key_jwt (RFC 7523) or client_secret_basic, JWT access
tokens (RFC 9068), introspection (RFC 7662), revocation (RFC 7009), metadata (RFC 8414) and
the resource-server check every protected endpoint uses."""
