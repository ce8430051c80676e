"""mitmproxy addons of the credential proxy, one concern per module, in chain order.

gate (host and route) -> budget -> keyswap (check the fake key, put in the real one) -> metering
(streaming and token usage) -> echo (the real key never comes back) -> seal (nothing unchecked
leaves; non-HTTP traffic is cut). Every
hook is wrapped by `base.fail_closed`: mitmproxy logs and swallows addon exceptions and would
forward the flow, so an exception here kills the flow instead.
"""
