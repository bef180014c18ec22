"""Who is calling: the authorization server (OAuth 2 with authlib), the vendor registry, SMART scopes.

- keys.py: the server's signing key, generated on first start and kept in the database.
- clients.py: registered ("referenced") vendor software: status, public keys, allowed scopes.
- scopes.py: SMART App Launch v2 scopes (`system/Patient.rs`) and what they allow.
- server.py: the token endpoint (client_credentials with a private_key_jwt assertion, SMART Backend
  Services), JWT access tokens carrying the professional the software acts for, introspection, revocation.
"""
