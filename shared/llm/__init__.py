"""The multi-LLM gateway: one OpenAI-compatible, metered endpoint in front of many providers.

Layout: ``catalog`` (models and providers, one file), ``keys`` (workspace LLM keys),
``metering`` (monthly reservation and usage records), ``anthropic`` (Messages API translation),
``sse`` (event framing), ``upstream`` (provider calls with retries and fallback), ``relay``
(answers to the client), ``gateway`` (the aiohttp application), ``usage`` (the usage report),
``theia_settings`` (Theia's settings in a pod). Store operations are synchronous
``op(tr, ...)`` functions; the gateway runs them on worker threads.
"""
