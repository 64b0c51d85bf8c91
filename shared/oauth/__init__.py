"""Sign in with Google (OpenID Connect) and GitHub (OAuth 2.0).

``config`` (settings from the environment), ``cookie`` (the signed state/PKCE/nonce cookie),
``google`` and ``github`` (talking to the providers), ``service`` (the flow: start, callback,
linking, and the one-time code the app exchanges for tokens). Nothing heavy is imported here.
"""
