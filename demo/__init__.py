"""The demo that ``make run`` starts: a legacy IDP, a relying-party app and a launcher.

Nothing in here is part of Ferry. ``demo.legacy_idp`` plays the identity provider that Ferry
migrates users away from (an OAuth 2.0 server with the password grant), ``demo.client_app`` plays
an application that signs its users in through Ferry, and ``demo.run`` starts both next to Ferry
so a newcomer can watch a just-in-time migration happen in a browser.
"""
