"""Accounts: tenants, users, credentials, licenses, sessions, identities, email verification.

Modules by concern: ``records`` (the stored shapes), ``requests`` (API bodies), ``users``
(user and tenant records, sign-up's writes), ``licenses``, ``audit``, ``usage``, ``identities``
(Google/GitHub links, take-back), ``email_verification``, and ``service`` (sign-up, login,
sessions, "me"). Import what you need from its module: nothing is re-exported here, so importing
one concern does not load the others.
"""
